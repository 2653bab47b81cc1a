"""What a speech engine is to reelmill: text in a voice at a speed, out comes 16-bit mono PCM.

The engine of each voice is named in the voice catalogue (reelmill/voices.py). Built in: `espeak`,
libespeak-ng from the espeakng-loader wheel (offline, 100+ languages, robotic but intelligible). A
better engine plugs in by implementing SpeechEngine and registering a factory in registry.ENGINES under the
name the catalogue's voices use; e.g. piper (piper-tts) with an .onnx voice model file the operator
provides. `name` goes into the cache key, so it must change whenever the engine's output would.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from worker.errors import WorkerError


class SpeechError(WorkerError):
    """Speech could not be made. Deterministic (same text, same failure): not retried."""

    retryable = False


@dataclass(frozen=True)
class Pcm:
    samples: bytes  # signed 16-bit little-endian, mono
    sample_rate: int

    @property
    def sample_count(self) -> int:
        return len(self.samples) // 2


class SpeechEngine(Protocol):
    @property
    def name(self) -> str:
        """The engine and its version, e.g. espeak-ng-1.52.0: part of every cache key."""
        ...

    def synthesize(self, text: str, *, voice: str, speed: Fraction) -> Pcm:
        """`text` (plain, one clause) spoken by the engine's `voice` at `speed` (1 normal, 2 twice
        as fast), without trailing pause. Thread-safe. Raises SpeechError."""
        ...
