"""Delivering the outbox: one worker per destination, retries, rate limits.

``enqueue`` routes an incident event to the notifiers that want it and writes
one outbox item per destination (durably, before anything is sent). Each
destination's worker sends its items in order: on success the item is deleted;
on a retryable failure it waits (``Retry-After`` if given, else exponential
backoff with full jitter) and tries the same item again, so order holds; on a
final failure, or when an item is older than ``max_age``, it becomes a dead
letter. A token bucket keeps each destination under its rate limit.

With a :class:`~detector.notify.silences.Gate`, silenced incidents are held back
(tracked, counted, not sent); with a :class:`~detector.history.History`, every incident
event is recorded as its incident's latest — both in the same transaction as the outbox
items. After a start, items waiting out a backoff saved before are tried at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx
import structlog

from detector.errors import NotifyError
from detector.history import History
from detector.model import IncidentEvent
from detector.notify.base import Notifier, event_key
from detector.notify.outbox import SENT_RETENTION, Item, Outbox
from detector.notify.silences import Gate, Verdict
from detector.retry import backoff
from detector.telemetry.metrics import Registry

__all__ = ["Dispatcher", "Outcome"]

log = structlog.get_logger("detector.notify")
FORGET_EVERY = 600.0
OUTBOX_RETRY_CAP = 30.0      # a worker whose outbox faults waits at most this long to retry

class TokenBucket:
    """``rate`` requests per second, bursts of one: spacing, not batching."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self.next_free = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next request; reserves the slot."""
        if not self.interval:
            return 0.0
        now = self.clock()
        start = max(now, self.next_free)
        self.next_free = start + self.interval
        return start - now


@dataclass(frozen=True)
class Outcome:
    """What one attempt to deliver an item came to."""

    verdict: str                  # delivered | retry | dead
    status: int | None            # the HTTP status, if there was an answer
    seconds: float
    error: str | None = None


class Dispatcher:
    """Owns the outbox workers of every configured destination."""

    def __init__(self, notifiers: Sequence[Notifier], outbox: Outbox, registry: Registry, *,
                 backoff_base: float = 1.0, backoff_cap: float = 300.0,
                 idle_poll: float = 1.0, clock: Callable[[], float] = time.time,
                 gate: Gate | None = None, history: History | None = None,
                 workers: bool = True) -> None:
        """``workers=False``: no delivery workers (only :meth:`send_once`)."""
        self.notifiers = {n.name: n for n in notifiers}
        self.workers = workers
        self.outbox = outbox
        self.gate = gate
        self.history = history
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.idle_poll = idle_poll
        self.clock = clock
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[asyncio.Task[None]] = set()      # workers with a request in flight
        self._generation = 0
        self._client: httpx.AsyncClient | None = None
        self._stopping = False
        self._progress = asyncio.Event()     # an item left the queue (sent or dead)
        self.sent = registry.counter("detector_notifications_sent_total",
                                     "Notifications accepted by their destination.")
        self.retried = registry.counter("detector_notifications_retried_total",
                                        "Failed attempts that will be retried.")
        self.dead = registry.counter("detector_notifications_dead_total",
                                     "Notifications turned into dead letters.")
        self.dropped = registry.counter("detector_notifications_unrouted_total",
                                        "Incident events no notifier wanted.")
        self.silenced = registry.counter(
            "detector_notifications_silenced_total",
            "Incident events not sent because a silence or maintenance window matched.")
        self.errors = registry.counter("detector_notify_outbox_errors_total",
                                       "Outbox faults met by delivery workers (retried).")
        registry.gauge("detector_outbox_depth", "Outbox items by destination and state.",
                       self._depth_samples)
        registry.gauge("detector_outbox_oldest_seconds",
                       "Age of the oldest pending outbox item, by destination.",
                       self._age_samples)

    # -- metrics sources ------------------------------------------------------------
    def _depth_samples(self) -> list[tuple[dict[str, str], float]]:
        depth = self.outbox.depth()
        samples = []
        for name in self.notifiers:
            for state in ("pending", "dead"):
                samples.append(({"destination": name, "state": state},
                                float(depth.get((name, state), 0))))
        return samples

    def _age_samples(self) -> list[tuple[dict[str, str], float]]:
        now = self.clock()
        oldest = self.outbox.oldest()
        return [({"destination": n}, max(0.0, now - oldest[n]) if n in oldest else 0.0)
                for n in self.notifiers]

    # -- producing ------------------------------------------------------------------
    def enqueue(self, event: IncidentEvent) -> int:
        """Spool ``event`` for every destination whose routing accepts it."""
        return self.enqueue_many((event,))

    def enqueue_many(self, events: Iterable[IncidentEvent]) -> int:
        """Spool ``events`` in one transaction: all of them are in the outbox (and the
        history, and what the silences withheld), or (the outbox raised: a full disk, a
        read-only file) none."""
        events = list(events)
        if not events:
            return 0
        now = self.clock()
        try:
            with self.outbox.transaction():
                rows, silenced = self._route(events, now)
                added = self.outbox.insert(rows, now=now)
        except BaseException:
            if self.gate is not None:
                self.gate.reload()           # its bookkeeping was rolled back with the rest
            raise
        for reason in silenced:
            self.silenced.inc(reason="maintenance" if reason.startswith("maintenance:")
                              else "silence")
        for name in {name for name, _, _ in rows}:
            wake = self._wake.get(name)
            if wake is not None:
                wake.set()
        return added

    def _route(self, events: list[IncidentEvent],
               now: float) -> tuple[list[tuple[str, str, IncidentEvent]], list[str]]:
        rows: list[tuple[str, str, IncidentEvent]] = []
        silenced: list[str] = []
        for event in events:
            verdict, reason = (self.gate.route(event, now) if self.gate is not None
                               else (Verdict.SEND, None))
            if self.history is not None:
                self.history.record(event, reason if verdict is not Verdict.SEND else None,
                                    now)
            if verdict is not Verdict.SEND:
                if verdict is not Verdict.DROP and reason is not None:
                    silenced.append(reason)
                continue
            key = event_key(event)
            wanted = [(name, key, event) for name, n in self.notifiers.items()
                      if n.accepts(event)]
            if not wanted:
                self.dropped.inc()
            rows.extend(wanted)
        return rows, silenced

    def seed(self, open_events: Iterable[IncidentEvent]) -> None:
        """Tell stateful notifiers (alertmanager) which incidents are open after a restart."""
        for event in open_events:
            for notifier in self.notifiers.values():
                if notifier.accepts(event):
                    notifier.delivered(event)

    # -- lifecycle ------------------------------------------------------------------
    async def __aenter__(self) -> Dispatcher:
        self._client = httpx.AsyncClient(follow_redirects=False)
        if not self.workers:
            return self
        due = self.outbox.retry_pending_now(self.clock())
        if due:      # the backoff saved before a restart is no reason to wait now
            log.info("notify.pending_at_start", items=due, effect="tried now")
        self._start_workers()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _start_workers(self) -> None:
        self._tasks.append(asyncio.create_task(self._forgetter(), name="notify-forget"))
        for name, notifier in self.notifiers.items():
            self._wake[name] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._worker(notifier),
                                                   name=f"notify:{name}"))
            if notifier.refresh_interval > 0:
                self._tasks.append(asyncio.create_task(self._refresher(notifier),
                                                       name=f"notify-refresh:{name}"))

    async def _stop_workers(self, grace: float = 0.0) -> None:
        """Stop the workers; one in the middle of a request may finish it within `grace`."""
        self._generation += 1
        for task in self._tasks:
            if task not in self._sending:
                task.cancel()
        for wake in self._wake.values():
            wake.set()
        if grace > 0 and self._sending:
            await asyncio.wait(self._tasks, timeout=grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def replace(self, notifiers: Sequence[Notifier]) -> None:
        """New destinations (SIGHUP). A request in flight completes first, so the old
        destination's answer is recorded and nothing is sent twice; one that outlasts its
        timeout is cut off and sent again, with the same key."""
        await self._stop_workers(grace=max((n.config.timeout for n in self.notifiers.values()),
                                           default=0.0) + 1.0)
        kept = {n.name: n for n in self.notifiers.values()}
        self.notifiers = {n.name: n for n in notifiers}
        for name, notifier in self.notifiers.items():
            old = kept.get(name)
            if old is not None:
                for event in getattr(old, "active", {}).values():
                    notifier.delivered(event)      # alertmanager keeps its open alerts
        orphaned = set(kept) - set(self.notifiers)
        if orphaned and self.outbox.pending(orphaned):
            log.warning("notify.orphaned", destinations=sorted(orphaned),
                        pending=self.outbox.pending(orphaned))
        if self._client is not None and self.workers:
            self._start_workers()

    async def stop(self) -> None:
        self._stopping = True
        await self._stop_workers()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self, within: float | None = None) -> bool:
        """Wait until nothing is pending for our destinations, at most ``within`` seconds.

        True when everything was delivered (or dead-lettered). The deadline is kept
        here, not by cancelling from outside: Python 3.11's ``wait_for`` can swallow a
        cancellation that arrives as its future completes, which a busy outbox makes
        likely.
        """
        end = None if within is None else time.monotonic() + within
        while self.outbox.pending(self.notifiers) > 0:
            wait = self.idle_poll
            if end is not None:
                wait = min(wait, end - time.monotonic())
                if wait <= 0:
                    return False
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), wait)
        return True

    # -- delivery -------------------------------------------------------------------
    async def _worker(self, notifier: Notifier) -> None:
        """Deliver one destination's items in order. A fault of the outbox itself (a full
        disk, a locked database) is logged, counted and retried with backoff: the worker
        never dies while the daemon runs."""
        failures = 0
        generation = self._generation
        while not self._stopping and generation == self._generation:
            try:
                await self._work(notifier, generation)
                return
            except (sqlite3.Error, OSError) as exc:
                failures += 1
                self.errors.inc(destination=notifier.name)
                log.error("notify.outbox_failed", destination=notifier.name, error=str(exc),
                          retry_in_at_most=round(min(OUTBOX_RETRY_CAP, 2.0 ** failures), 1))
                await asyncio.sleep(backoff(failures, 1.0, OUTBOX_RETRY_CAP))

    async def _work(self, notifier: Notifier, generation: int) -> None:
        bucket = TokenBucket(notifier.rate)
        wake = self._wake[notifier.name]
        while not self._stopping and generation == self._generation:
            item = self.outbox.head(notifier.name)
            now = self.clock()
            if item is None:
                wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.idle_poll)
                continue
            if item.next_attempt > now:
                await asyncio.sleep(min(item.next_attempt - now, self.idle_poll))
                continue
            if now - item.created > notifier.config.max_age:
                self._dead(notifier, item, f"undelivered for longer than max_age "
                                           f"({notifier.config.max_age:.0f}s)", item.last_error)
                continue
            delay = bucket.delay()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._attempt(notifier, item)

    async def _attempt(self, notifier: Notifier, item: Item) -> Outcome:
        """Send ``item`` once and record the answer in the outbox (delivered, retry later,
        dead letter)."""
        if self._client is None:
            raise RuntimeError("the dispatcher is not started (async with dispatcher)")
        started = time.monotonic()

        def took() -> float:
            return time.monotonic() - started

        try:
            request = notifier.request(item.payload, key=item.key, now=self.clock())
        except Exception as exc:              # an item no request can be built for
            log.exception("notify.unbuildable", destination=notifier.name, key=item.key)
            error = f"cannot build the request: {exc!r}"
            self._dead(notifier, item, error, None)
            return Outcome("dead", None, took(), error)
        task = asyncio.current_task()
        assert task is not None
        self._sending.add(task)
        try:
            response = await self._client.request(
                request.method, request.url, content=request.body, headers=request.headers,
                timeout=notifier.config.timeout)
            notifier.check(response)
        except NotifyError as exc:
            if exc.retryable:
                self._retry(notifier, item, str(exc), exc.retry_after)
                return Outcome("retry", exc.status, took(), str(exc))
            self._dead(notifier, item, str(exc), exc.response)
            return Outcome("dead", exc.status, took(), str(exc))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            error = f"the destination URL is unusable: {exc}"
            self._dead(notifier, item, error, None)
            return Outcome("dead", None, took(), error)
        except httpx.TimeoutException:
            error = f"timed out after {notifier.config.timeout:g}s"
            self._retry(notifier, item, error, None)
            return Outcome("retry", None, took(), error)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
            self._retry(notifier, item, error, None)
            return Outcome("retry", None, took(), error)
        finally:
            self._sending.discard(task)
        self.outbox.delivered(item.id, now=self.clock())
        self._progress.set()
        notifier.delivered(item.payload)
        self.sent.inc(destination=notifier.name)
        log.debug("notify.sent", destination=notifier.name, key=item.key)
        return Outcome("delivered", response.status_code, took())

    async def send_once(self, name: str, item: Item) -> Outcome:
        """Deliver one item to destination ``name`` now, through the same request, answer
        and outbox bookkeeping as the workers (``detector notify test``)."""
        return await self._attempt(self.notifiers[name], item)

    def _retry(self, notifier: Notifier, item: Item, error: str,
               retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else backoff(
            item.attempts, self.backoff_base, self.backoff_cap)
        self.outbox.retry_later(item.id, self.clock() + delay, error)
        self.retried.inc(destination=notifier.name)
        log.warning("notify.retry", destination=notifier.name, key=item.key,
                    attempt=item.attempts + 1, delay=round(delay, 3), error=error)

    def _dead(self, notifier: Notifier, item: Item, error: str, response: str | None) -> None:
        self.outbox.dead(item.id, error, response)
        self._progress.set()
        self.dead.inc(destination=notifier.name)
        log.error("notify.dead_letter", destination=notifier.name, key=item.key, error=error)

    async def _forgetter(self) -> None:
        """Drop the keys of old sent notifications (they refuse repeats for a day)."""
        while not self._stopping:
            now = self.clock()
            try:
                self.outbox.forget_sent(now - SENT_RETENTION)
                if self.history is not None:
                    self.history.forget(now)
                if self.gate is not None:
                    self.gate.store.forget_expired(now)
            except (sqlite3.Error, OSError) as exc:      # a full disk: next time
                self.errors.inc(destination="")
                log.error("notify.forget_failed", error=str(exc), retry_in=FORGET_EVERY)
            await asyncio.sleep(FORGET_EVERY)

    async def _refresher(self, notifier: Notifier) -> None:
        """Re-post what a stateful destination must keep hearing (open alerts)."""
        assert self._client is not None
        while not self._stopping:
            await asyncio.sleep(notifier.refresh_interval)
            request = notifier.refresh(self.clock())
            if request is None:
                continue
            try:
                response = await self._client.request(
                    request.method, request.url, content=request.body,
                    headers=request.headers, timeout=notifier.config.timeout)
                notifier.check(response)
            except (NotifyError, httpx.HTTPError) as exc:
                log.warning("notify.refresh_failed", destination=notifier.name, error=str(exc))
