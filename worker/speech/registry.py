"""The speech engines by the name the voice catalogue gives them, each made once per process.

Apart from engine.py so that an engine module (espeak.py) can import what an engine is without a loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from worker.speech.engine import SpeechEngine, SpeechError


def _espeak() -> SpeechEngine:
    from worker.speech.espeak import EspeakEngine

    return EspeakEngine()


ENGINES: dict[str, Callable[[], SpeechEngine]] = {"espeak": _espeak}
_instances: dict[str, SpeechEngine] = {}
_instances_lock = threading.Lock()


def engine_for(name: str) -> SpeechEngine:
    """The process's one engine of that name, made on first use."""
    with _instances_lock:
        if name not in _instances:
            factory = ENGINES.get(name)
            if factory is None:
                raise SpeechError(f"no speech engine {name!r}; available: {', '.join(ENGINES)}")
            _instances[name] = factory()
        return _instances[name]
