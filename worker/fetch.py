"""Where a media URL's bytes are, as a local path. Only file:// under the media roots for now."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from worker.errors import MaterialNotFoundError, MaterialUnreadableError


def local_path(url: str, media_roots: tuple[str, ...]) -> str:
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise MaterialUnreadableError(f"{url}: only file:// media are supported by this worker")
    # Resolve symlinks before the root check, so a link inside a root cannot point outside it.
    path = os.path.realpath(unquote(parts.path))
    roots = [os.path.realpath(r) for r in media_roots]
    if not any(path == r or path.startswith(r + os.sep) for r in roots):
        raise MaterialNotFoundError(f"{url}: not under a configured media root")
    if not os.path.isfile(path):
        raise MaterialNotFoundError(f"{url}: no such file")
    return path
