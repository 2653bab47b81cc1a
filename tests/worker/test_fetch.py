"""Downloads of http(s) media (worker/fetch.py): the download timeout holds against a slow server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from worker import fetch
from worker.errors import WorkerError
from worker.settings import WorkerSettings


@pytest.fixture
def dripping() -> Iterator[str]:
    """A server that answers 200 with 1000 bytes announced, then sends one byte every 0.2 s."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                if stop.is_set():
                    return
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slow.mp4"
    stop.set()
    server.shutdown()
    server.server_close()


def test_a_server_dripping_bytes_cannot_outlast_the_download_timeout(dripping: str, tmp_path: Path) -> None:
    settings = WorkerSettings(
        cache_dir=str(tmp_path), download_timeout_s=1.5, allowed_networks="127.0.0.1/32"
    )
    started = time.monotonic()
    with pytest.raises(WorkerError, match="within 1.5 s|timed out|TimeoutError"):
        fetch.local_path(dripping, settings)
    assert time.monotonic() - started < 4  # the timeout, not 1000 × 0.2 s
    assert not list((tmp_path / "media").glob("*"))  # no half download kept
