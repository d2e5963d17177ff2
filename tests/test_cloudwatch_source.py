"""CloudWatch Logs: signing, pages, throttling, and events at the checkpoint's millisecond."""

from __future__ import annotations

import json
import os

import pytest
from receivers import Answer, Receiver
from test_sources_contract import running

from detector.config import CloudWatchSourceConfig
from detector.sources.cloudwatch import CloudWatchSource
from detector.telemetry.metrics import Registry


def page(events: list[tuple[int, str, str]], token: str | None = None) -> Answer:
    body = {"events": [{"logStreamName": "task-1", "timestamp": t, "message": m,
                        "ingestionTime": t + 5, "eventId": i} for t, i, m in events],
            "searchedLogStreams": []}
    if token:
        body["nextToken"] = token
    return Answer(200, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def cloudwatch(url: str) -> CloudWatchSource:
    config = CloudWatchSourceConfig(type="cloudwatch", name="cw", log_group="/ecs/shop/api",
                                    region="eu-west-1", endpoint_url=url, start_at="beginning",
                                    poll_interval=0.05, filter_pattern="ERROR")
    return CloudWatchSource(config, Registry())


async def test_pages_throttling_and_ids_at_the_same_millisecond() -> None:
    script = [
        Answer(400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}',
               {"Content-Type": "application/x-amz-json-1.1"}),
        page([(1000, "e1", "first"), (2000, "e2", "second")], token="page-2"),
        page([(3000, "e3", "third at 3000")]),
        # the next poll starts at 3000 again: e3 must not come twice, e4 must come
        page([(3000, "e3", "third at 3000"), (3000, "e4", "fourth, also at 3000")]),
    ]
    with Receiver(script=script, default=page([])) as endpoint:
        source = cloudwatch(endpoint.url)
        async with running(source) as collector:
            got = await collector.wait_for(4, within=60)
        requests = [json.loads(r.body) for r in endpoint.requests]
        first = endpoint.requests[0]
    assert [line.split(" ", 1)[1] for line in got] == [
        "first", "second", "third at 3000", "fourth, also at 3000"]
    assert got[0].startswith("1970-01-01T00:00:01.000000Z")     # the event's own time
    assert requests[2]["nextToken"] == "page-2"
    assert requests[1]["filterPattern"] == "ERROR"
    assert requests[1]["logGroupName"] == "/ecs/shop/api"
    assert first.headers["x-amz-target"] == "Logs_20140328.FilterLogEvents"
    assert first.headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/logs/aws4_request" in first.headers["authorization"]
    assert source.errors.value(source="cw", kind="throttled") == 1
    assert source.checkpoint() == {}                             # nothing committed yet
    for batch in collector.batches:
        source.commit(batch.token)
    assert source.checkpoint() == {"timestamp": 3000, "event_ids": ["e3", "e4"]}
    assert collector.batches[0].origin.service == "api"


async def test_missing_region_or_credentials_are_reported(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: os.PathLike[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path) + "/none")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path) + "/none")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with Receiver() as endpoint:
        source = cloudwatch(endpoint.url)
        async with running(source):
            import asyncio

            for _ in range(100):
                if not source.health.ok:
                    break
                await asyncio.sleep(0.05)
    assert "no AWS credentials" in source.health.reason
