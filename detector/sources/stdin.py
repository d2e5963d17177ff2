"""Reading standard input (``detector run`` at the end of a pipe)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from detector.config import StdinSourceConfig
from detector.decode.events import Origin
from detector.metrics import Registry
from detector.sources.base import Batch, Emit, Source

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
                             expect_json=config.format in ("json", "docker", "cloudwatch"))

    @property
    def finite(self) -> bool:
        return True

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READ_SIZE * 2)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self.stream)
        carry = b""
        limit = self.stdin_config.max_line_bytes
        while not stop.is_set():
            data = await reader.read(READ_SIZE)
            if not data:
                if carry:
                    await self._emit(emit, carry + b"\n", final=True)
                else:
                    await self._emit(emit, b"", final=True)
                return
            buf = carry + data
            cut = buf.rfind(b"\n") + 1
            carry = buf[cut:]
            if len(carry) > limit:
                buf = buf[:cut] + carry[:limit] + b"\n"
                cut, carry = len(buf), b""
            if cut:
                await self._emit(emit, buf[:cut])

    async def _emit(self, emit: Emit, data: bytes, final: bool = False) -> None:
        self.counted(data.count(b"\n"), len(data))
        await emit(Batch(source=self, stream="stdin", origin=self.origin, data=data,
                         arrival=time.time(), final=final))
