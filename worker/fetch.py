"""Where a media URL's bytes are, as a local path: file:// under the media roots, or http(s)://
downloaded (public addresses only, size and time bounded) into the worker's cache."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from reelmill import roots
from reelmill.urlguard import BlockedAddressError, deadline, parse_networks, pinned_connection
from worker.errors import MaterialNotFoundError, MaterialTooLargeError, MaterialUnreadableError, WorkerError
from worker.settings import WorkerSettings

MAX_REDIRECTS = 3
CHUNK = 1 << 20


def local_path(url: str, settings: WorkerSettings) -> str:
    scheme = urlsplit(url).scheme
    if scheme == "file":
        path = _file_path(url, settings.media_roots)
    elif scheme in ("http", "https"):
        path = _download(url, settings)
    else:
        raise MaterialUnreadableError(f"{url}: only file:// and http(s):// media are supported")
    size = os.path.getsize(path)
    if size == 0:
        raise MaterialUnreadableError(f"{url}: the file is empty")
    if size > settings.max_media_bytes:
        raise MaterialTooLargeError(f"{url}: {size} bytes, more than the limit of {settings.max_media_bytes}")
    return path


def _file_path(url: str, media_roots: tuple[str, ...]) -> str:
    # Resolve symlinks before the root check, so a link inside a root cannot point outside it.
    path = roots.real(roots.file_path(url))
    if not roots.is_under(path, [roots.real(r) for r in media_roots]):
        raise MaterialNotFoundError(f"{url}: not under a configured media root")
    if not os.path.isfile(path):
        raise MaterialNotFoundError(f"{url}: no such file")
    return path


def _download(url: str, settings: WorkerSettings) -> str:
    """Into the cache under the URL's hash (variants of a batch share it); written under a temporary
    name and moved into place, so a half download is never taken for a file."""
    folder = Path(settings.cache_dir) / "media"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / hashlib.sha256(url.encode()).hexdigest()
    if final.is_file():
        with contextlib.suppress(OSError):
            os.utime(final)  # used now: the last to go
        return str(final)
    temp = folder / f".{final.name}.{os.getpid()}.{time.monotonic_ns()}.partial"
    try:
        _fetch_to(url, temp, settings)
        os.replace(temp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    evict(folder, settings.media_cache_mb << 20, in_use_s=settings.render_timeout_s)
    return str(final)


def evict(folder: Path, max_bytes: int, in_use_s: float) -> None:
    """The downloads of the cache, least recently used first, removed until they fit in `max_bytes`;
    but none used within `in_use_s` (a render may still open it: its paths are taken before its frames),
    so a burst of renders may hold more for a while. Temporary files are left to their downloads."""
    entries = []
    with os.scandir(folder) as found:
        for e in found:
            if e.name.startswith("."):
                continue
            with contextlib.suppress(FileNotFoundError):
                st = e.stat()
                entries.append((st.st_mtime, e.name, st.st_size))
    total = sum(size for _, _, size in entries)
    recent = time.time() - in_use_s
    for mtime, name, size in sorted(entries):
        if total <= max_bytes or mtime >= recent:
            break
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
        total -= size


def _fetch_to(url: str, temp: Path, settings: WorkerSettings) -> None:
    allowed = parse_networks(settings.allowed_networks)
    ends = time.monotonic() + settings.download_timeout_s  # for the whole download, redirects included
    too_slow = f"{url}: not downloaded within {settings.download_timeout_s:g} s"
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        left = ends - time.monotonic()
        if left <= 0:
            raise MaterialTooLargeError(too_slow)
        try:
            conn, path = pinned_connection(current, min(30.0, settings.download_timeout_s), allowed)
        except BlockedAddressError as e:
            raise MaterialNotFoundError(f"{url}: {e}") from e  # every hop is checked, redirects included
        # urlguard.deadline: a server dripping a byte at a time cannot outlast the download timeout.
        fired = threading.Event()
        try:
            with deadline(conn, left, fired):
                conn.request("GET", path, headers={"User-Agent": "reelmill"})
                response = conn.getresponse()
                if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                    current = urljoin(current, response.getheader("Location", ""))
                    continue
                if response.status == 404 or response.status == 410:
                    raise MaterialNotFoundError(f"{url}: HTTP {response.status}")
                if response.status >= 500 or response.status == 429:
                    raise WorkerError(f"{url}: HTTP {response.status}")  # the server may recover: retry
                if response.status != 200:
                    raise MaterialUnreadableError(f"{url}: HTTP {response.status}")
                declared = int(response.getheader("Content-Length") or 0)
                if declared > settings.max_media_bytes:
                    raise MaterialTooLargeError(
                        f"{url}: {declared} bytes, more than {settings.max_media_bytes}"
                    )
                received = 0
                with open(temp, "wb") as out:
                    while chunk := response.read(CHUNK):
                        received += len(chunk)
                        if received > settings.max_media_bytes:
                            raise MaterialTooLargeError(f"{url}: more than {settings.max_media_bytes} bytes")
                        out.write(chunk)
                if fired.is_set():  # cut short: what arrived is not the whole file
                    raise MaterialTooLargeError(too_slow)
                return
        except (OSError, http.client.HTTPException) as e:
            if fired.is_set():
                raise MaterialTooLargeError(too_slow) from e
            raise WorkerError(f"{url}: download failed: {type(e).__name__}: {e}") from e
        finally:
            conn.close()
    raise MaterialUnreadableError(f"{url}: more than {MAX_REDIRECTS} redirects")
