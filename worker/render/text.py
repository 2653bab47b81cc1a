"""Texts (titles, sub-headings, subtitles) drawn once each as RGBA images with Pillow.

The images are overlaid by the timeline graph; no text is drawn per frame.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from worker.plan import TextLook
from worker.render.fonts import FontBook

LINE_SPACING = 1.2  # of the font size


@dataclass(frozen=True)
class Placed:
    """An RGBA image and where its top-left corner goes on the canvas."""

    image: Image.Image
    x: int
    y: int


def rgba(color: str) -> tuple[int, int, int, int]:
    """#RRGGBB or #RRGGBBAA as an RGBA tuple."""
    h = color.lstrip("#")
    r, g, b = int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    a = int(h[6:8], 16) if len(h) == 8 else 255
    return r, g, b, a


def draw_text(text: str, look: TextLook, fonts: FontBook, canvas: tuple[int, int]) -> Placed:
    """The text wrapped at look.width_px, aligned as look.alignment says, with its outline, placed so
    that the alignment point of the block sits at (x_px, y_px) and the block stays on the canvas."""
    font = fonts.font(look.font, look.size_px)
    stroke = look.outline_px
    lines = wrap(text, font, max(look.width_px - 2 * stroke, 1))
    step = round(look.size_px * LINE_SPACING)
    widths = [_width(font, line) for line in lines]
    ascent, descent = font.getmetrics()
    width = max(widths, default=1) + 2 * stroke
    height = step * (len(lines) - 1) + ascent + descent + 2 * stroke
    image = Image.new("RGBA", (max(width, 1), max(height, 1)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i, (line, w) in enumerate(zip(lines, widths, strict=True)):
        if look.alignment.endswith("Left"):
            x = stroke
        elif look.alignment.endswith("Right"):
            x = width - stroke - w
        else:
            x = (width - w) // 2
        draw.text((x, stroke + i * step), line, font=font, fill=rgba(look.color),
                  stroke_width=stroke, stroke_fill=rgba(look.outline_color))  # fmt: skip
    return Placed(image, *_position(look, image.size, canvas))


def wrap(text: str, font: ImageFont.FreeTypeFont, width_px: int) -> list[str]:
    """Greedy line breaking: between words for Latin text, between any two characters for CJK."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for token in _tokens(paragraph):
            candidate = line + token
            if line and _width(font, candidate.rstrip()) > width_px:
                lines.append(line.rstrip())
                line = token.lstrip()
            else:
                line = candidate
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> list[str]:
    """Words with their trailing space, and single wide (CJK) characters; closing punctuation stays
    with the character before it."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        wide = unicodedata.east_asian_width(ch) in ("W", "F")
        if wide:
            if word:
                tokens.append(word)
                word = ""
            if tokens and unicodedata.category(ch) in ("Po", "Pe", "Pf"):
                tokens[-1] += ch  # no line starts with 。，」
            else:
                tokens.append(ch)
        elif ch == " ":
            tokens.append(word + ch)
            word = ""
        else:
            word += ch
    if word:
        tokens.append(word)
    return tokens


def _width(font: ImageFont.FreeTypeFont, line: str) -> int:
    return round(font.getlength(line)) if line else 0


def _position(look: TextLook, size: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int]:
    w, h = size
    x, y = look.x_px, look.y_px
    if look.alignment.endswith("Right"):
        x -= w
    elif not look.alignment.endswith("Left"):
        x -= w // 2
    if look.alignment.startswith("Bottom"):
        y -= h
    elif not look.alignment.startswith("Top"):
        y -= h // 2
    return max(0, min(x, canvas[0] - w)), max(0, min(y, canvas[1] - h))
