"""16-bit mono PCM: resampling (libswresample through PyAV), loudness, WAV files.

Samples are `bytes` of signed 16-bit little-endian values, as the engines give them.
"""

from __future__ import annotations

import array
import contextlib
import os
import sys
import tempfile
import wave
from fractions import Fraction

import av

RATE = 48_000  # the narration's sample rate: the renderer's audio rate
PEAK = 29_204  # -1 dBFS: where a narration's loudest sample is put


def resample(samples: bytes, rate: int, to_rate: int = RATE) -> bytes:
    """The same sound at `to_rate`, about len * to_rate / rate samples (filter delay flushed)."""
    if rate == to_rate or not samples:
        return samples
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(samples) // 2)
    frame.planes[0].update(samples)
    frame.sample_rate = rate
    frame.pts, frame.time_base = 0, Fraction(1, rate)
    out = [*resampler.resample(frame), *resampler.resample(None)]
    return b"".join(bytes(f.planes[0])[: f.samples * 2] for f in out)


def _values(samples: bytes) -> array.array[int]:
    values = array.array("h")
    values.frombytes(samples)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _bytes(values: array.array[int]) -> bytes:
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def normalised(samples: bytes, max_gain: float) -> bytes:
    """Scaled so the loudest sample is at PEAK (-1 dBFS), amplified at most max_gain times."""
    values = _values(samples)
    loudest = max(max(values, default=0), -min(values, default=0))
    if loudest == 0:
        return samples
    gain = min(max_gain, PEAK / loudest)
    # one lookup per sample (no clipping needed: loudest * gain <= PEAK); a negative v indexes
    # from the end, where its entry is
    table = [round(v * gain) for v in range(loudest + 1)] + [round(v * gain) for v in range(-loudest, 0)]
    return _bytes(array.array("h", map(table.__getitem__, values)))


def silence(sample_count: int) -> bytes:
    return bytes(2 * sample_count)


def write_wav(path: str, samples: bytes, rate: int = RATE) -> None:
    """A mono 16-bit WAV file, written under a temporary name and moved into place (atomic)."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".wav.part")
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(samples)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_wav(path: str) -> tuple[bytes, int]:
    """The samples and rate of a mono 16-bit WAV file. Raises OSError, wave.Error or EOFError."""
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise wave.Error("not mono 16-bit")
        samples = w.readframes(w.getnframes())
        if len(samples) != 2 * w.getnframes():
            raise EOFError("truncated")
        return samples, w.getframerate()
