"""What one variant uses, chosen before anything is fetched: pure functions of the command and its seed.

Per variant one title, one text per sub-heading level, one speech text (or one paragraph per speaking
group), one voice, sticker, music and background image, and one media per group (spec §4). Lists
rotate from a seeded random start, so n items over Count variants are each used Count/n times
(rounded) and consecutive variants differ; media per group follow `combination`, so variants are
pairwise distinct combinations while the pool allows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from reelmill import jobspec
from reelmill.jobspec import JobSpec
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2

T = TypeVar("T")


@dataclass(frozen=True)
class Selection:
    """The choices of one variant that do not depend on media facts."""

    title: str
    subheadings: tuple[tuple[int, str], ...]  # (level, text), levels ascending
    speech_text: str  # global narration ("" when none)
    paragraphs: tuple[str, ...]  # grouped narration: one per group, "" for a group without speech
    voice: str  # "" means the speech engine's default voice
    sticker: cfg.Sticker | None
    music_url: str
    background_image_url: str

    @property
    def has_narration(self) -> bool:
        return bool(self.speech_text) or any(self.paragraphs)

    def texts_to_speak(self) -> list[str]:
        """Every text this variant narrates, each once, in timeline order."""
        texts = [self.speech_text] if self.speech_text else [p for p in self.paragraphs if p]
        return list(dict.fromkeys(texts))


def select(cmd: render_pb2.RenderCommand, spec: JobSpec | None = None) -> Selection:
    """`spec`: the command's (jobspec.of_command), when the caller has it already."""
    ic = cmd.input_config
    spec = spec or jobspec.of_command(cmd)
    seed, index = cmd.seed, cmd.index
    subheadings = tuple(
        (sh.level, rotate(list(sh.title_array), seed, index, f"subheading{sh.level}") or "")
        for sh in sorted(ic.sub_heading_array, key=lambda s: s.level)
        if sh.title_array
    )
    return Selection(
        title=rotate(titles(ic), seed, index, "title") or "",
        subheadings=subheadings,
        speech_text=rotate(speech_texts(ic), seed, index, "speech") or "",
        paragraphs=_paragraphs(ic, seed, index),
        voice=rotate(spec.speech.voices, seed, index, "voice") or "",
        sticker=rotate(stickers(ic), seed, index, "sticker"),
        music_url=rotate(musics(ic), seed, index, "music") or "",
        background_image_url=rotate(list(ic.background_image_array), seed, index, "background") or "",
    )


# ICE's singular forms (Title, SpeechText, Sticker, BackgroundMusic): one item, when the array is empty.
def titles(ic: cfg.InputConfig) -> list[str]:
    return list(ic.title_array) or ([ic.title] if ic.title else [])


def speech_texts(ic: cfg.InputConfig) -> list[str]:
    return list(ic.speech_text_array) or ([ic.speech_text] if ic.speech_text else [])


def stickers(ic: cfg.InputConfig) -> list[cfg.Sticker]:
    return list(ic.sticker_array) or ([ic.sticker] if ic.HasField("sticker") else [])


def musics(ic: cfg.InputConfig) -> list[str]:
    return list(ic.background_music_array) or ([ic.background_music] if ic.background_music else [])


def rotate(items: Sequence[T], seed: int, index: int, salt: str) -> T | None:
    """Item (start + index) mod n, the start drawn from the seed: an even spread, no repeats before
    every item has been used once."""
    if not items:
        return None
    start = random.Random(f"{seed}:{salt}").randrange(len(items))
    return items[(start + index) % len(items)]


def _paragraphs(ic: cfg.InputConfig, seed: int, index: int) -> tuple[str, ...]:
    groups = list(ic.media_group_array)
    counts = {len(g.speech_text_array) for g in groups if g.speech_text_array}
    if not counts:
        return ()
    if len(counts) == 1:  # the same number everywhere: variant k speaks paragraph k mod n of each group
        n = counts.pop()
        return tuple(g.speech_text_array[index % n] if g.speech_text_array else "" for g in groups)
    return tuple(
        rotate(list(g.speech_text_array), seed, index, f"paragraph{i}") or "" for i, g in enumerate(groups)
    )


# -- media combinations ----------------------------------------------------------------------------


def combination(options: Sequence[int], seed: int, index: int) -> tuple[tuple[int, ...], int]:
    """Variant `index`'s pick from each of len(options) lists of options[i] items, and its round.

    Variant k takes combination (offset + k·stride) mod total, read as a mixed-radix number whose
    digits index seeded shuffles of each list; a stride coprime with total visits every combination
    once before any repeats. The round (k // total) says how many times the combination was used
    before: variants of a later round must differ in something else (the planner picks other pieces).
    """
    rng = random.Random(f"{seed}:combinations")
    orders = [rng.sample(range(n), n) for n in options]
    total = math.prod(options)
    offset = rng.randrange(total)
    stride = rng.randrange(1, total) if total > 1 else 1
    while math.gcd(stride, total) != 1:
        stride += 1
    number = (offset + index * stride) % total
    picks = []
    for order in orders:
        number, digit = divmod(number, len(order))
        picks.append(order[digit])
    return tuple(picks), index // total


def chosen_group_media(cmd: render_pb2.RenderCommand) -> tuple[list[str], int]:
    """Script mode: the media of each group that variant `cmd.index` starts the group with, and its round."""
    groups = [list(g.media_array) for g in cmd.input_config.media_group_array]
    picks, round_ = combination([len(g) for g in groups], cmd.seed, cmd.index)
    return [g[p] for g, p in zip(groups, picks, strict=True)], round_


def media_urls(cmd: render_pb2.RenderCommand) -> list[str]:
    """Every media a variant of this job may draw shots from (the job module probes them all)."""
    ic = cmd.input_config
    if ic.media_group_array:
        first, _ = chosen_group_media(cmd)
        rest = [u for g in ic.media_group_array for u in g.media_array]
        return list(dict.fromkeys(first + rest))
    return list(dict.fromkeys(ic.media_array))
