"""Narration as the planner and the renderer see it: a speech track and the subtitle cues timed to it.

Made by the speech module from a text (or read from a WAV file given as the speech), consumed by
the planner (its duration drives the video length) and the renderer (mixed under the music, cues
drawn as subtitles).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from start_s to end_s of the narration (exact seconds)."""

    start_s: Fraction
    end_s: Fraction
    text: str  # as displayed: SSML removed


@dataclass(frozen=True)
class Narration:
    audio_path: str  # a WAV file (mono or stereo, any rate) of exactly duration_s
    duration_s: Fraction
    cues: tuple[Cue, ...]
    text: str  # the displayed text the narration speaks
    voice: str = ""  # the voice that spoke it ("" for a given WAV file)
