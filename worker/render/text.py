"""Texts (titles, sub-headings, subtitles) drawn once each as RGBA images with Pillow.

The images are overlaid by the timeline graph; no text is drawn per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PIL import Image, ImageDraw, ImageFont

from worker.plan import Caption, TextLook
from worker.plan.textlayout import LINE_SPACING, lay_out
from worker.render.fonts import EMOJI_STRIKE, FontBook, FontMetrics, line_width, runs

SHADOW_COLOR = "#00000099"


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


def draw_caption(caption: Caption, fonts: FontBook, canvas: tuple[int, int]) -> Placed:
    """A caption as the layout engine laid it out (worker/plan/textlayout.py): its lines, in its box."""
    if not caption.lines or caption.box is None:  # a caption made by hand, not by the planner
        (caption,), _ = lay_out((caption,), (), canvas, FontMetrics(fonts))
        assert caption.box is not None
    look = caption.look
    font = fonts.font(look.font, look.size_px)
    edge, shadow = look.outline_px + look.padding_px, look.shadow_px
    x0, y0, width, height = caption.box
    step = round(look.size_px * LINE_SPACING)
    image = Image.new("RGBA", (max(width, 1), max(height, 1)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if look.box_color:  # BackColour: a rounded box under the lines, as wide as the block
        corners = (0, 0, width - shadow - 1, height - shadow - 1)
        draw.rounded_rectangle(corners, radius=max(look.padding_px, 1), fill=rgba(look.box_color))
    emoji = fonts.emoji()
    inner = width - shadow
    for i, line in enumerate(caption.lines):
        w = line_width(line, font, emoji)
        if look.alignment.endswith("Left"):
            x = edge
        elif look.alignment.endswith("Right"):
            x = inner - edge - w
        else:
            x = (inner - w) // 2
        y = edge + i * step
        if shadow:  # the same line, darker, down and right, under the text (emoji cast none)
            dark = replace(look, color=SHADOW_COLOR, outline_color=SHADOW_COLOR)
            _draw_line(image, draw, (x + shadow, y + shadow), line, font, emoji, dark, shadow=True)
        _draw_line(image, draw, (x, y), line, font, emoji, look)
    return Placed(image, x0, y0)


def _draw_line(
    image: Image.Image,
    draw: ImageDraw.ImageDraw,
    at: tuple[int, int],
    line: str,
    font: ImageFont.FreeTypeFont,
    emoji: ImageFont.FreeTypeFont | None,
    look: TextLook,
    shadow: bool = False,
) -> None:
    """One line: text runs in the text font with their outline, emoji runs in colour from the emoji
    font, drawn at its one size and scaled to the text's, on the same baseline."""
    x, y = at
    ascent, _ = font.getmetrics()
    for run, is_emoji in runs(line, font, emoji):
        if not is_emoji or emoji is None:
            draw.text((x, y), run, font=font, fill=rgba(look.color), stroke_width=look.outline_px,
                      stroke_fill=rgba(look.outline_color))  # fmt: skip
            x += round(font.getlength(run))
            continue
        if shadow:
            x += round(emoji.getlength(run) * font.size / EMOJI_STRIKE)
            continue
        e_ascent, e_descent = emoji.getmetrics()
        big = Image.new("RGBA", (max(round(emoji.getlength(run)), 1), e_ascent + e_descent), (0, 0, 0, 0))
        ImageDraw.Draw(big).text((0, 0), run, font=emoji, embedded_color=True)
        k = font.size / EMOJI_STRIKE
        small = big.resize(
            (max(round(big.width * k), 1), max(round(big.height * k), 1)), Image.Resampling.LANCZOS
        )
        image.alpha_composite(small, (x, max(0, y + ascent - round(e_ascent * k))))
        x += small.width
