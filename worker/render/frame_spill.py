"""Framed shots kept on disk for the next variants: the frame cache's twin for sources that are costly
to decode (phone footage: 4K HEVC, 10-bit, 60 fps), bounded in bytes of disk instead of memory.

A variant that reuses a shot of such a source pays decoding it (about 1.2 CPU-s per second of 4K HEVC
10-bit at 60 fps) and scaling it down (about 0.45) again, more than x264 then spends encoding it. Here
the framer's output (canvas-sized yuv420p, before any effect) is written raw to one file per shot as it
is made, and read back for the next variants: a read is a copy from the page cache, a small fraction of
a decode. The frames never stay in the worker's memory (only the frame in hand does), so a worker keeps
a whole batch's shots within its 1 GiB; the kernel keeps the files' pages while it has room for them.

Files live in a folder of this process under CACHE_DIR/frames, locked while it lives (folders of
processes that are gone are removed at start, and its own at exit). Least recently used shots are
deleted first, and a shot whose frames did not all come (an error, a cancel) is never kept. The keys
are video.shot_key's, as the memory cache's.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

from av.video.frame import VideoFrame

from worker.render.frame_cache import KeptShots, frame_bytes

LOCK = ".lock"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Shot:
    path: Path
    width: int
    height: int
    format: str
    colorspace: int
    color_range: int
    frame_size: int  # bytes of one frame: its planes, with their line padding
    planes: tuple[tuple[int, int, int], ...]  # each plane's line size, visible bytes per line, lines
    order: tuple[int, ...]  # for each frame of the shot, which stored frame it is (a still: all 0)


class FrameSpill:
    """Least recently used framed shots on disk, at most `limit_bytes` of files; safe to share between
    threads (a shot being read stays readable when it is evicted meanwhile: its file is only unlinked)."""

    def __init__(self, folder: str | os.PathLike[str], limit_bytes: int) -> None:
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        _remove_orphans(root)
        self.folder = Path(tempfile.mkdtemp(prefix="spill-", dir=root))
        # Held for the life of the process: a folder whose lock can be taken belongs to no one.
        self._lock_file = (self.folder / LOCK).open("wb")
        fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._kept: KeptShots[_Shot] = KeptShots(limit_bytes, dropped=_unlink)
        self.limit_bytes = self._kept.limit_bytes
        self._names = itertools.count()

    def get(self, key: Hashable) -> Iterator[VideoFrame] | None:
        shot = self._kept.get(key)
        if shot is None:
            return None
        try:
            file = shot.path.open("rb")  # opened now: an eviction after this leaves it readable
        except FileNotFoundError:  # evicted between the lookup and the open
            return None
        if os.fstat(file.fileno()).st_size != shot.frame_size * (max(shot.order) + 1):
            # Cut short or changed behind our back: never read a broken shot, drop it and decode.
            file.close()
            log.warning("kept frames of a shot are damaged (%s); decoding it again", shot.path)
            self._kept.unkeep(key)
            return None
        return _read(file, shot)

    def keeping(
        self, key: Hashable, frames: Iterator[VideoFrame], count: int, unique: int
    ) -> Iterator[VideoFrame]:
        """`frames`, passed on, and written to disk as they pass; kept if all `count` came and fit."""
        path = self.folder / f"{next(self._names)}.frames"
        try:
            file = path.open("wb")
        except OSError as e:  # the folder is gone or unwritable: the frames pass, unkept
            log.warning("frames of a shot not kept on disk: %s", e)
            yield from frames
            return
        # A frame given again is the same object as the one before it (a still's one picture, the last
        # frame held when the source runs out): it is stored once.
        previous: VideoFrame | None = None
        order: list[int] = []
        first: VideoFrame | None = None
        reserved, stored, ok, committed = 0, 0, True, False

        def give_up() -> None:  # let the frames go by; what was written is given up now
            nonlocal ok, reserved
            ok = False
            self._kept.release(reserved)
            reserved = 0
            with contextlib.suppress(OSError):  # closed already, or its last flush does not fit either
                file.close()
            _unlink_path(path)

        try:
            for frame in frames:
                if ok and frame is not previous:
                    first = first or frame
                    size = frame_bytes(frame)
                    if (
                        frame.format.name != "yuv420p"  # what the framer makes; _layout counts on it
                        or (not stored and size * unique > self.limit_bytes)
                        or not self._kept.reserve(size)
                    ):
                        give_up()
                    else:
                        reserved += size
                        stored += 1
                        try:
                            for plane in frame.planes:
                                file.write(memoryview(plane))
                        except OSError as e:  # a full disk costs the reuse, never the render
                            log.warning("frames of a shot not kept on disk: %s", e)
                            give_up()
                if ok:
                    order.append(stored - 1)
                previous = frame
                yield frame
            if ok and len(order) == count and first is not None:
                try:
                    file.close()
                except OSError as e:  # the last write, flushed here, may not fit either
                    log.warning("frames of a shot not kept on disk: %s", e)
                else:
                    shot = _Shot(path, first.width, first.height, first.format.name, int(first.colorspace),
                                 int(first.color_range), frame_bytes(first), _layout(first),
                                 tuple(order))  # fmt: skip
                    self._kept.commit(key, shot, reserved)
                    reserved, committed = 0, True
        finally:
            if not committed:  # stopped short, failed, or closed early (a cancel): nothing is kept
                give_up()

    def stats(self) -> dict[str, int]:
        return self._kept.stats()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock_file.close()


def _unlink_path(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _unlink(shot: _Shot) -> None:
    _unlink_path(shot.path)


def _layout(frame: VideoFrame) -> tuple[tuple[int, int, int], ...]:
    """Each plane's line size, its visible bytes per line and its lines (yuv420p: a byte a sample)."""
    return tuple((plane.line_size, plane.width, plane.height) for plane in frame.planes)


def _read(file: BufferedReader, shot: _Shot) -> Iterator[VideoFrame]:
    """The shot's frames, read one at a time (a frame stored once and shown again: given again)."""
    last: tuple[int, VideoFrame] | None = None
    try:
        for index in shot.order:
            if last is not None and last[0] == index:
                yield last[1]
                continue
            frame = VideoFrame(shot.width, shot.height, shot.format)
            frame.colorspace, frame.color_range = shot.colorspace, shot.color_range
            file.seek(index * shot.frame_size)
            for plane, (line, visible, lines) in zip(frame.planes, shot.planes, strict=True):
                view = memoryview(plane)
                if plane.line_size == line:  # the usual case: the same layout, one read
                    if file.readinto(view) != len(view):
                        raise OSError(f"{shot.path}: the stored shot is cut short")
                    continue
                # Another line alignment than the frame it was stored from: copied line by line.
                stored = file.read(line * lines)
                if len(stored) != line * lines:
                    raise OSError(f"{shot.path}: the stored shot is cut short")
                for row in range(lines):
                    at = row * plane.line_size
                    view[at : at + visible] = stored[row * line : row * line + visible]
            last = (index, frame)
            yield frame
    finally:
        file.close()


def _remove_orphans(root: Path) -> None:
    """Folders left by processes that are gone (a killed worker cannot clean up after itself; a
    restarted container finds its predecessor's): their lock is free. A process id is no proof, since
    each container numbers its processes from 1."""
    for child in root.iterdir():
        if not child.is_dir():
            continue
        try:
            with (child / LOCK).open("ab") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # alive
        except OSError:
            pass  # no lock file (made before it was written, or by something else): not in use either
        shutil.rmtree(child, ignore_errors=True)
