"""The text layout engine: where each title, sub-heading, subtitle and sticker goes, so that none
covers another while both are on screen (pure code: font metrics come in through TextMetrics).

- **Lines.** Texts break where Unicode allows (UAX #14, by uniseg): between words, between CJK
  characters, never before closing punctuation nor after opening; Korean breaks between words only
  (keep-all, as Korean is typeset); no CJK line of a single character when the text has more. A word
  wider than the room shrinks the text first (down to MIN_SHRINK of its size) and only then breaks
  between characters, so nothing leaves the frame.
- **Boxes.** Every block keeps inside the safe area (SAFE_MARGIN of the frame on each side). Blocks
  whose position the job did not give are stacked by anchor: top-anchored ones downwards in the order
  title, sub-heading 1, 2, …; bottom-anchored ones upwards (subtitles lowest); each clear of the one
  before by a gap. A stack that grows past its share of the frame is shrunk as a whole. Texts with
  an explicit X or Y stay exactly where asked; stacked blocks make way for them.
- **Stickers** without a position go to the right, under the top stack.

Two blocks only need to be apart when they are on screen at the same time: subtitles follow one
another, so they share one slot.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from itertools import combinations
from typing import Protocol

from uniseg.linebreak import LB, line_break, line_break_units

from worker.plan.model import Caption, StickerLayer, TextLook

SAFE_MARGIN = Fraction(1, 20)  # of the frame's width (sides) and height (top, bottom)
GAP = Fraction(1, 3)  # between two stacked blocks, of the lower block's font size
MIN_SHRINK = Fraction(3, 5)  # a text is made at most this much smaller to fit its lines
MAX_LINES = {"Title": 3, "SubHeading": 3, "Subtitle": 2}
STACK_SHARE = Fraction(45, 100)  # of the frame's height a stack may take (top and bottom stacks)
RETRIES, RETRY_SHRINK = 6, Fraction(17, 20)  # no room for everything apart: all texts smaller, again
LINE_SPACING = Fraction(6, 5)  # of the font size, from one baseline to the next
_HANGUL = {LB.H2, LB.H3, LB.JL, LB.JV, LB.JT}
Box = tuple[int, int, int, int]  # x, y, width, height


class TextMetrics(Protocol):
    """What the layout needs to know of fonts (worker/render/fonts.py has the real ones)."""

    def width(self, text: str, font: str, size_px: int) -> float: ...

    def extent(self, font: str, size_px: int) -> tuple[int, int]:
        """(ascent, descent) in pixels."""
        ...

    def missing(self, text: str, font: str) -> str:
        """The characters of `text` no font draws."""
        ...


class ApproxMetrics:
    """Metrics without fonts, for plans made without a renderer (tests, estimates): a wide (CJK)
    character is as wide as the size, any other 0.55 of it."""

    def width(self, text: str, font: str, size_px: int) -> float:
        return sum(size_px * (1.0 if _wide(ch) else 0.55) for ch in text)

    def extent(self, font: str, size_px: int) -> tuple[int, int]:
        return round(size_px * 0.88), round(size_px * 0.24)

    def missing(self, text: str, font: str) -> str:
        return ""


@dataclass(frozen=True)
class Block:
    """A text laid out: its lines at a size, and its box on the canvas (outline included)."""

    lines: tuple[str, ...]
    size_px: int
    x: int
    y: int
    width: int
    height: int

    @property
    def bottom(self) -> int:
        return self.y + self.height

    def overlaps(self, other: Box) -> bool:
        return _boxes_overlap(_box(self), other)


def lay_out(
    captions: Sequence[Caption],
    stickers: Sequence[StickerLayer],
    canvas: tuple[int, int],
    metrics: TextMetrics,
    given: Sequence[tuple[bool, bool]] = (),
    sticker_given: Sequence[bool] = (),
) -> tuple[tuple[Caption, ...], tuple[StickerLayer, ...]]:
    """Captions with their lines and boxes, and stickers moved out of the texts' way.

    `given[i]`: whether caption i's X and Y were given by the job (they are kept while they can be);
    `sticker_given[i]`: whether sticker i's position was. Where the frame has no room for everything
    apart at the asked sizes, every text is made smaller (by RETRY_SHRINK, a few times) until it has."""
    given = list(given) or [(False, False)] * len(captions)
    sticker_given = list(sticker_given) or [False] * len(stickers)
    scale = Fraction(1)
    for _ in range(RETRIES):
        out, moved = _attempt(captions, stickers, canvas, metrics, given, sticker_given, scale)
        end = max((c.end_s for c in out), default=Fraction(0))  # stickers show all along
        boxes = [(c.box, c.start_s, c.end_s) for c in out]
        boxes += [((s.x_px, s.y_px, s.width_px, s.height_px), Fraction(0), end) for s in moved]
        clashes = [
            1 for (a, a0, a1), (b, b0, b1) in combinations(boxes, 2)
            if a and b and a0 < b1 and b0 < a1 and _boxes_overlap(a, b)
        ]  # fmt: skip
        if not clashes:
            break
        scale *= RETRY_SHRINK
    return out, moved


def _attempt(
    captions: Sequence[Caption],
    stickers: Sequence[StickerLayer],
    canvas: tuple[int, int],
    metrics: TextMetrics,
    given: Sequence[tuple[bool, bool]],
    sticker_given: Sequence[bool],
    scale: Fraction,
) -> tuple[tuple[Caption, ...], tuple[StickerLayer, ...]]:
    w, h = canvas
    margin_x, margin_y = round(w * SAFE_MARGIN), round(h * SAFE_MARGIN)
    blocks: dict[int, Block] = {}
    fixed = [i for i, (gx, gy) in enumerate(given) if gy]
    for i in fixed:
        blocks[i] = _block(captions[i], canvas, metrics, scale, given[i][0])
        blocks[i] = _clamp(blocks[i], canvas, margin_x, margin_y, keep_y=True)

    def fixed_boxes(i: int) -> list[Box]:
        return [_box(b) for j, b in blocks.items() if j in fixed and _together(captions[i], captions[j])]

    for anchor in ("Top", "Center", "Bottom"):
        members = [i for i, c in enumerate(captions) if i not in blocks and _vertical(c) == anchor]
        if not members:
            continue
        members.sort(key=lambda i: _order(captions[i].kind), reverse=anchor == "Bottom")
        stack_scale = scale
        for _ in range(8):  # shrink the whole stack until it keeps to its share
            placed = _stack(members, captions, given, canvas, metrics, stack_scale, anchor, fixed_boxes)
            extent = _extent(placed.values())
            limit = h * STACK_SHARE if anchor != "Center" else h - 2 * margin_y
            if extent <= limit:
                break
            stack_scale *= Fraction(9, 10)
        blocks.update(placed)

    blocks = _resolve(blocks, captions, canvas)
    out = []
    for i, c in enumerate(captions):
        b = blocks[i]
        original = c.look.size_px
        look = replace(
            c.look, size_px=b.size_px, outline_px=_stroke(c.look.outline_px, b.size_px, original),
            shadow_px=_stroke(c.look.shadow_px, b.size_px, original),
            padding_px=_stroke(c.look.padding_px, b.size_px, original),
        )  # fmt: skip
        lost = metrics.missing(c.text, c.look.font)
        out.append(replace(c, look=look, lines=b.lines, box=(b.x, b.y, b.width, b.height), missing=lost))
    texts = [_box(b) for b in blocks.values()]
    moved = []
    for s, own in zip(stickers, sticker_given, strict=True):
        # A sticker the job placed stays where it is unless it would cover a text: then it moves
        # down (or up) just clear of it, as a text does.
        moved.append(_sticker_clear_of(s, texts, canvas, 0 if own else margin_x, margin_y, keep_x=own))
    return tuple(out), tuple(moved)


def _boxes_overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


# -- stacking -----------------------------------------------------------------------------------------


def _stack(members: list[int], captions: Sequence[Caption], given: Sequence[tuple[bool, bool]],
           canvas: tuple[int, int], metrics: TextMetrics, scale: Fraction, anchor: str,
           fixed_boxes: Callable[[int], list[Box]]) -> dict[int, Block]:  # fmt: skip
    w, h = canvas
    margin_x, margin_y = round(w * SAFE_MARGIN), round(h * SAFE_MARGIN)
    laid = {i: _clamp(_block(captions[i], canvas, metrics, scale, given[i][0]), canvas, margin_x, margin_y)
            for i in members}  # fmt: skip
    # Subtitles follow one another: they share one slot, as tall as the tallest.
    slot = max((laid[i].height for i in members if captions[i].kind == "Subtitle"), default=0)
    placed: dict[int, Block] = {}
    if anchor == "Top":
        cursor = margin_y
        for i in members:
            b = laid[i]
            top = max(b.y, cursor)
            top = _below_fixed(b, top, fixed_boxes(i))
            placed[i] = replace(b, y=top)
            cursor = top + b.height + _gap(captions, members, i, b)
    elif anchor == "Bottom":
        cursor = h - margin_y
        subtitle_done = False
        for i in members:
            b = laid[i]
            if captions[i].kind == "Subtitle":
                bottom = min(b.y + b.height, cursor)
                placed[i] = replace(b, y=bottom - b.height)
                if not subtitle_done:
                    subtitle_done = True
                    cursor = bottom - slot - round(b.size_px * GAP)
                continue
            bottom = min(b.y + b.height, cursor)
            top = _above_fixed(b, bottom - b.height, fixed_boxes(i))
            placed[i] = replace(b, y=top)
            cursor = top - round(b.size_px * GAP)
    else:  # Center: the stack centred on the frame
        total = sum(laid[i].height for i in members) + sum(round(laid[i].size_px * GAP) for i in members[1:])
        cursor = max(margin_y, (h - total) // 2)
        for i in members:
            b = laid[i]
            placed[i] = replace(b, y=cursor)
            cursor += b.height + round(b.size_px * GAP)
    return placed


def _resolve(
    blocks: dict[int, Block], captions: Sequence[Caption], canvas: tuple[int, int]
) -> dict[int, Block]:
    """The last word against overlaps: in order of rank (title, sub-headings by level, subtitles), a
    block that covers one ranked before it while both show is moved clear of it, along its anchor
    (down from the top, up from the bottom) or else the other way; positions the job gave win until
    two of them would overlap."""
    h = canvas[1]
    done: dict[int, Block] = {}
    for i in sorted(blocks, key=lambda i: (_order(captions[i].kind), i)):
        b = blocks[i]
        others = [_box(o) for j, o in done.items() if _together(captions[i], captions[j])]
        if any(b.overlaps(o) for o in others):
            down, up = _below_fixed(b, b.y, others), _above_fixed(b, b.y, others)
            fits_down, fits_up = down + b.height <= h, up >= 0
            if _vertical(captions[i]) == "Bottom":
                y = up if fits_up or not fits_down else down
            else:
                y = down if fits_down or not fits_up else up
            b = replace(b, y=max(0, min(y, h - b.height)))
        done[i] = b
    return done


def _gap(captions: Sequence[Caption], members: list[int], i: int, b: Block) -> int:
    k = members.index(i)
    nxt = members[k + 1] if k + 1 < len(members) else None
    size = captions[nxt].look.size_px if nxt is not None else b.size_px
    return round(size * GAP)


def _below_fixed(b: Block, top: int, boxes: list[Box]) -> int:
    """Top-anchored: moved down past any fixed block it would cover."""
    for _ in range(len(boxes) + 1):
        hit = [box for box in boxes if replace(b, y=top).overlaps(box)]
        if not hit:
            return top
        top = max(y + hh for _, y, _, hh in hit) + round(b.size_px * GAP)
    return top


def _above_fixed(b: Block, top: int, boxes: list[Box]) -> int:
    """Bottom-anchored: moved up past any fixed block it would cover."""
    for _ in range(len(boxes) + 1):
        hit = [box for box in boxes if replace(b, y=top).overlaps(box)]
        if not hit:
            return top
        top = min(y for _, y, _, _ in hit) - round(b.size_px * GAP) - b.height
    return top


def _extent(blocks: Iterable[Block]) -> int:
    bs = list(blocks)
    if not bs:
        return 0
    return max(b.bottom for b in bs) - min(b.y for b in bs)


def _box(b: Block) -> Box:
    return b.x, b.y, b.width, b.height


def _together(a: Caption, b: Caption) -> bool:
    return a.start_s < b.end_s and b.start_s < a.end_s


def _vertical(c: Caption) -> str:
    a = c.look.alignment
    return "Top" if a.startswith("Top") else "Bottom" if a.startswith("Bottom") else "Center"


def _order(kind: str) -> int:
    if kind == "Title":
        return 0
    if kind.startswith("SubHeading"):
        return int(kind[10:] or 1)
    return 1000  # subtitles


# -- one block ----------------------------------------------------------------------------------------


def _block(
    c: Caption, canvas: tuple[int, int], metrics: TextMetrics, scale: Fraction, x_given: bool
) -> Block:
    """The caption's lines at the largest size (its own × scale, down to MIN_SHRINK of it) at which
    they fit the room and the kind's number of lines, and its box before stacking."""
    w, h = canvas
    look = c.look
    margin_x = round(w * SAFE_MARGIN)
    room = _room(look.alignment, look.x_px, w, margin_x, x_given)
    room = max(min(look.width_px, room), 1)
    size = max(round(look.size_px * scale), 6)
    smallest = max(round(look.size_px * scale * MIN_SHRINK), 6)
    max_lines = MAX_LINES.get(c.kind[:10], 3)
    while True:
        edge, shadow = _frame(look, size)  # outline and box padding on every side; shadow right, below
        free = room - 2 * edge - shadow
        lines = break_lines(c.text, _measure(metrics, look.font, size), free)
        widest = max((metrics.width(line, look.font, size) for line in lines), default=0)
        if (widest <= free and len(lines) <= max_lines) or size <= smallest:
            break
        size = max(smallest, size - max(1, size // 20))
    if widest > free:  # still too wide at the smallest size: break inside words
        lines = break_lines(c.text, _measure(metrics, look.font, size), free, anywhere=True)
        widest = max((metrics.width(line, look.font, size) for line in lines), default=0)
    ascent, descent = metrics.extent(look.font, size)
    step = round(size * LINE_SPACING)
    width = round(widest) + 2 * edge + shadow
    height = step * (len(lines) - 1) + ascent + descent + 2 * edge + shadow
    x = look.x_px
    if look.alignment.endswith("Right"):
        x -= width
    elif not look.alignment.endswith("Left"):
        x -= width // 2
    y = look.y_px
    if look.alignment.startswith("Bottom"):
        y -= height
    elif not look.alignment.startswith("Top"):
        y -= height // 2
    return Block(tuple(lines), size, x, y, width, height)


def _measure(metrics: TextMetrics, font: str, size: int) -> Callable[[str], float]:
    return lambda text: metrics.width(text, font, size)


def _stroke(outline_px: int, size: int, original: int) -> int:
    """A length of the style (outline, shadow, padding) at another size of its text."""
    return round(outline_px * size / original) if original else outline_px


def _frame(look: TextLook, size: int) -> tuple[int, int]:
    """(outline + box padding, shadow) in pixels at `size`: what a block adds around its lines."""
    outline, padding, shadow = (
        _stroke(px, size, look.size_px) for px in (look.outline_px, look.padding_px, look.shadow_px)
    )
    return outline + padding, shadow


def _room(alignment: str, x: int, w: int, margin: int, x_given: bool) -> int:
    """How wide a block may be for its alignment point to stay where it is inside the safe area."""
    if not x_given:
        return w - 2 * margin
    if alignment.endswith("Left"):
        return w - margin - x
    if alignment.endswith("Right"):
        return x - margin
    return 2 * min(x - margin, w - margin - x)


def _clamp(b: Block, canvas: tuple[int, int], margin_x: int, margin_y: int, keep_y: bool = False) -> Block:
    """Inside the safe area (inside the frame, for a block larger than the safe area)."""
    w, h = canvas
    x = min(max(b.x, margin_x), w - margin_x - b.width)
    x = max(0, min(x, w - b.width))
    y = b.y
    if not keep_y:
        y = min(max(y, margin_y), h - margin_y - b.height)
    y = max(0, min(y, h - b.height))
    return replace(b, x=x, y=y)


def _sticker_clear_of(s: StickerLayer, texts: list[Box], canvas: tuple[int, int],
                      margin_x: int, margin_y: int, keep_x: bool = False) -> StickerLayer:  # fmt: skip
    """A sticker moved down (or else up) until it covers no text; one placed by default also keeps to
    the safe area."""
    w, h = canvas
    x = s.x_px if keep_x else min(max(s.x_px, margin_x), w - margin_x - s.width_px)
    y = s.y_px

    def hits(y: int) -> list[Box]:
        return [t for t in texts if _boxes_overlap((x, y, s.width_px, s.height_px), t)]

    def clear(y: int, step: int) -> int | None:
        """Moved along `step` (down +1, up -1) past every text it hits; None when it leaves the frame."""
        for _ in range(len(texts) + 1):
            hit = hits(y)
            if not hit:
                return y if y >= 0 and y + s.height_px <= h else None
            if step > 0:
                y = max(t[1] + t[3] for t in hit) + margin_y // 2
            else:
                y = min(t[1] for t in hit) - margin_y // 2 - s.height_px
        return None

    for found in (clear(y, +1), clear(y, -1)):
        if found is not None:
            return replace(s, x_px=max(0, x), y_px=found)
    return replace(s, x_px=max(0, x), y_px=max(0, min(y, h - s.height_px)))  # no room anywhere


# -- line breaking ------------------------------------------------------------------------------------


def _property(ch: str) -> LB:
    """UAX #14's line-break class, with Korean syllables as letters: keep-all (no break inside a word)."""
    p = line_break(ch)
    return LB.AL if p in _HANGUL else p


def break_lines(
    text: str, width_of: Callable[[str], float], room: float, anywhere: bool = False
) -> list[str]:
    """Greedy line filling over UAX #14's break opportunities (or every character, `anywhere`); a
    single wide character left alone on the last line takes the last piece of the line before."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        units = list(paragraph) if anywhere else list(_units(paragraph))
        rows: list[list[str]] = [[]]
        for unit in units:
            candidate = "".join(rows[-1]) + unit
            if rows[-1] and width_of(candidate.rstrip()) > room:
                rows.append([unit])
            else:
                rows[-1].append(unit)
        last = "".join(rows[-1]).strip()
        if len(rows) > 1 and len(last) == 1 and _wide(last) and len(rows[-2]) > 2:
            rows[-1].insert(0, rows[-2].pop())  # no orphan
        lines += ["".join(r).strip() for r in rows]
    return lines


@lru_cache(maxsize=1024)
def _units(paragraph: str) -> tuple[str, ...]:
    """The pieces between UAX #14's break opportunities (the same texts recur over a batch's variants)."""
    return tuple(line_break_units(paragraph, property=_property))


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")
