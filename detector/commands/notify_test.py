"""``detector notify test [--to NAME]``: a marked sample incident through every notifier.

The sample goes the way a real incident event goes: it is written to the outbox of the
config's state directory and read back from it, then the destination's own notifier
builds the request and judges the answer, through the dispatcher's delivery code (one
attempt: no retry, no backoff). It is stored in a state no delivery worker takes (a
running daemon does not send it too) and removed afterwards, so it leaves no pending
item and no dead letter. Routing (``min_severity``, ``classes``…) is not applied: a test
goes to every destination asked for. Prints each destination's answer; exit 0 only if
every one accepted.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from typing import TextIO

from detector.config import Config
from detector.errors import UserError
from detector.humanize import plural
from detector.incidents import iso
from detector.model import EventName, IncidentEvent, Kind, Severity
from detector.notify import Notifier, build_notifiers
from detector.notify.dispatcher import Dispatcher, Outcome
from detector.notify.outbox import Outbox
from detector.telemetry.metrics import Registry

__all__ = ["notify_test", "sample_event"]

TEST_CLASS = "detector_test"


def sample_event(now: float | None = None) -> IncidentEvent:
    """A clearly marked incident event that is not an incident."""
    now = time.time() if now is None else now
    marker = secrets.token_hex(4)
    return {
        "event": EventName.OPEN, "id": f"test-{marker}", "kind": Kind.SIGNATURE,
        "class": TEST_CLASS, "pattern": "detector.notify_test", "severity": Severity.INFO,
        "service": "detector", "fingerprint": f"test-{marker}", "first_seen": iso(now),
        "last_seen": iso(now), "count": 1,
        "summary": "TEST: detector notify test — not an incident, nothing to do",
        "fields": {"test": "true"},
        "samples": ["This is a test notification sent by `detector notify test`."],
        "runbook": {"title": "Nothing to do: this is a test",
                    "steps": ["Check that this message arrived where incidents should.",
                              "Nothing else: it resolves nothing and needs no action."]},
    }


def notify_test(config: Config, *, to: str | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    notifiers = build_notifiers(config.notify)
    where = config.path or "the built-in defaults"
    if not notifiers:
        raise UserError(f"{where}: no [[notify]] is configured; there is nothing to test")
    if to is not None:
        notifiers = [n for n in notifiers if n.name == to]
        if not notifiers:
            names = ", ".join(n.name for n in config.notify)
            raise UserError(f"notify test: no notifier named {to!r} in {where} "
                            f"(there are: {names})")
    results = asyncio.run(_send(config, notifiers))
    width = max(len(name) for name, _ in results)
    kinds = {n.name: n.type for n in notifiers}
    for name, outcome in results:
        answer = f"HTTP {outcome.status}" if outcome.status is not None else "no answer"
        verdict = "accepted" if outcome.verdict == "delivered" else "FAILED"
        line = (f"{name:{width}}  {kinds[name]:12} {verdict:8}  {answer} in "
                f"{outcome.seconds * 1000:.0f} ms")
        if outcome.error:
            line += f": {outcome.error}"
        out.write(line + "\n")
    failed = sum(1 for _, o in results if o.verdict != "delivered")
    out.write(f"\n{plural(len(results) - failed, 'destination')} accepted the test"
              + (f", {failed} did not\n" if failed else "\n"))
    return 1 if failed else 0


async def _send(config: Config, notifiers: list[Notifier]) -> list[tuple[str, Outcome]]:
    results = []
    with Outbox.in_state_dir(config.state.dir) as outbox:
        dispatcher = Dispatcher(notifiers, outbox, Registry(), workers=False)
        async with dispatcher:
            for name in (n.name for n in notifiers):
                event = sample_event()
                item = outbox.add_test(name, f"{event['id']}-test", event)
                try:
                    results.append((name, await dispatcher.send_once(name, item)))
                finally:
                    outbox.discard(item.id)
    return results
