"""Where texts and stickers go: styles and positions resolved to output pixels (pixel values of a job
are meant for its requested size, so they shrink with a preview)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from reelmill.catalog import TEXT_ALIGNMENTS as ALIGNMENTS
from reelmill.jobspec import OutputSpec
from reelmill.v1 import job_config_pb2 as cfg
from worker.plan.model import MediaFacts, StickerLayer, TextLook


def text_look(
    style: cfg.TextStyle, kind: str, output: OutputSpec, requested_width: int, level: int = 0
) -> TextLook:
    """A text style resolved to output pixels: its defaults by kind (Title, SubHeading<level>, Subtitle)."""
    w, h = output.width, output.height
    k = Fraction(w, requested_width)  # pixel values are meant for the requested size (previews)
    alignment = style.alignment if style.alignment in ALIGNMENTS else _DEFAULT_ALIGNMENT[kind[:10]]
    base_size = {"Title": Fraction(7, 100), "Subtitle": Fraction(11, 200)}.get(kind, Fraction(1, 20))
    # Default sizes follow the frame's shorter side: the same look in portrait, landscape and square.
    size = round(style.font_size * k) if style.HasField("font_size") else round(min(w, h) * base_size)
    size = max(size, 6)
    outline = round(style.outline * k) if style.HasField("outline") else max(1, size // 14)
    horizontal = (
        "Left" if alignment.endswith("Left") else "Right" if alignment.endswith("Right") else "Center"
    )
    vertical = (
        "Top" if alignment.startswith("Top") else "Bottom" if alignment.startswith("Bottom") else "Center"
    )
    default_x = {"Left": Fraction(1, 20), "Center": Fraction(1, 2), "Right": Fraction(19, 20)}[horizontal]
    default_y = _DEFAULT_Y[(kind[:10], vertical)]
    if kind.startswith("SubHeading") and vertical == "Top":
        default_y += Fraction(6, 100) * (level - 1)
    x = place(style, "x", w, k, default_x)
    y = place(style, "y", h, k, default_y)
    width = place(style, "text_width", w, k, Fraction(9, 10))
    return TextLook(
        font=style.font,
        size_px=size,
        color=style.font_color or "#FFFFFF",
        outline_px=outline,
        outline_color=style.outline_colour or "#000000",
        alignment=alignment,
        x_px=x,
        y_px=y,
        width_px=max(width, size),
        shadow_px=round(style.shadow * k) if style.HasField("shadow") else 0,
        box_color=style.back_colour,
        padding_px=round(size * BOX_PADDING) if style.back_colour else 0,
    )


def sticker_layer(
    s: cfg.Sticker, facts: MediaFacts | None, output: OutputSpec, requested_width: int
) -> StickerLayer:
    """A sticker placed in output pixels; without a size, a fifth of the width, in its own aspect."""
    w, h = output.width, output.height
    k = Fraction(w, requested_width)
    f = facts
    aspect = Fraction(f.width, f.height) if f and f.height else Fraction(1)
    if s.HasField("width"):
        sw = place(s, "width", w, k, Fraction(0))
        sh = place(s, "height", h, k, Fraction(0)) if s.HasField("height") else round(sw / aspect)
    elif s.HasField("height"):
        sh = place(s, "height", h, k, Fraction(0))
        sw = round(sh * aspect)
    else:
        sw = round(w * Fraction(1, 5))
        sh = round(sw / aspect)
    sw, sh = max(sw, 1), max(sh, 1)
    x = place(s, "x", w, k, Fraction(0)) if s.HasField("x") else round(w * Fraction(19, 20)) - sw
    y = place(s, "y", h, k, Fraction(0)) if s.HasField("y") else round(h * Fraction(1, 4))
    opacity = s.opacity if s.HasField("opacity") else 1.0
    return StickerLayer(s.media_url, x, y, sw, sh, opacity)


def place(msg: Any, name: str, extent: int, k: Fraction, default: Fraction) -> int:
    """A position or size: pixels (of the requested size) if > 1, else a fraction of the canvas."""
    value = Fraction(str(getattr(msg, name))) if msg.HasField(name) else default
    return round(value * k) if value > 1 else round(value * extent)


BOX_PADDING = Fraction(1, 4)  # of the font size, between a BackColour box's edge and its text
_DEFAULT_ALIGNMENT = {"Title": "TopCenter", "SubHeading": "TopCenter", "Subtitle": "BottomCenter"}
_DEFAULT_Y = {
    ("Title", "Top"): Fraction(8, 100), ("Title", "Center"): Fraction(1, 2),
    ("Title", "Bottom"): Fraction(92, 100),
    ("SubHeading", "Top"): Fraction(16, 100), ("SubHeading", "Center"): Fraction(1, 2),
    ("SubHeading", "Bottom"): Fraction(80, 100),
    ("Subtitle", "Top"): Fraction(30, 100), ("Subtitle", "Center"): Fraction(1, 2),
    ("Subtitle", "Bottom"): Fraction(88, 100),
}  # fmt: skip
