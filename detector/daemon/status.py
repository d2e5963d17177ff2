"""The status page at ``GET /``: one server-rendered HTML page, no script, no external asset.

What an on-call engineer looks at first: the daemon's health, the open incidents (marked
when a silence or maintenance window keeps them from being sent), the incidents resolved
in the last day, silences and maintenance windows, the sources and their health, and per
service the events per minute of the last hours (inline SVG, with incidents marked, in
the replay report's colours). It refreshes itself every 30 s (``<meta http-equiv>``).
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from detector.config.operating import MaintenanceConfig
from detector.daemon.activity import BUCKET, Activity
from detector.history import Record, epoch
from detector.humanize import plural, short_span
from detector.model import IncidentEvent
from detector.notify.silences import Silence
from detector.replay.report import CSS, KIND_COLOURS, SEVERITY_COLOURS

__all__ = ["StatusView", "render_status"]

WIDTH, HEIGHT = 880, 110
RESOLVED_SHOWN = 15
LEFT, RIGHT, TOP, BOTTOM = 56, 10, 8, 20
EXTRA_CSS = """
.ok{color:#15803d;font-weight:600} .bad{color:#b91c1c;font-weight:600}
.tag{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;background:#e2e8f0;
color:#334155;margin-left:6px} .tag.silenced{background:#fef3c7;color:#92400e}
.tag.open{background:#fee2e2;color:#991b1b} .tag.resolved{background:#dcfce7;color:#166534}
h2{margin:22px 0 8px;font-size:17px} td code{font-size:12px}
.muted{color:#64748b}
"""


@dataclass
class StatusView:
    """Everything the page shows, gathered by the daemon at request time."""

    version: str
    started: float
    now: float
    healthy: bool
    health: dict[str, Any]
    open: list[tuple[IncidentEvent, str | None]]         # event, why it is silenced
    resolved: list[Record]
    silences: list[Silence]
    maintenance: Sequence[MaintenanceConfig]
    activity: Activity
    lines: int = 0
    notifiers: list[str] = field(default_factory=list)
    patterns: int = 0


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))




def _e(value: object) -> str:
    return html.escape(str(value))


def render_status(view: StatusView) -> str:
    title = "detector status"
    health_class = "ok" if view.healthy else "bad"
    cards = "".join(f'<div class="card"><b>{value}</b>{name}</div>' for name, value in [
        ("open incidents", len(view.open)),
        ("silenced", sum(1 for _, why in view.open if why)),
        ("resolved in 24h", len(view.resolved)),
        ("active silences", sum(1 for s in view.silences if s.state(view.now) == "active")),
        ("sources", len(view.health.get("sources", {}))),
        ("lines read", f"{view.lines:,}")])
    body = [
        f'<div class="cards">{cards}</div>',
        _health(view, health_class),
        "<h2>Open incidents</h2>", _incidents([(e, why, "open") for e, why in view.open],
                                              view.now, empty="No open incidents."),
        "<h2>Silences</h2>", _silences(view.silences, view.now),
        "<h2>Maintenance windows</h2>", _maintenance(view.maintenance, view.now),
        "<h2>Events per minute, by service (last 3 hours)</h2>", _charts(view),
        "<h2>Sources</h2>", _sources(view.health),
        "<h2>Resolved in the last 24 hours</h2>",
        _incidents([(r.event, r.silenced, "resolved") for r in view.resolved[:RESOLVED_SHOWN]],
                   view.now, empty="Nothing resolved in the last 24 hours."),
    ]
    if len(view.resolved) > RESOLVED_SHOWN:
        body.append(f'<p class="muted">{len(view.resolved) - RESOLVED_SHOWN} more: '
                    '<a href="/incidents?state=resolved&amp;since=24h">/incidents?state='
                    "resolved&amp;since=24h</a>, or <code>detector incidents list --state "
                    "resolved --since 24h</code></p>")
    uptime = short_span(view.now - view.started)
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="refresh" content="30">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{CSS}{EXTRA_CSS}</style></head><body>"
            f"<header><h1>{title}</h1><p>detector {_e(view.version)} · up {uptime} · "
            f"{plural(view.patterns, 'pattern')} · notifiers: "
            f"{_e(', '.join(view.notifiers) or 'none')} · {_when(view.now)} UTC</p></header>"
            f"<main>{''.join(body)}</main></body></html>\n")


def _health(view: StatusView, health_class: str) -> str:
    text = "healthy" if view.healthy else "unhealthy"
    parts = [f'<p>Daemon: <span class="{health_class}">{text}</span>']
    for part, state in view.health.get("daemon", {}).items():
        parts.append(f' · <span class="bad">{_e(part)}: {_e(state.get("reason", ""))}</span>')
    parts.append(' · <a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a> · '
                 '<a href="/incidents?state=all&amp;since=24h">/incidents</a> · '
                 '<a href="/api/silences">/api/silences</a></p>')
    return "".join(parts)


def _incidents(rows: list[tuple[IncidentEvent, str | None, str]], now: float, *,
               empty: str) -> str:
    if not rows:
        return f'<p class="muted">{empty}</p>'
    out = ["<table><tr><th>state</th><th>severity</th><th>kind · class</th><th>service</th>"
           "<th>count</th><th>first seen</th><th>last seen</th><th>summary, samples and "
           "runbook</th></tr>"]
    for event, silenced, state in rows:
        colour = SEVERITY_COLOURS.get(event["severity"], "#334155")
        tags = f'<span class="tag {state}">{state}</span>'
        if silenced:
            tags += f'<span class="tag silenced" title="not sent">silenced: {_e(silenced)}</span>'
        book = event.get("runbook") or {}
        steps = "".join(f"<li>{_e(s)}</li>" for s in book.get("steps", []))
        link = (f' <a href="{_e(book["url"])}">{_e(book["url"])}</a>'
                if book.get("url") else "")
        samples = "".join(f"<pre>{_e(s)}</pre>" for s in event.get("samples", []))
        out.append(
            f"<tr><td>{tags}</td><td class=\"sev\" style=\"color:{colour}\">"
            f"{_e(event['severity'])}</td><td>{_e(event['kind'])} · {_e(event['class'])}</td>"
            f"<td>{_e(event['service'])}</td><td class=\"num\">{event['count']:,}</td>"
            f"<td>{_e(_short(event['first_seen']))}</td>"
            f"<td>{_e(_short(event['last_seen']))}</td>"
            f"<td>{_e(event['summary'])} <code class=\"muted\">{_e(event['id'])}</code>"
            f"<details><summary>samples and runbook</summary>{samples}"
            f"<b>{_e(book.get('title', ''))}</b>{link}<ol>{steps}</ol></details></td></tr>")
    out.append("</table>")
    return "".join(out)


def _short(stamp: str) -> str:
    return stamp.replace("T", " ").rstrip("Z").split(".")[0]


def _silences(silences: list[Silence], now: float) -> str:
    if not silences:
        return ('<p class="muted">No silences. Add one with <code>detector silence add '
                '--class C --service S --for 2h --comment WHY</code> or '
                '<code>POST /api/silences</code>.</p>')
    out = ["<table><tr><th>id</th><th>state</th><th>matches</th><th>from</th><th>until</th>"
           "<th>comment</th><th>author</th></tr>"]
    for silence in silences:
        state = silence.state(now)
        left = f" (ends in {short_span(silence.ends - now)})" if state == "active" else ""
        out.append(f"<tr><td><code>{_e(silence.id)}</code></td><td>{state}{left}</td>"
                   f"<td>{_e(silence.match.describe())}</td><td>{_when(silence.starts)}</td>"
                   f"<td>{_when(silence.ends)}</td><td>{_e(silence.comment)}</td>"
                   f"<td>{_e(silence.author)}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _maintenance(windows: Sequence[MaintenanceConfig], now: float) -> str:
    if not windows:
        return '<p class="muted">No <code>[[maintenance]]</code> windows configured.</p>'
    out = ["<table><tr><th>name</th><th>schedule</th><th>matches</th><th>now</th>"
           "<th>next</th></tr>"]
    for window in windows:
        upcoming = window.next_window(now)
        active = window.active(now)
        state = '<span class="tag silenced">on</span>' if active else "off"
        nxt = (f"{_when(upcoming[0])} → {_when(upcoming[1])} UTC" if upcoming else "none")
        out.append(f"<tr><td>{_e(window.name)}</td><td>{_e(window.describe())}</td>"
                   f"<td>{_e(window.match.describe())}</td><td>{state}</td>"
                   f"<td>{nxt}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _sources(health: dict[str, Any]) -> str:
    sources = health.get("sources", {})
    if not sources:
        return '<p class="muted">No sources.</p>'
    out = ["<table><tr><th>source</th><th>type</th><th>health</th><th>last data</th></tr>"]
    for name, state in sources.items():
        ok = state.get("ok")
        verdict = ('<span class="ok">ok</span>' if ok else
                   f'<span class="bad">down</span>: {_e(state.get("reason", ""))}')
        ago = state.get("last_data_seconds_ago")
        out.append(f"<tr><td>{_e(name)}</td><td>{_e(state.get('type', ''))}</td>"
                   f"<td>{verdict}</td><td>{short_span(ago) + ' ago' if ago is not None else ''}"
                   "</td></tr>")
    out.append("</table>")
    return "".join(out)


def _charts(view: StatusView) -> str:
    services = view.activity.busiest()
    if not services:
        return '<p class="muted">No events yet.</p>'
    legend = ('<div class="legend"><span><i style="background:#1e3a8a"></i>events per minute'
              '</span><span><i style="background:#c2410c"></i>of which a signature matched'
              '</span><span><i style="background:#c2410c;opacity:.3"></i>incident, open'
              '</span><span><i style="background:#64748b;opacity:.3"></i>incident, resolved'
              '</span></div>')
    marks: dict[str, list[tuple[IncidentEvent, str]]] = {}
    for event, _ in view.open:
        marks.setdefault(event["service"], []).append((event, "open"))
    for record in view.resolved:
        marks.setdefault(record.event["service"], []).append((record.event, "resolved"))
    panels = []
    for service in services:
        series = view.activity.series(service, view.now)
        total = sum(n for _, n, _ in series)
        panels.append(f'<div class="panel"><h3>{_e(service)}</h3><p>'
                      f"{total:,} {'event' if total == 1 else 'events'} in the last 3 hours"
                      f"</p>{_chart(series, marks.get(service, []))}</div>")
    return legend + "".join(panels)


def _chart(series: list[tuple[float, int, int]],
           marks: list[tuple[IncidentEvent, str]]) -> str:
    start, end = series[0][0], series[-1][0] + BUCKET
    peak = max([n for _, n, _ in series] + [1])
    top = peak * 1.15
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (min(max(t, start), end) - start) / (end - start) * width

    def y(value: float) -> float:
        return TOP + height - value / top * height

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img">']
    for event, state in marks:
        first, last = epoch(event["first_seen"]), epoch(event["last_seen"])
        if last < start:
            continue
        colour = KIND_COLOURS.get(event["kind"], "#64748b") if state == "open" else "#64748b"
        label = _e(f"{event['class']}: {event['summary']} ({state})")
        parts.append(f'<rect x="{x(first):.1f}" y="{TOP}" '
                     f'width="{max(x(last + BUCKET) - x(first), 2):.1f}" height="{height}" '
                     f'fill="{colour}" opacity="0.15"><title>{label}</title></rect>')
    for index, colour in ((1, "#1e3a8a"), (2, "#c2410c")):
        points = " ".join(f"{x(row[0] + BUCKET / 2):.1f},{y(row[index]):.1f}"
                          for row in series)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.3" '
                     f'points="{points}"/>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP + height}" x2="{WIDTH - RIGHT}" '
                 f'y2="{TOP + height}" stroke="#cbd5e1"/>')
    for fraction in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{LEFT - 6}" y="{TOP + height - fraction * height + 3:.1f}" '
                     f'text-anchor="end">{top * fraction:.3g}/min</text>')
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        t = start + (end - start) * fraction
        anchor = "start" if fraction == 0 else "end" if fraction == 1 else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 5}" text-anchor="{anchor}">'
                     f'{time.strftime("%H:%M", time.gmtime(t))}</text>')
    parts.append("</svg>")
    return "".join(parts)
