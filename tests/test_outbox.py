"""The outbox: durable, ordered per destination, dead letters kept until dealt with."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from detector.notify.outbox import SENT_RETENTION, Outbox


def event(n: int) -> dict:  # type: ignore[type-arg]
    return {"event": "open", "id": f"inc{n}", "count": 1}


def test_items_survive_a_reopen_and_come_out_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        outbox.add_many([("slack", f"k{n}", event(n)) for n in range(3)], now=100.0)
    with Outbox(path) as outbox:
        head = outbox.head("slack")
        assert head is not None and head.key == "k0" and head.payload == event(0)
        outbox.delivered(head.id)
        assert outbox.head("slack").key == "k1"  # type: ignore[union-attr]
        assert outbox.pending() == 2


def test_the_same_key_is_spooled_once_per_destination(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        assert outbox.add("slack", "k", event(1))
        assert not outbox.add("slack", "k", event(1))
        assert outbox.add("webhook", "k", event(1))
        assert outbox.depth() == {("slack", "pending"): 1, ("webhook", "pending"): 1}


def test_a_sent_key_refuses_a_repeat_for_a_day_then_is_forgotten(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.add("slack", "k", event(1), now=100.0)
        (item,) = outbox.items()
        outbox.delivered(item.id, now=101.0)
        assert not outbox.add("slack", "k", event(1))        # read again after a crash
        assert outbox.items() == [] and outbox.depth() == {} and outbox.pending() == 0
        assert [i.key for i in outbox.items(state="sent")] == ["k"]
        assert outbox.forget_sent(before=101.0) == 0
        assert outbox.forget_sent(before=101.0 + SENT_RETENTION) == 1
        assert outbox.add("slack", "k", event(1))


def test_retry_later_keeps_the_item_at_the_head(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.add_many([("slack", "a", event(1)), ("slack", "b", event(2))], now=0.0)
        head = outbox.head("slack")
        assert head is not None
        outbox.retry_later(head.id, 50.0, "HTTP 503")
        again = outbox.head("slack")
        assert again is not None
        assert (again.key, again.attempts, again.next_attempt, again.last_error) == (
            "a", 1, 50.0, "HTTP 503")


def test_dead_letters_are_kept_with_the_answer_until_retried_or_purged(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.add_many([("pd", "a", event(1)), ("pd", "b", event(2))], now=0.0)
        first = outbox.head("pd")
        assert first is not None
        outbox.dead(first.id, "HTTP 400", '{"status":"invalid event"}')
        assert outbox.head("pd").key == "b"  # type: ignore[union-attr]
        (dead,) = outbox.items(state="dead")
        assert (dead.key, dead.response) == ("a", '{"status":"invalid event"}')
        assert outbox.retry_dead([dead.id], now=500.0) == 1
        (back,) = [i for i in outbox.items() if i.key == "a"]
        assert (back.state, back.attempts, back.created) == ("pending", 0, 500.0)
        outbox.dead(back.id, "again", None)
        assert outbox.purge_dead() == 1
        assert [i.key for i in outbox.items()] == ["b"]


def test_it_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    Outbox(path).close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
