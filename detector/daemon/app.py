"""``detector run``: the daemon's lifecycle.

Sources read into one bounded queue (a full queue stops them reading: that is
the backpressure); one processor feeds the pipeline from it; incident events go
to the outbox before anything is sent (:mod:`detector.daemon.spool`), and only
then is a batch's checkpoint committed and the learned state saved. A ticker
moves the watermark (wall time), flushes held-back event tails, watches the
sources, persists state and pings systemd's watchdog.

Every long-lived task is supervised. A transient fault (a full disk, a read-only
state directory, a locked outbox, a source's network) is logged once, counted,
retried with backoff and shown in ``/healthz``; an unexpected exception in a
task is logged with its traceback and stops the daemon with exit status 1, so
systemd or Docker restart it — never a task that dies quietly. A batch that
crashes the pipeline is quarantined (:mod:`detector.daemon.quarantine`).

SIGTERM/SIGINT: stop the sources, drain the queue and the outbox (each under a
deadline), write checkpoints and state, exit 0. SIGHUP: reload the config's
pattern packs and notifiers; incidents, rates and templates are kept (sources
are not reloaded: restart for those). State lives in the state directory:
``checkpoints.json``, ``incidents.json``, ``rates.json``, ``novelty.json`` (each
versioned JSON), ``activity.json`` (the status page's charts), ``outbox.sqlite3`` (with
the silences and the incident history).

Silences and maintenance windows (:mod:`detector.notify.silences`) decide, as incident
events go into the outbox, what is not sent; every second the ticker sends the ``open``
of an incident whose silence has ended while it is still open. The HTTP endpoint
(:mod:`detector.daemon.web`, :mod:`detector.daemon.routes`) runs on the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from collections.abc import Coroutine
from typing import Any

import structlog

from detector import __version__
from detector.build import build_pipeline, load_patterns, make_engine
from detector.config import Config, load_config
from detector.daemon.activity import Activity
from detector.daemon.feeder import Commit, Feeder
from detector.daemon.handover import attach
from detector.daemon.legacy import migrate_rates
from detector.daemon.quarantine import Quarantine
from detector.daemon.queue import BatchQueue
from detector.daemon.routes import routes
from detector.daemon.spool import Spool
from detector.daemon.state import StateDir
from detector.daemon.systemd import SystemdNotifier
from detector.daemon.watch import Watch
from detector.daemon.web import WebServer
from detector.errors import UserError
from detector.history import History
from detector.humanize import plural
from detector.model import EventName, IncidentEvent
from detector.notify import build_notifiers
from detector.notify.dispatcher import Dispatcher
from detector.notify.outbox import Outbox
from detector.notify.silences import Gate, SilenceStore
from detector.runbooks import Runbooks
from detector.sources import Source, build_source
from detector.sources.base import Batch
from detector.telemetry.metrics import Registry

__all__ = ["Daemon", "run"]

log = structlog.get_logger("detector.daemon.app")

QUEUE_BYTES = 4 << 20         # what the queue may hold before the sources must wait
TICK = 0.1
PERSIST_EVERY = 5.0
DRAIN_DEADLINE = 15.0         # on shutdown: for the queue, then for the outbox
CHECKPOINTS_VERSION = 1
POSITIONS_WAIT = 5.0          # at start: how long sources may take to settle their positions


def run(config: Config, *, engine: str = "auto") -> int:
    if not config.sources:
        raise UserError(f"{config.path or 'the built-in defaults'}: no [[source]] is "
                        "configured; the daemon has nothing to follow")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(Daemon(config, engine).main())


def _open_state(config: Config) -> tuple[StateDir, Outbox]:
    """The state directory and its outbox, or one clear line (exit 2) if they cannot be
    used: a read-only or foreign directory is the user's to fix, not a traceback."""
    where = config.state.dir
    try:
        state = StateDir(where)
        probe = where / f".write-test-{__version__}"
        probe.write_bytes(b"")
        probe.unlink()
        outbox = Outbox.in_state_dir(where)
        SilenceStore(outbox.db)              # their tables, created now or said now
        History(outbox.db)
        return state, outbox
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UserError(f"state directory {where}: {reason} (set [state] dir, or "
                        "STATE_DIRECTORY, to a directory the detector can write)") from None


class Daemon:
    def __init__(self, config: Config, engine: str = "auto") -> None:
        self.config = config
        self.engine_name = engine
        self.registry = Registry()
        self.started = time.time()
        self.state, self.outbox = _open_state(config)
        self.engine = make_engine(config, load_patterns(config), engine)
        self.gate = Gate(self.outbox.db, config.maintenance)
        self.history = History(self.outbox.db, config.state.history)
        self.dispatcher = Dispatcher(build_notifiers(config.notify), self.outbox, self.registry,
                                     gate=self.gate, history=self.history)
        self.spool = Spool(self.dispatcher, self.registry)
        self.quarantine = Quarantine(config.state.dir / "quarantine", self.registry)
        self.pipeline = build_pipeline(config, self.engine, self.spool, live=True)
        self.activity = Activity()
        self.pipeline.detectors.append(self.activity)
        self.feeder = Feeder(self.pipeline)
        self.queue = BatchQueue(QUEUE_BYTES)
        self.sources: list[Source] = [
            build_source(c, self.registry, self._queue_full) for c in config.sources]
        attach(self.sources, self.pipeline, self.spool, self.queue)   # Kafka: state follows
        self.watch = Watch(self.sources, self.pipeline, self.registry, self.queue,
                           lambda: self.feeder.held)
        self.systemd = SystemdNotifier()
        self.stop_sources = asyncio.Event()
        self.stop_requested = asyncio.Event()
        self.reload_requested = asyncio.Event()
        self.crashed: str | None = None          # the task whose crash stops the daemon
        self.state_errors = self.registry.counter(
            "detector_state_write_errors_total", "Failed writes to the state directory.")
        self._restore()

    def _queue_full(self) -> bool:
        return self.queue.nearly_full()

    # -- persistence ------------------------------------------------------------------
    def _restore(self) -> None:
        state = self.state
        state.load("checkpoints.json", self._restore_checkpoints)
        state.load("incidents.json", self.pipeline.tracker.restore)
        if any(d.name == "rates" for d in self.pipeline.detectors):
            migrate_rates(state, self.config.detect.bucket)
        for detector in self.pipeline.detectors:
            state.load(f"{detector.name}.json", detector.restore)
        self.dispatcher.seed(i.event(EventName.OPEN) for i in self.pipeline.tracker.open.values()
                             if i.id not in self.gate.withheld)
        try:
            self.history.close_missing(i.id for i in self.pipeline.tracker.open.values())
        except sqlite3.Error as exc:
            log.error("history.write_failed", error=str(exc), effect="retried at the next event")

    def silenced(self, incident: str, event: IncidentEvent | dict[str, Any],
                 now: float) -> str | None:
        """Why an open incident is not being sent (a silence id, ``maintenance:NAME``)."""
        return self.gate.withheld_reason(incident) or self.gate.reason(event, now)

    def _release(self) -> None:
        """Send the ``open`` of withheld incidents whose silence has ended, if they are still
        open; forget the others."""
        ready = self.gate.releasable(time.time())
        if not ready:
            return
        tracker = self.pipeline.tracker
        by_id = {i.id: i for i in tracker.open.values()}
        gone = []
        for incident_id, _fingerprint in ready:
            incident = by_id.get(incident_id)
            if incident is None:
                gone.append(incident_id)
                continue
            log.info("silence.released", incident=incident_id, cls=incident.cls,
                     service=incident.service, effect="its open is sent now")
            self.spool(incident.event(EventName.OPEN))
        if gone:
            try:
                self.gate.forget(gone)
            except sqlite3.Error as exc:
                log.error("silence.forget_failed", error=str(exc), effect="retried")

    def _restore_checkpoints(self, data: Any) -> None:
        # 0.1.0 wrote the bare {source: checkpoint} map
        saved = data["sources"] if data.get("version") == CHECKPOINTS_VERSION else data
        for source in self.sources:
            source.restore(saved.get(source.name, {}))

    def save(self) -> bool:
        """Persist, unless incident events are still on their way to the outbox (the state
        must never claim an incident whose events the outbox has not got). A failure —
        a full disk, a read-only directory, too many open files — is logged once, counted,
        shown in /healthz and tried again at the next tick."""
        if not self.spool.empty:
            return False
        try:
            self.persist()
        except OSError as exc:
            self.state_errors.inc(error=exc.__class__.__name__)
            reason = f"state: cannot write {self.config.state.dir}: {exc.strerror or exc}"
            if self.watch.conditions.get("state", ("",))[0] != reason:
                log.error("state.write_failed", error=exc.strerror or str(exc),
                          effect="positions and learned state are kept in memory; retried")
            self.watch.degrade("state", reason)
            return False
        if "state" in self.watch.conditions:
            log.info("state.write_recovered")
            self.watch.degrade("state", None)
        return True

    def persist(self) -> None:
        """Write positions, open incidents and what the detectors learned (``OSError``
        when the state directory cannot take them)."""
        state = self.state
        state.write_json("checkpoints.json", {
            "version": CHECKPOINTS_VERSION,
            "sources": {s.name: s.checkpoint() for s in self.sources}})
        state.write_json("incidents.json", self.pipeline.tracker.snapshot())
        for detector in self.pipeline.detectors:
            state.write_json(f"{detector.name}.json", detector.snapshot())

    # -- the tasks --------------------------------------------------------------------
    async def _emit(self, batch: Batch) -> None:
        await self.queue.put(batch)

    async def _supervised(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Run a long-lived task; if it raises, log the traceback and stop the daemon
        (exit status 1): a task never dies quietly."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task.crashed", task=name, effect="the daemon stops (exit 1)")
            if self.crashed is None:
                self.crashed = name
            self.stop_requested.set()

    def _commit(self, commits: list[Commit]) -> None:
        for source, token in commits:
            source.commit(token)

    async def _process(self) -> None:
        while True:
            batch = await self.queue.get()
            try:
                try:
                    commits = self.feeder.feed(batch)
                except Exception as exc:                 # a bug: keep the batch, go on
                    held = self.feeder.discard(batch)
                    self.quarantine.keep(batch.source.name, held + batch.data, exc)
                    commits = [(batch.source, batch.token)] if batch.token is not None else []
                # Its incident events must be in the outbox before its position moves: a
                # full disk holds the processor here, and the sources behind the queue.
                await self.spool.flush()
                self._unblocked()
                self._commit(commits)
            finally:
                self.queue.task_done(batch)
            await asyncio.sleep(0)          # let the endpoint, the ticker and delivery run

    def _unblocked(self) -> None:
        self.watch.degrade("outbox", self.spool.blocked)

    async def _tick(self) -> None:
        last_persist = last_advance = last_watchdog = time.monotonic()
        commits: list[Commit] = []
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            commits += self.feeder.flush()
            if now - last_advance >= 1.0:
                last_advance = now
                self.pipeline.advance()
                self.watch.check()
                self._release()
            if self.spool.try_flush():
                self._commit(commits)
                commits = []
            self._unblocked()
            if self.systemd.watchdog is not None and now - last_watchdog >= self.systemd.watchdog:
                last_watchdog = now
                self.systemd.ping()
            if now - last_persist >= PERSIST_EVERY:
                last_persist = now
                self.save()

    async def _run_source(self, source: Source) -> None:
        try:
            await source.run(self._emit, self.stop_sources)
        except Exception:
            source.failed("crashed", "see the traceback in the log")
            raise

    async def _reload(self) -> None:
        """SIGHUP: new packs and notifiers, the same incidents, rates and templates."""
        path = self.config.path
        try:
            config = load_config(path)
            engine = make_engine(config, load_patterns(config), self.engine_name)
        except (UserError, OSError) as exc:
            log.error("reload.failed", error=str(exc), kept="the running configuration")
            return
        self.pipeline.engine = engine
        self.pipeline.runbooks = Runbooks(engine.patterns, engine.by_class, config.runbooks)
        self.gate.maintenance = config.maintenance
        await self.dispatcher.replace(build_notifiers(config.notify))
        self.config = config
        self.engine = engine
        self.systemd.status(self._status())
        log.info("reload.done", patterns=len(engine.patterns), notifiers=len(config.notify))

    def _status(self) -> str:
        """The line ``systemctl status`` shows."""
        return (f"following {plural(len(self.sources), 'source')} with "
                f"{plural(len(self.engine.patterns), 'pattern')}, "
                f"{plural(len(self.config.notify), 'notifier')}")

    # -- lifecycle ----------------------------------------------------------------------
    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop_requested.set)
        loop.add_signal_handler(signal.SIGINT, self.stop_requested.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_requested.set)
        http = (WebServer(self.config.http, routes(self), self.registry)
                if self.config.http.listen else None)
        try:
            if http is not None:
                await http.__aenter__()
        except OSError as exc:
            log.error("http.failed", listen=self.config.http.listen, error=exc.strerror)
            raise UserError(f"cannot listen on {self.config.http.listen}: {exc.strerror}") \
                from None
        try:
            async with self.dispatcher:
                await self._serve(http)
        finally:
            if http is not None:
                await http.__aexit__(None, None, None)
            self.outbox.close()
        if self.crashed is not None:
            log.error("detector.failed", task=self.crashed,
                      effect="exit 1; systemd or Docker restarts the detector")
            return 1
        return 0

    async def _serve(self, http: WebServer | None) -> None:
        sources = [asyncio.create_task(self._supervised(f"source:{s.name}", self._run_source(s)),
                                       name=f"source:{s.name}") for s in self.sources]
        processor = asyncio.create_task(self._supervised("processor", self._process()),
                                        name="processor")
        ticker = asyncio.create_task(self._supervised("ticker", self._tick()), name="ticker")
        log.info("detector.started", version=__version__, sources=len(self.sources),
                 patterns=len(self.engine.patterns), notifiers=len(self.config.notify),
                 listen=f"{http.host}:{http.port}" if http else None,
                 state=str(self.config.state.dir))
        await self._save_positions()
        self.systemd.ready(self._status())
        finite = all(s.finite for s in self.sources)
        while not self.stop_requested.is_set():
            waiters: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(self.stop_requested.wait()),
                asyncio.ensure_future(self.reload_requested.wait())]
            if finite:
                waiters.append(asyncio.ensure_future(asyncio.wait(sources)))
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                await self._reload()
            if finite and all(t.done() for t in sources):
                break
        await self._shutdown(sources, processor, ticker)

    async def _shutdown(self, sources: list[asyncio.Task[None]], processor: asyncio.Task[None],
                        ticker: asyncio.Task[None]) -> None:
        self.systemd.stopping()
        log.info("detector.stopping", queued=self.queue.qsize())
        self.stop_sources.set()
        await asyncio.wait(sources, timeout=DRAIN_DEADLINE)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_DEADLINE):
                await self.queue.join()
        processor.cancel()
        ticker.cancel()
        commits = self.feeder.flush(everything=True)
        if await self._flush_within(DRAIN_DEADLINE):
            self._commit(commits)
        else:
            log.error("detector.outbox_blocked_at_stop", held=len(self.spool.held),
                      effect="positions not saved past them: they are read again at start")
        for source in self.sources:
            flush = getattr(source, "flush_commits", None)
            if flush is not None:
                with contextlib.suppress(Exception):
                    await flush()
        self.save()
        await self.dispatcher.drain(within=DRAIN_DEADLINE)
        log.info("detector.stopped", pending_notifications=self.outbox.pending())

    async def _save_positions(self) -> None:
        """Save where every source starts as soon as it knows: a kill -9 in the first
        seconds must not make the next start a first start (and skip lines)."""
        waits = [asyncio.ensure_future(s.positioned()) for s in self.sources]
        _, late = await asyncio.wait(waits, timeout=POSITIONS_WAIT)
        for waiter in late:
            waiter.cancel()
        self.save()

    async def _flush_within(self, seconds: float) -> bool:
        deadline = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, deadline.set)
        return await self.spool.flush(stop=deadline)
