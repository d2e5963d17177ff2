"""``detector health``: ask a running daemon's ``/healthz`` (a container's HEALTHCHECK).

Kept apart from the other commands so that it imports nothing heavy: it runs every
few seconds in a container and should cost next to nothing.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import TextIO

from detector.config import Config
from detector.errors import UserError

__all__ = ["health", "health_url"]


def health_url(config: Config) -> str:
    """Where the running daemon of ``config`` answers ``/healthz``."""
    listen = config.http.listen
    if not listen:
        raise UserError(f"{config.path or 'the built-in defaults'}: the HTTP endpoint is off "
                        "([http] listen = \"\"), so there is no /healthz to ask")
    host, _, port = listen.rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
    return f"http://{host}:{port}/healthz"


def health(config: Config, *, url: str | None = None, timeout: float = 5.0,
           out: TextIO | None = None) -> int:
    """Ask a running daemon whether its sources are healthy: exit 0 if so, 1 if not.

    For container health checks: the image needs no curl.
    """
    out = out or sys.stdout
    url = url or health_url(config)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        if exc.code != 503:
            out.write(f"unhealthy: {url} answered {exc.code}\n")
            return 1
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        out.write(f"unreachable: {url}: {reason}\n")
        return 1
    try:
        report = json.loads(body)
        sources = report["sources"]
    except (ValueError, KeyError, TypeError):
        out.write(f"unhealthy: {url} did not answer like detector's /healthz\n")
        return 1
    if report.get("status") == "ok":
        count = len(sources)
        out.write(f"ok: {count} {'source' if count == 1 else 'sources'} healthy\n")
        return 0
    for name, state in sources.items():
        if not state.get("ok"):
            out.write(f"unhealthy: source {name}: {state.get('reason', 'unknown')}\n")
    return 1
