"""Opening source media safely, and turning libav errors into the worker's errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import av
from av.container import InputContainer

from worker.errors import MaterialNotFoundError, MaterialUnreadableError

# Only demuxers for the media we accept: libav otherwise probes hundreds of formats (playlists, raw
# streams, exotic parsers), a needless attack surface for files that come from users. Only the local
# file protocol: a container must not make the worker open URLs (e.g. external references).
INPUT_OPTIONS = {
    "format_whitelist": (
        "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,image2,"
        "png_pipe,jpeg_pipe,webp_pipe,wav,mp3,aac,ogg,flac"
    ),
    "protocol_whitelist": "file",
}


@dataclass(frozen=True)
class FileIdentity:
    """Which file a path names now: what a per-process memory of a file's facts, frames or runs is
    keyed by, so that another file at the same path (replaced, rewritten) is never taken for it."""

    path: str  # the real path
    device: int
    inode: int
    size: int
    mtime_ns: int


def file_identity(path: str) -> FileIdentity | None:
    """The identity of the file at `path`; None when it cannot be read (opening it reports why)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileIdentity(os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def describe(err: BaseException) -> str:
    """A short human reason for a libav error (its strerror, without the file name)."""
    if isinstance(err, av.FFmpegError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


@contextmanager
def open_input(path: str, url: str) -> Iterator[InputContainer]:
    """Open a local media file for reading; always closed on exit."""
    if not os.path.isfile(path):
        raise MaterialNotFoundError(f"media file of {url} not found")
    try:
        container = av.open(path, "r", container_options=INPUT_OPTIONS)
    except FileNotFoundError as e:
        raise MaterialNotFoundError(f"media file of {url} not found") from e
    except (av.FFmpegError, OSError) as e:
        raise MaterialUnreadableError(f"cannot open media {url}: {describe(e)}") from e
    try:
        yield container
    finally:
        container.close()


def is_image_container(container: InputContainer) -> bool:
    """Stills come through the image demuxers (image2, png_pipe, jpeg_pipe, webp_pipe...)."""
    name = container.format.name
    return name == "image2" or name.endswith("_pipe")
