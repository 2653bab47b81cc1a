"""The SSML subset of speech texts, parsed into what is spoken, what is shown, and the pauses between.

Shared by the gateway (a malformed text is rejected at submit, like malformed JSON: never repaired,
never read aloud tag by tag) and the worker's speech module (which speaks the result).

A text is markup only when it contains something tag-like (`<` followed by a letter or `/`);
otherwise it is plain text, taken verbatim (so `a < b` and `AT&T` need no escaping). In markup,
entities (`&lt;`, `&amp;`, …) are decoded and these elements are understood:

- `<speak>…</speak>`: optional wrapper, attributes ignored;
- `<break time="500ms"/>` (or `"1.5s"`, at most 10 s): silence of exactly that length, replacing
  the punctuation pause before it;
- `<s>…</s>`: a sentence: a subtitle cue starts and ends with it, with a sentence pause after;
- `<sub alias="…">…</sub>`: the alias is spoken, the content is shown (and never split).

Any other element, a break without a valid time, an unclosed or stray tag is an SsmlError.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

MAX_BREAK_S = Fraction(10)
ELEMENTS = ("speak", "s", "break", "sub")

_TAG_LIKE = re.compile(r"</?[A-Za-z]")
_TAG = re.compile(
    r"<(?P<close>/)?(?P<name>[A-Za-z][\w.:-]*)"
    r"(?P<attrs>(?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*)"
    r"\s*(?P<empty>/)?>"
)
_ATTR = re.compile(r"([A-Za-z_][\w.:-]*)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)\s*$")


class SsmlError(ValueError):
    """The text looks like SSML but is not reelmill's subset of it."""


@dataclass(frozen=True)
class Words:
    spoken: str
    shown: str
    atomic: bool = False  # a <sub>: one unit, never split


@dataclass(frozen=True)
class Break:
    duration_s: Fraction


@dataclass(frozen=True)
class SentenceBoundary:
    pass


Run = Words | Break | SentenceBoundary


def is_markup(text: str) -> bool:
    return _TAG_LIKE.search(text) is not None


def parse(text: str) -> tuple[Run, ...]:
    """The runs of a speech text, in order. Raises SsmlError for malformed markup."""
    if not is_markup(text):
        return (Words(text, text),) if text else ()
    runs: list[Run] = []
    open_tags: list[str] = []
    sub_alias: str | None = None
    sub_shown: list[str] = []
    pos = 0
    for m in _TAG.finditer(text):
        _text_between(text[pos : m.start()], pos, runs, sub_shown if sub_alias is not None else None)
        pos = m.end()
        name, closing, empty = m["name"], bool(m["close"]), bool(m["empty"])
        attrs = {k: a or b for k, a, b in _ATTR.findall(m["attrs"] or "")}
        where = f"at character {m.start()}"
        if name not in ELEMENTS:
            raise SsmlError(f"unsupported element <{name}> {where}; supported: {', '.join(ELEMENTS)}")
        if closing and (empty or attrs):
            raise SsmlError(f"malformed closing tag </{name}> {where}")
        if sub_alias is not None and not (closing and name == "sub"):
            raise SsmlError(f"<sub> may hold only text, found <{'/' if closing else ''}{name}> {where}")
        if name == "break":
            if closing or not empty:
                raise SsmlError(f'<break> must be self-closing, as <break time="500ms"/> {where}')
            runs.append(Break(_break_time(attrs.get("time"), where)))
        elif closing:
            if not open_tags or open_tags[-1] != name:
                raise SsmlError(f"</{name}> {where} closes nothing open")
            open_tags.pop()
            if name == "s":
                runs.append(SentenceBoundary())
            elif name == "sub":
                assert sub_alias is not None
                runs.append(Words(html.unescape(sub_alias), "".join(sub_shown), atomic=True))
                sub_alias, sub_shown = None, []
        elif empty:
            raise SsmlError(f"<{name}/> {where} must have content")
        else:
            if name == "s":
                if "s" in open_tags:
                    raise SsmlError(f"<s> {where} inside another <s>")
                runs.append(SentenceBoundary())
            if name == "sub":
                if "alias" not in attrs:
                    raise SsmlError(f"<sub> {where} needs an alias attribute")
                sub_alias = attrs["alias"]
            open_tags.append(name)
    _text_between(text[pos:], pos, runs, None)
    if open_tags:
        raise SsmlError(f"<{open_tags[-1]}> is not closed")
    return tuple(runs)


def shown(runs: tuple[Run, ...]) -> str:
    """The text as displayed: markup removed, whitespace collapsed; a break or sentence boundary
    between two Latin words shows as a space."""
    text, apart = "", False
    for r in runs:
        if not isinstance(r, Words):
            apart = True
            continue
        if apart and text and r.shown and not (_wide(text[-1]) or _wide(r.shown[0])):
            text += " "
        text, apart = text + r.shown, False
    return " ".join(text.split())


def speaks(runs: tuple[Run, ...]) -> bool:
    """Whether anything would be said (a letter or digit), not only punctuation and breaks."""
    return any(c.isalnum() for r in runs if isinstance(r, Words) for c in r.spoken)


def _wide(c: str) -> bool:
    return unicodedata.east_asian_width(c) in "WF"


def _text_between(chunk: str, offset: int, runs: list[Run], into_sub: list[str] | None) -> None:
    if "<" in chunk:
        at = offset + chunk.index("<")
        raise SsmlError(f"malformed tag at character {at} (in SSML a literal < is written &lt;)")
    if not chunk:
        return
    decoded = html.unescape(chunk)
    if into_sub is not None:
        into_sub.append(decoded)
    else:
        runs.append(Words(decoded, decoded))


def _break_time(value: str | None, where: str) -> Fraction:
    m = _TIME.match(value or "")
    if m is None:
        raise SsmlError(f'<break> {where} needs time="…ms" or time="…s", got {value!r}')
    seconds = Fraction(m[1]) / (1000 if m[2] == "ms" else 1)
    if seconds > MAX_BREAK_S:
        raise SsmlError(f"<break> {where} is longer than {MAX_BREAK_S} s")
    return seconds
