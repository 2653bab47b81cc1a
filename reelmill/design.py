"""The batch design: which combination of choices each variant of a batch takes (pure, no I/O).

A variant chooses one option in each of several dimensions: a media per storyboard group, a title, a
text per sub-heading level, a speech text, a voice, a sticker, a music, a background, a filter, a
transition. The choices are made jointly for the whole batch, not list by list, so that
- no two variants take the same combination while there are combinations left (Count ≤ ∏ sizes);
- each option of a dimension is used as evenly as possible (its count over the batch differs from
  another option's by at most what distinctness forces);
- then each pair of options of two dimensions as evenly as possible, so that two lists never rotate
  in lock-step (title A always with text A) while other pairings are unused;
- the same seed gives the same batch.

Past ∏ sizes, a second round starts: every combination again, in the same spirit; `Pick.round` says
how many variants took the combination before, so the planner can make them differ by other means
(other pieces of the clips).

Variant k's choice depends on the choices of variants 0…k-1, so each caller computes the design of the
batch up to the variant it needs; Count ≤ 100 keeps that cheap (milliseconds).
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

from reelmill.jobspec import JobSpec
from reelmill.v1 import job_config_pb2 as cfg

FULL_SEARCH = 512  # combinations: up to this many, every unused one is weighed for each variant
SAMPLES = 192  # beyond: the greedy pick, its neighbours and this many seeded draws


@dataclass(frozen=True)
class Pick:
    options: tuple[int, ...]  # per dimension, the index of the option chosen
    round: int  # how many earlier variants of the batch took this very combination
    # Per dimension, how many variants before the first to take this combination chose the same
    # option: variants that share a clip but not the rest can start it at different pieces.
    spread: tuple[int, ...] = ()


# -- the dimensions of a job ----------------------------------------------------------------------


def dimensions(ic: cfg.InputConfig, spec: JobSpec) -> tuple[tuple[str, int], ...]:
    """(name, number of options) of each choice a variant of this job makes, in a fixed order.

    `group<i>`: the media storyboard group i starts with (Script); `title`; `subheading<level>`;
    `speech` (global narration); `script` (grouped narration whose groups have the same number of
    paragraphs: version k of the script is paragraph k of each group) or `paragraph<i>` (each group its
    own); `voice` (when something is spoken); `sticker`, `music`, `background` (when the background is
    an image); `filter` (AllowFilter); `transition` (AllowTransition).
    """
    out: list[tuple[str, int]] = []
    if spec.job_type == "Script":
        out += [(f"group{i}", len(g.media_array)) for i, g in enumerate(ic.media_group_array)]
    out.append(("title", len(titles(ic))))
    out += [
        (f"subheading{sh.level}", len(sh.title_array))
        for sh in sorted(ic.sub_heading_array, key=lambda s: s.level)
    ]
    out.append(("speech", len(speech_texts(ic))))
    counts = {len(g.speech_text_array) for g in ic.media_group_array if g.speech_text_array}
    if len(counts) == 1:
        out.append(("script", counts.pop()))
    elif counts:
        out += [(f"paragraph{i}", len(g.speech_text_array)) for i, g in enumerate(ic.media_group_array)]
    if speech_texts(ic) or counts:
        out.append(("voice", len(spec.speech.voices)))
    out += [("sticker", len(stickers(ic))), ("music", len(musics(ic)))]
    if spec.look.background == "Image":
        out.append(("background", len(ic.background_image_array)))
    if spec.look.filter:
        out.append(("filter", len(spec.look.filters)))
    if spec.timing.transition_s:
        out.append(("transition", len(spec.look.transitions)))
    return tuple(out)


def choices(
    ic: cfg.InputConfig, spec: JobSpec, seed: int, index: int
) -> tuple[dict[str, int], dict[str, int], int]:
    """Variant `index`'s option in each dimension, the Pick.spread of each dimension (both by name),
    and its round."""
    dims = dimensions(ic, spec)
    p = pick([n for _, n in dims], seed, index)
    names = [name for name, _ in dims]
    return dict(zip(names, p.options, strict=True)), dict(zip(names, p.spread, strict=True)), p.round


def job_combinations(ic: cfg.InputConfig, spec: JobSpec) -> int:
    """How many variants of this job can differ by their choices alone (before pieces of clips)."""
    return combinations([n for _, n in dimensions(ic, spec)])


# ICE's singular forms (Title, SpeechText, Sticker, BackgroundMusic): one item, when the array is empty.
def titles(ic: cfg.InputConfig) -> list[str]:
    return list(ic.title_array) or ([ic.title] if ic.title else [])


def speech_texts(ic: cfg.InputConfig) -> list[str]:
    return list(ic.speech_text_array) or ([ic.speech_text] if ic.speech_text else [])


def stickers(ic: cfg.InputConfig) -> list[cfg.Sticker]:
    return list(ic.sticker_array) or ([ic.sticker] if ic.HasField("sticker") else [])


def musics(ic: cfg.InputConfig) -> list[str]:
    return list(ic.background_music_array) or ([ic.background_music] if ic.background_music else [])


# -- the design ----------------------------------------------------------------------------------


def combinations(sizes: Sequence[int]) -> int:
    """How many different combinations the dimensions allow."""
    return math.prod(max(n, 1) for n in sizes)


def pick(sizes: Sequence[int], seed: int, index: int) -> Pick:
    """Variant `index`'s combination: one option per dimension (0 where a dimension has none)."""
    return batch(tuple(sizes), seed, index + 1)[index]


@lru_cache(maxsize=64)
def batch(sizes: tuple[int, ...], seed: int, count: int) -> tuple[Pick, ...]:
    """The combinations of variants 0…count-1."""
    live = [d for d, n in enumerate(sizes) if n > 1]  # a dimension of one option is no choice
    dims = [sizes[d] for d in live]
    total = math.prod(dims)
    single = [[0] * n for n in dims]
    pairs = {
        (a, b): [[0] * dims[b] for _ in range(dims[a])]
        for a in range(len(dims))
        for b in range(a + 1, len(dims))
    }
    used: dict[tuple[int, ...], int] = {}  # uses of each combination in this round
    rounds: dict[tuple[int, ...], int] = {}  # uses of each combination over the batch
    spreads: dict[tuple[int, ...], tuple[int, ...]] = {}  # Pick.spread of each combination
    every = [0] * len(sizes)  # uses of each dimension's option in the batch (a dead one has one)
    rng = random.Random(f"{seed}:design")
    out = []
    for _ in range(count):
        if len(used) == total:  # every combination taken: a new round
            used.clear()

        def cost(t: tuple[int, ...]) -> tuple[int, int, int]:
            s = sum(single[d][v] for d, v in enumerate(t))
            p = sum(pairs[(a, b)][t[a]][t[b]] for a, b in pairs)
            return s, p, zlib.crc32(repr((seed, t)).encode())

        candidates = _candidates(dims, single, total, used, rng)
        best = min(candidates, key=cost)
        used[best] = 1
        seen = list(every)
        for d, v in zip(live, best, strict=True):
            seen[d] = single[live.index(d)][v]
        spreads.setdefault(best, tuple(seen))
        for d, v in enumerate(best):
            single[d][v] += 1
        for a, b in pairs:
            pairs[(a, b)][best[a]][best[b]] += 1
        options = [0] * len(sizes)
        for d, v in zip(live, best, strict=True):
            options[d] = v
        out.append(Pick(tuple(options), rounds.get(best, 0), spreads[best]))
        rounds[best] = rounds.get(best, 0) + 1
        every = [n + 1 for n in every]
    return tuple(out)


def _candidates(
    dims: list[int],
    single: list[list[int]],
    total: int,
    used: dict[tuple[int, ...], int],
    rng: random.Random,
) -> list[tuple[int, ...]]:
    """Unused combinations worth weighing: all of them in a small space; in a large one the least
    used option of each dimension, every combination one option away from it, and seeded draws."""
    if total <= FULL_SEARCH:
        return [t for t in product(*(range(n) for n in dims)) if t not in used]
    greedy = tuple(min(range(n), key=single[d].__getitem__) for d, n in enumerate(dims))
    near = [greedy[:d] + (v,) + greedy[d + 1 :] for d, n in enumerate(dims) for v in range(n)]
    drawn = [tuple(rng.randrange(n) for n in dims) for _ in range(SAMPLES)]
    out = [t for t in dict.fromkeys([greedy, *near, *drawn]) if t not in used]
    while not out:  # nearly every combination used (rare in a large space): look further
        out = [t for t in (tuple(rng.randrange(n) for n in dims) for _ in range(SAMPLES)) if t not in used]
    return out
