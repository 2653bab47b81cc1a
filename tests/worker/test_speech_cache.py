"""The speech cache: each clause synthesised once, bounded in bytes (LRU), shared by threads and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import wave
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

from worker.speech import Pcm, SpeechCache, SpeechEngine, engine_for, narrate

TEXTS = ["回龙观盒马鲜生开业啦，盛大开业，买一送一", "北京盒马鲜生新店开业，全场商品八折，欢迎光临"]
CLAUSES = {part + "，" for t in TEXTS for part in t.split("，")[:-1]} | {t.split("，")[-1] for t in TEXTS}
REPO = Path(__file__).resolve().parents[2]


class CountingEngine:
    """The real engine, counting what it is asked to say."""

    def __init__(self, inner: SpeechEngine) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    def synthesize(self, text: str, *, voice: str, speed: Fraction) -> Pcm:
        with self._lock:
            self.calls[text] += 1
        return self.inner.synthesize(text, voice=voice, speed=speed)


def test_twenty_narrations_of_two_texts_synthesise_each_clause_once(tmp_path: Path) -> None:
    cache = SpeechCache(str(tmp_path / "cache"))
    engine = CountingEngine(engine_for("espeak"))

    def variant(index: int) -> tuple[Fraction, tuple[object, ...]]:
        n = narrate(TEXTS[index % 2], voice="zh-female-1", rate=0, language="zh", cache=cache,
                    out_dir=str(tmp_path / f"v{index}"), engine=engine)  # fmt: skip
        with open(n.audio_path, "rb") as f:
            return n.duration_s, (n.cues, f.read())

    with ThreadPoolExecutor(2) as pool:  # two worker slots
        results = list(pool.map(variant, range(20)))
    assert set(engine.calls) == CLAUSES and set(engine.calls.values()) == {1}
    assert len({r for i, r in enumerate(results) if i % 2 == 0}) == 1  # every variant of a text alike
    assert len(os.listdir(cache.folder)) == len(CLAUSES)

    other_rate = narrate(TEXTS[0], voice="zh-female-1", rate=100, language="zh", cache=cache,
                         out_dir=str(tmp_path), engine=engine)  # fmt: skip
    other_voice = narrate(TEXTS[0], voice="zh-male-1", rate=0, language="zh", cache=cache,
                          out_dir=str(tmp_path), engine=engine)  # fmt: skip
    assert set(engine.calls.values()) == {1, 3}  # the first text's clauses again, twice
    assert other_rate.duration_s < results[0][0] and other_voice.duration_s != results[0][0]


def test_the_cache_evicts_the_least_recently_used_beyond_its_bound(tmp_path: Path) -> None:
    entry = bytes(48_000 * 2)  # one second
    size = len(entry) + 44  # and the WAV header
    cache = SpeechCache(str(tmp_path), max_bytes=3 * size)
    keys = [SpeechCache.key("e", "v", 0, str(k)) for k in range(5)]
    for k in keys[:3]:
        cache.put(k, entry)
    assert cache.total_bytes() == 3 * size
    assert cache.get(keys[0]) == entry  # now the most recently used
    cache.put(keys[3], entry)
    assert cache.get(keys[1]) is None and cache.get(keys[0]) == entry
    assert cache.total_bytes() <= cache.max_bytes
    big = SpeechCache(str(tmp_path), max_bytes=size // 2)
    big.put(keys[4], entry)  # larger than the bound alone: kept until the next write
    assert big.get(keys[4]) == entry and os.listdir(tmp_path) == [f"{keys[4]}.wav"]


def test_a_damaged_entry_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    cache = SpeechCache(str(tmp_path))
    key = SpeechCache.key("e", "v", 0, "t")
    Path(cache.path(key)).write_bytes(b"RIFF\x00\x00")
    assert cache.get(key) is None and not os.path.exists(cache.path(key))
    calls = []
    assert cache.get_or_make(key, lambda: calls.append(1) or b"\x01\x00") == b"\x01\x00"
    assert cache.get_or_make(key, lambda: calls.append(1) or b"") == b"\x01\x00" and calls == [1]


def test_two_processes_share_one_cache_folder(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from worker.speech import SpeechCache, narrate\n"
        "cache = SpeechCache(sys.argv[1], max_bytes=400_000)\n"
        "for i in range(12):\n"
        "    text = f'第{i % 6}号商品今天特价，买一送一'\n"
        "    narrate(text, voice='zh-female-1', rate=0, language='zh', cache=cache, out_dir=sys.argv[2])\n"
    )
    folder = str(tmp_path / "cache")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, folder, str(tmp_path / f"out{k}")], env=env, cwd=REPO)
        for k in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    names = os.listdir(folder)
    assert names and all(n.endswith(".wav") and not n.startswith(".") for n in names)  # no temp files left
    for name in names:
        with wave.open(os.path.join(folder, name), "rb") as w:
            assert w.getframerate() == 48_000 and w.getnframes() > 0
    assert SpeechCache(folder).total_bytes() <= 400_000
