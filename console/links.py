"""Short-lived signed links to outputs, so that a browser's <video> can fetch and seek (HTTP ranges)
without the API key: a link names one file, expires, and cannot be made without the console's secret.
Pure: no I/O; console/pages.py serves what a valid link names, and only under the output root."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import unquote, urlencode, urlsplit

PATH = "/files"


@dataclass(frozen=True)
class Signer:
    secret: bytes
    seconds: float

    def link(self, path: str, now: float) -> str:
        """A link to the local file `path`, valid for `seconds` from `now`."""
        expires = int(now + self.seconds)
        token = base64.urlsafe_b64encode(path.encode()).decode().rstrip("=")
        return f"{PATH}?{urlencode({'p': token, 'e': expires, 's': self._sign(path, expires)})}"

    def path_of(self, token: str, expires: str, signature: str, now: float) -> str | None:
        """The file a link names, if its signature holds and it has not expired; else None."""
        try:
            path = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            until = int(expires)
        except (ValueError, UnicodeDecodeError):
            return None
        if until < now or not hmac.compare_digest(self._sign(path, until), signature):
            return None
        return path

    def _sign(self, path: str, expires: int) -> str:
        mac = hmac.new(self.secret, f"{path}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def local_path(media_url: str) -> str | None:
    """The local path a file:// URL names (None for other schemes)."""
    parts = urlsplit(media_url)
    return unquote(parts.path) if parts.scheme == "file" else None
