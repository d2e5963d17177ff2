"""Reading standard input (``detector run`` at the end of a pipe)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from detector.config import StdinSourceConfig
from detector.decode.events import Origin
from detector.decode.formats import JSON_FORMATS
from detector.sources.base import Batch, Emit, Source
from detector.telemetry.metrics import Registry

__all__ = ["StdinSource"]

READ_SIZE = 1 << 20


class StdinSource(Source):
    kind = "stdin"

    def __init__(self, config: StdinSourceConfig, registry: Registry,
                 stream: Any = None) -> None:
        super().__init__(config, registry)
        self.stdin_config = config
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.origin = Origin(source="stdin", service=config.service or "stdin",
                             override=config.service, allow_json=config.format != "plain",
                             expect_json=config.format in JSON_FORMATS)
        self._carry = b""            # a line not finished yet
        self._ended = False

    @property
    def finite(self) -> bool:
        return True

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READ_SIZE * 2)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self.stream)
        limit = self.stdin_config.max_line_bytes
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                reading = asyncio.ensure_future(reader.read(READ_SIZE))
                await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    reading.cancel()
                    return
                await self._handle(reading.result(), emit, limit)
                if self._ended:
                    return
        finally:
            stopped.cancel()

    async def _handle(self, data: bytes, emit: Emit, limit: int) -> None:
        carry = self._carry
        if not data:
            self._ended = True
            await self._emit(emit, carry + b"\n" if carry else b"", final=True)
            return
        buf = carry + data
        cut = buf.rfind(b"\n") + 1
        self._carry = buf[cut:]
        if len(self._carry) > limit:
            buf = buf[:cut] + self._carry[:limit] + b"\n"
            cut, self._carry = len(buf), b""
        if cut:
            await self._emit(emit, buf[:cut])

    async def _emit(self, emit: Emit, data: bytes, final: bool = False) -> None:
        self.counted(data.count(b"\n"), len(data))
        await emit(Batch(source=self, stream="stdin", origin=self.origin, data=data,
                         arrival=time.time(), final=final))
