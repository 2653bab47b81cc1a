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
from collections.abc import Hashable, Iterator, Sequence

from av.video.frame import VideoFrame


def frame_bytes(frame: VideoFrame) -> int:
    return sum(plane.buffer_size for plane in frame.planes)


class FrameCache:
    """Least recently used framed shots, at most `limit_bytes` of frames; safe to share between threads."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = max(limit_bytes, 0)
        self._shots: OrderedDict[Hashable, tuple[tuple[VideoFrame, ...], int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = self.peak_bytes = 0
        self.hits = self.misses = self.evictions = 0

    def get(self, key: Hashable) -> tuple[VideoFrame, ...] | None:
        with self._lock:
            found = self._shots.get(key)
            if found is None:
                self.misses += 1
                return None
            self._shots.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: Hashable, frames: Sequence[VideoFrame]) -> None:
        size = sum(frame_bytes(f) for f in {id(f): f for f in frames}.values())
        if size > self.limit_bytes:
            return
        with self._lock:
            if key in self._shots:
                return
            while self._shots and self.bytes + size > self.limit_bytes:
                _, (_, dropped) = self._shots.popitem(last=False)
                self.bytes -= dropped
                self.evictions += 1
            self._shots[key] = (tuple(frames), size)
            self.bytes += size
            self.peak_bytes = max(self.peak_bytes, self.bytes)

    def keeping(self, key: Hashable, frames: Iterator[VideoFrame], count: int) -> Iterator[VideoFrame]:
        """`frames`, passed on; kept in the cache if all `count` of them came and they fit."""
        kept: list[VideoFrame] | None = []
        seen: set[int] = set()
        size = 0
        for frame in frames:
            if kept is not None:
                if id(frame) not in seen:
                    seen.add(id(frame))
                    size += frame_bytes(frame)
                kept.append(frame)
                if size > self.limit_bytes:
                    kept = None  # too big to keep: let the frames go as they are used
            yield frame
        if kept is not None and len(kept) == count:
            self.put(key, kept)

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
