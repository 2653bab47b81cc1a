"""The render plan of one variant: pure, deterministic code (no I/O).

Media facts (durations, sizes) and narration facts (durations, cues) come in; a timeline comes out:
shots with their source, in-point, speed and transition, the texts, stickers, speech and music laid
over it. Times are exact Fractions of a second on the output frame grid, so that cut points never
fall between frames. The same command, facts and seed always give the same plan.

The timeline is a row of cells: shot i owns the time from the middle of the transition into it to
the middle of the transition out of it. Cells add up to the target length (the narration, the group
durations, or FixedDuration); a shot lasts its cell plus half of each transition, because shots
overlap for the length of a transition.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

from reelmill import jobspec
from reelmill.catalog import KEN_BURNS
from reelmill.jobspec import DEFAULT_SMART_MIX_DURATION_S, JobSpec
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from worker.errors import MaterialUnreadableError
from worker.narration import Narration
from worker.plan.grid import ceil_grid, grid_split, on_grid, round_grid
from worker.plan.layout import sticker_layer, text_look
from worker.plan.model import (
    Background,
    Caption,
    MediaFacts,
    MusicLayer,
    Shot,
    SpeechLayer,
    StickerLayer,
    VariantPlan,
)
from worker.plan.pieces import Piece, pieces_of, ranges_of
from worker.plan.textlayout import ApproxMetrics, TextMetrics, lay_out
from worker.plan.variety import distinct_variants, pool_start
from worker.selection import Selection, select

MIN_SPEED, MAX_SPEED = Fraction(1, 2), Fraction(2)
MAX_SPEECH_SPEEDUP = Fraction(5, 4)
MAX_SHOTS = 400  # a guard against a runaway fill (a 600 s video of one-frame pieces)


# -- the entry points ---------------------------------------------------------------------------------


def plan_variant(
    cmd: render_pb2.RenderCommand,
    facts: Mapping[str, MediaFacts],
    narrations: Mapping[str, Narration] | None = None,
    metrics: TextMetrics | None = None,
) -> VariantPlan:
    """The plan of variant `cmd.index`: a pure function of the command, the media facts (of every
    media of the job, stickers and background images included), the narrations of the variant's
    speech texts (keyed by text) and the fonts' metrics (approximate ones when not given)."""
    spec = jobspec.of_command(cmd)
    sel = select(cmd, spec)
    narrations = narrations or {}
    missing = [t for t in sel.texts_to_speak() if t not in narrations]
    if missing:
        raise ValueError(f"no narration for {missing[0][:40]!r}")  # a bug of the caller
    return _Planner(cmd, spec, sel, facts, narrations, metrics or ApproxMetrics()).plan()


# -- the planner --------------------------------------------------------------------------------------


@dataclass
class _Draft:
    """A shot before timing: its piece, in-point and how much source it may use."""

    piece: Piece
    in_s: Fraction
    source_s: Fraction  # natural length in source seconds (for stills: seconds shown at speed 1)
    group: int  # index of its group (-1 in Smart_Mix)
    hard: bool = False  # too short for transitions: cut in and out
    cell_s: Fraction = Fraction(0)
    speed: Fraction = Fraction(1)


@dataclass
class _Segment:
    """A stretch of timeline filled from one group (or from all groups in turn, or the pool)."""

    target_s: Fraction
    drafts: list[_Draft]
    more: Iterator[_Draft]  # where further shots come from
    narrated: bool  # fitted by AlignmentMode (else: cut to length at speed 1)


class _Planner:
    def __init__(
        self,
        cmd: render_pb2.RenderCommand,
        spec: JobSpec,
        sel: Selection,
        facts: Mapping[str, MediaFacts],
        narrations: Mapping[str, Narration],
        metrics: TextMetrics,
    ) -> None:
        self.cmd, self.spec, self.sel, self.facts, self.narrations = cmd, spec, sel, facts, narrations
        self.metrics = metrics
        self.ic, self.ec = cmd.input_config, cmd.editing_config  # the content: media, texts and styles
        self.timing = spec.timing
        self.requested = (spec.requested_width, spec.requested_height)
        self.output = spec.output
        self.fps = self.output.fps
        self.frame = 1 / self.fps
        self.shot_s, self.image_s = spec.timing.single_shot_s, spec.timing.image_s
        self.ranges = ranges_of(self.ec.media_config)
        self.rng = random.Random(f"{cmd.seed}:{cmd.index}:plan")
        self.look_rng = random.Random(f"{cmd.seed}:{cmd.index}:look")
        self.transition_s = spec.timing.transition_s
        self.job_type = spec.job_type

    # -- the whole plan

    def plan(self) -> VariantPlan:
        speed, segments, speech_at = self._segments()
        shots = self._time(segments)
        plan = VariantPlan(index=self.cmd.index, shots=tuple(shots), output=self.output)
        segment_starts = [sum((s.target_s for s in segments[:i]), Fraction(0)) for i in range(len(segments))]
        speech: list[SpeechLayer] = []
        subtitles: list[Caption] = []
        volume = self.spec.sound.speech_volume
        for segment, text in speech_at:
            n = self.narrations[text]
            layer = SpeechLayer(text=n.text or text, voice=n.voice or self.sel.voice, audio_path=n.audio_path,
                                start_s=segment_starts[segment],
                                duration_s=ceil_grid(n.duration_s / speed, self.fps), speed=speed,
                                volume=volume)  # fmt: skip
            speech.append(layer)
            subtitles += self._subtitles(layer, n, plan.duration_s)
        captions, stickers = self._laid_out(self._titles(plan.duration_s) + subtitles, self._stickers())
        return replace(
            plan,
            captions=captions,
            stickers=stickers,
            speech=tuple(speech),
            music=self._music(),
            background=self._background(),
            color_filter=self.sel.filter,
            job_type=self.job_type,
            distinct_variants=distinct_variants(self.cmd, self.facts),
        )

    # -- segments: what fills which stretch of time

    def _segments(self) -> tuple[Fraction, list[_Segment], list[tuple[int, str]]]:
        """The segments, the speech speed-up, and which segment each narration starts with."""
        sel = self.sel
        limit = self.timing.max_duration_s
        if self.job_type == "Smart_Mix":
            pool = self._pool()
            if sel.speech_text:
                length, speed = self._fit_speech([self._narration(sel.speech_text).duration_s], [], limit)
                return speed, [_Segment(length[0], [], pool, True)], [(0, sel.speech_text)]
            fixed = self.timing.fixed_duration_s
            target = on_grid(min(x for x in (fixed, limit, DEFAULT_SMART_MIX_DURATION_S) if x), self.fps)
            return Fraction(1), [_Segment(target, [], pool, False)], []

        orders = self._group_orders()
        if sel.speech_text:  # global narration: one shot per group, then more cycling through the groups
            firsts = [next(o) for o in orders]
            length, speed = self._fit_speech([self._narration(sel.speech_text).duration_s], [], limit)
            return speed, [_Segment(length[0], firsts, _cycle(orders), True)], [(0, sel.speech_text)]
        if sel.paragraphs:  # grouped narration: each speaking group lasts as long as its paragraph
            spoken = [self._narration(p).duration_s for p in sel.paragraphs if p]
            durations = self.timing.group_durations_s
            silent = [d for d, p in zip(durations, sel.paragraphs, strict=True) if not p]
            spoken_len, speed = self._fit_speech(spoken, silent, limit)
            spoken_iter, silent_iter = iter(spoken_len), iter(silent)
            segments, speech_at = [], []
            for i, (order, p) in enumerate(zip(orders, sel.paragraphs, strict=True)):
                if p:
                    speech_at.append((i, p))
                    segments.append(_Segment(next(spoken_iter), [next(order)], order, True))
                else:
                    segments.append(_Segment(on_grid(next(silent_iter), self.fps), [], order, False))
            return speed, segments, speech_at
        # No narration: group durations, scaled to FixedDuration, capped by MaxDuration.
        wanted = list(self.timing.group_durations_s)
        total = sum(wanted, Fraction(0))
        goal = self.timing.fixed_duration_s or total
        if limit:
            goal = min(goal, limit)
        goal = on_grid(goal, self.fps)
        targets = grid_split([w * goal / total for w in wanted], self.fps)
        return Fraction(1), [_Segment(t, [], o, False) for t, o in zip(targets, orders, strict=True)], []

    def _narration(self, text: str) -> Narration:
        return self.narrations[text]

    def _fit_speech(
        self, spoken: list[Fraction], silent: list[Fraction], limit: Fraction | None
    ) -> tuple[list[Fraction], Fraction]:
        """Narration lengths on the timeline and the speed-up that makes them fit MaxDuration: at most
        MAX_SPEECH_SPEEDUP. A narration that would need more sets the length at its own speed, past
        MaxDuration, as ICE's FAQ says a narration does (speech far faster than spoken is not kept)."""
        speed = Fraction(1)
        total = sum(spoken, Fraction(0)) + sum(silent, Fraction(0))
        if limit and total > limit:
            room = limit - sum(silent, Fraction(0))
            speed = sum(spoken, Fraction(0)) / room if room > 0 else MAX_SPEECH_SPEEDUP + 1
            if speed > MAX_SPEECH_SPEEDUP:
                return [ceil_grid(s, self.fps) for s in spoken], Fraction(1)
            speed = Fraction(round(speed * 10000), 10000)
            while sum(spoken, Fraction(0)) / speed + sum(silent, Fraction(0)) > limit:
                speed += Fraction(1, 10000)
        lengths = [ceil_grid(s / speed, self.fps) for s in spoken]
        if limit:  # rounding up to whole frames must not cross the limit either
            lengths = [min(x, on_grid(limit, self.fps)) for x in lengths]
        return lengths, speed

    # -- where shots come from

    def _group_orders(self) -> list[Iterator[_Draft]]:
        """Per group, the shots in the order this variant takes them: first a piece of the media the
        variant's combination chose (which piece depends on the round), then the group's other pieces
        in a seeded order, over and over."""
        round_ = self.sel.round
        orders = []
        for gi, (g, pick) in enumerate(zip(self.ic.media_group_array, self.sel.group_media, strict=True)):
            first_url = g.media_array[pick]
            split = self.timing.group_splits[gi]
            own = pieces_of(first_url, self.facts, self.ranges, split, self.shot_s, self.fps, g.group_name)
            shuffled = random.Random(f"{self.cmd.seed}:pieces:{gi}").sample(own, len(own))
            # Variants sharing the whole combination take other pieces (a digit of their round);
            # variants sharing only this media start at other pieces too (the spread).
            round_, digit = divmod(round_, len(own))
            first = shuffled[(digit + self.sel.group_spread[gi]) % len(own)]
            others = [
                p
                for url in dict.fromkeys(g.media_array)
                for p in pieces_of(url, self.facts, self.ranges, split, self.shot_s, self.fps, g.group_name)
                if p != first
            ]
            orders.append(self._drafts([first], others, gi))
        return orders

    def _pool(self) -> Iterator[_Draft]:
        """Smart_Mix: pieces of the whole pool, no repeats while the pool allows; the first few form a
        sequence that no other variant of the batch starts with (while the pool allows)."""
        urls = list(dict.fromkeys(self.ic.media_array))
        split = self.timing.pool_split
        pool = [p for u in urls for p in pieces_of(u, self.facts, self.ranges, split, self.shot_s, self.fps)]
        first, remaining = pool_start(pool, self.cmd.seed, self.cmd.index, self.cmd.count)
        return self._drafts(first, remaining, -1)

    def _drafts(self, first: list[Piece], others: list[Piece], group: int) -> Iterator[_Draft]:
        rng = random.Random(f"{self.cmd.seed}:{self.cmd.index}:order:{group}")
        rest = rng.sample(others, len(others))
        for p in first + rest:
            yield self._draft(p, group)
        everything = first + rest
        while True:  # the pool is used up: start again, in a new order
            for p in rng.sample(everything, len(everything)):
                yield self._draft(p, group)

    def _draft(self, piece: Piece, group: int) -> _Draft:
        if piece.length_s is None:
            return _Draft(piece, Fraction(0), self.image_s, group)
        hard = piece.length_s < 3 * self.transition_s
        natural = min(piece.length_s, self.shot_s)
        start = piece.start_s
        if piece.random_start:  # NoSplit: a shot from a random point of the media
            slack = math.floor((piece.length_s - natural) * self.fps)
            start += Fraction(self.rng.randint(0, max(slack, 0))) / self.fps
        return _Draft(piece, start, natural, group, hard)

    # -- timing

    def _time(self, segments: list[_Segment]) -> list[Shot]:
        half = self.transition_s / 2
        prev: _Draft | None = None
        for si, seg in enumerate(segments):
            more_after = si < len(segments) - 1
            if seg.narrated and self.timing.auto_speed:
                self._fit(seg, half, prev, more_after)
            else:
                self._fill(seg, half, prev, more_after, seg.narrated)
            prev = seg.drafts[-1] if seg.drafts else prev
        drafts = [d for seg in segments for d in seg.drafts]
        if not drafts:
            raise MaterialUnreadableError("no usable shot in the chosen media")
        # Cells on the frame grid, from the running total so rounding never accumulates.
        total = sum((s.target_s for s in segments), Fraction(0))
        cells = grid_split([d.cell_s for d in drafts], self.fps, exact_total=total)
        transitions = self._transitions(drafts, cells)
        shots = []
        for i, (d, cell) in enumerate(zip(drafts, cells, strict=True)):
            t_in = transitions[i - 1][1] if i else Fraction(0)
            t_out = transitions[i][1] if i < len(drafts) - 1 else Fraction(0)
            still = d.piece.length_s is None
            shots.append(
                Shot(
                    source_url=d.piece.url,
                    in_s=Fraction(0) if still else on_grid(d.in_s, self.fps),
                    duration_s=cell + t_in / 2 + t_out / 2,
                    is_image=still,
                    volume=self._shot_volume(d),
                    speed=Fraction(1) if still else d.speed,
                    transition=transitions[i - 1][0] if i else "",
                    transition_s=t_in,
                    effect=self._effect(i, still),
                    group=self.ic.media_group_array[d.group].group_name if d.group >= 0 else "",
                )
            )
        return shots

    def _fit(self, seg: _Segment, half: Fraction, prev: _Draft | None, more_after: bool) -> None:
        """AutoSpeed: one speed for the segment's shots so that their cells add up to the target, within
        MIN_SPEED…MAX_SPEED. Shots are added while the footage is shorter than the target, and then as
        many are kept as bring the speed closest to 1: footage is never slowed down for want of shots
        (it looks like slow motion), only by a little where one more shot would speed it up more."""

        def speed_of(drafts: list[_Draft]) -> Fraction:
            natural = sum((d.source_s for d in drafts), Fraction(0))
            under = sum((a + b for a, b in _overlaps(drafts, half, prev, more_after)), Fraction(0))
            return natural / (seg.target_s + under)

        if not seg.drafts:
            seg.drafts.append(next(seg.more))
        given = len(seg.drafts)  # the storyboard's own shots (one per group) stay
        while len(seg.drafts) < MAX_SHOTS:
            speed = speed_of(seg.drafts)
            if speed >= 1:
                break
            seg.drafts.append(next(seg.more))
        speed = speed_of(seg.drafts)
        if len(seg.drafts) > given:
            fewer = speed_of(seg.drafts[:-1])
            if fewer >= MIN_SPEED and abs(math.log(fewer)) < abs(math.log(speed)):
                seg.drafts.pop()
                speed = fewer
        shrink = Fraction(1)
        if speed > MAX_SPEED:  # far more picture than speech: the fastest speed, each shot shortened
            shrink, speed = MAX_SPEED / speed, MAX_SPEED
        speed = max(speed, MIN_SPEED)
        for d, (h_in, h_out) in zip(seg.drafts, _overlaps(seg.drafts, half, prev, more_after), strict=True):
            d.speed = Fraction(1) if d.piece.length_s is None else speed
            d.cell_s = d.source_s * shrink / speed - h_in - h_out
        _rebalance(seg)

    def _fill(
        self, seg: _Segment, half: Fraction, prev: _Draft | None, more_after: bool, narrated: bool
    ) -> None:
        """Shots at speed 1 until the target is covered; the last one is cut where the target ends."""
        if narrated and self._share(seg, half, prev, more_after):
            return
        pending, seg.drafts = list(seg.drafts), []
        got, tries = Fraction(0), 0
        while got < seg.target_s and tries < MAX_SHOTS:
            tries += 1
            d = pending.pop(0) if pending else next(seg.more)
            p = d.piece
            before = seg.drafts[-1] if seg.drafts else prev
            h_in = half if before is not None and not before.hard and not d.hard else Fraction(0)
            tail = half if more_after and not d.hard else Fraction(0)  # when it is the segment's last
            need = seg.target_s - got
            if p.length_s is None:
                if not narrated and self.job_type == "Script":
                    d.source_s = need + h_in + tail  # a still in a storyboard group fills what is left
            elif p.random_start and not narrated:
                d.source_s = min(p.length_s, need + h_in + tail)
            else:  # a split piece may run on into the next one by the transitions it lies under
                d.source_s = min(
                    p.end_s - d.in_s, self.shot_s + h_in + tail, max(d.source_s, need + h_in + tail)
                )
            if d.source_s - h_in - tail >= need:  # the last shot of the segment
                cell, used = need, need + h_in + tail
            else:
                cell, used = d.source_s - h_in - (half if not d.hard else 0), d.source_s
            if cell < self.frame:
                continue  # a piece too short to show between two transitions
            if p.random_start and p.length_s is not None:
                slack = math.floor((p.length_s - used) * self.fps)
                d.in_s = p.start_s + Fraction(self.rng.randint(0, max(slack, 0))) / self.fps
            d.cell_s, d.speed = cell, Fraction(1)
            got += cell
            seg.drafts.append(d)

    def _share(self, seg: _Segment, half: Fraction, prev: _Draft | None, more_after: bool) -> bool:
        """A narration shorter than the storyboard's first shots (one per group): every group still
        shows, each shot shortened to its share of the speech, at speed 1. False when not the case."""
        if len(seg.drafts) < 2 or seg.target_s < 2 * self.frame * len(seg.drafts):
            return False
        overlaps = _overlaps(seg.drafts, half, prev, more_after)
        own = [d.source_s - a - b for d, (a, b) in zip(seg.drafts, overlaps, strict=True)]
        if sum(own) < seg.target_s or min(own) <= 0:
            return False
        for d, o, (a, b) in zip(seg.drafts, own, overlaps, strict=True):
            d.cell_s = seg.target_s * o / sum(own)
            d.source_s, d.speed = d.cell_s + a + b, Fraction(1)
        return True

    def _transitions(self, drafts: list[_Draft], cells: list[Fraction]) -> list[tuple[str, Fraction]]:
        """(name, length) of each cut between two shots: none next to a short piece (as the timing
        assumed), nor where a cell came out shorter than the transition."""
        if not self.transition_s:
            return [("", Fraction(0))] * max(len(cells) - 1, 0)
        # The batch design chose this variant's transition (evenly over the batch); without
        # UseUniformTransition the cuts take the job's transitions in turn from there.
        names, uniform = list(self.spec.look.transitions), self.spec.look.uniform_transition
        out = []
        for i in range(1, len(cells)):
            name = names[(self.sel.transition + (0 if uniform else i - 1)) % len(names)]
            ok = not drafts[i - 1].hard and not drafts[i].hard
            ok = ok and min(cells[i - 1], cells[i]) >= self.transition_s
            out.append((name, self.transition_s) if ok else ("", Fraction(0)))
        return out

    def _shot_volume(self, d: _Draft) -> float:
        if d.piece.length_s is None or not self.facts[d.piece.url].has_audio:
            return 0.0
        group_volume = self.spec.sound.group_volumes[d.group] if d.group >= 0 else None
        return self.spec.sound.media_volume if group_volume is None else group_volume

    def _effect(self, index: int, still: bool) -> str:
        """A drawn effect (AllowVfxEffect, by VfxEffectProbability); a still that draws none gets a
        gentle pan and zoom instead of sitting motionless, its direction turning from still to still."""
        look = self.spec.look
        if not look.effects:
            return ""
        names = look.first_effects if index == 0 else look.other_effects
        roll = self.look_rng.random()
        drawn = self.look_rng.choice(names) if roll < look.effect_probability else ""
        if still and not drawn:
            return KEN_BURNS[(self.cmd.index + index) % len(KEN_BURNS)]
        return drawn

    # -- layers

    def _titles(self, duration: Fraction) -> list[Caption]:
        ec, sel = self.ec, self.sel
        out = []
        if sel.title:
            out.append(
                Caption(
                    "Title",
                    sel.title,
                    text_look(ec.title_config, "Title", self.output, self.requested[0]),
                    Fraction(0),
                    duration,
                )
            )
        for level, text in sel.subheadings:
            style = ec.sub_heading_config.get(level, cfg.TextStyle())
            kind = f"SubHeading{level}"
            out.append(
                Caption(
                    kind,
                    text,
                    text_look(style, kind, self.output, self.requested[0], level),
                    Fraction(0),
                    duration,
                )
            )
        return out

    def _subtitles(self, layer: SpeechLayer, narration: Narration, duration: Fraction) -> list[Caption]:
        """The narration's cues, on the timeline: shown exactly while their words are spoken."""
        if not self.spec.speech.subtitles:
            return []
        look = text_look(self.ec.speech_config.asr_config, "Subtitle", self.output, self.requested[0])
        out = []
        for cue in narration.cues:
            start = layer.start_s + round_grid(cue.start_s / layer.speed, self.fps)
            end = min(layer.start_s + round_grid(cue.end_s / layer.speed, self.fps), duration)
            if end > start and cue.text.strip():
                out.append(Caption("Subtitle", cue.text, look, start, end))
        return out

    def _laid_out(
        self, captions: list[Caption], stickers: tuple[StickerLayer, ...]
    ) -> tuple[tuple[Caption, ...], tuple[StickerLayer, ...]]:
        """Texts and stickers in boxes that never cover one another (worker/plan/textlayout.py);
        positions the job gave are kept."""
        ec = self.ec

        def style(kind: str) -> cfg.TextStyle:
            if kind == "Title":
                return ec.title_config
            if kind == "Subtitle":
                return ec.speech_config.asr_config
            return ec.sub_heading_config.get(int(kind[10:]), cfg.TextStyle())

        given = [(style(c.kind).HasField("x"), style(c.kind).HasField("y")) for c in captions]
        sticker = self.sel.sticker
        sticker_given = [sticker is not None and (sticker.HasField("x") or sticker.HasField("y"))] * len(
            stickers
        )
        canvas = (self.output.width, self.output.height)
        return lay_out(captions, stickers, canvas, self.metrics, given, sticker_given)

    def _stickers(self) -> tuple[StickerLayer, ...]:
        s = self.sel.sticker
        if s is None:
            return ()
        return (sticker_layer(s, self.facts.get(s.media_url), self.output, self.requested[0]),)

    def _music(self) -> MusicLayer | None:
        if not self.sel.music_url:
            return None
        return MusicLayer(self.sel.music_url, self.spec.sound.music_volume, self.spec.sound.ducking)

    def _background(self) -> Background:
        look = self.spec.look
        k = self.output.width / self.requested[0]
        image = self.sel.background_image_url if look.background == "Image" else ""
        return Background(mode=look.background, color=look.background_color,
                          radius=round(look.blur_radius * k, 2), image_url=image)  # fmt: skip


# -- small pure helpers -------------------------------------------------------------------------------


def _cycle(orders: list[Iterator[_Draft]]) -> Iterator[_Draft]:
    """More shots for global narration: the next shot of group 1, of group 2, …, of group 1, …"""
    while True:
        for order in orders:
            yield next(order)


def _overlaps(
    drafts: list[_Draft], half: Fraction, prev: _Draft | None, more_after: bool
) -> list[tuple[Fraction, Fraction]]:
    """How much of each shot lies under the transitions into and out of it (half of each): none at the
    ends of the video, nor next to a piece too short for a transition."""
    out = []
    for i, d in enumerate(drafts):
        before = drafts[i - 1] if i else prev
        after_hard = drafts[i + 1].hard if i < len(drafts) - 1 else (False if more_after else None)
        h_in = half if before is not None and not before.hard and not d.hard else Fraction(0)
        h_out = half if after_hard is False and not d.hard else Fraction(0)
        out.append((h_in, h_out))
    return out


def _rebalance(seg: _Segment) -> None:
    """Make the cells add up to the target exactly (the speed was rounded nowhere, but stay safe)."""
    total = sum((d.cell_s for d in seg.drafts), Fraction(0))
    if total and total != seg.target_s:
        for d in seg.drafts:
            d.cell_s = d.cell_s * seg.target_s / total
