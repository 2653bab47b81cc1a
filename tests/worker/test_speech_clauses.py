"""Cutting a speech text into clauses (worker/speech/clauses.py), pure."""

from __future__ import annotations

from fractions import Fraction

from reelmill import ssml
from worker.speech.clauses import COMMA, SEMICOLON, SENTENCE, Clause, Silence, display_width, pieces


def cut(text: str, max_width: int = 32) -> tuple[Clause | Silence, ...]:
    return pieces(ssml.parse(text), max_width)


def shown(text: str, max_width: int = 32) -> list[str]:
    return [p.shown for p in cut(text, max_width) if isinstance(p, Clause)]


def test_chinese_punctuation_cuts_and_sets_the_pause() -> None:
    assert cut("回龙观盒马鲜生开业啦，盛大开业、买一送一；快来！好吗？好。") == (
        Clause("回龙观盒马鲜生开业啦，", "回龙观盒马鲜生开业啦", COMMA),
        Clause("盛大开业、", "盛大开业", COMMA),
        Clause("买一送一；", "买一送一", SEMICOLON),
        Clause("快来！", "快来！", SENTENCE),
        Clause("好吗？", "好吗？", SENTENCE),
        Clause("好。", "好", SENTENCE),
    )


def test_latin_punctuation_cuts_only_where_a_clause_ends() -> None:
    assert shown("Hello world, it costs 3.5 dollars; 1,000 sold. Really? Yes!") == [
        "Hello world",
        "it costs 3.5 dollars",
        "1,000 sold",
        "Really?",
        "Yes!",
    ]
    assert shown("Node.js,Python 3.11 and e.g.this") == ["Node.js,Python 3.11 and e.g.this"]


def test_closing_quotes_and_repeated_stops_stay_with_their_clause() -> None:
    assert shown("“你好”，他说。（限时）优惠！！") == ["“你好”", "他说", "（限时）优惠！！"]
    assert cut("Wait... what?!")[0] == Clause("Wait...", "Wait", SENTENCE)


def test_a_break_is_exact_silence_and_replaces_the_pause_before_it() -> None:
    assert cut('开业啦，<break time="800ms"/>欢迎光临') == (
        Clause("开业啦，", "开业啦", Fraction(0)),
        Silence(Fraction(4, 5)),
        Clause("欢迎光临", "欢迎光临", Fraction(0)),
    )


def test_sentences_and_subs() -> None:
    assert cut('<s>欢迎<sub alias="盒马鲜生">HEMA</sub>会员</s><s>Buy <sub alias="one">1</sub> now</s>') == (
        Clause("欢迎盒马鲜生会员", "欢迎HEMA会员", SENTENCE),
        Clause("Buy one now", "Buy 1 now", SENTENCE),
    )


def test_long_clauses_are_cut_into_about_equal_parts_within_the_width() -> None:
    text = "这是一段非常非常长的没有任何标点符号的中文句子需要被切分成多个部分来显示字幕才行呢"
    parts = shown(text, max_width=20)
    assert "".join(parts) == text
    assert len(parts) == 5 and all(display_width(p) <= 20 for p in parts)
    words = "A very long English clause without any punctuation that should be cut at spaces"
    parts = shown(words, max_width=30)
    assert " ".join(parts) == words and all(len(p) <= 30 for p in parts)
    assert all(p.split()[0] in words.split() for p in parts)  # never inside a word


def test_a_sub_is_never_cut() -> None:
    parts = shown('一二三四五<sub alias="六七八九十">ABCDEFGHIJ</sub>一二三四五', max_width=10)
    assert any("ABCDEFGHIJ" in p for p in parts)
    pauses = [p.pause_s for p in cut("一二三四五六七八九十一二三四五六七八。", max_width=10)]
    assert pauses == [0, 0, 0, SENTENCE]  # the clause's pause comes after its last part only


def test_punctuation_alone_says_nothing() -> None:
    assert cut("，。！") == cut("“”……") == ()
    assert shown("，开头是逗号") == ["开头是逗号"]
