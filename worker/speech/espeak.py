"""libespeak-ng through ctypes: the library and its voice data as shipped in the espeakng-loader wheel.

The one home of ctypes and espeakng_loader. libespeak-ng keeps global state (one current voice, one
set of parameters, one callback), so every use goes through a process-wide lock: one synthesis at a
time per process. It is fast (hundreds of seconds of audio per CPU second), so the lock costs little;
worker processes each load their own copy.
"""

from __future__ import annotations

import bisect
import ctypes
import threading
from fractions import Fraction

import espeakng_loader

from worker.speech.engine import Pcm, SpeechError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME = 1, 2
_EE_OK = 0
_BUFFER_MS = 500
_VOLUME_PERCENT = 60  # espeak's default 100 clips some Mandarin voices; the narration is normalised later

# Words per minute that make speech `speed` times as fast as at espeak's default 175 wpm, per spoken
# language. espeak's rate is not proportional to speed (and differs by language: 350 wpm is 2.14x as
# fast in Mandarin, 1.85x in English), so the spec's speed factor is mapped through these tables,
# measured with this library on ten short clauses per language in each of its catalogue voices
# (total duration at 175 wpm / total duration at the rate).
_SPEED_TO_WPM = {
    "cmn": (
        (0.455, 80), (0.486, 90), (0.544, 100), (0.657, 120), (0.781, 140), (0.905, 160), (1.0, 175),
        (1.031, 180), (1.154, 200), (1.289, 220), (1.409, 240), (1.561, 260), (1.729, 280), (1.858, 300),
        (1.967, 320), (2.065, 340), (2.183, 360), (2.294, 380), (2.426, 400),
    ),
    "yue": (
        (0.467, 80), (0.497, 90), (0.554, 100), (0.668, 120), (0.791, 140), (0.911, 160), (1.0, 175),
        (1.028, 180), (1.142, 200), (1.265, 220), (1.389, 240), (1.511, 260), (1.63, 280), (1.761, 300),
        (1.858, 320), (1.96, 340), (2.04, 360), (2.119, 380), (2.246, 400),
    ),
    "en": (
        (0.49, 80), (0.522, 90), (0.579, 100), (0.691, 120), (0.812, 140), (0.914, 160), (1.0, 175),
        (1.028, 180), (1.125, 200), (1.243, 220), (1.333, 240), (1.427, 260), (1.542, 280), (1.633, 300),
        (1.716, 320), (1.812, 340), (1.915, 360), (2.008, 380), (2.099, 400), (2.186, 420),
    ),
}  # fmt: skip


def words_per_minute(speed: Fraction, voice: str) -> int:
    """The espeak rate for `speed` in `voice` (its language's table; Mandarin's for others)."""
    table = _SPEED_TO_WPM.get(voice.split("+")[0].split("-")[0].lower(), _SPEED_TO_WPM["cmn"])
    s = float(speed)
    speeds = [x for x, _ in table]
    if s <= speeds[0]:
        return table[0][1]
    if s >= speeds[-1]:
        return table[-1][1]
    k = bisect.bisect_left(speeds, s)
    (s0, w0), (s1, w1) = table[k - 1], table[k]
    return round(w0 + (w1 - w0) * (s - s0) / (s1 - s0))


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Library:
    """The loaded, initialised libespeak-ng of this process. Use only while holding _LOCK."""

    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as e:
            raise SpeechError(f"cannot load libespeak-ng: {e}") from e
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise SpeechError(f"libespeak-ng did not initialise with its data at {data_path}")
        self.lib = lib
        self.sample_rate = rate
        self.version = (lib.espeak_Info(None) or b"unknown").decode()
        self.data_path = data_path
        self.chunks: list[bytes] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: the library calls it
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        if count > 0:
            self.chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # go on

    def synthesize(self, text: str, voice: str, wpm: int) -> bytes:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise SpeechError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(_RATE, wpm, 0)
        self.lib.espeak_SetParameter(_VOLUME, _VOLUME_PERCENT, 0)
        data = text.encode() + b"\0"
        self.chunks = []
        status = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != _EE_OK:
            raise SpeechError(f"espeak-ng failed to speak {text!r} (error {status})")
        samples, self.chunks = b"".join(self.chunks), []
        return samples


_LOCK = threading.Lock()
_library: _Library | None = None


def _loaded() -> _Library:
    global _library
    if _library is None:
        _library = _Library()
    return _library


class EspeakEngine:
    """SpeechEngine over the process's libespeak-ng. Voices are espeak ids with an optional variant
    (`cmn+f2`, `en-us`)."""

    def __init__(self) -> None:
        with _LOCK:
            lib = _loaded()
            self.name = f"espeak-ng-{lib.version}"
            self.data_path = lib.data_path

    def synthesize(self, text: str, *, voice: str, speed: Fraction) -> Pcm:
        with _LOCK:
            lib = _loaded()
            return Pcm(lib.synthesize(text, voice, words_per_minute(speed, voice)), lib.sample_rate)
