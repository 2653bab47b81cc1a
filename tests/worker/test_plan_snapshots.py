"""Golden plans: representative ICE documents, through the gateway's validation and render commands, to
the planner, with media and narration facts made up here (no media, no speech engine). Each plan must
equal the one committed in tests/worker/plans/, so that moving a rule (a default, a precedence, a
normalisation) from one module to another cannot change a video unnoticed.

After a change that is meant to change plans, rewrite them and read the diff:
    REELMILL_UPDATE_PLANS=1 .venv/bin/pytest tests/worker/test_plan_snapshots.py
"""

from __future__ import annotations

import hashlib
import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from cli.client import submit_request
from gateway.app import new_batch
from gateway.validate import Roots, validate_submit
from reelmill.v1 import render_pb2
from worker.narration import Cue, Narration
from worker.plan import MediaFacts, plan_variant
from worker.selection import select

HERE = Path(__file__).resolve().parent
PLANS = HERE / "plans"
EXAMPLES = HERE.parents[1] / "examples"
MEDIA = "/media"
ROOTS = Roots(media=(MEDIA,), output="/out")
VARIANTS = 3  # the first variants of each batch


def facts_of(url: str) -> MediaFacts:
    """Made-up but varied facts: stills by extension; videos 3–12 s long by a hash of the name."""
    if url.endswith((".png", ".jpg")):
        return MediaFacts(url, True, 800, 600, Fraction(0), False)
    seconds = 3 + int(hashlib.sha256(url.encode()).hexdigest(), 16) % 10
    return MediaFacts(url, False, 1920, 1080, Fraction(seconds), not url.endswith("-mute.mp4"))


def narration_of(text: str) -> Narration:
    """0.12 s per character, in two sentences."""
    seconds = Fraction(12 * len(text), 100)
    half = seconds / 2
    cues = (Cue(Fraction(0), half, text[: len(text) // 2]), Cue(half, seconds, text[len(text) // 2 :]))
    return Narration(f"/speech/{hashlib.sha256(text.encode()).hexdigest()[:12]}.wav", seconds, cues, text)


def example(name: str) -> dict[str, Any]:
    doc = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    doc.setdefault("Seed", 1)  # without one, each batch draws its own
    return json.loads(json.dumps(doc).replace('"file:media/', f'"file://{MEDIA}/'))


def _media(*names: str) -> list[str]:
    return [f"file://{MEDIA}/{n}" for n in names]


JOBS: dict[str, dict[str, Any]] = {
    # the README's example: storyboard groups, no narration, group durations
    "example": example("job.json"),
    # nearly every feature: recorded-style narration, titles, sub-headings, stickers, music, background
    # pictures, transitions, effects, filters, time ranges, MaxDuration
    "full-example": example("full-job.json"),
    # global narration longer than MaxDuration: sped up; a voice list; Cut alignment
    "narrated": {
        "InputConfig": {
            "MediaGroupArray": [
                {"GroupName": "a", "MediaArray": _media("a1.mp4", "a2.mp4", "a3-mute.mp4")},
                {"GroupName": "b", "MediaArray": _media("b1.mp4", "still.png")},
            ],
            "TitleArray": ["One", "Two"],
            "SpeechTextArray": [
                "A narration that goes on for quite a while, longer than the video may.",
                "Short and sweet.",
            ],
        },
        "EditingConfig": {
            "SpeechConfig": {"Voice": "en-female-1,en-male-1", "SpeechLanguage": "en", "SpeechRate": -100},
            "ProcessConfig": {"AlignmentMode": "Cut", "SingleShotDuration": 2},
            "BackgroundImageConfig": {"SubType": "Blur", "Radius": 30},
        },
        "OutputConfig": {
            "Count": 4,
            "MaxDuration": 7,
            "Width": 720,
            "Height": 1280,
            "MediaURL": "file:///out/narrated-{index}.mp4",
            "Video": {"Bitrate": 2500, "Crf": 20},
        },
        "Seed": 7,
    },
    # grouped narration: each speaking group as long as its paragraph, the silent one its Duration
    "grouped-narration": {
        "InputConfig": {
            "MediaGroupArray": [
                {
                    "GroupName": "open",
                    "MediaArray": _media("o1.mp4", "o2.mp4"),
                    "SpeechTextArray": ["Welcome to the shop.", "Hello there, friend."],
                },
                {"GroupName": "quiet", "MediaArray": _media("q1.mp4"), "Duration": 1.5, "Volume": 0.7},
                {
                    "GroupName": "close",
                    "MediaArray": _media("c1.mp4", "c2.png"),
                    "SplitMode": "NoSplit",
                    "SpeechTextArray": ["See you soon."],
                },
            ],
            "BackgroundMusicArray": _media("m1.m4a", "m2.m4a"),
        },
        "EditingConfig": {
            "SpeechConfig": {"SpeechLanguage": "en", "Subtitles": False, "Volume": 0.9},
            "BackgroundMusicConfig": {"Volume": 0.4, "Ducking": False},
            "ProcessConfig": {"AllowTransition": True, "UseUniformTransition": True},
        },
        "OutputConfig": {"Count": 3, "Video": {"Fps": 29.97, "Codec": "H.265", "Preset": "fast"}},
        "Seed": 11,
    },
    # ICE's cloud names: GL transitions, ICE effects and filter families, cloud voices (mapped to ours)
    "ice-names": {
        "InputConfig": {
            "MediaGroupArray": [
                {"GroupName": "a", "MediaArray": _media("a1.mp4", "a2.mp4")},
                {"GroupName": "b", "MediaArray": _media("b1.mp4", "b2.mp4")},
            ],
            "SpeechTextArray": ["新品上市，欢迎选购。", "限时特惠，只在本周。"],
        },
        "EditingConfig": {
            "SpeechConfig": {"Voice": "zhiqi,zhilun"},
            "ProcessConfig": {
                "AllowTransition": True,
                "UseUniformTransition": False,
                "TransitionList": ["directional", "simplezoom", "linearblur"],
                "AllowVfxEffect": True,
                "VfxEffectProbability": 1,
                "VfxFirstClipEffectList": ["zoominout"],
                "VfxNotFirstClipEffectList": ["slightshake", "movie"],
                "AllowFilter": True,
                "FilterList": ["m1", "pf2"],
            },
        },
        "OutputConfig": {"Count": 4, "Width": 720, "Height": 1280},
        "Seed": 5,
    },
    # ICE's own fields: singular Title, SpeechText, Sticker and BackgroundMusic; time ranges for one group;
    # EnableClipSplit; Type for SubType with a fractional Radius; styles and VOD fields (reported)
    "ice-fields": {
        "InputConfig": {
            "MediaGroupArray": [
                {"GroupName": "open", "MediaArray": _media("long.mp4", "o2.mp4")},
                {"GroupName": "more", "MediaArray": _media("long.mp4")},
            ],
            "Title": "新品上市",
            "SpeechText": "新品上市，轻巧耐用，欢迎选购。",
            "Sticker": {"MediaURL": f"file://{MEDIA}/logo.png", "Width": 0.2, "DyncFrames": 12},
            "BackgroundMusic": f"file://{MEDIA}/m.m4a",
        },
        "EditingConfig": {
            "MediaConfig": {
                "MediaMetaDataArray": [
                    {
                        "Media": f"file://{MEDIA}/long.mp4",
                        "GroupName": "open",
                        "TimeRangeList": [{"In": 1, "Out": 2.5}],
                    }
                ]
            },
            "SpeechConfig": {"Voice": "zhilun", "Style": "Gentle", "AsrConfig": {"AdaptMode": "AutoWrap"}},
            "BackgroundMusicConfig": {"Style": "bgm-relaxing", "Volume": 0.3},
            "ProcessConfig": {"EnableClipSplit": False},
            "BackgroundImageConfig": {"Type": "blur", "Radius": 0.05},
        },
        "OutputConfig": {
            "Count": 3,
            "Width": 720,
            "Height": 1280,
            "StorageLocation": "vod.example.com",
            "FileName": "out_{index}.mp4",
        },
        "Seed": 9,
    },
    # Smart_Mix: a pool, FixedDuration, a preview
    "smart-mix": {
        "InputConfig": {
            "MediaArray": _media("p1.mp4", "p2.mp4", "p3.mp4", "p4.png"),
            "BackgroundMusicArray": _media("m1.m4a"),
        },
        "EditingConfig": {
            "MediaConfig": {"Gain": 0.5},
            "ProcessConfig": {"ImageDuration": 1.5, "AllowFilter": True},
        },
        "OutputConfig": {
            "Count": 5,
            "FixedDuration": 9,
            "GeneratePreviewOnly": True,
            "Audio": {"Bitrate": 96},
        },
        "Seed": 3,
    },
}


def plans_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    job = validate_submit(submit_request(doc, "/"), ROOTS)
    batch = new_batch("tenant", job)
    plans = []
    for message in batch.messages[:VARIANTS]:
        cmd = render_pb2.RenderCommand.FromString(message.payload)
        sel = select(cmd)
        facts = {u: facts_of(u) for u in _urls(cmd)}
        narrations = {t: narration_of(t) for t in sel.texts_to_speak()}
        plans.append(json.loads(plan_variant(cmd, facts, narrations).to_json()))
    return plans


def _urls(cmd: render_pb2.RenderCommand) -> set[str]:
    ic = cmd.input_config
    urls = set(ic.media_array) | {u for g in ic.media_group_array for u in g.media_array}
    urls |= set(ic.background_image_array) | {s.media_url for s in ic.sticker_array}
    urls |= {ic.sticker.media_url} if ic.HasField("sticker") else set()
    return urls


@pytest.mark.parametrize("name", sorted(JOBS))
def test_plans_are_the_golden_ones(name: str) -> None:
    plans = plans_of(JOBS[name])
    path = PLANS / f"{name}.json"
    text = json.dumps(plans, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("REELMILL_UPDATE_PLANS") == "1":
        PLANS.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden plans for {name}: run with REELMILL_UPDATE_PLANS=1 and read them"
    assert plans == json.loads(path.read_text(encoding="utf-8"))


def test_the_golden_plans_differ_between_variants_and_jobs() -> None:
    """A guard on the guard: the snapshots are not all the same plan."""
    everything = [json.dumps(p, sort_keys=True) for name in JOBS for p in plans_of(JOBS[name])]
    assert len(set(everything)) == len(everything)
