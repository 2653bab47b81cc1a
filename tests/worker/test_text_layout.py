"""The text layout engine (issue 16): titles, sub-headings, subtitles and stickers in boxes that never
overlap; Unicode line breaking with CJK and Korean rules; nothing leaves the frame. Checked on the
plan (boxes, lines, with the real fonts' metrics) and on rendered frames (pixels)."""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations
from pathlib import Path

import av
import pytest

from cli.samples import make_image, make_sticker
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from worker.job import JobState, run_job
from worker.plan import MediaFacts, plan_variant
from worker.plan.textlayout import ApproxMetrics, break_lines
from worker.render.fonts import FontBook, FontMetrics
from worker.render.text import draw_caption
from worker.settings import WorkerSettings

METRICS = FontMetrics(FontBook())
TITLE_20 = "新品上市限时特惠全场八折起欢迎选购快来"  # ICE's longest title: 20 characters
TEXTS = {
    "cjk-20": (TITLE_20 + "抢", "限时特惠，全场商品一律八折起，欢迎选购"),
    "long-word": (
        "Supercalifragilisticexpialidocious-Extraordinaire",
        "Pneumonoultramicroscopicsilicovolcanoconiosis",
    ),
    "korean": ("안녕하세요 여러분 오늘의 특별한 할인 행사에 오신 것을 환영합니다", "지금 바로 주문하세요"),
    "mixed": ("New arrivals 新品上市 새로운 상품 — 50% off!", "「限时」优惠：Today only，先到先得！"),
    "emoji": ("Hi 😀🎉 新品上市 👍🏽 限时特惠全场八折", "✨ 限时特惠 ❤️ 👨‍👩‍👧 family"),
}  # fmt: skip


def command(
    size: tuple[int, int],
    title: str,
    sub: str,
    *,
    explicit: bool = False,
    sticker: bool = False,
    title_color: str = "#FF0000",
    sub_color: str = "#00FF00",
    media: str = "bg.png",
) -> render_pb2.RenderCommand:
    w, h = size
    title_style = cfg.TextStyle(font_color=title_color, outline_colour=title_color)
    sub_style = cfg.TextStyle(font_color=sub_color, outline_colour=sub_color)
    if explicit:  # explicit sizes, alignment and places, the title's too close above its sub-heading
        title_style.font_size, title_style.alignment, title_style.y = round(w * 0.09), "TopLeft", 0.07
        sub_style.font_size, sub_style.alignment, sub_style.y = round(w * 0.07), "TopLeft", 0.12
        for style in (title_style, sub_style):  # with a box and a shadow, which the boxes include
            style.back_colour, style.shadow = "#202020CC", max(2, round(w * 0.004))
    ic = cfg.InputConfig(
        media_group_array=[cfg.MediaGroup(group_name="g", media_array=[f"file://{media}"], duration=0.2)],
        title_array=[title],
        sub_heading_array=[cfg.SubHeading(level=1, title_array=[sub])],
        # the sticker's own place (when explicit) is right over the title
        sticker_array=[
            cfg.Sticker(media_url="file://logo.png", **({"x": 0.1, "y": 0.08} if explicit else {}))
        ]
        if sticker
        else [],
    )
    ec = cfg.EditingConfig(title_config=title_style, sub_heading_config={1: sub_style})
    oc = cfg.OutputConfig(width=w, height=h, video=cfg.VideoSettings(crf=12))
    return render_pb2.RenderCommand(
        index=0, count=1, seed=1, input_config=ic, editing_config=ec, output_config=oc
    )


FACTS = {
    "file://bg.png": MediaFacts("file://bg.png", True, 400, 400, Fraction(0), False),
    "file://logo.png": MediaFacts("file://logo.png", True, 200, 200, Fraction(0), False),
}


@pytest.mark.parametrize("size", [(540, 960), (1080, 1920), (1920, 1080)])
@pytest.mark.parametrize("explicit", [False, True])
@pytest.mark.parametrize("case", list(TEXTS))
def test_boxes_never_overlap_and_stay_in_the_safe_area(
    size: tuple[int, int], explicit: bool, case: str
) -> None:
    title, sub = TEXTS[case]
    plan = plan_variant(command(size, title, sub, explicit=explicit, sticker=True), FACTS, {}, METRICS)
    w, h = size
    boxes = [c.box for c in plan.captions] + [
        (s.x_px, s.y_px, s.width_px, s.height_px) for s in plan.stickers
    ]
    assert all(b is not None for b in boxes)
    for x, y, bw, bh in boxes:  # type: ignore[misc]
        assert x >= 0 and x + bw <= w and y >= 0 and y + bh <= h
    for a, b in combinations(boxes, 2):
        ax, ay, aw, ah = a  # type: ignore[misc]
        bx, by, bw, bh = b  # type: ignore[misc]
        assert not (ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah), (a, b)
    title_c, sub_c = plan.captions
    assert title_c.box[1] < sub_c.box[1]  # type: ignore[index]  # the title above its sub-heading
    for c in plan.captions:
        assert "".join(c.lines).replace(" ", "") == c.text.replace(" ", "")  # nothing lost
        assert all(METRICS.width(line, "", c.look.size_px) <= c.box[2] for line in c.lines)  # type: ignore[index]


def test_lines_break_by_unicode_rules() -> None:
    def fit(text: str, chars: float) -> list[str]:
        return break_lines(text, lambda t: ApproxMetrics().width(t, "", 10), chars * 10)

    # Korean breaks between words only, never inside one.
    lines = fit("안녕하세요 여러분 오늘의 특별한 할인", 7)
    assert lines == ["안녕하세요", "여러분 오늘의", "특별한 할인"]
    # No line starts with closing punctuation; an opening bracket stays with what follows.
    lines = fit("限时特惠，全场八折「好物」。", 4)
    assert not any(line[0] in "，。」" for line in lines) and not any(line.endswith("「") for line in lines)
    # No CJK character alone on the last line.
    lines = fit("新品上市欢迎选购快来", 3)
    assert len(lines[-1]) >= 2
    # Latin between words; a word too long for the line stays whole here (the layout shrinks it).
    assert fit("hello wonderful world", 6) == ["hello", "wonderful", "world"]


def test_a_word_too_long_for_the_frame_shrinks_or_breaks_but_stays_inside() -> None:
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 2
    plan = plan_variant(command((540, 960), word, "sub"), FACTS, {}, METRICS)
    title = plan.captions[0]
    assert title.look.size_px < round(540 * 0.07)  # smaller than the default title size
    assert len(title.lines) > 1 and "".join(title.lines) == word
    x, _, bw, _ = title.box  # type: ignore[misc]
    assert x >= 0 and x + bw <= 540


def masks(path: str, threshold: int = 60) -> list[set[int]]:
    """Per decoded frame, the pixels (as y·width + x) brighter than the black background."""
    out = []
    with av.open(path) as c:
        for f in c.decode(video=0):
            gray = f.to_image().convert("L")
            data = gray.tobytes()
            out.append({i for i, v in enumerate(data) if v > threshold})
    return out


@pytest.mark.parametrize("size", [(540, 960), (1080, 1920)])
@pytest.mark.parametrize("explicit", [False, True])
def test_a_title_and_its_sub_heading_never_share_a_pixel(
    tmp_path: Path, size: tuple[int, int], explicit: bool
) -> None:
    """The same layout rendered twice: once with only the title visible (the sub-heading in a fully
    transparent colour takes its place all the same), once with only the sub-heading."""
    make_image(str(tmp_path / "bg.png"), 64, 64, (0, 0, 0))
    settings = WorkerSettings(media_roots=(str(tmp_path),), output_dir=str(tmp_path))
    seen = []
    for name, tc, sc in (("title", "#FF0000", "#00FF0000"), ("sub", "#FF000000", "#00FF00")):
        cmd = command(size, TITLE_20, TEXTS["mixed"][1], explicit=explicit, title_color=tc, sub_color=sc,
                      media=f"{tmp_path}/bg.png")  # fmt: skip
        cmd.output_url = f"file://{tmp_path}/{name}.mp4"
        done = run_job(cmd, settings, JobState())
        frames = masks(done.media_url.removeprefix("file://"))
        assert frames and all(frames)  # the text shows in every frame
        seen.append(frames)
    w, h = size
    for title_px, sub_px in zip(*seen, strict=True):
        assert not title_px & sub_px
        for px in title_px | sub_px:  # nothing on the frame's edge: no glyph cut off
            x, y = px % w, px // w
            assert 0 < x < w - 1 and 0 < y < h - 1


def test_a_default_sticker_makes_way_for_the_texts(tmp_path: Path) -> None:
    make_sticker(str(tmp_path / "logo.png"), 200, 200, (255, 196, 0, 255))
    plan = plan_variant(command((540, 960), TITLE_20, TEXTS["korean"][0], sticker=True), FACTS, {}, METRICS)
    (s,) = plan.stickers
    for c in plan.captions:
        x, y, bw, bh = c.box  # type: ignore[misc]
        assert not (
            s.x_px < x + bw and x < s.x_px + s.width_px and s.y_px < y + bh and y < s.y_px + s.height_px
        )


def test_emoji_are_drawn_in_colour_from_the_emoji_font() -> None:
    """An emoji is a picture in colour (not a box), as wide as its place in the layout."""
    fonts = FontBook()
    assert fonts.emoji() is not None, "the colour emoji font (Debian: fonts-noto-color-emoji) is missing"
    plan = plan_variant(
        command((540, 960), "🎉🎉", "x", title_color="#FFFFFF"), FACTS, {}, FontMetrics(fonts)
    )
    title = plan.captions[0]
    assert title.missing == "" and title.lines == ("🎉🎉",)
    placed = draw_caption(title, fonts, (540, 960))
    pixels = [p for p in placed.image.get_flattened_data() if p[3] > 200]
    coloured = [p for p in pixels if max(p[:3]) - min(p[:3]) > 80]  # the white text colour is not used
    assert len(coloured) > len(pixels) / 3
    assert placed.image.size == title.box[2:]  # type: ignore[index]
    # A character no font has is reported, not silently drawn as a box.
    plan = plan_variant(command((540, 960), "A\U000e01f0\u0b80", "x"), FACTS, {}, FontMetrics(fonts))
    assert plan.captions[0].missing


def test_a_box_and_a_shadow_are_drawn_inside_the_text_box() -> None:
    fonts = FontBook()
    cmd = command((540, 960), "Boxed", "x", title_color="#FFFFFF")
    cmd.editing_config.title_config.back_colour = "#3050D0"
    cmd.editing_config.title_config.shadow = 4
    plan = plan_variant(cmd, FACTS, {}, FontMetrics(fonts))
    title = plan.captions[0]
    plain = plan_variant(command((540, 960), "Boxed", "x"), FACTS, {}, FontMetrics(fonts)).captions[0]
    assert title.box[2] > plain.box[2] and title.box[3] > plain.box[3]  # type: ignore[index]  # padding
    image = draw_caption(title, fonts, (540, 960)).image
    assert image.size == title.box[2:]  # type: ignore[index]
    assert image.getpixel((title.look.padding_px, image.height // 2))[:3] == (0x30, 0x50, 0xD0)  # the box
    assert image.getpixel((image.width - 1, 0))[3] == 0  # the shadow's strip outside the box is clear
