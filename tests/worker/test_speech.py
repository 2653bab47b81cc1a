"""Speech with the real libespeak-ng: what is heard where the cues say, breaks, rate, voices, WAV input."""

from __future__ import annotations

import array
import math
import os
import sys
import wave
from fractions import Fraction
from pathlib import Path

import espeakng_loader
import pytest

from reelmill import voices
from worker.errors import MaterialNotFoundError, MaterialUnreadableError
from worker.narration import Narration
from worker.speech import SpeechCache, SpeechError, engine_for, narrate, narration_from_wav

SEED_TEXTS = ["回龙观盒马鲜生开业啦，盛大开业，买一送一", "北京盒马鲜生新店开业，全场商品八折，欢迎光临"]
WINDOW_S = Fraction(1, 50)
SPEECH_RMS = 500  # of 32767: well above silence (0) and below speech (a few thousand)


@pytest.fixture
def cache(tmp_path: Path) -> SpeechCache:
    return SpeechCache(str(tmp_path / "cache"))


def speak(text: str, cache: SpeechCache, out: Path, **kw: object) -> Narration:
    args: dict[str, object] = {"voice": "", "rate": 0, "language": "zh"} | kw
    return narrate(text, cache=cache, out_dir=str(out), **args)  # type: ignore[arg-type]


def samples_of(narration: Narration) -> array.array[int]:
    with wave.open(narration.audio_path, "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48_000, 1, 2)
        values = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        values.byteswap()
    return values


def rms(values: array.array[int], start_s: Fraction, end_s: Fraction) -> float:
    part = values[round(start_s * 48_000) : round(end_s * 48_000)]
    return math.sqrt(sum(v * v for v in part) / len(part)) if part else 0.0


def voiced_share(values: array.array[int], start_s: Fraction, end_s: Fraction) -> float:
    """The share of 20 ms windows in [start, end) that carry speech."""
    windows = [start_s + k * WINDOW_S for k in range(int((end_s - start_s) / WINDOW_S))]
    return sum(rms(values, t, t + WINDOW_S) > SPEECH_RMS for t in windows) / max(1, len(windows))


def assert_cues_tile(narration: Narration) -> None:
    """Cues in order, never overlapping, from the start to the end of the speech."""
    cues = narration.cues
    assert cues[0].start_s == 0 and cues[-1].end_s == narration.duration_s
    for a, b in zip(cues, cues[1:], strict=False):
        assert a.start_s < a.end_s <= b.start_s


def test_the_seed_texts_speak_mandarin_with_a_cue_per_clause(cache: SpeechCache, tmp_path: Path) -> None:
    for text in SEED_TEXTS:
        n = speak(text, cache, tmp_path)
        values = samples_of(n)
        assert n.duration_s == Fraction(len(values), 48_000)  # sample-accurate
        assert 2 <= n.duration_s <= 10
        assert [c.text for c in n.cues] == text.split("，")
        assert n.text == text and n.voice == "zh-female-1" and voices.find_voice(n.voice).family == "cmn"
        assert_cues_tile(n)
        for cue in n.cues:
            assert voiced_share(values, cue.start_s, cue.end_s) > 0.6, cue
        assert max(values) > 20_000  # normalised: loud enough to mix under music


def test_mandarin_is_read_as_mandarin_not_spelled_out(cache: SpeechCache, tmp_path: Path) -> None:
    """An English voice reads Chinese characters as 'Chinese letter' one by one: far longer."""
    mandarin = speak(SEED_TEXTS[0], cache, tmp_path)
    spelled = speak(SEED_TEXTS[0], cache, tmp_path, voice="en-male-1")
    assert spelled.duration_s > 2 * mandarin.duration_s


def test_a_break_is_silence_of_its_length_between_two_cues(cache: SpeechCache, tmp_path: Path) -> None:
    n = speak('盛大开业，<break time="800ms"/>买一送一', cache, tmp_path)
    values = samples_of(n)
    first, second = n.cues
    assert (first.text, second.text) == ("盛大开业", "买一送一")
    assert second.start_s - first.end_s == Fraction(4, 5)
    assert rms(values, first.end_s, second.start_s) < 1  # digital silence
    assert voiced_share(values, first.start_s, first.end_s) > 0.6
    assert voiced_share(values, second.start_s, second.end_s) > 0.6


def test_sub_speaks_the_alias_and_shows_the_original(cache: SpeechCache, tmp_path: Path) -> None:
    sub = speak('欢迎<sub alias="盒马鲜生">HEMA</sub>会员！', cache, tmp_path)
    plain = speak("欢迎盒马鲜生会员！", cache, tmp_path)
    assert [c.text for c in sub.cues] == ["欢迎HEMA会员！"] and sub.text == "欢迎HEMA会员！"
    assert samples_of(sub) == samples_of(plain)


def test_rate_500_is_about_twice_as_fast_and_minus_500_about_half(cache: SpeechCache, tmp_path: Path) -> None:
    english = "Grand opening today, buy one get one free."
    for voice, text in [("zh-female-1", SEED_TEXTS[1]), ("en-male-1", english)]:
        normal = speak(text, cache, tmp_path, voice=voice).duration_s
        fast = speak(text, cache, tmp_path, voice=voice, rate=500).duration_s
        slow = speak(text, cache, tmp_path, voice=voice, rate=-500).duration_s
        assert 1.75 <= normal / fast <= 2.3, (voice, float(normal / fast))
        assert 1.75 <= slow / normal <= 2.3, (voice, float(slow / normal))


def test_long_clauses_get_several_cues_that_still_tile(cache: SpeechCache, tmp_path: Path) -> None:
    text = "这是一段非常非常长的没有任何标点符号的中文句子需要被切分成多个部分来显示"
    n = speak(text, cache, tmp_path, max_cue_width=16)
    assert len(n.cues) == 5 and "".join(c.text for c in n.cues) == text
    assert_cues_tile(n)


def test_english_voices_and_sentences(cache: SpeechCache, tmp_path: Path) -> None:
    n = speak("<s>Hello there</s><s>Fresh fruit, every morning!</s>", cache, tmp_path, voice="en-gb-male-1")
    assert [c.text for c in n.cues] == ["Hello there", "Fresh fruit", "every morning!"]
    assert n.text == "Hello there Fresh fruit, every morning!" and n.voice == "en-gb-male-1"
    assert_cues_tile(n)


def test_every_catalogue_voice_speaks(cache: SpeechCache, tmp_path: Path) -> None:
    data = espeakng_loader.get_data_path()
    lines = {"cmn": "欢迎光临", "yue": "欢迎光临", "en": "Welcome"}
    durations = set()
    for voice in voices.VOICES:
        assert voice.engine == "espeak"
        variant = voice.engine_voice.partition("+")[2]
        assert not variant or os.path.exists(os.path.join(data, "voices", "!v", variant))
        n = speak(lines[voice.family], cache, tmp_path, voice=voice.name)
        assert voiced_share(samples_of(n), Fraction(0), n.duration_s) > 0.5, voice
        durations.add(n.duration_s)
    assert len(durations) > len(voices.VOICES) / 2  # the variants do differ


def test_unknown_voices_and_bad_texts_are_errors_not_retried(cache: SpeechCache, tmp_path: Path) -> None:
    bad: list[tuple[dict[str, object], str]] = [
        ({"voice": "zhitian_emo"}, "你好"), ({"language": "klingon"}, "你好"), ({}, "<p>你好</p>"),
        ({}, "，。"), ({"rate": 900}, "你好"),
    ]  # fmt: skip
    for kw, text in bad:
        with pytest.raises(SpeechError) as e:
            speak(text, cache, tmp_path, **kw)
        assert not e.value.retryable


def test_a_wav_file_given_as_the_speech(tmp_path: Path) -> None:
    path = tmp_path / "voice-over.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44_100)
        w.writeframes(bytes(4 * 44_101))
    n = narration_from_wav(str(path))
    assert n == Narration(str(path), Fraction(44_101, 44_100), (), "", "")
    with pytest.raises(MaterialNotFoundError):
        narration_from_wav(str(tmp_path / "missing.wav"))
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    with pytest.raises(MaterialUnreadableError):
        narration_from_wav(str(tmp_path / "junk.wav"))


def test_the_engine_is_one_per_process_and_named_with_its_version() -> None:
    engine = engine_for("espeak")
    assert engine is engine_for("espeak") and engine.name.startswith("espeak-ng-1.")
    with pytest.raises(SpeechError):
        engine_for("piper")
