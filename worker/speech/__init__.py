"""Speech: a narration text to a timed voice-over, offline.

    narrate(text, voice=..., rate=..., language=..., cache=..., out_dir=...) -> Narration
    narration_from_wav(path) -> Narration

ssml (reelmill.ssml) → clauses → engine (espeak, behind the SpeechEngine protocol) → cache → pcm.
"""

from worker.speech.cache import SpeechCache
from worker.speech.engine import Pcm, SpeechEngine, SpeechError
from worker.speech.narrate import narrate, narration_from_wav, speed_factor
from worker.speech.registry import engine_for

__all__ = [
    "Pcm",
    "SpeechCache",
    "SpeechEngine",
    "SpeechError",
    "engine_for",
    "narrate",
    "narration_from_wav",
    "speed_factor",
]
