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


def tenant_output(output_root: str, tenant: str) -> str:
    """A tenant's own output folder: <output root>/<tenant>. Tenants write only there (their file://
    MediaURLs and their default outputs), so no tenant can reach another's files. A command without a
    tenant (none is made so) would write at the root itself."""
    return posixpath.join(output_root, tenant) if tenant else output_root


def s3_prefix_of(template: str, tenant: str) -> str:
    """An S3 prefix a tenant may write under, from a template naming it ({tenant})."""
    return template.replace("{tenant}", tenant)


def under_s3_prefix(url: str, prefixes: Iterable[str]) -> bool:
    """`url` (s3://bucket/key) lies under one of `prefixes` (s3://bucket/ or s3://bucket/some/path/).
    A prefix names a bucket and, if it goes on, a folder: s3://acme matches no bucket acme-evil."""
    parts = urlsplit(url)
    key = posixpath.normpath("/" + unquote(parts.path).lstrip("/"))  # "//" would stay, by POSIX's rule
    for prefix in prefixes:
        p = urlsplit(prefix)
        if p.scheme != "s3" or not p.netloc or p.netloc != parts.netloc:
            continue
        folder = p.path.rstrip("/")
        if not folder or key == folder or key.startswith(folder + "/"):
            return True
    return False
