"""The HTTP side door of a gateway or worker: /metrics for Prometheus, /healthz for liveness probes.

It runs in its own threads, so it answers even while the event loop is busy; /healthz therefore asks
the loop itself: a watchdog task ticks every second, and /healthz answers 503 once the last tick is
older than `stall_s` (a wedged loop, which a plain TCP or /metrics probe would not notice).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import disable_created_metrics, make_wsgi_app

log = logging.getLogger(__name__)
# no *_created series: they double every counter's lines and nobody reads them
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

TICK_S = 1.0


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # a scrape every few seconds is not news


class MetricsEndpoint:
    def __init__(
        self, port: int, addr: str = "0.0.0.0", stall_s: float = 30.0, context: ssl.SSLContext | None = None,
        documents: Mapping[str, Callable[[], dict[str, Any] | None]] | None = None,
    ) -> None:  # fmt: skip
        self.port = port
        # More paths that answer a JSON document (the gateway's /queue for KEDA); None: not yet known.
        self.documents = dict(documents or {})
        self.addr = addr
        self.context = context
        self.stall_s = stall_s
        self._last_tick = time.monotonic()
        # make_wsgi_app is annotated as returning a bare Callable; it is a WSGI app
        self._metrics: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]] = make_wsgi_app()
        self._server: _Server | None = None

    def start(self) -> int:
        """Starts serving in a background thread; returns the port (useful when asked for port 0)."""
        self._server = make_server(self.addr, self.port, self._app, _Server, _QuietHandler)
        if self.context is not None:
            # Each request's thread does the handshake (at accept, one slow client would hold them all).
            self._server.socket = self.context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True).start()
        self.port = self._server.server_port
        scheme = "https" if self.context is not None else "http"
        log.info("metrics on %s://%s:%d/metrics", scheme, self.addr, self.port)
        return self.port

    async def tick(self, stop: asyncio.Event) -> None:
        """The watchdog: runs on the event loop until `stop`."""
        while not stop.is_set():
            self._last_tick = time.monotonic()
            try:
                await asyncio.wait_for(stop.wait(), TICK_S)
            except TimeoutError:
                pass

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def healthy(self) -> bool:
        return time.monotonic() - self._last_tick < self.stall_s

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok = self.healthy()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"event loop stalled\n"]
        document = self.documents.get(environ.get("PATH_INFO", ""))
        if document is not None:
            doc = document()
            status = "200 OK" if doc is not None else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(doc if doc is not None else {"error": "not sampled yet"}).encode() + b"\n"]
        return self._metrics(environ, start_response)


def started_endpoint(
    port: int, host: str = "0.0.0.0", context: ssl.SSLContext | None = None,
    documents: Mapping[str, Callable[[], dict[str, Any] | None]] | None = None,
) -> MetricsEndpoint | None:  # fmt: skip
    """The endpoint serving on `host`:`port` (HTTPS with `context`), or None when it is off (port 0)
    or could not start (logged)."""
    if not port:
        return None
    endpoint = MetricsEndpoint(port, host or "0.0.0.0", context=context, documents=documents)
    try:
        endpoint.start()
    except OSError as e:
        log.error("metrics endpoint not started on port %d: %s", port, e)
        return None
    return endpoint
