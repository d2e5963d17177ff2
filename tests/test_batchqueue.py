"""The queue between sources and pipeline is bounded in bytes: that is the backpressure."""

from __future__ import annotations

import asyncio
from typing import Any

from detector.daemon.queue import BatchQueue
from detector.decode.events import Origin
from detector.sources.base import Batch


def batch(size: int) -> Batch:
    source: Any = None
    return Batch(source=source, stream="s", origin=Origin(source="t", service="svc"),
                 data=b"x" * (size - 1) + b"\n", arrival=0.0)


async def test_a_reader_waits_once_the_bytes_waiting_reach_the_bound() -> None:
    queue = BatchQueue(max_bytes=100)
    await queue.put(batch(60))
    await queue.put(batch(60))                          # 120 ≥ 100 from now on
    third = asyncio.create_task(queue.put(batch(10)))
    await asyncio.sleep(0.05)
    assert not third.done() and queue.nearly_full() and queue.qsize() == 2
    first = await queue.get()
    queue.task_done(first)                              # 60 < 100: room again
    await asyncio.wait_for(third, 1)
    assert queue.bytes == 70 and queue.qsize() == 2


async def test_one_batch_bigger_than_the_bound_still_goes_through() -> None:
    queue = BatchQueue(max_bytes=100)
    await asyncio.wait_for(queue.put(batch(500)), 1)
    got = await queue.get()
    queue.task_done(got)
    assert queue.bytes == 0 and not queue.nearly_full()
    await asyncio.wait_for(queue.join(), 1)
