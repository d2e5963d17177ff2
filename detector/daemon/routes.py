"""What the daemon's HTTP endpoint answers (the server itself is :mod:`detector.daemon.web`).

- ``GET /``: the status page (:mod:`detector.daemon.status`);
- ``GET /healthz``: 200 or 503 with the health report;
- ``GET /metrics``: Prometheus exposition (``prometheus_client``);
- ``GET /incidents``: open incidents (their ``open`` events); ``?state=open|resolved|all``,
  ``?since=24h``, ``?class=C``, ``?service=S``; ``GET /incidents/ID``: one, from history;
- ``GET /api/silences`` (``?expired=1``: also those ended in the last week);
  ``POST /api/silences`` with ``{"class"|"service"|"pattern": glob or [globs],
  "for": "2h" or "ends": ISO time, "starts"?, "comment", "author"}``;
  ``DELETE /api/silences/ID`` expires one now.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiohttp import web

from detector import __version__
from detector.config.toml import parse_duration
from detector.daemon.status import StatusView, render_status
from detector.daemon.web import json_error
from detector.history import STATES
from detector.model import EventName
from detector.notify.silences import plan_silence
from detector.telemetry.metrics import exposition

if TYPE_CHECKING:
    from detector.daemon.app import Daemon

__all__ = ["routes"]

log = structlog.get_logger("detector.daemon.routes")
RECENT = 86400.0


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n",
                        status=status, content_type="application/json")


def _moment(value: Any, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return moment.timestamp()
    raise ValueError(f"{name} must be an ISO-8601 time (2026-12-01T10:00:00Z) or epoch "
                     "seconds")


def _globs(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a glob or a list of globs")
    return value


def routes(daemon: Daemon) -> list[web.RouteDef]:
    async def status_page(request: web.Request) -> web.Response:
        now = time.time()
        healthy, report = daemon.watch.health()
        gate = daemon.gate
        tracker = daemon.pipeline.tracker
        opened = sorted(tracker.open.values(), key=lambda i: -i.last_seen)[:200]
        view = StatusView(
            version=__version__, started=daemon.started, now=now, healthy=healthy,
            health=report,
            open=[(i.event(EventName.OPEN), daemon.silenced(i.id, i.event(EventName.OPEN), now))
                  for i in opened],
            resolved=daemon.history.query(state="resolved", since=now - RECENT, limit=100),
            silences=gate.silences, maintenance=daemon.config.maintenance,
            activity=daemon.activity, lines=daemon.pipeline.stats.lines,
            notifiers=[n.name for n in daemon.config.notify],
            patterns=len(daemon.engine.patterns))
        return web.Response(text=render_status(view), content_type="text/html",
                            charset="utf-8")

    async def healthz(request: web.Request) -> web.Response:
        healthy, report = daemon.watch.health()
        return _json(report, 200 if healthy else 503)

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = exposition(daemon.registry, request.headers.get("Accept", ""))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def incidents(request: web.Request) -> web.Response:
        query = request.query
        state = query.get("state", "open")
        if state not in STATES:
            return json_error(400, f"state must be one of {', '.join(STATES)}")
        since = None
        if "since" in query:
            span = parse_duration(query["since"])
            if span is None:
                return json_error(400, "since must be a duration like 30m, 24h or 7d")
            since = time.time() - span
        cls, service = query.get("class"), query.get("service")
        now = time.time()
        found: list[dict[str, Any]] = []
        if state in ("open", "all"):
            for incident in daemon.pipeline.tracker.open.values():
                if (since is not None and incident.last_seen < since) or \
                        (cls and incident.cls != cls) or (service and incident.service != service):
                    continue
                event: dict[str, Any] = dict(incident.event(EventName.OPEN))
                why = daemon.silenced(incident.id, event, now)
                if why:
                    event["silenced"] = why
                if state == "all":
                    event["state"] = "open"
                found.append(event)
        if state in ("resolved", "all"):
            found += [r.as_json() for r in daemon.history.query(
                state="resolved", since=since, cls=cls, service=service)]
        return _json(found)

    async def incident(request: web.Request) -> web.Response:
        records = daemon.history.find(request.match_info["id"])
        if len(records) != 1:
            return json_error(404 if not records else 409,
                              "no such incident" if not records else "ambiguous id prefix")
        return _json(records[0].as_json())

    async def list_silences(request: web.Request) -> web.Response:
        now = time.time()
        expired = request.query.get("expired", "") not in ("", "0", "false")
        return _json([s.as_json(now) for s in daemon.gate.store.listing(now, expired=expired)])

    async def add_silence(request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=orjson.loads)
        except (ValueError, UnicodeDecodeError):
            return json_error(400, "the body is not JSON")
        if not isinstance(body, dict):
            return json_error(400, "the body must be a JSON object")
        if isinstance(body.get("matchers"), dict):
            body = {**body["matchers"], **{k: v for k, v in body.items() if k != "matchers"}}
        now = time.time()
        try:
            duration = None
            if "for" in body:
                duration = parse_duration(str(body["for"]))
                if duration is None:
                    raise ValueError("for must be a duration like 30m, 2h or 1d")
            match, starts, ends = plan_silence(
                classes=_globs(body, "class"), services=_globs(body, "service"),
                patterns=_globs(body, "pattern"), duration=duration,
                starts=_moment(body["starts"], "starts") if "starts" in body else None,
                ends=_moment(body["ends"], "ends") if "ends" in body else None, now=now)
            comment, author = body.get("comment", ""), body.get("author", "api")
            if not isinstance(comment, str) or not isinstance(author, str):
                raise ValueError("comment and author must be strings")
        except ValueError as exc:
            return json_error(400, str(exc))
        try:
            silence = daemon.gate.store.add(match, starts=starts, ends=ends,
                                            comment=comment[:2000], author=author[:200],
                                            now=now)
        except sqlite3.Error as exc:
            return json_error(503, f"cannot store the silence: {exc}")
        daemon.gate.reload()
        log.info("silence.added", id=silence.id, matchers=match.describe(),
                 ends=silence.as_json(now)["ends"], author=silence.author, via="http")
        return _json(silence.as_json(now), 201)

    async def expire_silence(request: web.Request) -> web.Response:
        now = time.time()
        try:
            silence = daemon.gate.store.expire(request.match_info["id"], now)
        except sqlite3.Error as exc:
            return json_error(503, f"cannot expire the silence: {exc}")
        if silence is None:
            return json_error(404, "no such silence (or it has already ended)")
        daemon.gate.reload()
        log.info("silence.expired", id=silence.id, via="http")
        return _json(silence.as_json(now))

    return [
        web.get("/", status_page),
        web.get("/healthz", healthz),
        web.get("/metrics", metrics),
        web.get("/incidents", incidents),
        web.get("/incidents/{id}", incident),
        web.get("/api/silences", list_silences),
        web.post("/api/silences", add_silence),
        web.delete("/api/silences/{id}", expire_silence),
    ]
