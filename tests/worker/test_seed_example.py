"""The job model's §10 example, rendered as reelmill promises (at 180×320 to stay quick): 20 distinct
variants, each speaking one of the two texts (each text 10 times) under one of the two titles (spread
evenly with the texts), a shot from group 1, one from group 2 and more as the speech needs, each at
its own speed, music at 0.3 under the voice, the clips' own sound muted."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import pytest

from cli.client import submit_request
from cli.samples import make_music, make_video, make_wav
from gateway.validate import Roots, validate_submit
from reelmill.v1 import render_pb2
from worker.job import JobState, run_job
from worker.narration import Cue, Narration
from worker.settings import WorkerSettings

TEXTS = [
    "欢迎来到我们的新品发布会。这款产品轻巧耐用，适合每一天。",
    "限时优惠，现在下单立享八折。数量有限，先到先得！",
]
SECONDS = {TEXTS[0]: 6.5, TEXTS[1]: 5.25}


def seed_example(media: Path) -> dict:
    """§10 as an ICE document (configs as JSON strings, as ICE clients send them)."""
    group = lambda name, files: {"GroupName": name, "MediaArray": [f"file://{media}/{f}" for f in files]}  # noqa: E731
    opening = group("opening", ["o1.mp4", "o2.mp4"])
    product = group("product", ["p1.mp4", "p2.mp4"])
    music = f"file://{media}/music.m4a"
    volumes = {
        "MediaConfig": {"Volume": 0},
        "SpeechConfig": {"Volume": 1},
        "BackgroundMusicConfig": {"Volume": 0.3},
    }
    out = f"file://{media.parent}/out/seed_{{index}}.mp4"
    # The spec's 1080×1920, made small for the test.
    output = {
        "MediaURL": out,
        "Count": 20,
        "MaxDuration": 15,
        "Width": 180,
        "Height": 320,
        "Video": {"Crf": 27},
    }
    return {
        "InputConfig": json.dumps({
            "MediaGroupArray": [opening, product], "TitleArray": ["新品上市", "限时特惠"],
            "SpeechTextArray": TEXTS, "BackgroundMusicArray": [music],
        }, ensure_ascii=False),
        "EditingConfig": json.dumps(volumes),
        "OutputConfig": json.dumps(output),
        "Seed": 10,
    }  # fmt: skip


def fake_narrate(folder: Path):  # type: ignore[no-untyped-def]
    """Stands in for speech synthesis: a generated WAV per text, one cue per sentence."""

    def narrate(text: str, voice: str, rate: int, language: str) -> Narration:
        seconds = Fraction(str(SECONDS[text]))
        path = folder / f"speech-{TEXTS.index(text)}.wav"
        if not path.exists():
            make_wav(str(path), float(seconds), rate=24000)
        sentences = [s for s in re.split(r"(?<=[。！？])", text) if s]
        cues, at = [], Fraction(0)
        for s in sentences:
            end = at + seconds * len(s) / len(text)
            cues.append(Cue(at, end, s))
            at = end
        return Narration(str(path), seconds, tuple(cues), text, voice)

    return narrate


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("seed") / "media"
    folder.mkdir()
    for i, name in enumerate(["o1.mp4", "o2.mp4", "p1.mp4", "p2.mp4"]):
        make_video(
            str(folder / name), 160, 90, 9.0, tone_hz=300 + 100 * i, chroma=(90 + 20 * i, 160 - 20 * i)
        )
    make_music(str(folder / "music.m4a"), 4.0)
    (folder.parent / "out").mkdir()
    return folder


def decoded_digest(path: str) -> str:
    """A hash of every decoded frame's pixels and every audio sample."""
    h = hashlib.sha256()
    with av.open(path) as c:
        for frame in c.decode(video=0):
            h.update(bytes(frame.planes[0]))
    with av.open(path) as c:
        for aframe in c.decode(audio=0):
            h.update(bytes(aframe.planes[0]))
    return h.hexdigest()


def test_the_seed_example_renders_twenty_distinct_watchable_variants(media: Path) -> None:
    job = validate_submit(submit_request(seed_example(media), "/"), Roots((str(media),), str(media.parent)))
    assert (job.job_type, job.count) == ("Script", 20)
    settings = WorkerSettings(media_roots=(str(media),), output_dir=str(media.parent / "out"))
    narrate = fake_narrate(media.parent)
    plans, outputs = [], []
    for index in range(job.count):
        cmd = render_pb2.RenderCommand(
            batch_id="seed", sub_job_id=f"seed-{index}", index=index, count=job.count, seed=job.seed or 0,
            input_config=job.input_config, editing_config=job.editing_config,
            output_config=job.output_config, output_url=job.output_url(index),
        )  # fmt: skip
        state = JobState()
        done = run_job(cmd, settings, state, narrate=narrate)
        plans.append(json.loads(state.plan_json))
        outputs.append(done)
    assert [Path(o.media_url).name for o in outputs] == [f"seed_{i}.mp4" for i in range(20)]

    speech = [p["Speech"][0]["Text"] for p in plans]
    assert Counter(speech) == {TEXTS[0]: 10, TEXTS[1]: 10}
    titles = [p["Texts"][0]["Text"] for p in plans]
    assert Counter(titles) == {"新品上市": 10, "限时特惠": 10}
    # Chosen jointly over the batch: each title with each text 5 times, never in lock-step.
    assert Counter(zip(titles, speech, strict=True)) == {(t, x): 5 for t in set(titles) for x in TEXTS}
    without_index = {json.dumps({k: v for k, v in p.items() if k != "Index"}, sort_keys=True) for p in plans}
    assert len(without_index) == 20 and all(p["DistinctVariants"] == 20 for p in plans)
    # Variants sharing a clip start it at different pieces: more shot sequences than clip pairs (4).
    assert len({tuple((s["Media"], s["In"]) for s in p["Shots"]) for p in plans}) > 12
    # Twenty different videos, told apart by what they show and sound like (not by their plans).
    assert len({decoded_digest(o.media_url.removeprefix("file://")) for o in outputs}) == 20
    for plan, done in zip(plans, outputs, strict=True):
        seconds = SECONDS[plan["Speech"][0]["Text"]]
        assert plan["Duration"] == pytest.approx(seconds, abs=1 / 30)
        # a shot from each group, then more in turn: footage at its own speed fills the narration
        groups = [s["Group"] for s in plan["Shots"]]
        assert groups == ["opening", "product", "opening"][: len(groups)] and len(groups) >= 2
        assert all(s["Speed"] == 1 and s["Volume"] == 0 for s in plan["Shots"])
        assert plan["Music"]["Volume"] == 0.3 and plan["Music"]["Ducking"] is True
        subtitles = [t for t in plan["Texts"] if t["Kind"] == "Subtitle"]
        assert "".join(t["Text"] for t in subtitles) == plan["Speech"][0]["Text"]
        path = done.media_url.removeprefix("file://")
        with av.open(path) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            assert (v.codec_context.width, v.codec_context.height) == (180, 320)
            frames = sum(1 for _ in c.decode(video=0))
            assert frames == round(plan["Duration"] * 30)
            assert abs(float(a.duration * a.time_base) - frames / 30) <= 1 / 30
        assert done.duration_s == pytest.approx(seconds, abs=0.05)
