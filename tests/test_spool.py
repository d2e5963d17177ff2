"""The spool: incident events wait here until the outbox has them, and it stops taking more
before the state disk is full, so that delivery can always record what it sent."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_dispatcher import dispatcher
from test_notifiers import incident

from detector.daemon.spool import RESERVE_CAP, Spool
from detector.telemetry.metrics import Registry


def test_held_events_go_into_the_outbox_in_one_flush(tmp_path: Path) -> None:
    d = dispatcher(tmp_path, "webhook", "http://127.0.0.1:9/hook")
    spool = Spool(d, Registry(), reserve=0)
    spool(incident())                                             # type: ignore[arg-type]
    spool(incident("update", count=32))                           # type: ignore[arg-type]
    assert spool.try_flush() and spool.empty and spool.blocked is None
    assert sum(d.outbox.depth().values()) == 2


def test_it_keeps_a_reserve_free_for_delivery_and_says_why(tmp_path: Path) -> None:
    d = dispatcher(tmp_path, "webhook", "http://127.0.0.1:9/hook")
    beyond = shutil.disk_usage(tmp_path).free + d.outbox.reusable_bytes() + (1 << 30)
    spool = Spool(d, Registry(), reserve=beyond)
    spool(incident())                                             # type: ignore[arg-type]
    assert not spool.try_flush()
    assert spool.blocked is not None and "state disk nearly full" in spool.blocked
    assert not spool.empty and sum(d.outbox.depth().values()) == 0     # held, not lost
    spool.reserve = 0                                             # room again
    assert spool.try_flush() and spool.blocked is None
    assert sum(d.outbox.depth().values()) == 1


def test_the_reserve_is_a_tenth_of_a_small_disk_and_at_most_8_mib(tmp_path: Path) -> None:
    spool = Spool(dispatcher(tmp_path, "webhook", "http://127.0.0.1:9/hook"), Registry())
    assert spool.reserve == min(RESERVE_CAP, shutil.disk_usage(tmp_path).total // 10)


def test_pages_freed_inside_the_outbox_count_as_room(tmp_path: Path) -> None:
    d = dispatcher(tmp_path, "webhook", "http://127.0.0.1:9/hook")
    d.outbox.add_many(("hook", f"k{n}", incident(summary="x" * 4000))  # type: ignore[misc]
                      for n in range(200))
    before = d.outbox.reusable_bytes()
    d.outbox.db.execute("DELETE FROM items")
    d.outbox.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert d.outbox.reusable_bytes() > before + 200 * 4000 // 2
