"""What one variant uses, chosen before anything is fetched: pure functions of the command and its seed.

Per variant one title, one text per sub-heading level, one speech text (or one paragraph per speaking
group), one voice, sticker, music, background image, filter and transition, and one media per group
(spec §4). They are chosen jointly for the batch by reelmill/design.py: pairwise distinct combinations
while there are enough, each option used as evenly as possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from reelmill import jobspec
from reelmill.design import choices, musics, speech_texts, stickers, titles
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
    filter: str = ""  # the colour filter of the whole picture ("" when AllowFilter is off)
    transition: int = 0  # the first of the job's transitions this variant uses (see planner)
    group_media: tuple[int, ...] = ()  # Script: per group, the media the variant starts the group with
    round: int = 0  # how many earlier variants took the same combination of choices
    group_spread: tuple[int, ...] = ()  # per group, design.Pick.spread: where its pieces start

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
    chosen, spread, round_ = choices(ic, spec, cmd.seed, cmd.index)
    subheadings = tuple(
        (sh.level, _at(list(sh.title_array), chosen, f"subheading{sh.level}") or "")
        for sh in sorted(ic.sub_heading_array, key=lambda s: s.level)
        if sh.title_array
    )
    look = spec.look
    return Selection(
        title=_at(titles(ic), chosen, "title") or "",
        subheadings=subheadings,
        speech_text=_at(speech_texts(ic), chosen, "speech") or "",
        paragraphs=_paragraphs(ic, chosen),
        voice=_at(spec.speech.voices, chosen, "voice") or "",
        sticker=_at(stickers(ic), chosen, "sticker"),
        music_url=_at(musics(ic), chosen, "music") or "",
        background_image_url=_at(list(ic.background_image_array), chosen, "background") or "",
        filter=(_at(look.filters, chosen, "filter") or "") if look.filter else "",
        transition=chosen.get("transition", 0),
        group_media=tuple(chosen.get(f"group{i}", 0) for i in range(len(ic.media_group_array))),
        round=round_,
        group_spread=tuple(spread.get(f"group{i}", 0) for i in range(len(ic.media_group_array))),
    )


def _at(items: Sequence[T], chosen: dict[str, int], dimension: str) -> T | None:
    """The item the design chose in `dimension` (the only one, when the dimension has one)."""
    if not items:
        return None
    return items[chosen.get(dimension, 0) % len(items)]


def _paragraphs(ic: cfg.InputConfig, chosen: dict[str, int]) -> tuple[str, ...]:
    groups = list(ic.media_group_array)
    if not any(g.speech_text_array for g in groups):
        return ()
    if "script" in chosen:  # the same number everywhere: version k of the script is paragraph k of each
        k = chosen["script"]
        return tuple(g.speech_text_array[k] if g.speech_text_array else "" for g in groups)
    return tuple(_at(list(g.speech_text_array), chosen, f"paragraph{i}") or "" for i, g in enumerate(groups))


# -- media combinations ----------------------------------------------------------------------------


def chosen_group_media(cmd: render_pb2.RenderCommand) -> tuple[list[str], int]:
    """Script mode: the media of each group that variant `cmd.index` starts the group with, and its round."""
    sel = select(cmd)
    groups = [list(g.media_array) for g in cmd.input_config.media_group_array]
    return [g[p] for g, p in zip(groups, sel.group_media, strict=True)], sel.round


def media_urls(cmd: render_pb2.RenderCommand) -> list[str]:
    """Every media a variant of this job may draw shots from (the job module probes them all)."""
    ic = cmd.input_config
    if ic.media_group_array:
        first, _ = chosen_group_media(cmd)
        rest = [u for g in ic.media_group_array for u in g.media_array]
        return list(dict.fromkeys(first + rest))
    return list(dict.fromkeys(ic.media_array))
