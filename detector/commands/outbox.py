"""``detector outbox list|retry|purge``: see what waits, and deal with dead letters."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from detector.config import Config
from detector.errors import UserError
from detector.humanize import plural, short_span
from detector.notify.outbox import FILE_NAME, Outbox

__all__ = ["outbox_command"]


def outbox_command(config: Config, action: str, ids: list[int], *, all_items: bool,
                   dead_only: bool, pending: bool = False, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    path = config.state.dir / FILE_NAME
    if not path.exists():
        if action == "list":
            out.write(f"The outbox is empty ({path} does not exist yet).\n")
            return 0
        raise UserError(f"no outbox at {path}")
    with Outbox.in_state_dir(config.state.dir) as outbox:
        if action == "list":
            return _list(outbox, dead_only, out)
        if action == "retry" and pending:
            count = outbox.retry_pending_now()
            out.write(f"{plural(count, 'pending item')} due now (the running daemon tries "
                      "them within a second).\n")
            if not ids and not all_items:
                return 0
        if not ids and not all_items:
            raise UserError(f"outbox {action}: give dead-letter ids, or --all"
                            + (", or --pending" if action == "retry" else ""))
        selected = None if all_items else ids
        if action == "retry":
            count = outbox.retry_dead(selected)
            out.write(f"{plural(count, 'dead letter')} back in the queue; the daemon (or the "
                      "next `replay --notify`) sends them.\n")
        else:
            count = outbox.purge_dead(selected)
            out.write(f"{plural(count, 'dead letter')} purged.\n")
    return 0


def _list(outbox: Outbox, dead_only: bool, out: TextIO) -> int:
    items = outbox.items(state="dead" if dead_only else None)
    if not items:
        out.write("The outbox is empty.\n" if not dead_only else "No dead letters.\n")
        return 0
    now = time.time()
    out.write(f"{'ID':>6}  {'STATE':8} {'DESTINATION':16} {'AGE':>8} {'TRIES':>5}  "
              f"EVENT / LAST ERROR\n")
    for item in items:
        event = item.payload
        age = short_span(now - item.created)
        what = f"{event.get('event')} {event.get('class')} {event.get('service')}: " \
               f"{event.get('summary', '')}"[:70]
        out.write(f"{item.id:>6}  {item.state:8} {item.destination:16} {age:>8} "
                  f"{item.attempts:>5}  {what}\n")
        if item.last_error:
            out.write(f"{'':>6}  {'':8} {'':16} {'':>8} {'':>5}  ↳ {item.last_error[:100]}\n")
        if item.response and item.state == "dead":
            out.write(f"{'':>6}  {'':8} {'':16} {'':>8} {'':>5}  ↳ answered: "
                      f"{item.response[:100]}\n")
    depth = outbox.depth()
    pending = sum(n for (_, s), n in depth.items() if s == "pending")
    dead = sum(n for (_, s), n in depth.items() if s == "dead")
    out.write(f"\n{pending} pending, {plural(dead, 'dead letter')}\n")
    return 0


