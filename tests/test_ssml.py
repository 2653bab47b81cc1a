"""The SSML subset of speech texts (reelmill/ssml.py), pure."""

from __future__ import annotations

from fractions import Fraction

import pytest

from reelmill import ssml
from reelmill.ssml import Break, SentenceBoundary, Words


def test_plain_text_is_taken_verbatim() -> None:
    for text in ["回龙观盒马鲜生开业啦，盛大开业", "a < b & c > d", "AT&amp;T <3"]:
        assert ssml.parse(text) == (Words(text, text),)
    assert ssml.parse("") == ()


def test_the_subset() -> None:
    text = (
        '<speak xml:lang="zh"><s>开业啦</s>欢迎<break time="1.5s"/>'
        "<sub alias=\"盒马鲜生\">HEMA</sub>&amp;会员<break time='250ms' /></speak>"
    )
    assert ssml.parse(text) == (
        SentenceBoundary(),
        Words("开业啦", "开业啦"),
        SentenceBoundary(),
        Words("欢迎", "欢迎"),
        Break(Fraction(3, 2)),
        Words("盒马鲜生", "HEMA", atomic=True),
        Words("&会员", "&会员"),
        Break(Fraction(1, 4)),
    )


def test_shown_text_has_no_markup_and_keeps_latin_words_apart() -> None:
    runs = ssml.parse('Hello.<break time="1s"/>World <sub alias="doctor">Dr.</sub> Who<s>你好</s><s>世界</s>')
    assert ssml.shown(runs) == "Hello. World Dr. Who你好世界"
    assert ssml.speaks(runs)
    assert not ssml.speaks(ssml.parse('，。<break time="1s"/>'))


@pytest.mark.parametrize(
    "text",
    [
        "<break/>",
        '<break time="5"/>',
        '<break time="500ms">',
        "<s><s>a</s></s>",
        "<sub alias='x'>a",
        "</speak>",
        "<emphasis>a</emphasis>",
        "<s/>",
        "<s>a &lt; b < c</s>",
    ],
)
def test_malformed_markup_is_an_error(text: str) -> None:
    with pytest.raises(ssml.SsmlError):
        ssml.parse(text)
