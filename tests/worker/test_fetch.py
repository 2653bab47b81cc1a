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


@pytest.fixture
def files() -> Iterator[str]:
    """A server of 1 MiB files, any path."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.path.encode() * (1 << 20)
            body = body[: 1 << 20]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_download_cache_keeps_to_its_bound_least_recently_used_first(files: str, tmp_path: Path) -> None:
    """Issue 13: the cache was never evicted; downloads of many URLs now keep within REELMILL_MEDIA_CACHE_MB,
    except files used within a render's time (a render may still open them)."""
    import os

    settings = WorkerSettings(cache_dir=str(tmp_path), allowed_networks="127.0.0.1/32", media_cache_mb=3,
                              render_timeout_s=1)  # fmt: skip
    folder = tmp_path / "media"
    first = fetch.local_path(f"{files}/0.mp4", settings)
    for i in range(1, 3):
        fetch.local_path(f"{files}/{i}.mp4", settings)
    time.sleep(1.1)  # all three are now past a render's time
    fetch.local_path(f"{files}/0.mp4", settings)  # a hit: 0 becomes the most recently used
    fetch.local_path(f"{files}/3.mp4", settings)  # 4 MiB: the least recently used (1) goes
    names = {p.name for p in folder.iterdir()}
    assert len(names) == 3 and os.path.basename(first) in names
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 3 << 20
    # Within a render's time nothing is taken away, even past the bound.
    busy = WorkerSettings(cache_dir=str(tmp_path), allowed_networks="127.0.0.1/32", media_cache_mb=1)
    for i in range(4, 6):
        fetch.local_path(f"{files}/{i}.mp4", busy)
    assert len(list(folder.iterdir())) == 5
