"""What replay prints: the table, the progress line, the ordering of events."""

from __future__ import annotations

import io

from detector.replay.output import IncidentTable, OrderedSink, Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def event(name: str, ident: str, severity: str = "error", count: int = 1) -> dict:  # type: ignore[type-arg]
    return {"event": name, "id": ident, "kind": "signature", "class": "deadlock",
            "severity": severity, "service": "api", "count": count,
            "first_seen": "2026-11-20T10:00:00Z", "last_seen": "2026-11-20T10:05:00.250Z",
            "summary": "PostgreSQL deadlock detected", "runbook": {"title": "Fix it", "steps": ["a", "b"]}}


def test_progress_draws_on_a_terminal_only() -> None:
    terminal = FakeTerminal()
    progress = Progress(1000, enabled=True, out=terminal)
    progress.update(500, 42, 3, force=True)
    assert "50.0%" in terminal.getvalue() and "42 lines" in terminal.getvalue()
    progress.finish()
    assert terminal.getvalue().endswith("\r\x1b[K")
    quiet = io.StringIO()
    Progress(1000, enabled=False, out=quiet).update(500, 42, 3, force=True)
    assert quiet.getvalue() == ""


def test_table_sorts_by_severity_then_count_and_marks_state() -> None:
    table = IncidentTable()
    table(event("open", "a", "warning", 10))
    table(event("resolve", "b", "critical", 1))
    table(event("update", "c", "critical", 7))
    out = io.StringIO()
    table.render(out, colour=False)
    rows = out.getvalue().splitlines()[1:]
    assert [r.split()[:2] for r in rows] == [["open", "critical"], ["resolved", "critical"],
                                             ["open", "warning"]]
    assert "2026-11-20 10:05:00" in rows[0]


def test_runbooks_are_listed_once() -> None:
    table = IncidentTable()
    table(event("open", "a"))
    table(event("open", "b"))
    out = io.StringIO()
    table.runbooks(out, colour=False)
    assert out.getvalue().count("Fix it") == 1


def test_ordered_sink_releases_by_event_time_up_to_the_watermark() -> None:
    released: list[str] = []
    sink = OrderedSink(lambda e: released.append(e["id"]))
    sink({"id": "late"}, 30.0)
    sink({"id": "early"}, 10.0)
    sink({"id": "middle"}, 20.0)
    sink.release(25.0)
    assert released == ["early", "middle"]
    sink.release(None)
    assert released == ["early", "middle", "late"]
