"""A speech text cut into the pieces that are synthesised one by one, each becoming one subtitle cue.

Pure. Cuts come after sentence and clause punctuation (Chinese 。！？；，、 always; Latin . ! ? ; ,
when not followed by a letter or digit, so 3.5 and 1,000 stay whole), at `<s>` boundaries and at
`<break>`s. A piece wider than `max_width` columns (CJK characters count 2, others 1) is cut again
into about equal parts, between CJK characters or Latin words, never inside a `<sub>`.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from reelmill.ssml import Break, Run, SentenceBoundary, Words

DEFAULT_MAX_WIDTH = 32  # columns: 16 CJK characters or 32 Latin ones, about two subtitle lines

COMMA, SEMICOLON, SENTENCE = Fraction(3, 20), Fraction(11, 50), Fraction(3, 10)  # pauses at speed 1
_CJK_STOPS = {"。": SENTENCE, "｡": SENTENCE, "！": SENTENCE, "？": SENTENCE, "；": SEMICOLON,
              "，": COMMA, "、": COMMA}  # fmt: skip
_LATIN_STOPS = {".": SENTENCE, "!": SENTENCE, "?": SENTENCE, ";": SEMICOLON, ",": COMMA}
_STOPS = _CJK_STOPS | _LATIN_STOPS
_CLOSERS = "”’」』）》】〉)]}\"'"  # follow a stop into the same piece
_DROPPED_AT_END = "。｡；，、.;,"  # not shown at the end of a cue (？！ are: they carry meaning)


@dataclass(frozen=True)
class Clause:
    spoken: str
    shown: str
    pause_s: Fraction  # silence after it at speed 1 (scaled by the speech rate)


@dataclass(frozen=True)
class Silence:
    duration_s: Fraction  # a <break>: exact, not scaled


Piece = Clause | Silence


@dataclass
class _Atom:
    """An unbreakable unit: a CJK character, a Latin word, a <sub>; with what sticks to it."""

    spoken: str
    shown: str
    joins_next: bool = False  # opening punctuation: the next atom joins it

    @property
    def width(self) -> int:
        return display_width(self.shown)


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pieces(runs: tuple[Run, ...], max_width: int = DEFAULT_MAX_WIDTH) -> tuple[Piece, ...]:
    out: list[Piece] = []
    atoms: list[_Atom] = []

    def close(pause: Fraction) -> None:
        if atoms:
            out.extend(_cut(atoms, pause, max_width))
            atoms.clear()
        elif pause and out and isinstance(out[-1], Clause):
            last = out[-1]
            out[-1] = Clause(last.spoken, last.shown, max(last.pause_s, pause))

    for run in runs:
        if isinstance(run, Break):
            close(Fraction(0))
            if out and isinstance(out[-1], Clause):  # the break replaces the punctuation pause
                last = out[-1]
                out[-1] = Clause(last.spoken, last.shown, Fraction(0))
            out.append(Silence(run.duration_s))
        elif isinstance(run, SentenceBoundary):
            close(SENTENCE)
        elif run.atomic:
            _add(atoms, _Atom(run.spoken, run.shown))
        else:
            _words(run, atoms, close)
    close(Fraction(0))
    return tuple(out)


def _words(run: Words, atoms: list[_Atom], close: Callable[[Fraction], None]) -> None:
    text = run.spoken
    i = 0
    while i < len(text):
        c = text[i]
        category = unicodedata.category(c)
        if c in _STOPS and _ends_clause(text, i):
            pause, j = _STOPS[c], i + 1
            while j < len(text) and (text[j] in _STOPS or text[j] in _CLOSERS):
                pause, j = max(pause, _STOPS.get(text[j], pause)), j + 1
            _stick(atoms, text[i:j])
            close(pause)
            i = j
            continue
        if c.isspace() or (category.startswith("P") and category not in ("Ps", "Pi")):
            _stick(atoms, c)
        elif category in ("Ps", "Pi"):
            _add(atoms, _Atom(c, c, joins_next=True))
        elif _is_wide(c):
            _add(atoms, _Atom(c, c))
        else:  # a Latin word or number: up to a space, a wide character or a clause stop
            j = i + 1
            while j < len(text) and not (
                text[j].isspace() or _is_wide(text[j]) or (text[j] in _STOPS and _ends_clause(text, j))
            ):
                j += 1
            word, end = text[i:j], atoms[-1].shown[-1:] if atoms else ""
            if end and not atoms[-1].joins_next and not end.isspace() and not _is_wide(end):
                _stick(atoms, word)  # right after closing punctuation: one unit with it
            else:
                _add(atoms, _Atom(word, word))
            i = j - 1
        i += 1


def _ends_clause(text: str, i: int) -> bool:
    if text[i] in _CJK_STOPS:
        return True
    nxt = text[i + 1] if i + 1 < len(text) else ""
    return not (nxt.isascii() and nxt.isalnum())


def _is_wide(c: str) -> bool:
    return unicodedata.east_asian_width(c) in "WF"


def _add(atoms: list[_Atom], atom: _Atom) -> None:
    if atoms and atoms[-1].joins_next:
        prev = atoms[-1]
        atoms[-1] = _Atom(prev.spoken + atom.spoken, prev.shown + atom.shown, atom.joins_next)
    else:
        atoms.append(atom)


def _stick(atoms: list[_Atom], text: str) -> None:
    """Text that belongs to the atom before it (spaces, closing punctuation)."""
    if atoms:
        atoms[-1].spoken += text
        atoms[-1].shown += text
    elif not text.isspace():
        atoms.append(_Atom(text, text))


def _cut(atoms: list[_Atom], pause: Fraction, max_width: int) -> list[Clause]:
    widths = [a.width for a in atoms]
    total = sum(widths)
    parts = max(1, math.ceil(total / max_width))
    bounds = [0]
    if parts > 1:
        cumulative = [sum(widths[:k]) for k in range(len(atoms) + 1)]
        for p in range(1, parts):
            target = total * p / parts
            best = min(
                range(bounds[-1] + 1, len(atoms)), key=lambda k: abs(cumulative[k] - target), default=None
            )
            if best is not None and best not in bounds:
                bounds.append(best)
    bounds.append(len(atoms))
    clauses = []
    for n, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        group = atoms[a:b]
        spoken = " ".join("".join(x.spoken for x in group).split())
        shown = " ".join("".join(x.shown for x in group).split()).rstrip(_DROPPED_AT_END).rstrip()
        last = n == len(bounds) - 2
        says = any(c.isalnum() for c in spoken)
        if says or any(unicodedata.category(c)[0] not in "PZ" for c in shown):  # e.g. an emoji
            clauses.append(Clause(spoken if says else "", shown, pause if last else Fraction(0)))
    return clauses
