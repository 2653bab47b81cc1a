"""Texts render with real glyphs on a fresh machine: the bundled Noto Sans CJK, or a configured font."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from worker.plan import Caption, TextLook
from worker.plan.textlayout import break_lines
from worker.render.fonts import BUNDLED_FONT, FontBook
from worker.render.text import draw_caption

NOT_IN_ANY_FONT = "\U0010fffd"  # a private-use code point: drawn as .notdef (tofu)


def glyph(fonts: FontBook, ch: str, name: str = "") -> Image.Image:
    image = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(image).text((8, 0), ch, font=fonts.font(name, 48), fill=255)
    return image


def test_chinese_latin_and_digits_have_real_glyphs() -> None:
    fonts = FontBook()
    tofu = glyph(fonts, NOT_IN_ANY_FONT)
    assert tofu.getbbox() is not None  # the font draws a .notdef box for what it lacks
    for ch in "中文标题ABCxyz0123456789":
        drawn = glyph(fonts, ch)
        assert drawn.getbbox() is not None, f"{ch!r} has no ink"
        assert ImageChops.difference(drawn, tofu).getbbox() is not None, f"{ch!r} is drawn as tofu"


def test_a_caption_mixing_scripts_has_ink_where_its_text_is() -> None:
    # (Y 40: inside the safe area, which the layout keeps every text in)
    look = TextLook(font="", size_px=40, color="#FFFFFF", outline_px=2, outline_color="#000000",
                    alignment="TopCenter", x_px=160, y_px=40, width_px=300)  # fmt: skip
    caption = Caption("Title", "中文 Latin 123", look, Fraction(0), Fraction(1))
    placed = draw_caption(caption, FontBook(), (320, 320))
    alpha = placed.image.getchannel("A")
    assert alpha.getbbox() is not None and placed.y == 40
    assert placed.x == 160 - placed.image.width // 2  # the top centre of the block is at (X, Y)
    # Each of the three words has its own ink: split the image in thirds, each third has pixels.
    w = alpha.width
    for third in range(3):
        assert alpha.crop((third * w // 3, 0, (third + 1) * w // 3, alpha.height)).getbbox() is not None


def test_lines_wrap_between_words_and_between_cjk_characters() -> None:
    font = FontBook().font("", 20)

    def wrap(text: str, room: int) -> list[str]:
        return break_lines(text, font.getlength, room)

    lines = wrap("one two three four", 90)
    assert " ".join(lines) == "one two three four" and len(lines) > 1  # words stay whole
    assert all(font.getlength(line) <= 90 for line in lines)
    lines = wrap("这是一个很长的中文句子，需要换行。", 100)
    assert len(lines) > 1 and all(font.getlength(line) <= 100 for line in lines)
    assert not any(line.startswith(("，", "。")) for line in lines)


def test_a_font_folder_adds_fonts_by_file_and_family_name(tmp_path: Path) -> None:
    shutil.copy(BUNDLED_FONT, tmp_path / "MyBrand-Regular.ttc")
    fonts = FontBook([str(tmp_path)])
    assert fonts.face("MyBrand-Regular") == (str(tmp_path / "MyBrand-Regular.ttc"), 0)
    assert fonts.face("noto sans cjk tc")[1] == 3  # family names, case and spaces ignored
    assert fonts.face("No Such Font") == fonts.face("")  # unknown names fall back to the default
    assert FontBook(default="Noto Sans CJK JP").face("")[1] == 0  # the default can be configured
