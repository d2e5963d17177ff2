"""``replay --report FILE.html``: one self-contained page (inline SVG and CSS, no network).

For each (service, class) that had trouble: the count per window over time, the
learned baseline, the band between the baseline and the count that would have
opened a spike, and the incidents marked on the time axis. Then every incident,
with its samples and runbook. Meant to be read at a glance by someone deciding
whether to trust a threshold.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable, Sequence

from detector.decode.timestamps import parse_iso
from detector.detect.rates import ERROR_RATE, Series
from detector.detect.rates.wording import LABELS
from detector.model import IncidentEvent

__all__ = ["render_report"]

WIDTH, HEIGHT = 880, 150
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 24
MAX_PANELS = 24
MAX_POINTS = 720
KIND_COLOURS = {"signature": "#c2410c", "rate_spike": "#b91c1c", "new_error": "#7c3aed"}
SEVERITY_COLOURS = {"critical": "#991b1b", "error": "#c2410c", "warning": "#a16207",
                    "info": "#1d4ed8"}

CSS = """
body{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f8fafc;color:#0f172a}
header{background:#0f172a;color:#e2e8f0;padding:18px 28px}
header h1{margin:0 0 4px;font-size:20px} header p{margin:0;color:#94a3b8}
main{padding:18px 28px;max-width:1180px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:6px 0 18px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}
.panel{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;margin:0 0 12px}
.panel h3{margin:0 0 2px;font-size:15px} .panel p{margin:0 0 6px;color:#475569;font-size:12px}
svg text{font-size:10px;fill:#64748b}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #e2e8f0;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f1f5f9} td.num{text-align:right} .sev{font-weight:600}
details summary{cursor:pointer;color:#1e40af} pre{white-space:pre-wrap;font-size:12px;
background:#f1f5f9;padding:8px;border-radius:6px;margin:6px 0}
.legend span{display:inline-block;margin-right:14px;font-size:12px;color:#475569}
.legend i{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}
"""


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))


def _downsample(series: Series) -> list[tuple[float, float, float, float]]:
    """(start, count, baseline, threshold), max-pooled so spikes survive."""
    rows = list(zip(series.start, series.count, series.baseline, series.threshold, strict=True))
    if len(rows) <= MAX_POINTS:
        return [(s, float(c), b, t) for s, c, b, t in rows]
    step = math.ceil(len(rows) / MAX_POINTS)
    pooled = []
    for i in range(0, len(rows), step):
        chunk = rows[i:i + step]
        finite_b = [b for _, _, b, _ in chunk if not math.isnan(b)]
        finite_t = [t for _, _, _, t in chunk if not math.isnan(t)]
        pooled.append((chunk[0][0], float(max(c for _, c, _, _ in chunk)),
                       sum(finite_b) / len(finite_b) if finite_b else math.nan,
                       max(finite_t) if finite_t else math.nan))
    return pooled


def _chart(series: Series, window: float, start: float, end: float,
           marks: Sequence[IncidentEvent]) -> str:
    rows = _downsample(series)
    per_minute = 60.0 / window
    peak = max([r[1] for r in rows] + [r[3] for r in rows if not math.isnan(r[3])] + [1.0])
    top = peak * per_minute * 1.1
    span = max(end - start, 60.0)
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - start) / span * width

    def y(value: float) -> float:
        return TOP + height - value * per_minute / top * height

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img">']
    for mark in marks:
        first = parse_iso(mark["first_seen"]) or start
        last = max(parse_iso(mark["last_seen"]) or first, first + window)
        colour = KIND_COLOURS.get(mark["kind"], "#64748b")
        label = html.escape(f"{mark['kind']}: {mark['summary']} ({_when(first)} → {_when(last)})")
        parts.append(f'<rect x="{x(first):.1f}" y="{TOP}" width="{max(x(last) - x(first), 2):.1f}"'
                     f' height="{height}" fill="{colour}" opacity="0.13"><title>{label}</title>'
                     "</rect>")
    band = [(r[0], r[2], r[3]) for r in rows if not math.isnan(r[2]) and not math.isnan(r[3])]
    if band:
        upper = " ".join(f"{x(t):.1f},{y(th):.1f}" for t, _, th in band)
        lower = " ".join(f"{x(t):.1f},{y(b):.1f}" for t, b, _ in reversed(band))
        parts.append(f'<polygon points="{upper} {lower}" fill="#16a34a" opacity="0.14">'
                     "<title>between the learned baseline and the count that opens a spike"
                     "</title></polygon>")
        parts.append('<polyline fill="none" stroke="#16a34a" stroke-width="1.2" '
                     'stroke-dasharray="4 3" points="'
                     + " ".join(f"{x(t):.1f},{y(b):.1f}" for t, b, _ in band) + '"/>')
    parts.append('<polyline fill="none" stroke="#1e3a8a" stroke-width="1.3" points="'
                 + " ".join(f"{x(s):.1f},{y(c):.1f}" for s, c, _, _ in rows) + '"/>')
    # axes
    parts.append(f'<line x1="{LEFT}" y1="{TOP + height}" x2="{WIDTH - RIGHT}" '
                 f'y2="{TOP + height}" stroke="#cbd5e1"/>')
    for fraction in (0.0, 0.5, 1.0):
        value = top * fraction
        parts.append(f'<text x="{LEFT - 6}" y="{TOP + height - fraction * height + 3:.1f}" '
                     f'text-anchor="end">{value:.3g}/min</text>')
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        t = start + span * fraction
        anchor = "start" if fraction == 0 else "end" if fraction == 1 else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
                     f'{time.strftime("%m-%d %H:%M", time.gmtime(t))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_report(*, title: str, inputs: Sequence[str], series: dict[tuple[str, str], Series],
                  window: float, incidents: Iterable[IncidentEvent], lines: int,
                  elapsed: float) -> str:
    incidents = sorted(incidents, key=lambda e: e["first_seen"])
    times = [t for s in series.values() for t in s.start]
    times += [parse_iso(e["first_seen"]) or 0.0 for e in incidents]
    times += [parse_iso(e["last_seen"]) or 0.0 for e in incidents]
    times = [t for t in times if t > 0]
    start, end = (min(times), max(times) + window) if times else (0.0, 60.0)

    by_key: dict[tuple[str, str], list[IncidentEvent]] = {}
    for event in incidents:
        by_key.setdefault((event["service"], event["class"]), []).append(event)
    interesting = sorted(series, key=lambda k: (
        not any(e["kind"] == "rate_spike" for e in by_key.get(k, [])), -sum(series[k].count)))
    panels = []
    for key in interesting[:MAX_PANELS]:
        service, cls = key
        data = series[key]
        if not data.start or not sum(data.count):
            continue
        marks = by_key.get(key, [])
        label = "all error-level lines" if cls == ERROR_RATE else cls
        spikes = sum(1 for e in marks if e["kind"] == "rate_spike")
        panels.append(
            f'<div class="panel"><h3>{html.escape(service)} · {html.escape(label)}</h3>'
            f"<p>{sum(data.count):,} events · {spikes} rate spike(s) · "
            f"{len(marks) - spikes} other incident(s) · "
            f"{html.escape(LABELS.get(cls, cls))} per minute</p>"
            + _chart(data, window, start, end, marks) + "</div>")

    counts = {kind: sum(1 for e in incidents if e["kind"] == kind)
              for kind in ("signature", "rate_spike", "new_error")}
    cards = "".join(f'<div class="card"><b>{value}</b>{name}</div>' for name, value in [
        ("signature incidents", counts["signature"]), ("rate spikes", counts["rate_spike"]),
        ("new error shapes", counts["new_error"]), ("lines", f"{lines:,}"),
        ("services", len({e['service'] for e in incidents}))])
    rows = "".join(_row(e) for e in incidents)
    legend = ('<div class="legend"><span><i style="background:#1e3a8a"></i>events per minute'
              '</span><span><i style="background:#16a34a;opacity:.5"></i>learned baseline → '
              'spike threshold</span><span><i style="background:#b91c1c;opacity:.3"></i>rate '
              'spike</span><span><i style="background:#c2410c;opacity:.3"></i>signature incident'
              '</span><span><i style="background:#7c3aed;opacity:.3"></i>new error shape</span>'
              "</div>")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(', '.join(inputs))} · "
            f"{_when(start)} → {_when(end)} UTC · replayed in {elapsed:.1f}s</p></header><main>"
            f'<div class="cards">{cards}</div>'
            f"<h2>Rates</h2>{legend}{''.join(panels) or '<p>No trouble to chart.</p>'}"
            "<h2>Incidents</h2><table><tr><th>first seen</th><th>last seen</th><th>severity</th>"
            "<th>kind · class</th><th>service</th><th>count</th><th>summary, samples and runbook"
            f"</th></tr>{rows}</table></main></body></html>\n")


def _row(event: IncidentEvent) -> str:
    book = event.get("runbook") or {}
    steps = "".join(f"<li>{html.escape(s)}</li>" for s in book.get("steps", []))
    samples = "".join(f"<pre>{html.escape(s)}</pre>" for s in event.get("samples", []))
    colour = SEVERITY_COLOURS.get(event["severity"], "#334155")
    state = "resolved" if event["event"] == "resolve" else "open"
    return (f"<tr><td>{_short(event['first_seen'])}</td><td>{_short(event['last_seen'])} "
            f"({state})</td><td class=\"sev\" style=\"color:{colour}\">{event['severity']}</td>"
            f"<td>{html.escape(event['kind'])} · {html.escape(event['class'])}</td>"
            f"<td>{html.escape(event['service'])}</td><td class=\"num\">{event['count']:,}</td>"
            f"<td>{html.escape(event['summary'])}<details><summary>samples and runbook"
            f"</summary>{samples}<b>{html.escape(book.get('title', ''))}</b><ol>{steps}</ol>"
            "</details></td></tr>")


def _short(stamp: str) -> str:
    return stamp.replace("T", " ").rstrip("Z").split(".")[0]
