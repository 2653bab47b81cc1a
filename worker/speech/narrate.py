"""A speech text to a Narration: clauses synthesised (through the cache), joined with their pauses
into one 48 kHz WAV, each clause's subtitle cue timed to the sample."""

from __future__ import annotations

import hashlib
import json
import os
import wave
from fractions import Fraction

from reelmill import ssml, voices
from worker.errors import MaterialNotFoundError, MaterialUnreadableError
from worker.narration import Cue, Narration
from worker.speech import pcm
from worker.speech.cache import SpeechCache
from worker.speech.clauses import DEFAULT_MAX_WIDTH, Clause, Silence, pieces
from worker.speech.engine import SpeechEngine, SpeechError
from worker.speech.registry import engine_for

MIN_RATE, MAX_RATE = -500, 500
_MAX_GAIN = 8.0


def speed_factor(rate: int) -> Fraction:
    """SpeechRate (−500…500) as a speed: 1 + r/500 above 0 (up to 2x), 1 + r/1000 below (down to 0.5x)."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise SpeechError(f"SpeechRate must be in [{MIN_RATE}, {MAX_RATE}], got {rate}")
    return 1 + Fraction(rate, 500 if rate > 0 else 1000)


def narrate(
    text: str,
    *,
    voice: str,
    rate: int,
    language: str,
    cache: SpeechCache,
    out_dir: str,
    engine: SpeechEngine | None = None,
    max_cue_width: int = DEFAULT_MAX_WIDTH,
) -> Narration:
    """`text` (plain or reelmill's SSML subset) spoken by `voice` ("" for the default voice of
    `language`) at SpeechRate `rate`, as a mono 48 kHz WAV in out_dir with one cue per clause.
    `engine` replaces the voice's own engine (tests count its calls). Raises SpeechError."""
    try:
        runs = ssml.parse(text)
        speaker = voices.resolve_voice(voice, language)
    except (ssml.SsmlError, KeyError) as e:
        raise SpeechError(f"speech text {text[:40]!r}: {e}") from e
    speed = speed_factor(rate)
    engine = engine or engine_for(speaker.engine)
    items = pieces(runs, max_cue_width)

    parts: list[bytes] = []
    cues: list[Cue] = []
    offset = 0  # samples so far
    for i, item in enumerate(items):
        if isinstance(item, Silence):
            n = round(item.duration_s * pcm.RATE)
            parts.append(pcm.silence(n))
            offset += n
            continue
        assert isinstance(item, Clause)
        audio = _clause(item.spoken, engine, speaker.engine_voice, rate, speed, cache) if item.spoken else b""
        pause = 0 if i == len(items) - 1 else round(item.pause_s / speed * pcm.RATE)
        start, offset = offset, offset + len(audio) // 2 + pause
        parts += [audio, pcm.silence(pause)]
        if item.shown and offset > start:
            cues.append(Cue(Fraction(start, pcm.RATE), Fraction(offset, pcm.RATE), item.shown))
    if not any(isinstance(item, Clause) and item.spoken for item in items):
        raise SpeechError(f"speech text {text[:40]!r} has nothing to speak")

    samples = pcm.normalised(b"".join(parts), _MAX_GAIN)
    os.makedirs(out_dir, exist_ok=True)
    name = json.dumps([engine.name, speaker.name, rate, max_cue_width, text], ensure_ascii=False)
    path = os.path.join(out_dir, f"narration-{hashlib.sha256(name.encode()).hexdigest()[:16]}.wav")
    pcm.write_wav(path, samples)
    return Narration(
        audio_path=path, duration_s=Fraction(offset, pcm.RATE), cues=tuple(cues), text=ssml.shown(runs),
        voice=speaker.name,
    )  # fmt: skip


def _clause(
    text: str, engine: SpeechEngine, voice: str, rate: int, speed: Fraction, cache: SpeechCache
) -> bytes:
    def make() -> bytes:
        spoken = engine.synthesize(text, voice=voice, speed=speed)
        return pcm.resample(spoken.samples, spoken.sample_rate)

    return cache.get_or_make(SpeechCache.key(engine.name, voice, rate, text), make)


def narration_from_wav(path: str) -> Narration:
    """A WAV file given as the speech (PCM, mono or stereo, any rate): its exact length, no cues."""
    try:
        with wave.open(path, "rb") as w:
            frame_bytes = w.getnchannels() * w.getsampwidth()
            rate = w.getframerate()
            if w.getnchannels() not in (1, 2):
                raise wave.Error(f"{w.getnchannels()} channels (mono or stereo only)")
            frames = 0
            while chunk := w.readframes(1 << 16):
                frames += len(chunk) // frame_bytes
    except FileNotFoundError as e:
        raise MaterialNotFoundError(f"speech file {path} not found") from e
    except (OSError, wave.Error, EOFError) as e:
        raise MaterialUnreadableError(f"speech file {path} is not a PCM WAV file: {e}") from e
    if frames == 0 or rate <= 0:
        raise MaterialUnreadableError(f"speech file {path} holds no audio")
    return Narration(audio_path=path, duration_s=Fraction(frames, rate), cues=(), text="", voice="")
