"""Which local paths a job may name: one rule, for the media roots and for the output root.

A path is allowed when it is one of the roots or lies inside one. Both sides ask the same question of
different paths: the gateway of the URL's path, normalised as text (it cannot see the worker's files),
and the worker of real paths, symlinks resolved, so that a link inside a root cannot lead outside it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit


def file_path(url: str) -> str:
    """The path a file:// URL names, %-escapes decoded."""
    return unquote(urlsplit(url).path)


def is_under(path: str, roots: Iterable[str]) -> bool:
    """`path` is one of `roots` or inside one (empty roots count for nothing)."""
    for root in roots:
        if not root:
            continue
        root = root.rstrip("/") or "/"
        if path == root or path.startswith(root if root == "/" else root + "/"):
            return True
    return False


def normalised(path: str) -> str:
    """The path as text, `.` and duplicate slashes gone (`..` is refused before this)."""
    return posixpath.normpath(path)


def real(path: str) -> str:
    """The path with every symlink resolved."""
    return os.path.realpath(path)
