"""Feeding batches from live sources into the pipeline, stream by stream.

Each stream (a file, a container, a partition…) keeps what the pipeline could
not consume yet: an event at the end of a batch may continue in the next one (a
traceback written in two pieces). That tail is fed again with the next batch,
or on its own once the stream has been quiet for ``multiline_wait``. A batch's
checkpoint token is committed only when nothing of it is left over: a restart
then reads the tail again rather than skipping it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from detector.decode.events import Stream
from detector.pipeline import Pipeline
from detector.sources.base import Batch, Source

__all__ = ["Feeder"]

MULTILINE_WAIT = 0.2        # seconds of quiet before a held-back tail is taken as complete
IDLE_STREAM = 3600.0        # a stream with nothing held and no data this long is forgotten


@dataclass
class _State:
    stream: Stream
    pending: bytes = b""
    source: Source | None = None
    token: Any = None                  # the token to commit once `pending` is processed
    last: float = field(default_factory=time.monotonic)


class Feeder:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.states: dict[tuple[str, str], _State] = {}

    def feed(self, batch: Batch) -> None:
        key = (batch.source.name, batch.stream)
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = _State(stream=Stream(origin=batch.origin))
        state.stream.origin = batch.origin
        buf = state.pending + batch.data if state.pending else batch.data
        consumed = self.pipeline.feed(buf, state.stream, final=batch.final,
                                      arrival=batch.arrival) if buf else 0
        state.pending = buf[consumed:]
        state.last = time.monotonic()
        if state.pending:
            state.source, state.token = batch.source, batch.token
        else:
            state.source, state.token = None, None
            if batch.token is not None:
                batch.source.commit(batch.token)
        if batch.final and not state.pending:
            del self.states[key]

    def flush(self, *, everything: bool = False) -> None:
        """Feed held-back tails of streams quiet for ``MULTILINE_WAIT`` (or all of them)."""
        now = time.monotonic()
        for key, state in list(self.states.items()):
            if state.pending and (everything or now - state.last >= MULTILINE_WAIT):
                self.pipeline.feed(state.pending, state.stream, final=True, arrival=time.time())
                state.pending = b""
                if state.source is not None and state.token is not None:
                    state.source.commit(state.token)
                state.source, state.token = None, None
            elif not state.pending and now - state.last > IDLE_STREAM:
                del self.states[key]

    @property
    def held(self) -> int:
        return sum(len(s.pending) for s in self.states.values())
