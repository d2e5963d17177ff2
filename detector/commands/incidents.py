"""``detector incidents list|show``: the incident history the daemon keeps.

Read from the state directory's SQLite database (:mod:`detector.history`), whether the
daemon runs or not. An open incident shows as of its latest event (updates are
throttled: ``GET /incidents`` has the live count).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from detector.commands import duration_option
from detector.config import Config
from detector.errors import UserError
from detector.history import History, Record
from detector.humanize import plural
from detector.notify.outbox import FILE_NAME, Outbox

__all__ = ["incidents_list", "incidents_show"]


def _short(stamp: str) -> str:
    return stamp.replace("T", " ").rstrip("Z").split(".")[0]


def incidents_list(config: Config, *, state: str = "all", since: str | None = None,
                   cls: str | None = None, service: str | None = None,
                   out: TextIO | None = None) -> int:
    out = out or sys.stdout
    start = None
    if since is not None:
        start = time.time() - duration_option(since, "incidents list: --since", "30m, 24h or 7d")
    if not (config.state.dir / FILE_NAME).exists():
        out.write(f"No incidents recorded ({config.state.dir / FILE_NAME} does not exist "
                  "yet).\n")
        return 0
    with Outbox.in_state_dir(config.state.dir) as outbox:
        records = History(outbox.db).query(state=state, since=start, cls=cls, service=service)
    if not records:
        out.write("No incidents.\n")
        return 0
    out.write(f"{'ID':16}  {'STATE':9} {'SEVERITY':8}  {'CLASS':24} {'SERVICE':16} "
              f"{'COUNT':>6}  {'FIRST SEEN':19}  {'LAST SEEN':19}  SUMMARY\n")
    for record in records:
        event = record.event
        state_text = record.state + ("*" if record.silenced else "")
        out.write(f"{event['id']:16}  {state_text:9} {event['severity']:8}  "
                  f"{event['class'][:24]:24} {event['service'][:16]:16} {event['count']:>6}  "
                  f"{_short(event['first_seen']):19}  {_short(event['last_seen']):19}  "
                  f"{event['summary'][:80]}\n")
    silenced = sum(1 for r in records if r.silenced)
    opened = sum(1 for r in records if r.state == "open")
    note = f"; * = silenced (not sent): {silenced}" if silenced else ""
    out.write(f"\n{plural(len(records), 'incident')}: {opened} open, "
              f"{len(records) - opened} resolved{note}\n")
    return 0


def incidents_show(config: Config, incident: str, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if not (config.state.dir / FILE_NAME).exists():
        raise UserError(f"no incident history in {config.state.dir} (is -c the daemon's "
                        "config?)")
    with Outbox.in_state_dir(config.state.dir) as outbox:
        found = History(outbox.db).find(incident)
    if not found:
        raise UserError(f"incidents show: no incident {incident!r} (see detector incidents "
                        "list)")
    if len(found) > 1:
        ids = ", ".join(r.event["id"] for r in found[:5])
        raise UserError(f"incidents show: {incident!r} is the start of several ids ({ids}); "
                        "give more of it")
    _show(found[0], out)
    return 0


def _show(record: Record, out: TextIO) -> None:
    event = record.event
    rows = [("id", event["id"]), ("state", record.state),
            ("silenced", f"{record.silenced} (not sent)" if record.silenced else "no"),
            ("kind", event["kind"]), ("class", event["class"]),
            ("pattern", event.get("pattern") or "-"), ("severity", event["severity"]),
            ("service", event["service"]), ("count", str(event["count"])),
            ("first seen", event["first_seen"]), ("last seen", event["last_seen"]),
            ("fingerprint", event["fingerprint"]), ("summary", event["summary"])]
    for name, value in rows:
        out.write(f"{name + ':':13}{value}\n")
    if event.get("fields"):
        out.write("fields:\n")
        for key, value in event["fields"].items():
            out.write(f"  {key} = {value!r}\n")
    out.write("samples:\n")
    for sample in event.get("samples", []):
        out.write("  " + sample.replace("\n", "\n  ") + "\n")
    book = event.get("runbook")
    if book:
        out.write(f"runbook:      {book.get('title', '')}\n")
        if book.get("url"):
            out.write(f"  {book['url']}\n")
        for number, step in enumerate(book.get("steps", []), start=1):
            out.write(f"  {number}. {step}\n")
