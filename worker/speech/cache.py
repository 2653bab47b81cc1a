"""Synthesised clauses on disk, keyed by (engine, voice, rate, text), bounded in total bytes (LRU).

Each entry is a playable 48 kHz mono WAV named by the key's SHA-256. Safe for worker slots (threads)
and worker processes sharing the folder:
- entries are written under a temporary name and renamed into place, so a reader sees a whole file
  or none; a file that does not parse (a crash before the rename reached the disk) is a miss;
- a hit refreshes the file's mtime, the LRU order; eviction after each write removes the oldest
  entries until the total is within the bound (another process evicting the same file is harmless,
  and an evicted file already open is still read whole);
- within a process, one lock per key stripe makes concurrent requests for the same clause
  synthesise it once (across processes it may be synthesised twice; the last rename wins).
Use one SpeechCache per process and folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import wave
from collections.abc import Callable

from worker.speech import pcm

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_FORMAT = 1  # bump when what is stored for a key changes
_STRIPES = 64
_STALE_TEMP_S = 3600


class SpeechCache:
    def __init__(self, folder: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        os.makedirs(folder, exist_ok=True)
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]

    @staticmethod
    def key(engine: str, voice: str, rate: int, text: str) -> str:
        doc = json.dumps([_FORMAT, engine, voice, rate, text], ensure_ascii=False)
        return hashlib.sha256(doc.encode()).hexdigest()

    def path(self, key: str) -> str:
        return os.path.join(self.folder, f"{key}.wav")

    def get(self, key: str) -> bytes | None:
        """The 48 kHz samples stored under key, or None."""
        path = self.path(key)
        try:
            samples, rate = pcm.read_wav(path)
        except FileNotFoundError:
            return None
        except (OSError, wave.Error, EOFError):
            with contextlib.suppress(OSError):
                os.unlink(path)
            return None
        if rate != pcm.RATE:
            return None
        with contextlib.suppress(OSError):
            now = time.time_ns()
            os.utime(path, ns=(now, now))
        return samples

    def put(self, key: str, samples: bytes) -> None:
        pcm.write_wav(self.path(key), samples, pcm.RATE)
        self.evict(keep=key)

    def get_or_make(self, key: str, make: Callable[[], bytes]) -> bytes:
        with self._stripes[int(key[:8], 16) % _STRIPES]:
            found = self.get(key)
            if found is not None:
                return found
            samples = make()
            self.put(key, samples)
            return samples

    def total_bytes(self) -> int:
        return sum(size for _, _, size in self._entries())

    def evict(self, keep: str = "") -> None:
        """Remove least recently used entries until the total is within max_bytes (never `keep`)."""
        entries = sorted(self._entries())
        total = sum(size for _, _, size in entries)
        keep_name = f"{keep}.wav"
        for _, name, size in entries:
            if total <= self.max_bytes:
                break
            if name == keep_name:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.folder, name))
            total -= size

    def _entries(self) -> list[tuple[int, str, int]]:
        """(mtime_ns, name, bytes) of each entry; removes temporary files left by a crash."""
        found = []
        now = time.time()
        with os.scandir(self.folder) as it:
            for e in it:
                try:
                    st = e.stat()
                except FileNotFoundError:
                    continue
                if e.name.endswith(".wav") and not e.name.startswith("."):
                    found.append((st.st_mtime_ns, e.name, st.st_size))
                elif e.name.endswith(".part") and now - st.st_mtime > _STALE_TEMP_S:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(e.path)
        return found
