"""The outbox: a durable SQLite spool of notifications, per destination.

Every notification is written here (committed, fsynced) before any attempt to
send it, and marked sent only once its destination accepted it, so a ``kill -9``
at any moment loses nothing: the next start sends what was left. The key of a
sent notification is remembered for ``SENT_RETENTION`` (its payload is not):
lines read again after a crash, or a file replayed twice with ``--notify``,
produce the same events with the same keys, and those are not sent again. A notification
that cannot be delivered is never dropped: it becomes a *dead letter*, kept with
the reason and the destination's answer, until an operator retries or purges it
(``detector outbox list|retry|purge``).

Items of one destination are sent in the order they were written, so an
incident's ``open`` always reaches a destination before its ``resolve``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from detector.model import IncidentEvent

__all__ = ["SENT_RETENTION", "Item", "Outbox"]

SENT_RETENTION = 24 * 3600.0     # how long a sent key keeps a repeat from being sent again

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    destination  TEXT NOT NULL,
    key          TEXT NOT NULL,            -- idempotency key: the same event, the same key
    payload      BLOB NOT NULL,            -- the incident event (JSON, redacted)
    created      REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    last_error   TEXT,
    state        TEXT NOT NULL DEFAULT 'pending',   -- pending | dead | sent | test
    response     TEXT,                              -- what the destination answered (dead)
    sent         REAL,                              -- when it was accepted (sent)
    UNIQUE (destination, key)
);
CREATE INDEX IF NOT EXISTS items_queue ON items (destination, state, id);
"""


@dataclass(frozen=True)
class Item:
    id: int
    destination: str
    key: str
    payload: IncidentEvent
    created: float
    attempts: int
    next_attempt: float
    last_error: str | None
    state: str
    response: str | None


FILE_NAME = "outbox.sqlite3"


class Outbox:
    """One SQLite file; safe to open from several processes (WAL, busy timeout). It also
    holds the silences (:mod:`detector.notify.silences`) and the incident history
    (:mod:`detector.history`), so that an incident event, its history and what a silence
    withheld are written in one transaction. The file is private (0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        # After a checkpoint the write-ahead log is cut back to this size instead of
        # keeping the largest it ever reached: a small state disk is not eaten by it.
        self.db.execute("PRAGMA journal_size_limit=1048576")
        # Checkpoint every 1 MiB of log (SQLite's default is 4 MiB): marking items sent on
        # a nearly full disk needs no more room than the spool keeps free (daemon/spool.py).
        self.db.execute("PRAGMA wal_autocheckpoint=256")
        self.db.executescript(_SCHEMA)
        with contextlib.suppress(OSError):              # 0.1.0 created it 0644
            if path.stat().st_mode & 0o077 and path.stat().st_uid == os.geteuid():
                path.chmod(0o600)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Outbox:
        """The daemon's outbox (replay --notify and the outbox commands share it)."""
        return cls(state_dir / FILE_NAME)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------
    def add(self, destination: str, key: str, payload: IncidentEvent,
            now: float | None = None) -> bool:
        """Spool one notification; False if this destination already has this key."""
        now = time.time() if now is None else now
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO items (destination, key, payload, created, next_attempt) "
            "VALUES (?, ?, ?, ?, ?)",
            (destination, key, orjson.dumps(payload), now, now))
        return cursor.rowcount == 1

    def add_many(self, rows: Iterable[tuple[str, str, IncidentEvent]],
                 now: float | None = None) -> int:
        """Spool several notifications in one transaction (one fsync)."""
        with self.transaction():
            return self.insert(rows, now)

    def insert(self, rows: Iterable[tuple[str, str, IncidentEvent]],
               now: float | None = None, *, state: str = "pending") -> int:
        """Spool notifications in the caller's :meth:`transaction`."""
        now = time.time() if now is None else now
        added = 0
        for destination, key, payload in rows:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO items (destination, key, payload, created, "
                "next_attempt, state) VALUES (?, ?, ?, ?, ?, ?)",
                (destination, key, orjson.dumps(payload), now, now, state))
            added += cursor.rowcount
        return added

    def add_test(self, destination: str, key: str, payload: IncidentEvent) -> Item:
        """A test notification (``detector notify test``): stored and read back like any
        item, but in state ``test``, which no delivery worker takes."""
        with self.transaction():
            self.insert([(destination, key, payload)], state="test")
        row = self.db.execute("SELECT * FROM items WHERE destination = ? AND key = ?",
                              (destination, key)).fetchone()
        return _item(row)

    def discard(self, item_id: int) -> None:
        self.db.execute("DELETE FROM items WHERE id = ?", (item_id,))

    def retry_pending_now(self, now: float | None = None) -> int:
        """Pending items waiting out a backoff are due now (after a start, or on
        ``detector outbox retry --pending``)."""
        now = time.time() if now is None else now
        return self.db.execute("UPDATE items SET next_attempt = ? WHERE state = 'pending' "
                               "AND next_attempt > ?", (now, now)).rowcount

    def delivered(self, item_id: int, now: float | None = None) -> None:
        """Accepted by its destination: keep the key (to refuse a repeat), drop the rest."""
        self.db.execute("UPDATE items SET state = 'sent', sent = ?, payload = x'7b7d', "
                        "last_error = NULL WHERE id = ?",
                        (time.time() if now is None else now, item_id))

    def forget_sent(self, before: float) -> int:
        """Drop the keys of notifications sent before ``before``."""
        return self.db.execute("DELETE FROM items WHERE state = 'sent' AND sent < ?",
                               (before,)).rowcount

    def retry_later(self, item_id: int, when: float, error: str) -> None:
        self.db.execute("UPDATE items SET attempts = attempts + 1, next_attempt = ?, "
                        "last_error = ? WHERE id = ?", (when, error[:2000], item_id))

    def dead(self, item_id: int, error: str, response: str | None = None) -> None:
        self.db.execute("UPDATE items SET state = 'dead', attempts = attempts + 1, "
                        "last_error = ?, response = ? WHERE id = ?",
                        (error[:2000], response[:4000] if response else None, item_id))

    # -- reading ------------------------------------------------------------------
    def head(self, destination: str) -> Item | None:
        """The oldest pending notification of a destination (sent strictly in order)."""
        row = self.db.execute(
            "SELECT * FROM items WHERE destination = ? AND state = 'pending' "
            "ORDER BY id LIMIT 1", (destination,)).fetchone()
        return _item(row) if row else None

    def items(self, *, state: str | None = None, destination: str | None = None) -> list[Item]:
        """Pending and dead items (or those of one ``state``), oldest first."""
        query = "SELECT * FROM items"
        clauses, params = ["state IN ('pending', 'dead')"], []
        if state is not None:
            clauses = ["state = ?"]
            params.append(state)
        if destination is not None:
            clauses.append("destination = ?")
            params.append(destination)
        query += " WHERE " + " AND ".join(clauses)
        return [_item(row) for row in self.db.execute(query + " ORDER BY id", params)]

    def reusable_bytes(self) -> int:
        """Space inside the file that SQLite will reuse before growing it (freed pages)."""
        pages = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        size = self.db.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(size)

    def depth(self) -> dict[tuple[str, str], int]:
        """Items by (destination, state)."""
        rows = self.db.execute("SELECT destination, state, count(*) FROM items "
                               "WHERE state IN ('pending', 'dead') GROUP BY destination, state")
        return {(d, s): n for d, s, n in rows}

    def oldest(self) -> dict[str, float]:
        """Creation time of the oldest pending item, by destination."""
        rows = self.db.execute("SELECT destination, min(created) FROM items "
                               "WHERE state = 'pending' GROUP BY destination")
        return dict(rows.fetchall())

    def pending(self, destinations: Iterable[str] | None = None) -> int:
        if destinations is None:
            return int(self.db.execute(
                "SELECT count(*) FROM items WHERE state = 'pending'").fetchone()[0])
        names = list(destinations)
        if not names:
            return 0
        marks = ",".join("?" * len(names))
        return int(self.db.execute(f"SELECT count(*) FROM items WHERE state = 'pending' AND "
                                   f"destination IN ({marks})", names).fetchone()[0])

    # -- operator actions on dead letters -------------------------------------------
    def retry_dead(self, ids: Iterable[int] | None = None, now: float | None = None) -> int:
        """Dead letters back to pending, as if new (their age starts again)."""
        now = time.time() if now is None else now
        sql = ("UPDATE items SET state = 'pending', attempts = 0, next_attempt = ?, "
               "created = ?, response = NULL WHERE state = 'dead'")
        return self._by_ids(sql, (now, now), ids)

    def purge_dead(self, ids: Iterable[int] | None = None) -> int:
        return self._by_ids("DELETE FROM items WHERE state = 'dead'", (), ids)

    def _by_ids(self, sql: str, params: tuple[Any, ...], ids: Iterable[int] | None) -> int:
        if ids is None:
            return self.db.execute(sql, params).rowcount
        total = 0
        with self._transaction():
            for item_id in ids:
                total += self.db.execute(sql + " AND id = ?", (*params, item_id)).rowcount
        return total

    def transaction(self) -> _Transaction:
        """``with outbox.transaction():`` — one ``BEGIN IMMEDIATE`` … ``COMMIT``."""
        return _Transaction(self.db)

    _transaction = transaction


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _item(row: tuple[Any, ...]) -> Item:
    (item_id, destination, key, payload, created, attempts, next_attempt, last_error, state,
     response, _sent) = row
    return Item(id=item_id, destination=destination, key=key, payload=orjson.loads(payload),
                created=created, attempts=attempts, next_attempt=next_attempt,
                last_error=last_error, state=state, response=response)
