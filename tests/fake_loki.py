"""A Loki for tests: ``GET /loki/api/v1/query_range`` as Loki documents it.

Entries are pushed by the test with labels. A query selects streams by the exact
label matchers of its selector (``{app="api"}``), returns entries with
``start <= ts < end`` (nanoseconds), ordered for ``direction`` (forward or
backward), at most ``limit`` in all, grouped by stream:
``{"status":"success","data":{"resultType":"streams","result":[{"stream":{...},
"values":[["<ns>","<line>"],...]}],"stats":{...}}}``. ``X-Scope-OrgID`` must
match the tenant when one is set. Faults can be queued: a status with a body
(429 with Retry-After, 500, or an answer that is not JSON), or a hang (status 0:
the request is held unanswered for ``float(body)`` seconds, then dropped).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLoki:
    def __init__(self, tenant: str | None = None) -> None:
        self.tenant = tenant
        self.entries: list[tuple[int, dict[str, str], str]] = []
        self.faults: deque[tuple[int, dict[str, str], bytes]] = deque()
        self.queries: list[dict[str, str]] = []
        loki = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                if url.path != "/loki/api/v1/query_range":
                    return self._send(404, {}, b"404 page not found\n")
                loki.queries.append(params)
                if loki.faults:
                    status, headers, body = loki.faults.popleft()
                    if status == 0:
                        time.sleep(float(body))
                        self.close_connection = True
                        return None
                    return self._send(status, headers, body)
                if loki.tenant and self.headers.get("X-Scope-OrgID") != loki.tenant:
                    return self._send(401, {}, b"no org id\n")
                return self._send(200, {"Content-Type": "application/json"},
                                  json.dumps(loki.answer(params)).encode())

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeLoki:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def push(self, ns: int, labels: dict[str, str], line: str) -> None:
        self.entries.append((ns, labels, line))

    def answer(self, params: dict[str, str]) -> dict[str, object]:
        matchers = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', params.get("query", "")))
        start, end = int(params["start"]), int(params["end"])
        limit = int(params.get("limit", "100"))
        forward = params.get("direction", "backward") == "forward"
        chosen = [e for e in self.entries
                  if start <= e[0] < end and all(e[1].get(k) == v for k, v in matchers.items())]
        chosen.sort(key=lambda e: e[0], reverse=not forward)
        chosen = chosen[:limit]
        streams: dict[str, dict[str, object]] = {}
        for ns, labels, line in chosen:
            key = json.dumps(labels, sort_keys=True)
            stream = streams.setdefault(key, {"stream": labels, "values": []})
            stream["values"].append([str(ns), line])  # type: ignore[union-attr]
        return {"status": "success",
                "data": {"resultType": "streams", "result": list(streams.values()),
                         "stats": {"summary": {"totalEntriesReturned": len(chosen)}}}}
