"""Feeding batches from live sources into the pipeline, stream by stream.

Each stream (a file, a container, a partition…) keeps what the pipeline could
not consume yet: an event at the end of a batch may continue in the next one (a
traceback written in two pieces). That tail is fed again with the next batch,
or on its own once the stream has been quiet for ``multiline_wait``. A batch's
checkpoint token is released only when nothing of it is left over: a restart
then reads the tail again rather than skipping it. Released tokens are returned,
not committed: the daemon commits them once the batch's incident events are in
the outbox.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from detector.decode.events import Stream
from detector.pipeline import Pipeline
from detector.sources.base import Batch, Source

__all__ = ["Commit", "Feeder"]

Commit = tuple[Source, Any]

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

    def feed(self, batch: Batch) -> list[Commit]:
        """Process ``batch``; the checkpoint tokens it releases (to commit once its incident
        events are safely in the outbox)."""
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
        commits: list[Commit] = []
        if state.pending:
            state.source, state.token = batch.source, batch.token
        else:
            state.source, state.token = None, None
            if batch.token is not None:
                commits.append((batch.source, batch.token))
        if batch.final and not state.pending:
            del self.states[key]
        return commits

    def discard(self, batch: Batch) -> bytes:
        """Forget what the stream of ``batch`` holds back (the batch crashed the pipeline);
        returns those bytes, for the quarantine."""
        state = self.states.pop((batch.source.name, batch.stream), None)
        return state.pending if state is not None else b""

    def flush(self, *, everything: bool = False) -> list[Commit]:
        """Feed held-back tails of streams quiet for ``MULTILINE_WAIT`` (or all of them);
        the tokens that releases."""
        now = time.monotonic()
        commits: list[Commit] = []
        for key, state in list(self.states.items()):
            if state.pending and (everything or now - state.last >= MULTILINE_WAIT):
                self.pipeline.feed(state.pending, state.stream, final=True, arrival=time.time())
                state.pending = b""
                if state.source is not None and state.token is not None:
                    commits.append((state.source, state.token))
                state.source, state.token = None, None
            elif not state.pending and now - state.last > IDLE_STREAM:
                del self.states[key]
        return commits

    @property
    def held(self) -> int:
        return sum(len(s.pending) for s in self.states.values())
