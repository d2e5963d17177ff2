"""What replay prints: JSON lines as incidents happen, or a table at the end."""

from __future__ import annotations

import heapq
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import orjson

from detector.model import IncidentEvent

__all__ = ["IncidentTable", "JsonlWriter", "OrderedSink", "Progress"]

_SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}
_COLOURS = {"critical": "\x1b[1;31m", "error": "\x1b[31m", "warning": "\x1b[33m",
            "info": "\x1b[36m"}
_RESET = "\x1b[0m"
ROW_LIMIT = 40          # rows in the text table before the rest is grouped
GROUP_LIMIT = 15
_DIM = "\x1b[2m"


class JsonlWriter:
    """One incident event per line, flushed as it happens."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.buffer = getattr(out, "buffer", None)

    def __call__(self, event: IncidentEvent) -> None:
        data = orjson.dumps(event) + b"\n"
        if self.buffer is not None:
            self.buffer.write(data)
        else:
            self.out.write(data.decode())

    def flush(self) -> None:
        (self.buffer or self.out).flush()


class OrderedSink:
    """Releases incident events in event-time order, up to the watermark.

    Replay reads several inputs a chunk at a time, so one input's events can be
    produced before another's earlier ones. Held here until the watermark passes
    them, they come out in the order the daemon would have sent them.
    """

    def __init__(self, target: Callable[[IncidentEvent], None]) -> None:
        self.target = target
        self._held: list[tuple[float, int, IncidentEvent]] = []
        self._sequence = 0

    def __call__(self, event: IncidentEvent, when: float) -> None:
        self._sequence += 1
        heapq.heappush(self._held, (when, self._sequence, event))

    def release(self, watermark: float | None) -> None:
        held = self._held
        while held and (watermark is None or held[0][0] <= watermark):
            self.target(heapq.heappop(held)[2])


class IncidentTable:
    """Collects incident events; renders one row per incident at the end."""

    def __init__(self) -> None:
        self.latest: dict[str, IncidentEvent] = {}

    def __call__(self, event: IncidentEvent) -> None:
        self.latest[event["id"]] = event

    def refresh(self, current: Iterable[IncidentEvent]) -> None:
        """Replace rows of still-open incidents by their current state (notifications
        are throttled, so the last one sent may show an older count)."""
        for event in current:
            self.latest[event["id"]] = event

    def render(self, out: TextIO, *, colour: bool, width: int | None = None,
               limit: int = ROW_LIMIT) -> None:
        """One row per incident, most severe and most frequent first; past ``limit`` rows,
        the rest grouped by class and service ("N more")."""
        rows = sorted(self.latest.values(),
                      key=lambda e: (_SEVERITY_ORDER.get(e["severity"], 9), -e["count"],
                                     e["first_seen"]))
        if not rows:
            out.write("No incidents.\n")
            return
        rows, rest = rows[:limit], rows[limit:]
        if width is None and colour:
            width = shutil.get_terminal_size((140, 24)).columns
        width = width or 10_000   # not a terminal: never cut the summary
        headers = ("STATE", "SEVERITY", "CLASS", "SERVICE", "COUNT", "FIRST SEEN", "LAST SEEN")
        table = [(
            "resolved" if e["event"] == "resolve" else "open",
            e["severity"], e["class"] + ("" if e["kind"] == "signature" else f" ({e['kind']})"),
            e["service"], str(e["count"]), _short(e["first_seen"]), _short(e["last_seen"]),
        ) for e in rows]
        widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
        fixed = sum(widths) + 2 * len(widths)
        summary_width = max(30, width - fixed - 1)
        header = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
        out.write(_style(header + "  SUMMARY", "\x1b[1m", colour) + "\n")
        for event, row in zip(rows, table, strict=True):
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
            cells[1] = _style(cells[1], _COLOURS.get(event["severity"], ""), colour)
            if row[0] == "resolved":
                cells[0] = _style(cells[0], _DIM, colour)
            summary = event["summary"].replace("\n", " ")
            if len(summary) > summary_width:
                summary = summary[: summary_width - 1] + "…"
            out.write("  ".join(cells) + "  " + summary + "\n")
        if rest:
            self._grouped(out, rest, colour)

    @staticmethod
    def _grouped(out: TextIO, rest: list[IncidentEvent], colour: bool) -> None:
        groups: dict[tuple[str, str], list[int]] = {}
        for event in rest:
            counts = groups.setdefault((event["class"], event["service"]), [0, 0])
            counts[0] += 1
            counts[1] += event["count"]
        out.write(_style(f"… and {len(rest)} more incidents:", "\x1b[1m", colour) + "\n")
        ordered = sorted(groups.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        for (cls, service), (incidents, events) in ordered[:GROUP_LIMIT]:
            out.write(f"    {incidents:>5} × {cls} in {service} ({events:,} occurrences)\n")
        if len(ordered) > GROUP_LIMIT:
            others = sum(n for _, (n, _) in ordered[GROUP_LIMIT:])
            out.write(f"    {others:>5} in {len(ordered) - GROUP_LIMIT} more class and service "
                      "pairs (--output jsonl lists every one)\n")

    def runbooks(self, out: TextIO, *, colour: bool, steps: int = 3) -> None:
        """The first steps of each runbook involved, once per runbook."""
        seen: set[str] = set()
        for event in self.latest.values():
            book = event.get("runbook")
            if not book or book["title"] in seen:
                continue
            seen.add(book["title"])
            out.write("\n" + _style(f"▸ {book['title']}", "\x1b[1m", colour) + "\n")
            for step in book["steps"][:steps]:
                out.write(f"    - {step}\n")


class Progress:
    """A progress line on stderr for long replays (only when stderr is a terminal)."""

    def __init__(self, total: int | None, *, enabled: bool, out: TextIO | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.out = out or sys.stderr
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done: int, lines: int, incidents: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed / 1e6
        eta = ""
        if self.total:
            fraction = min(1.0, done / self.total)
            filled = int(fraction * 30)
            where = "█" * filled + "░" * (30 - filled) + f" {fraction:6.1%}"
            if 0 < fraction < 1:
                left = elapsed * (1 - fraction) / fraction
                eta = f"  ETA {int(left // 60)}:{int(left % 60):02d}"
        else:
            where = f"{done / 1e6:8.1f} MB"
        text = (f"\r{where}  {rate:6.1f} MB/s  {lines / elapsed:,.0f} lines/s  {lines:,} lines  "
                f"{incidents:,} incident{'' if incidents == 1 else 's'}{eta}\x1b[K")
        self.out.write(text)
        self.out.flush()

    def finish(self) -> None:
        if self.enabled:
            self.out.write("\r\x1b[K")
            self.out.flush()


def _short(stamp: str) -> str:
    return stamp.replace("T", " ").rstrip("Z").split(".")[0]


def _style(text: str, code: str, colour: bool) -> str:
    return f"{code}{text}{_RESET}" if colour and code else text


def summary_line(stats: Any, elapsed: float, engine: str, extras: Iterable[str] = ()) -> str:
    rate = stats.lines / elapsed if elapsed > 0 else 0.0
    lines = f"{stats.lines:,} line{'' if stats.lines == 1 else 's'}"
    parts = [lines, f"{stats.bytes / 1e6:.1f} MB", f"{elapsed:.2f}s", f"{rate:,.0f} lines/s",
             f"engine {engine}", *extras]
    return " · ".join(parts)
