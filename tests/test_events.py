"""Event assembly: candidate lines become whole events (tracebacks, DETAIL lines, pairs)."""

from __future__ import annotations

import orjson
import pytest

from detector.decode.events import Origin, Stream, assemble, service_from_path
from detector.decode.multiline import analyse_traceback
from detector.match.engine import Engine
from detector.model import ERROR, WARNING


def events_of(engine: Engine, text: str, *, final: bool = True):  # type: ignore[no-untyped-def]
    buf = text.encode()
    stream = Stream(origin=Origin.for_path("/var/log/orders-worker.log.gz"))
    return assemble(buf, engine.scan(buf), stream, final=final)


LOGGED_TRACEBACK = """2026-11-20 10:00:00,000 INFO [api] started
2026-11-20 10:00:03,114 ERROR [worker-sync] sync failed for bot 123abc
Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/redis/lock.py", line 212, in __enter__
    raise LockError("Unable to acquire lock")
  File "/app/src/workflows/sync_orders.py", line 42, in sync_orders_for_bot
    with redis_client.lock(lock_key, timeout=60):
redis.exceptions.LockError: Unable to acquire lock on lock:smart_bot:123abc after 10 seconds
2026-11-20 10:00:04,000 INFO [api] next record
"""


def test_a_logged_traceback_is_one_event_with_its_header(hs_engine) -> None:  # type: ignore[no-untyped-def]
    events, consumed = events_of(hs_engine, LOGGED_TRACEBACK)
    assert consumed == len(LOGGED_TRACEBACK.encode())
    assert len(events) == 1
    event = events[0]
    assert event.text.startswith("2026-11-20 10:00:03,114 ERROR [worker-sync]")
    assert event.text.endswith("after 10 seconds")
    assert event.lines == 7
    assert event.level == ERROR
    match = hs_engine.confirm(event)
    assert match.pattern.cls == "lock_timeout"            # what it shows, not "traceback"
    assert match.fields["lock"] == "lock:smart_bot:123abc"


def test_the_service_comes_from_the_file_name() -> None:
    assert service_from_path("/var/log/orders-worker.log.gz") == "orders-worker"
    assert service_from_path("-") == "stdin"
    assert service_from_path("api.log.1") == "api"


def test_a_traceback_after_a_warning_takes_the_warning_as_header(hs_engine) -> None:  # type: ignore[no-untyped-def]
    text = ("2026-11-20 10:00:00,000 WARNING [api] retrying\n"
            "Traceback (most recent call last):\n"
            '  File "/app/x.py", line 1, in f\n'
            "    g()\n"
            "ValueError: bad\n")
    (event,), _ = events_of(hs_engine, text)
    assert event.lines == 5
    assert event.level == WARNING
    assert event.time == pytest.approx(1795168800.0)


CHAINED = """Traceback (most recent call last):
  File "/app/worker.py", line 10, in handle
    data = payload["data"]
KeyError: 'data'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/usr/lib/python3.11/site-packages/psycopg2/extras.py", line 1, in execute
    return super().execute(query, vars)
  File "/app/repositories/orders.py", line 88, in save
    cursor.execute(stmt)
psycopg2.errors.DeadlockDetected: deadlock detected
DETAIL:  Process 4242 waits for ShareLock on transaction 1001; blocked by process 4343.
HINT:  See server log for query details.
CONTEXT:  while updating tuple (0,1) in relation "orders"
2026-11-20 10:00:05,000 INFO next
"""


def test_chained_tracebacks_and_detail_lines_are_one_event(hs_engine) -> None:  # type: ignore[no-untyped-def]
    (event,), _ = events_of(hs_engine, CHAINED)
    assert event.lines == 16
    match = hs_engine.confirm(event)
    assert match.pattern.id == "postgres.deadlock"
    assert match.fields["relation"] == "orders"          # from the CONTEXT line
    assert analyse_traceback(event.text) == {
        "exception": "psycopg2.errors.DeadlockDetected",
        "frame": "/app/repositories/orders.py:save"}


def test_a_traceback_matching_nothing_specific_is_unhandled_exception(hs_engine) -> None:  # type: ignore[no-untyped-def]
    text = ("Traceback (most recent call last):\n"
            '  File "/app/api/templates.py", line 41, in list_templates\n'
            "    return templates[0]\n"
            "IndexError: list index out of range\n")
    (event,), _ = events_of(hs_engine, text)
    match = hs_engine.confirm(event)
    assert match.pattern.cls == "unhandled_exception"
    assert match.fields == {"exception": "IndexError", "frame": "/app/api/templates.py:list_templates"}


@pytest.mark.parametrize(("text", "pattern", "fields"), [
    ("Task was destroyed but it is pending!\n"
     "task: <Task pending name='Task-3' coro=<ContextService._backfill_background() running at "
     "/app/service.py:212> wait_for=<Future pending>>\n",
     "asyncio.task_destroyed", {"coro": "ContextService._backfill_background"}),
    ("Unclosed client session\nclient_session: <aiohttp.client.ClientSession object at 0x7f1c>\n",
     "aiohttp.unclosed_session", {"what": "client session"}),
    ("2026-11-20 10:00:00.1 UTC [7] ERROR:  deadlock detected\n"
     "2026-11-20 10:00:00.1 UTC [7] DETAIL:  Process 7 waits for ShareLock on transaction 9\n"
     "2026-11-20 10:00:00.1 UTC [7] CONTEXT:  while locking tuple (3,88) in relation \"wallets\"\n",
     "postgres.deadlock", {"relation": "wallets"}),
])
def test_second_lines_belong_to_their_event(hs_engine, text: str, pattern: str,
                                            fields: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    (event,), _ = events_of(hs_engine, text)
    assert event.lines == text.count("\n")
    match = hs_engine.confirm(event)
    assert match.pattern.id == pattern
    assert fields.items() <= match.fields.items()


def test_docker_json_file_tracebacks_are_reassembled(hs_engine) -> None:  # type: ignore[no-untyped-def]
    lines = ["2026-11-20 10:00:00,000 ERROR [api] failed\n", "Traceback (most recent call last):\n",
             '  File "/app/db.py", line 3, in connect\n', "    conn.open()\n",
             "pymongo.errors.ServerSelectionTimeoutError: mongo:27017: [Errno 111] Connection refused\n",
             "2026-11-20 10:00:01,000 INFO [api] ok\n"]
    text = "".join(orjson.dumps({"log": line, "stream": "stderr",
                                 "time": f"2026-11-20T10:00:0{i}Z"}).decode() + "\n"
                   for i, line in enumerate(lines))
    (event,), _ = events_of(hs_engine, text)
    assert event.lines == 5
    match = hs_engine.confirm(event)
    assert match.pattern.id == "mongodb.server_selection"
    assert match.fields["target"] == "mongo:27017"


def test_an_event_that_may_continue_is_held_back_until_final(hs_engine) -> None:  # type: ignore[no-untyped-def]
    text = ("2026-11-20 10:00:00,000 INFO ok\n"
            "2026-11-20 10:00:01,000 ERROR [api] failed\n"
            "Traceback (most recent call last):\n"
            '  File "/app/x.py", line 1, in f\n')
    events, consumed = events_of(hs_engine, text, final=False)
    assert events == []
    assert text.encode()[consumed:].startswith(b"2026-11-20 10:00:01,000 ERROR")
    events, consumed = events_of(hs_engine, text, final=True)
    assert len(events) == 1 and consumed == len(text.encode())


def test_lines_without_time_take_the_previous_lines_time(hs_engine) -> None:  # type: ignore[no-untyped-def]
    text = ("2026-11-20 10:00:07,000 INFO [api] request\n"
            "ERROR:    Exception in ASGI application\n"
            "2026-11-20 10:00:09,000 INFO [api] next\n")
    (event,), _ = events_of(hs_engine, text)
    assert event.time == pytest.approx(1795168807.0)
    assert not event.timed


def test_live_lines_without_time_take_arrival_time(hs_engine) -> None:  # type: ignore[no-untyped-def]
    buf = b"ERROR:    Exception in ASGI application\n"
    stream = Stream(origin=Origin(source="stdin", service="api"))
    (event,), _ = assemble(buf, hs_engine.scan(buf), stream, final=True, arrival=1234.5)
    assert event.time == 1234.5
    assert event.service == "api"


def test_the_config_service_overrides_the_line(hs_engine) -> None:  # type: ignore[no-untyped-def]
    buf = b'{"service": "from-line", "level": "error", "message": "MemoryError"}\n'
    for origin, expected in [(Origin(source="f", service="from-file"), "from-line"),
                             (Origin(source="f", service="from-file", override="cfg"), "cfg"),
                             (Origin(source="f", service="from-file"), "from-line")]:
        (event,), _ = assemble(buf, hs_engine.scan(buf), Stream(origin=origin), final=True)
        assert event.service == expected


# -- a JSON record is its own event (issue 11, defect 1) ----------------------------------

JSON_TRACEBACK = (
    '{"ts": "2026-05-01T10:00:00Z", "service": "billing", "level": "info", "msg": "heartbeat ok"}\n'
    '{"ts": "2026-05-01T10:00:01Z", "service": "orders", "level": "error", "msg": "Traceback '
    '(most recent call last):\\n  File \\"/app/orders.py\\", line 12, in sync\\n    rows = '
    'db.fetch()\\npsycopg2.errors.DeadlockDetected: deadlock detected\\nDETAIL:  Process 1 '
    'waits for ShareLock on transaction 7; blocked by process 2."}\n')


def test_a_json_record_holding_a_traceback_is_its_own_event(hs_engine) -> None:  # type: ignore[no-untyped-def]
    events, _ = events_of(hs_engine, JSON_TRACEBACK)
    (event,) = [e for e in events if "Deadlock" in e.text]
    assert (event.service, event.time) == ("orders", 1777629601.0)
    assert event.text.startswith("Traceback (most recent call last):")
    assert hs_engine.confirm(event).pattern.cls == "deadlock"


def test_the_replay_of_a_json_traceback_opens_for_its_own_service(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io

    from detector.config import load_config
    from detector.replay.run import ReplayOptions, replay

    log = tmp_path / "mixed.log"
    log.write_text(JSON_TRACEBACK)
    out = io.StringIO()
    replay(load_config(None), ReplayOptions(paths=[str(log)], output="jsonl"), out=out,
           err=io.StringIO())
    (opened,) = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert (opened["class"], opened["service"], opened["first_seen"]) == (
        "deadlock", "orders", "2026-05-01T10:00:01Z")


def test_plain_lines_never_continue_a_json_record_nor_json_a_plain_one(hs_engine) -> None:  # type: ignore[no-untyped-def]
    text = ('2026-05-01 10:00:00,000 ERROR [api] sync failed\n'
            '{"ts": "2026-05-01T10:00:01Z", "service": "orders", "level": "error", '
            '"msg": "  indented but its own record: LockError: Unable to acquire lock on '
            'lock:a:1 after 1 seconds"}\n'
            '    rows = db.fetch()\n')
    events, _ = events_of(hs_engine, text)
    services = sorted(e.service for e in events)
    assert "orders" in services
    (orders,) = [e for e in events if e.service == "orders"]
    assert orders.lines == 1 and "rows" not in orders.text


def test_json_records_of_another_service_are_not_a_docker_continuation(hs_engine) -> None:  # type: ignore[no-untyped-def]
    text = ('{"log": "Traceback (most recent call last):\\n", "stream": "stderr", '
            '"time": "2026-05-01T10:00:00Z"}\n'
            '{"log": "  File \\"/app/x.py\\", line 1, in f\\n", "stream": "stderr", '
            '"time": "2026-05-01T10:00:00Z"}\n'
            '{"log": "ValueError: bad\\n", "stream": "stderr", "time": "2026-05-01T10:00:00Z"}\n')
    (event,), _ = events_of(hs_engine, text)
    assert event.lines == 3                              # docker's per-line records still join


# -- property: every incident carries its own record's service and time --------------------

def _records_strategy():  # type: ignore[no-untyped-def]
    from hypothesis import strategies as st

    record = st.tuples(
        st.sampled_from(["json", "plain", "json-info", "plain-info", "plain-untimed-tail"]),
        st.sampled_from(["billing", "orders", "auth"]),
        st.booleans(),                                   # a multi-line traceback
        st.integers(min_value=1, max_value=90))          # seconds since the record before
    return st.lists(record, min_size=1, max_size=25)


TRACE = ['Traceback (most recent call last):', '  File "/app/sync.py", line 12, in sync',
         "    with redis_client.lock(key):"]


def _render(records: list[tuple[str, str, bool, int]]) -> tuple[str, set[tuple[str, str, str]]]:
    """The log text, and the (service, time, lock) every signature record must give."""
    import time as _time

    when = 1777629600                                   # 2026-05-01T10:00:00Z
    lines: list[str] = []
    expected: set[tuple[str, str, str]] = set()
    for index, (kind, service, multiline, gap) in enumerate(records):
        when += gap
        iso = _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(when))
        plain_time = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(when)) + ",000"
        lock = f"lock:{service}:{index}"
        error = f"redis.exceptions.LockError: Unable to acquire lock on {lock} after 10 seconds"
        if kind == "json":
            message = "\n".join([*TRACE, error]) if multiline else error
            lines.append(orjson.dumps({"ts": iso, "service": service, "level": "error",
                                       "msg": message}).decode())
            expected.add((service, iso, lock))
        elif kind == "plain":
            if multiline:
                lines += [f"{plain_time} ERROR [{service}] sync failed", *TRACE, error]
            else:
                lines.append(f"{plain_time} ERROR [{service}] {error}")
            expected.add(("mixed", iso, lock))           # plain lines: the file's service
        elif kind == "json-info":
            lines.append(orjson.dumps({"ts": iso, "service": service, "level": "info",
                                       "msg": "heartbeat ok"}).decode())
        elif kind == "plain-info":
            lines.append(f"{plain_time} INFO [{service}] heartbeat ok")
        else:
            lines += [f"{plain_time} INFO [{service}] request done", "    detail: ok"]
    return "\n".join(lines) + "\n", expected


def test_every_incident_carries_its_own_records_service_and_time(hs_engine, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    import io

    from hypothesis import HealthCheck, given, settings

    from detector.config import load_config
    from detector.replay.run import ReplayOptions, replay

    config = load_config(None)

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(_records_strategy())
    def check(records: list[tuple[str, str, bool, int]]) -> None:
        text, expected = _render(records)
        log = tmp_path_factory.mktemp("prop") / "mixed.log"
        log.write_text(text)
        out = io.StringIO()
        replay(config, ReplayOptions(paths=[str(log)], output="jsonl"), out=out,
               err=io.StringIO(), engine=hs_engine)
        opened = {(e["service"], e["first_seen"], e["fields"].get("lock", ""))
                  for e in map(orjson.loads, out.getvalue().splitlines())
                  if e["event"] == "open" and e["class"] == "lock_timeout"}
        assert opened == expected, text

    check()
