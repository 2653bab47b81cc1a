"""Framed shots kept for the next variants: a per-process cache of canvas frames, bounded in bytes.

The variants of a batch share shots: the same piece of the same source, framed the same way. Decoding
the source and cropping and scaling it to the canvas is most of a render's work that is not encoding,
so the framer's output (before any effect) is kept under a key of everything that decides it, and the
least recently used shots are dropped when the cache is over its size. Frames are raw: a 5 s shot at
1080×1920 is 150 frames of 3.1 MB, 466 MB (REELMILL_FRAME_CACHE_MB; 0 turns the cache off). The keys are
video.shot_key's.

Cached frames are shared by the renders of the process: whoever pushes one stamps it under
filters.push_stamped's lock, and libavfilter copies a shared frame before drawing on it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Generic, Protocol, TypeVar

from av.video.frame import VideoFrame


class ShotCache(Protocol):
    """Framed shots kept for the next variants: in memory (FrameCache) or on disk (frame_spill)."""

    limit_bytes: int

    def get(self, key: Hashable) -> Iterable[VideoFrame] | None: ...

    def keeping(
        self, key: Hashable, frames: Iterator[VideoFrame], count: int, unique: int
    ) -> Iterator[VideoFrame]: ...

    def stats(self) -> dict[str, int]: ...


def frame_bytes(frame: VideoFrame) -> int:
    return sum(plane.buffer_size for plane in frame.planes)


V = TypeVar("V")


class KeptShots(Generic[V]):
    """The bookkeeping both kinds of frame cache share: shots under their keys, least recently used
    first, at most `limit_bytes` counting the bytes reserved for shots on their way in; hits, misses and
    evictions. `dropped` is called (under the lock) with each shot that is evicted or given up."""

    def __init__(self, limit_bytes: int, dropped: Callable[[V], None] = lambda shot: None) -> None:
        self.limit_bytes = max(limit_bytes, 0)
        self._shots: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._dropped = dropped
        self._lock = threading.Lock()
        self.bytes = self.peak_bytes = 0
        self.hits = self.misses = self.evictions = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._shots.get(key)
            if found is None:
                self.misses += 1
                return None
            self._shots.move_to_end(key)
            self.hits += 1
            return found[0]

    def reserve(self, size: int) -> bool:
        """Room for `size` more bytes, least recently used shots evicted for it; False if it cannot fit."""
        with self._lock:
            while self._shots and self.bytes + size > self.limit_bytes:
                _, (shot, dropped) = self._shots.popitem(last=False)
                self.bytes -= dropped
                self.evictions += 1
                self._dropped(shot)
            if self.bytes + size > self.limit_bytes:
                return False
            self.bytes += size
            self.peak_bytes = max(self.peak_bytes, self.bytes)
            return True

    def release(self, size: int) -> None:
        if size:
            with self._lock:
                self.bytes -= size

    def commit(self, key: Hashable, shot: V, size: int) -> None:
        """Keep `shot`, whose `size` bytes are reserved; one kept meanwhile by another slot wins."""
        with self._lock:
            if key in self._shots:
                self.bytes -= size
                self._dropped(shot)
            else:
                self._shots[key] = (shot, size)

    def unkeep(self, key: Hashable) -> None:
        """The shot just found under `key` turned out unusable: dropped, and its hit counted as a miss."""
        with self._lock:
            found = self._shots.pop(key, None)
            if found is not None:
                self.bytes -= found[1]
                self.hits -= 1
                self.misses += 1
                self._dropped(found[0])

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "shots": len(self._shots),
                "bytes": self.bytes,
                "peak_bytes": self.peak_bytes,
                "limit_bytes": self.limit_bytes,
            }


class FrameCache:
    """Least recently used framed shots, at most `limit_bytes` of frames, counting the frames of shots
    being kept as they are decoded; safe to share between threads."""

    def __init__(self, limit_bytes: int) -> None:
        self._kept: KeptShots[tuple[VideoFrame, ...]] = KeptShots(limit_bytes)
        self.limit_bytes = self._kept.limit_bytes

    def get(self, key: Hashable) -> tuple[VideoFrame, ...] | None:
        return self._kept.get(key)

    def keeping(
        self, key: Hashable, frames: Iterator[VideoFrame], count: int, unique: int
    ) -> Iterator[VideoFrame]:
        """`frames`, passed on, and kept in the cache if all `count` of them came (`unique` of them
        distinct: 1 for a still) and fit. Room is made as they come, least recently used shots first;
        a shot that cannot fit (judged by its first frame) is not kept and evicts nothing."""
        kept: list[VideoFrame] | None = []
        seen: set[int] = set()
        reserved = 0
        try:
            for frame in frames:
                if kept is not None and id(frame) not in seen:
                    size = frame_bytes(frame)
                    if (not seen and size * unique > self.limit_bytes) or not self._kept.reserve(size):
                        kept = None  # let the frames go as they are used
                        self._kept.release(reserved)
                        reserved = 0
                    else:
                        seen.add(id(frame))
                        reserved += size
                if kept is not None:
                    kept.append(frame)
                yield frame
            if kept is not None and len(kept) == count:
                self._kept.commit(key, tuple(kept), reserved)
                reserved = 0
        finally:
            self._kept.release(reserved)

    def stats(self) -> dict[str, int]:
        return self._kept.stats()


class LookupOnly:
    """A cache's shots taken but none added: for a render whose shots no other variant of its batch can
    use (a batch of one). Keeping costs the shot's first use a copy of every frame (0.5 s of a 15 s
    render at 1080x1920 on disk), which only pays when a shot recurs."""

    def __init__(self, cache: ShotCache) -> None:
        self.cache = cache
        self.limit_bytes = cache.limit_bytes

    def get(self, key: Hashable) -> Iterable[VideoFrame] | None:
        return self.cache.get(key)

    def keeping(
        self, key: Hashable, frames: Iterator[VideoFrame], count: int, unique: int
    ) -> Iterator[VideoFrame]:
        return frames

    def stats(self) -> dict[str, int]:
        return self.cache.stats()
