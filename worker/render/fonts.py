"""Fonts for titles and subtitles: a name from TextStyle.Font resolved to a font file and face.

The default is Noto Sans CJK SC, shipped by the noto-cjk-sans-otc wheel (SIL OFL 1.1): Chinese,
Japanese, Korean, Latin and digits with real glyphs on a fresh machine, no system package needed.
Folders named by REELMILL_FONT_DIR add fonts, found by family name ("Noto Sans CJK SC"), full name
("Noto Sans CJK SC Regular") or file name without extension ("MyBrand-Bold"), ignoring case, spaces,
hyphens and underscores. A name that matches nothing falls back to the default font (logged).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cache

import noto_cjk_sans_otc
from PIL import ImageFont

log = logging.getLogger(__name__)

BUNDLED_FONT = str(noto_cjk_sans_otc.FONT_PATH)
DEFAULT_FONT = "Noto Sans CJK SC"
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
MAX_FACES = 32  # faces looked at in one collection file


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " -_")


class FontBook:
    """Font names to FreeType faces; each (face, size) is loaded once."""

    def __init__(self, dirs: Sequence[str] = (), default: str = DEFAULT_FONT) -> None:
        self.dirs = tuple(d for d in dirs if d)
        self.default = default or DEFAULT_FONT
        self._faces: dict[str, tuple[str, int]] | None = None
        self._warned: set[str] = set()

    def face(self, name: str) -> tuple[str, int]:
        """(file, face index) of the font called `name`, or of the default font."""
        faces = self._catalogue()
        found = faces.get(_key(name)) if name else None
        if found is None:
            if name and name not in self._warned:
                self._warned.add(name)
                log.warning("font %r not found; using %s", name, self.default)
            found = faces.get(_key(self.default)) or (BUNDLED_FONT, 2)
        return found

    def emoji(self) -> ImageFont.FreeTypeFont | None:
        """The colour emoji font (at its strike size), or None where none is installed."""
        return emoji_font(self.dirs)

    def font(self, name: str, size_px: int) -> ImageFont.FreeTypeFont:
        path, index = self.face(name)
        return _load(path, index, size_px)

    def _catalogue(self) -> dict[str, tuple[str, int]]:
        if self._faces is None:
            faces: dict[str, tuple[str, int]] = {}
            files = [BUNDLED_FONT] + [
                os.path.join(root, f)
                for d in self.dirs
                for root, _, names in os.walk(d)
                for f in sorted(names)
                if f.lower().endswith(FONT_SUFFIXES)
            ]
            for path in files:
                for index in range(MAX_FACES):
                    try:
                        family, style = ImageFont.truetype(path, 12, index=index).getname()
                    except OSError:
                        break  # no such face (or not a font): the next file
                    names = [family or "", f"{family} {style}"]
                    if index == 0:
                        names.append(os.path.splitext(os.path.basename(path))[0])
                    # Configured folders win over the bundled font for the same name.
                    for n in names:
                        if n:
                            faces[_key(n)] = (path, index)
            self._faces = faces
        return self._faces


@cache
def _load(path: str, index: int, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size_px, index=index)


# -- colour emoji -------------------------------------------------------------------------------------
# Noto Color Emoji (SIL OFL 1.1, Debian's fonts-noto-color-emoji) holds its pictures as bitmaps of one
# size (CBDT): FreeType loads it at EMOJI_STRIKE px only, so emoji are drawn at that size and scaled.
EMOJI_FONT_FILES = ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", "NotoColorEmoji.ttf")
EMOJI_STRIKE = 109
# Characters that belong to the emoji before them: ZWJ, variation selector 16, keycap, skin tones, tags.
_JOINERS = {0x200D, 0xFE0F, 0x20E3, *range(0x1F3FB, 0x1F400), *range(0xE0020, 0xE0080)}
_NOTDEF = "\U0010fffd"  # a private-use character no font draws: what a missing glyph looks like


@cache
def emoji_font(dirs: tuple[str, ...] = ()) -> ImageFont.FreeTypeFont | None:
    """The colour emoji font at its strike size, from the system or a font folder; None when absent."""
    candidates = [EMOJI_FONT_FILES[0]] + [
        os.path.join(root, f) for d in dirs for root, _, names in os.walk(d) for f in names
        if f == EMOJI_FONT_FILES[1]
    ]  # fmt: skip
    for path in candidates:
        if os.path.exists(path):
            return _load(path, 0, EMOJI_STRIKE)
    return None


@cache
def _has_glyph(font: ImageFont.FreeTypeFont, ch: str) -> bool:
    """Whether `font` draws `ch` (not its .notdef box)."""
    if font.size == EMOJI_STRIKE and _is_colour(font):
        left, top, right, bottom = font.getbbox(ch)
        return bottom > top
    return bool(ch.isspace()) or (font.getbbox(ch), bytes(font.getmask(ch))) != (
        font.getbbox(_NOTDEF),
        bytes(font.getmask(_NOTDEF)),
    )


@cache
def _is_colour(font: ImageFont.FreeTypeFont) -> bool:
    return "emoji" in (font.getname()[0] or "").lower()


def runs(
    text: str, font: ImageFont.FreeTypeFont, emoji: ImageFont.FreeTypeFont | None
) -> list[tuple[str, bool]]:
    """`text` in runs of (characters, drawn by the emoji font): a character the text font lacks and
    the emoji font has goes to the emoji font, with the joiners that follow it."""
    out: list[tuple[str, bool]] = []
    for ch in text:
        code = ord(ch)
        if out and out[-1][1] and code in _JOINERS:
            is_emoji = True
        else:
            is_emoji = emoji is not None and not _has_glyph(font, ch) and _has_glyph(emoji, ch)
        if out and out[-1][1] == is_emoji:
            out[-1] = (out[-1][0] + ch, is_emoji)
        else:
            out.append((ch, is_emoji))
    return out


def line_width(text: str, font: ImageFont.FreeTypeFont, emoji: ImageFont.FreeTypeFont | None) -> int:
    """Pixels a line takes, its emoji scaled to the font's size."""
    total = 0
    for run, is_emoji in runs(text, font, emoji):
        if is_emoji and emoji is not None:
            total += round(emoji.getlength(run) * font.size / EMOJI_STRIKE)
        else:
            total += round(font.getlength(run))
    return total


def missing(text: str, font: ImageFont.FreeTypeFont, emoji: ImageFont.FreeTypeFont | None) -> str:
    """The characters of `text` neither the text font nor the emoji font draws (each once)."""
    lost = [
        ch for run, is_emoji in runs(text, font, emoji) if not is_emoji for ch in run
        if ord(ch) not in _JOINERS and not ch.isspace() and not _has_glyph(font, ch)
    ]  # fmt: skip
    return "".join(dict.fromkeys(lost))


class FontMetrics:
    """The layout engine's TextMetrics (worker/plan/textlayout.py) from the fonts texts are drawn with."""

    def __init__(self, fonts: FontBook) -> None:
        self.fonts = fonts

    def width(self, text: str, font: str, size_px: int) -> float:
        return line_width(text, self.fonts.font(font, size_px), self.fonts.emoji())

    def missing(self, text: str, font: str) -> str:
        return missing(text, self.fonts.font(font, 12), self.fonts.emoji())

    def extent(self, font: str, size_px: int) -> tuple[int, int]:
        ascent, descent = self.fonts.font(font, size_px).getmetrics()
        return ascent, descent
