"""The bounded queue between the sources and the pipeline: bounded in bytes.

A source that reads faster than the pipeline can process waits in ``put`` once
the batches waiting hold ``max_bytes`` (one batch is always let in, whatever
its size, so a big batch cannot deadlock). That wait is the backpressure: a
file stops being read, a Kafka source pauses its partitions (``nearly_full``),
and memory stays bounded however much is appended at once.
"""

from __future__ import annotations

import asyncio

from detector.sources.base import Batch

__all__ = ["BatchQueue"]


class BatchQueue:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._queue: asyncio.Queue[Batch] = asyncio.Queue()
        self._room = asyncio.Event()
        self._room.set()

    async def put(self, batch: Batch) -> None:
        while self.bytes >= self.max_bytes:
            self._room.clear()
            await self._room.wait()
        self.bytes += len(batch.data)
        self._queue.put_nowait(batch)

    async def get(self) -> Batch:
        return await self._queue.get()

    def task_done(self, batch: Batch) -> None:
        """The batch is processed: its bytes are free again."""
        self.bytes -= len(batch.data)
        if self.bytes < self.max_bytes:
            self._room.set()
        self._queue.task_done()

    async def join(self) -> None:
        await self._queue.join()

    def qsize(self) -> int:
        return self._queue.qsize()

    def nearly_full(self) -> bool:
        return self.bytes >= self.max_bytes * 3 // 4
