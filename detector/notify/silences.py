"""Silences and maintenance windows: incidents that are tracked and shown, but not sent.

A *silence* (as Alertmanager's) matches incidents by class, service and pattern (globs)
from its start to its end; it is kept in the outbox's SQLite database, so the command
line and the HTTP API can add and expire silences whether the daemon runs or not, and
they survive restarts and ``kill -9``. A *maintenance window* (``[[maintenance]]`` in
the config) does the same on a schedule.

What the :class:`Gate` decides for each incident event, as it goes into the outbox:

- ``open`` of a silenced incident: *held* — not sent; the incident is remembered as
  withheld (in the same transaction as the outbox items, so a crash cannot lose it);
- ``update`` of a silenced incident: not sent;
- ``update`` of a withheld incident whose silence has ended: sent as its ``open``;
- ``resolve`` of a withheld incident: dropped (nobody was told it opened); of an incident
  whose ``open`` was sent: always sent, silenced or not, so no destination keeps an alert
  open for ever;
- when a silence ends (it expires, or is expired) while a withheld incident is still
  open, the daemon sends the incident's ``open`` then (:meth:`Gate.releasable`).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from detector.config.operating import MaintenanceConfig, Matchers
from detector.model import IncidentEvent

__all__ = ["SCHEMA", "Gate", "Silence", "SilenceStore", "Verdict"]

EXPIRED_KEPT = 7 * 86400.0          # expired silences stay listable this long

SCHEMA = """
CREATE TABLE IF NOT EXISTS silences (
    id       TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,          -- JSON: {"class": [globs], "service": [...], "pattern": [...]}
    starts   REAL NOT NULL,
    ends     REAL NOT NULL,
    comment  TEXT NOT NULL,
    author   TEXT NOT NULL,
    created  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS withheld (
    incident    TEXT PRIMARY KEY,    -- an incident whose open was not sent
    fingerprint TEXT NOT NULL,
    reason      TEXT NOT NULL,       -- silence id, or maintenance:NAME
    since       REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Silence:
    id: str
    match: Matchers
    starts: float
    ends: float
    comment: str
    author: str
    created: float

    def state(self, now: float) -> str:
        if now < self.starts:
            return "pending"
        return "active" if now < self.ends else "expired"

    def as_json(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "matchers": self.match.as_json(), "starts": _iso(self.starts),
                "ends": _iso(self.ends), "state": self.state(now), "comment": self.comment,
                "author": self.author, "created": _iso(self.created)}


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class SilenceStore:
    """The ``silences`` table of the outbox database."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def add(self, match: Matchers, *, starts: float, ends: float, comment: str,
            author: str, now: float | None = None) -> Silence:
        now = time.time() if now is None else now
        silence = Silence(id=secrets.token_hex(4), match=match, starts=starts, ends=ends,
                          comment=comment, author=author, created=now)
        self.db.execute("INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (silence.id, orjson.dumps(match.as_json()).decode(), starts, ends,
                         comment, author, now))
        return silence

    def expire(self, silence_id: str, now: float | None = None) -> Silence | None:
        """End a silence now; ``None`` if there is no such silence (or it already ended)."""
        now = time.time() if now is None else now
        found = self.find(silence_id)
        if found is None or found.ends <= now:
            return None
        self.db.execute("UPDATE silences SET ends = ?, starts = min(starts, ?) WHERE id = ?",
                        (now, now, found.id))
        return self.find(found.id)

    def find(self, silence_id: str) -> Silence | None:
        """By id, or by a unique prefix of it."""
        rows = self.db.execute("SELECT * FROM silences WHERE id LIKE ? ORDER BY created",
                               (silence_id.replace("%", "").replace("_", "") + "%",)).fetchall()
        exact = [r for r in rows if r[0] == silence_id]
        if exact:
            return _silence(exact[0])
        return _silence(rows[0]) if len(rows) == 1 else None

    def current(self, now: float | None = None) -> list[Silence]:
        """Active and pending silences, soonest ending first."""
        now = time.time() if now is None else now
        return [_silence(r) for r in self.db.execute(
            "SELECT * FROM silences WHERE ends > ? ORDER BY ends, id", (now,))]

    def listing(self, now: float | None = None, *, expired: bool = False) -> list[Silence]:
        now = time.time() if now is None else now
        since = now - EXPIRED_KEPT if expired else now
        return [_silence(r) for r in self.db.execute(
            "SELECT * FROM silences WHERE ends > ? ORDER BY starts, id", (since,))]

    def forget_expired(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return self.db.execute("DELETE FROM silences WHERE ends < ?",
                               (now - EXPIRED_KEPT,)).rowcount


def _silence(row: tuple[Any, ...]) -> Silence:
    silence_id, matchers, starts, ends, comment, author, created = row
    data = orjson.loads(matchers)
    return Silence(id=silence_id, match=Matchers(classes=tuple(data.get("class", ())),
                                                 services=tuple(data.get("service", ())),
                                                 patterns=tuple(data.get("pattern", ()))),
                   starts=starts, ends=ends, comment=comment, author=author, created=created)


class Verdict(Enum):
    SEND = "send"
    HOLD = "hold"            # an open not sent: withheld until its silence ends
    QUIET = "quiet"          # an update of a silenced incident: not sent
    DROP = "drop"            # the resolve of an incident whose open was never sent


class Gate:
    """Decides, per incident event, whether it is sent (see the module's docstring)."""

    def __init__(self, db: sqlite3.Connection, maintenance: Sequence[MaintenanceConfig] = (),
                 *, refresh_every: float = 1.0) -> None:
        self.db = db
        self.store = SilenceStore(db)
        self.maintenance = tuple(maintenance)
        self.refresh_every = refresh_every
        self.silences: list[Silence] = []
        self._loaded_at = -1e18
        self.withheld: dict[str, tuple[str, str]] = {}       # id → (fingerprint, reason)
        self.reload()

    def reload(self) -> None:
        """Read silences and withheld incidents again (after a failed transaction, or when
        another process changed them)."""
        self.silences = self.store.current()
        self._loaded_at = time.monotonic()
        self.withheld = {incident: (fingerprint, reason) for incident, fingerprint, reason in
                         self.db.execute("SELECT incident, fingerprint, reason FROM withheld")}

    def refresh(self) -> None:
        """Pick up silences added or expired by the command line, at most every second."""
        if time.monotonic() - self._loaded_at >= self.refresh_every:
            self.silences = self.store.current()
            self._loaded_at = time.monotonic()

    def reason(self, event: IncidentEvent | dict[str, Any], now: float) -> str | None:
        """Why ``event``'s incident is silenced now (a silence id, ``maintenance:NAME``),
        or ``None``."""
        for silence in self.silences:
            if silence.starts <= now < silence.ends and silence.match.matches_event(event):
                return silence.id
        for window in self.maintenance:
            if window.match.matches_event(event) and window.active(now):
                return f"maintenance:{window.name}"
        return None

    def route(self, event: IncidentEvent, now: float) -> tuple[Verdict, str | None]:
        """The verdict for ``event`` and the reason it is silenced, if it is. Writes the
        withheld bookkeeping (call inside the outbox's transaction; :meth:`reload` after
        one that failed)."""
        reason = self.reason(event, now)
        name = event["event"]
        incident = event["id"]
        held = incident in self.withheld
        if name == "resolve":
            if held:
                self._forget(incident)
                return Verdict.DROP, reason or self.withheld_reason(incident)
            return Verdict.SEND, reason
        if reason is not None:
            if held or name == "open":
                self._hold(incident, event["fingerprint"], reason, now)
                return Verdict.HOLD, reason
            return Verdict.QUIET, reason
        if held:
            self._forget(incident)
            if name != "open":              # the silence ended: what is sent is its open
                event["event"] = "open"     # type: ignore[typeddict-item]
        return Verdict.SEND, None

    def withheld_reason(self, incident: str) -> str | None:
        entry = self.withheld.get(incident)
        return entry[1] if entry else None

    def releasable(self, now: float) -> list[tuple[str, str]]:
        """Withheld incidents (id, fingerprint) whose silence is over: the daemon sends
        their ``open`` now if they are still open (and forgets the others)."""
        self.refresh()
        return [(incident, fingerprint) for incident, (fingerprint, reason)
                in self.withheld.items() if not self._still(reason, now)]

    def _still(self, reason: str, now: float) -> bool:
        if reason.startswith("maintenance:"):
            name = reason.partition(":")[2]
            return any(w.name == name and w.active(now) for w in self.maintenance)
        return any(s.id == reason and s.starts <= now < s.ends for s in self.silences)

    def forget(self, incidents: Iterable[str]) -> None:
        """Incidents no longer open: nothing to release for them."""
        for incident in incidents:
            self._forget(incident)

    def _hold(self, incident: str, fingerprint: str, reason: str, now: float) -> None:
        if self.withheld.get(incident, ("", ""))[1] == reason:
            return
        self.db.execute("INSERT INTO withheld VALUES (?, ?, ?, ?) ON CONFLICT(incident) "
                        "DO UPDATE SET reason = excluded.reason",
                        (incident, fingerprint, reason, now))
        self.withheld[incident] = (fingerprint, reason)

    def _forget(self, incident: str) -> None:
        if self.withheld.pop(incident, None) is not None:
            self.db.execute("DELETE FROM withheld WHERE incident = ?", (incident,))


def plan_silence(*, classes: Sequence[str] = (), services: Sequence[str] = (),
                 patterns: Sequence[str] = (), duration: float | None = None,
                 starts: float | None = None, ends: float | None = None,
                 now: float) -> tuple[Matchers, float, float]:
    """Matchers, start and end of a new silence, checked: ``ValueError`` with the one-line
    reason when it cannot be."""
    match = Matchers(classes=tuple(classes), services=tuple(services),
                     patterns=tuple(patterns))
    if match.empty:
        raise ValueError("a silence needs at least one of class, service or pattern "
                         "(globs; service '*' silences everything)")
    if any(not g.strip() for g in (*classes, *services, *patterns)):
        raise ValueError("a matcher must not be empty")
    begins = now if starts is None else starts
    if (duration is None) == (ends is None):
        raise ValueError("give how long (for, e.g. 2h) or until when (ends), one of them")
    if duration is not None:
        if duration <= 0:
            raise ValueError("a silence must last more than 0s")
        finish = begins + duration
    else:
        assert ends is not None
        finish = ends
    if finish <= max(begins, now):
        raise ValueError("a silence must end in the future, after its start")
    return match, begins, finish
