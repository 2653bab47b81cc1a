"""Framed shots kept on disk for the next variants: the frame cache's twin for sources that are costly
to decode (phone footage: 4K HEVC, 10-bit, 60 fps), bounded in bytes of disk instead of memory, and
shared by every worker process that names the same folder.

A variant that reuses a shot of such a source pays decoding it (about 1.2 CPU-s per second of 4K HEVC
10-bit at 60 fps) and scaling it down (about 0.45) again, more than x264 then spends encoding it. Here
the framer's output (canvas-sized yuv420p, before any effect) is written raw to one file per shot as it
is made, and read back for the next variants: a read is a copy from the page cache, a small fraction of
a decode. The frames never stay in the worker's memory (only the frame in hand does), so a worker keeps
a whole batch's shots within its 1 GiB; the kernel keeps the files' pages while it has room for them.

**Shared.** A batch's variants go to whichever worker is free, so with several workers each would
decode the batch's shots again for itself. The folder (CACHE_DIR/frames) is instead one store for every
process that names it: the render slots of a worker, and the workers of one machine given one folder
(worker pods of a node mounting the same node-local volume). A shot is found by a digest of its key
(video.shot_key's: the source file's identity, the piece, the canvas), written by one process at a time
(`<digest>.lock`, flock'd while it writes) to `<digest>.part`, and renamed to `<digest>.frames` when
all its frames came, so a reader sees a whole shot or none; a second process wanting a shot that is
being written decodes it itself rather than wait on another render's pace. The rename and the
file's own record (its key, layout and frame order, at its end) are what readers trust: the lock only
spares duplicate writes, so no lock left behind or taken twice can give a wrong frame.

**Bounded.** Before a shot is written, the least recently used shots (by modification time, which a
read renews) are deleted until the folder's shots and the new one fit `limit_bytes`; shots written at
the same moment by several processes may pass it by their own sizes. A shot being read stays readable
when it is deleted meanwhile (it is only unlinked). Files of writers that are gone (a `.part` that no
one holds) are removed when a process starts and as room is made; folders of earlier versions at start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from io import BufferedRandom, BufferedReader
from pathlib import Path

from av.video.frame import VideoFrame

from worker.render.frame_cache import frame_bytes

VERSION = 1  # of the file layout and the digest: another version's files are never read
MAGIC = b"reelmill-frames\n"
TRAILER = struct.Struct("<Q16s")  # the record's length, MAGIC: the last bytes of a shot's file
KEPT, PART, LOCK = ".frames", ".part", ".lock"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Shot:
    width: int
    height: int
    format: str
    colorspace: int
    color_range: int
    frame_size: int  # bytes of one frame: its planes, with their line padding
    planes: tuple[tuple[int, int, int], ...]  # each plane's line size, visible bytes per line, lines
    order: tuple[int, ...]  # for each frame of the shot, which stored frame it is (a still: all 0)

    @property
    def frames_bytes(self) -> int:
        return self.frame_size * (max(self.order) + 1)


class FrameSpill:
    """Framed shots on disk under `folder`, shared with every process that names it, at most about
    `limit_bytes` of files; safe to share between threads."""

    def __init__(self, folder: str | os.PathLike[str], limit_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.limit_bytes = max(limit_bytes, 0)
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = self.peak_bytes = 0
        _remove_leftovers(self.folder)

    def get(self, key: Hashable) -> Iterator[VideoFrame] | None:
        found = self._open(_digest(key), key)
        with self._lock:
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
        return None if found is None else _read(*found)

    def keeping(
        self, key: Hashable, frames: Iterator[VideoFrame], count: int, unique: int
    ) -> Iterator[VideoFrame]:
        """`frames`, passed on, and written to disk as they pass; kept if all `count` came and fit.
        Passed on unkept when another process is writing the same shot, or the disk fails."""
        name = _digest(key)
        lock_path = self.folder / (name + LOCK)
        lock = _try_lock(lock_path)
        if lock is None:  # being written by another render: this one's frames pass
            yield from frames
            return
        part: Path | None = None
        file: BufferedRandom | None = None
        # A frame given again is the same object as the one before it (a still's one picture, the last
        # frame held when the source runs out): it is stored once.
        previous: VideoFrame | None = None
        first: VideoFrame | None = None
        order: list[int] = []
        stored, ok = 0, True

        def give_up() -> None:  # let the frames go by; what was written is given up now
            nonlocal ok, file
            ok = False
            if part is not None:
                _unlink(part)
            if file is not None:
                with contextlib.suppress(OSError):  # its last flush may not fit either
                    file.close()
                file = None

        try:
            for frame in frames:
                if ok and frame is not previous:
                    try:
                        if file is None:
                            size = frame_bytes(frame)
                            if frame.format.name != "yuv420p" or not self._make_room(size * unique):
                                give_up()  # what the framer makes, _layout counts on it; or too big
                            else:
                                part, file = _new_part(self.folder, name)
                                first = frame
                        if file is not None:
                            for plane in frame.planes:
                                file.write(memoryview(plane))
                            stored += 1
                    except OSError as e:  # a full disk costs the reuse, never the render
                        log.warning("frames of a shot not kept on disk: %s", e)
                        give_up()
                if ok:
                    order.append(stored - 1)
                previous = frame
                yield frame
            if ok and part is not None and file is not None and first is not None and len(order) == count:
                shot = _Shot(first.width, first.height, first.format.name, int(first.colorspace),
                             int(first.color_range), frame_bytes(first), _layout(first),
                             tuple(order))  # fmt: skip
                try:
                    record = json.dumps({"key": repr(key), **shot.__dict__}).encode()
                    file.write(record + TRAILER.pack(len(record), MAGIC))
                    file.flush()
                    os.rename(part, self.folder / (name + KEPT))  # whole, or not there at all
                    part = None
                except OSError as e:
                    log.warning("frames of a shot not kept on disk: %s", e)
        finally:
            give_up()  # stopped short, failed, or closed early (a cancel): nothing is kept; else a close
            _unlink(lock_path)  # while still held: the lock is there only while the shot is written
            _unlock(lock)

    def stats(self) -> dict[str, int]:
        shots, _ = _listing(self.folder)
        used = sum(size for _, size, _ in shots)
        with self._lock:
            self.peak_bytes = max(self.peak_bytes, used)
            return {
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "shots": len(shots),
                "bytes": used,
                "peak_bytes": self.peak_bytes,
                "limit_bytes": self.limit_bytes,
            }

    def _open(self, name: str, key: Hashable) -> tuple[BufferedReader, _Shot] | None:
        """The kept shot `name`, checked whole and under `key`, its use noted; None if there is none."""
        path = self.folder / (name + KEPT)
        try:
            file = path.open("rb")  # opened now: a deletion after this leaves it readable
        except OSError:
            return None
        try:
            shot = _record(file, key)
            if shot is None:
                raise ValueError("its record does not hold")
        except (OSError, ValueError, KeyError, TypeError) as e:
            # Cut short or changed behind our back: never read a broken shot, drop it and decode.
            log.warning("kept frames of a shot are damaged (%s: %s); decoding it again", path, e)
            with contextlib.suppress(OSError):
                if os.stat(path).st_ino == os.fstat(file.fileno()).st_ino:  # not one renamed there since
                    path.unlink()
            file.close()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to be deleted
        return file, shot

    def _make_room(self, size: int) -> bool:
        """Room for a shot of `size` bytes, the least recently used shots deleted for it; False if it
        cannot fit."""
        if size > self.limit_bytes:
            return False
        shots, parts = _listing(self.folder)
        used = sum(s for _, s, _ in shots) + sum(s for s, part in parts if not _remove_if_unheld(part))
        evicted = 0
        for _, old_size, path in sorted(shots):
            if used + size <= self.limit_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                evicted += 1
            used -= old_size
        with self._lock:
            self.evictions += evicted
            self.peak_bytes = max(self.peak_bytes, used + size)
        return used + size <= self.limit_bytes


def _digest(key: Hashable) -> str:
    """A shot's file name: the same key gives the same name in every process (keys are dataclasses of
    plain values, whose repr is stable)."""
    return hashlib.sha256(f"{VERSION}:{key!r}".encode()).hexdigest()[:40]


def _record(file: BufferedReader, key: Hashable) -> _Shot | None:
    """The record at the end of a kept shot's file, if it is whole and of `key`."""
    size = os.fstat(file.fileno()).st_size
    if size < TRAILER.size:
        return None
    file.seek(size - TRAILER.size)
    length, magic = TRAILER.unpack(file.read(TRAILER.size))
    if magic != MAGIC or length > size - TRAILER.size:
        return None
    file.seek(size - TRAILER.size - length)
    fields = json.loads(file.read(length))
    if fields.pop("key") != repr(key):
        return None
    planes = tuple(tuple(plane) for plane in fields.pop("planes"))
    order = tuple(fields.pop("order"))
    shot = _Shot(**fields, planes=planes, order=order)
    if shot.frames_bytes + length + TRAILER.size != size:
        return None
    return shot


def _listing(folder: Path) -> tuple[list[tuple[float, int, Path]], list[tuple[int, Path]]]:
    """In one pass over `folder`: (last use, bytes, path) of each kept shot, and (bytes, path) of each
    shot on its way in (by this process or others)."""
    kept, parts = [], []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith((KEPT, PART)):
                with contextlib.suppress(OSError):
                    st = entry.stat()
                    if entry.name.endswith(KEPT):
                        kept.append((st.st_mtime, st.st_size, Path(entry.path)))
                    else:
                        parts.append((st.st_size, Path(entry.path)))
    return kept, parts


def _remove_if_unheld(path: Path, lock: Path | None = None) -> bool:
    """`path` removed if no one holds `lock` (by default its own): what a writer that is gone left,
    a part (killed while this process runs on), a lock, or an earlier version's folder."""
    fd = _try_lock(lock or path)
    if fd is None:
        return False  # in use
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        _unlink(path)
    _unlock(fd)
    return True


def _try_lock(path: Path) -> int | None:
    """`path` locked for this caller alone (a file descriptor), or None if someone else holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int) -> None:
    os.close(fd)  # closing the descriptor releases its flock


def _new_part(folder: Path, name: str) -> tuple[Path, BufferedRandom]:
    """A file of this writer's own for a shot on its way in, flock'd while it is written: one whose lock
    can be taken was left by a writer that is gone."""
    fd, path = tempfile.mkstemp(prefix=name + ".", suffix=PART, dir=folder)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return Path(path), os.fdopen(fd, "w+b")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


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
                        raise OSError(f"{file.name}: the stored shot is cut short")
                    continue
                # Another line alignment than the frame it was stored from: copied line by line.
                stored = file.read(line * lines)
                if len(stored) != line * lines:
                    raise OSError(f"{file.name}: the stored shot is cut short")
                for row in range(lines):
                    at = row * plane.line_size
                    view[at : at + visible] = stored[row * line : row * line + visible]
            last = (index, frame)
            yield frame
    finally:
        file.close()


def _remove_leftovers(folder: Path) -> None:
    """What writers that are gone left (a killed worker cannot clean up after itself; a restarted
    container finds its predecessor's): shots cut short and locks (`.part` and `.lock` files that no
    one holds), and the folders in which earlier versions kept each process's shots (their `.lock`
    free)."""
    for child in folder.iterdir():
        if child.is_dir():
            _remove_if_unheld(child, child / LOCK)
        elif child.name.endswith((PART, LOCK)):
            _remove_if_unheld(child)
