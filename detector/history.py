"""Incident history: every incident the daemon saw, open or resolved, for a bounded time.

One row per incident in the ``incidents`` table of the outbox's SQLite database, written
in the same transaction as the incident's events go into the outbox (so it survives a
``kill -9`` exactly as the outbox does): its latest event in full (samples and runbook
included), its state (``open``/``resolved``), and why it was not sent, if it was
silenced. Resolved incidents are forgotten ``[state] history`` after they were last seen
(30 days by default). ``detector incidents list|show`` and ``GET /incidents?state=…``
read it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from detector.model import IncidentEvent

__all__ = ["SCHEMA", "History", "Record", "epoch"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id          TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    class       TEXT NOT NULL,
    service     TEXT NOT NULL,
    severity    TEXT NOT NULL,
    state       TEXT NOT NULL,          -- open | resolved
    first_seen  REAL NOT NULL,          -- event time, epoch seconds
    last_seen   REAL NOT NULL,
    event       BLOB NOT NULL,          -- the latest incident event (JSON, redacted)
    silenced    TEXT,                   -- silence id or maintenance:NAME when not sent
    updated     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_seen ON incidents (last_seen);
"""

STATES = ("open", "resolved", "all")


def epoch(stamp: str) -> float:
    """``2026-11-20T10:00:03Z`` → epoch seconds."""
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Record:
    event: IncidentEvent
    state: str
    silenced: str | None

    def as_json(self) -> dict[str, Any]:
        """The incident's latest event, with its state and why it was silenced."""
        data: dict[str, Any] = {**self.event, "state": self.state}
        if self.silenced:
            data["silenced"] = self.silenced
        return data


class History:
    def __init__(self, db: sqlite3.Connection, retention: float = 30 * 86400.0) -> None:
        self.db = db
        self.retention = retention
        db.executescript(SCHEMA)

    def record(self, event: IncidentEvent, silenced: str | None,
               now: float | None = None) -> None:
        """Keep ``event`` as its incident's latest (call inside the outbox's transaction)."""
        now = time.time() if now is None else now
        state = "resolved" if event["event"] == "resolve" else "open"
        self.db.execute(
            "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET severity = excluded.severity, "
            "state = excluded.state, last_seen = excluded.last_seen, event = excluded.event, "
            "silenced = excluded.silenced, updated = excluded.updated",
            (event["id"], event["fingerprint"], event["class"], event["service"],
             event["severity"], state, epoch(event["first_seen"]), epoch(event["last_seen"]),
             orjson.dumps(event), silenced, now))

    def close_missing(self, open_ids: Iterable[str]) -> int:
        """Mark resolved the incidents recorded open that the daemon no longer has open (its
        open incidents were lost, or resolved by a version that kept no history)."""
        keep = set(open_ids)
        gone = [i for (i,) in self.db.execute("SELECT id FROM incidents WHERE state = 'open'")
                if i not in keep]
        for incident in gone:
            self.db.execute("UPDATE incidents SET state = 'resolved' WHERE id = ?", (incident,))
        return len(gone)

    def forget(self, now: float | None = None) -> int:
        """Drop resolved incidents last seen longer than the retention ago."""
        now = time.time() if now is None else now
        return self.db.execute("DELETE FROM incidents WHERE state = 'resolved' AND "
                               "last_seen < ?", (now - self.retention,)).rowcount

    def query(self, *, state: str = "all", since: float | None = None,
              cls: str | None = None, service: str | None = None,
              limit: int = 1000) -> list[Record]:
        """Incidents, most recently seen first."""
        clauses: list[str] = []
        params: list[object] = []
        if state != "all":
            clauses.append("state = ?")
            params.append(state)
        if since is not None:
            clauses.append("last_seen >= ?")
            params.append(since)
        if cls is not None:
            clauses.append("class = ?")
            params.append(cls)
        if service is not None:
            clauses.append("service = ?")
            params.append(service)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.execute(f"SELECT event, state, silenced FROM incidents{where} "
                               "ORDER BY last_seen DESC, id LIMIT ?", (*params, limit))
        return [Record(orjson.loads(e), s, m) for e, s, m in rows]

    def find(self, incident: str) -> list[Record]:
        """By id, or every incident whose id starts with ``incident``."""
        pattern = incident.replace("%", "").replace("_", "") + "%"
        rows = self.db.execute("SELECT id, event, state, silenced FROM incidents "
                               "WHERE id LIKE ? ORDER BY last_seen DESC LIMIT 20", (pattern,))
        found = [(i, Record(orjson.loads(e), s, m)) for i, e, s, m in rows]
        exact = [r for i, r in found if i == incident]
        return exact or [r for _, r in found]
