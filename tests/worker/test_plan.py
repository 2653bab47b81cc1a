"""The planner is pure: media and narration facts in, a timeline out; same inputs and seed, same plan."""

from __future__ import annotations

import json
import math
from collections import Counter
from fractions import Fraction

import pytest

from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from worker.narration import Cue, Narration
from worker.plan import MediaFacts, plan_variant
from worker.selection import select


def video(url: str, seconds: float, audio: bool = True) -> MediaFacts:
    return MediaFacts(url, False, 320, 240, Fraction(seconds), audio)


def image(url: str, width: int = 400, height: int = 300) -> MediaFacts:
    return MediaFacts(url, True, width, height, Fraction(0), False)


FACTS = {
    **{u: video(u, 4.0) for u in ("a1", "a2", "a3", "b1")},
    "b2": video("b2", 1.0, audio=False),
    "c.png": image("c.png"),
    "long1": video("long1", 9.0),
    "long2": video("long2", 12.0),
    "logo.png": image("logo.png", 200, 100),
}


def narration(text: str, seconds: float, sentences: int = 2) -> Narration:
    step = Fraction(str(seconds)) / sentences
    cues = tuple(Cue(step * i, step * (i + 1), f"{text}-{i}") for i in range(sentences))
    return Narration(f"/speech/{text}.wav", Fraction(str(seconds)), cues, text)


def command(
    index: int = 0,
    *,
    seed: int = 42,
    count: int = 6,
    groups: list[cfg.MediaGroup] | None = None,
    pool: list[str] | None = None,
    editing: cfg.EditingConfig | None = None,
    **inputs: object,
) -> render_pb2.RenderCommand:
    output = inputs.pop("output", None) or cfg.OutputConfig(width=180, height=320)
    if pool is not None:
        ic = cfg.InputConfig(media_array=pool, **inputs)  # type: ignore[arg-type]
    else:
        ic = cfg.InputConfig(
            media_group_array=groups
            or [
                cfg.MediaGroup(group_name="a", media_array=["a1", "a2", "a3"], duration=2.0),
                cfg.MediaGroup(group_name="b", media_array=["b1", "b2"], duration=1.5),
                cfg.MediaGroup(group_name="c", media_array=["c.png"]),
            ],
            **inputs,  # type: ignore[arg-type]
        )
    return render_pb2.RenderCommand(
        index=index,
        count=count,
        seed=seed,
        input_config=ic,
        editing_config=editing or cfg.EditingConfig(),
        output_config=output,  # type: ignore[arg-type]
    )


def on_grid(t: Fraction, fps: int = 30) -> bool:
    return (t * fps).denominator == 1


def test_same_inputs_and_seed_give_the_same_plan() -> None:
    nar = {"hello": narration("hello", 5.5)}
    cmd = command(3, speech_text_array=["hello"], title_array=["T"])
    assert plan_variant(cmd, FACTS, nar) == plan_variant(cmd, FACTS, nar)
    assert plan_variant(cmd, FACTS, nar).to_json() == plan_variant(cmd, FACTS, nar).to_json()
    batch = [plan_variant(command(i, speech_text_array=["hello"]), FACTS, nar).shots for i in range(6)]
    other = [
        plan_variant(command(i, seed=7, speech_text_array=["hello"]), FACTS, nar).shots for i in range(6)
    ]
    assert batch != other  # another seed, another batch


def test_variants_are_pairwise_distinct_while_the_media_combinations_last() -> None:
    plans = [plan_variant(command(i, count=6), FACTS) for i in range(6)]
    firsts = {tuple(s.source_url for s in p.shots) for p in plans}
    assert len(firsts) == 6 and all(p.distinct_variants == 6 for p in plans)
    # Past the combinations, variants differ by the pieces they take from long media.
    groups = [
        cfg.MediaGroup(group_name="a", media_array=["long1", "a1"], duration=2),
        cfg.MediaGroup(group_name="b", media_array=["long2"], duration=2),
    ]
    plans = [plan_variant(command(i, count=20, groups=groups), FACTS) for i in range(20)]
    sequences = {tuple((s.source_url, s.in_s) for s in p.shots) for p in plans}
    # 2 combinations, 10 variants each. long1 splits into 3 pieces and long2 into 4: all 10 variants
    # with long1 can differ (12 piece pairs); a1 is one piece, so only 4 of its 10 can: 14 in all.
    assert len(sequences) == 14 == plans[0].distinct_variants


def test_titles_texts_and_clips_are_combined_jointly_not_in_lock_step() -> None:
    """2 groups × 2 one-piece clips, 2 titles, 2 texts: 16 combinations, all of them used by Count 16;
    Count 20 has 4 variants that cannot differ, and the plans say so."""
    groups = [
        cfg.MediaGroup(group_name="a", media_array=["a1", "a2"]),
        cfg.MediaGroup(group_name="b", media_array=["a3", "b1"]),
    ]
    nar = {t: narration(t, 3.5) for t in ("x", "y")}

    def plans(count: int, seed: int = 42) -> list[str]:
        out = []
        for i in range(count):
            cmd = command(
                i,
                seed=seed,
                count=count,
                groups=groups,
                title_array=["T1", "T2"],
                speech_text_array=["x", "y"],
            )
            p = plan_variant(cmd, FACTS, nar)
            out.append(json.dumps({k: v for k, v in json.loads(p.to_json()).items() if k not in ("Index",)}))
        return out

    sixteen = plans(16)
    assert len(set(sixteen)) == 16 and all(json.loads(p)["DistinctVariants"] == 16 for p in sixteen)
    twenty = plans(20)
    assert len(set(twenty)) == 16 and json.loads(twenty[0])["DistinctVariants"] == 16
    assert plans(20) == twenty and plans(20, seed=7) != twenty  # same seed, same batch


def test_groups_last_their_duration_on_the_frame_grid() -> None:
    for i in range(6):
        plan = plan_variant(command(i), FACTS)
        a, b = plan.shots[0], plan.shots[1]
        assert a.duration_s == 2 and plan.shots[-1].is_image
        assert plan.duration_s == Fraction(13, 2)  # 2 + 1.5 + 3 (no Duration: one SingleShotDuration)
        if b.source_url == "b2":  # a 1 s clip cannot fill 1.5 s: the group takes another piece
            assert [s.group for s in plan.shots] == ["a", "b", "b", "c"]
        for shot in plan.shots:
            assert on_grid(shot.in_s) and on_grid(shot.duration_s)
            if not shot.is_image:
                assert shot.in_s + shot.duration_s <= FACTS[shot.source_url].duration_s
        assert plan.frame_count == plan.duration_s * 30
        assert all(s.volume == (1.0 if FACTS[s.source_url].has_audio else 0.0) for s in plan.shots)


def test_fixed_duration_scales_the_groups_and_max_duration_caps_it() -> None:
    plan = plan_variant(command(0, output=cfg.OutputConfig(fixed_duration=13, width=180, height=320)), FACTS)
    assert plan.duration_s == 13
    groups = Counter()
    for s in plan.shots:
        groups[s.group] += s.duration_s
    assert groups == {"a": 4, "b": 3, "c": 6}  # 2 : 1.5 : 3, doubled
    capped = cfg.OutputConfig(fixed_duration=17, max_duration=4.25, width=180, height=320)
    assert plan_variant(command(0, output=capped), FACTS).duration_s == Fraction(127, 30)  # on the grid


def test_average_split_and_no_split() -> None:
    split = cfg.MediaGroup(group_name="s", media_array=["long2"], duration=12)
    plan = plan_variant(command(0, groups=[split]), FACTS)
    assert [(s.in_s, s.duration_s) for s in plan.shots] == [
        (Fraction(i * 3), 3) for i in (0, 1, 2, 3)
    ] or sorted(s.in_s for s in plan.shots) == [0, 3, 6, 9]
    whole = cfg.MediaGroup(group_name="n", media_array=["long2"], duration=5, split_mode="NoSplit")
    starts = {
        plan_variant(command(i, groups=[whole], count=20, seed=i), FACTS).shots[0].in_s for i in range(8)
    }
    for i in range(8):
        (shot,) = plan_variant(command(i, groups=[whole], count=20, seed=i), FACTS).shots
        assert shot.duration_s == 5 and shot.in_s + 5 <= 12
    assert len(starts) > 2  # one shot from a random start


def test_only_the_time_ranges_become_shots() -> None:
    meta = cfg.MediaMetaData(
        media="long2",
        time_range_list=[cfg.TimeRange(**{"in": 2, "out": 5}), cfg.TimeRange(**{"in": 8, "out": 11.5})],
    )
    editing = cfg.EditingConfig(media_config=cfg.MediaConfig(media_meta_data_array=[meta]))
    group = cfg.MediaGroup(group_name="s", media_array=["long2"], duration=6)
    for i in range(4):
        plan = plan_variant(command(i, groups=[group], editing=editing, count=4), FACTS)
        for s in plan.shots:
            inside = [(2, 5), (8, Fraction(23, 2))]
            assert any(a <= s.in_s and s.in_s + s.duration_s <= b for a, b in inside), s
        assert plan.duration_s == 6


def test_time_ranges_with_a_group_name_apply_to_that_group_only() -> None:
    """ICE's MediaMetaData.GroupName: the same media in two groups, cut to 2–5 s in one of them."""
    meta = cfg.MediaMetaData(
        media="long2", group_name="cut", time_range_list=[cfg.TimeRange(**{"in": 2, "out": 5})]
    )
    editing = cfg.EditingConfig(media_config=cfg.MediaConfig(media_meta_data_array=[meta]))
    groups = [cfg.MediaGroup(group_name="cut", media_array=["long2"], duration=3),
              cfg.MediaGroup(group_name="whole", media_array=["long2"], duration=12)]  # fmt: skip
    plan = plan_variant(command(0, groups=groups, editing=editing, count=1), FACTS)
    cut = [s for s in plan.shots if s.group == "cut"]
    whole = [s for s in plan.shots if s.group == "whole"]
    assert cut and all(s.in_s >= 2 and s.in_s + s.duration_s * s.speed <= 5 for s in cut)
    assert any(s.in_s < 2 or s.in_s >= 5 for s in whole)  # the other group uses all of it


def test_singular_fields_and_no_clip_split() -> None:
    """ICE's Title and Sticker as one-item arrays; EnableClipSplit false: a long media is one piece,
    each shot starting anywhere in it (as NoSplit)."""
    editing = cfg.EditingConfig(process_config=cfg.ProcessConfig(enable_clip_split=False))
    group = cfg.MediaGroup(group_name="g", media_array=["long2"], duration=3)
    starts = set()
    for i in range(6):
        cmd = command(i, groups=[group], editing=editing, count=6, title="Only one",
                      sticker=cfg.Sticker(media_url="logo.png"))  # fmt: skip
        plan = plan_variant(cmd, FACTS)
        assert [c.text for c in plan.captions] == ["Only one"] and plan.stickers[0].url == "logo.png"
        starts |= {s.in_s for s in plan.shots}
    assert len(starts) > 3 and not starts <= {0, 3, 6, 9}  # random starts, not the 3 s piece grid


def test_global_narration_plays_footage_at_its_own_speed_by_default() -> None:
    """No AlignmentMode: a long narration gets more shots, each at speed 1, the last cut at its end
    (never one piece stretched into slow motion)."""
    groups = [
        cfg.MediaGroup(group_name="one", media_array=["long1", "long2"]),
        cfg.MediaGroup(group_name="two", media_array=["a1", "a2"]),
    ]
    for seconds in (3.5, 6.9, 11.5, 14.0, 40.0):
        nar = {"t": narration("t", seconds)}
        plan = plan_variant(command(0, groups=groups, speech_text_array=["t"]), FACTS, nar)
        assert plan.duration_s == Fraction(str(seconds))
        assert all(s.speed == 1 for s in plan.shots)
        assert len(plan.shots) == max(2, math.ceil(seconds / 3))  # 3 s pieces, as many as it takes
        assert all(s.duration_s <= 3 for s in plan.shots)
        assert plan.shots[0].volume == 0  # the clips' own sound is off under narration
        assert plan.speech[0].start_s == 0 and plan.speech[0].duration_s == plan.duration_s


def test_a_narration_shorter_than_one_shot_per_group_still_shows_every_group() -> None:
    groups = [
        cfg.MediaGroup(group_name="one", media_array=["long1"]),
        cfg.MediaGroup(group_name="two", media_array=["a1"]),
        cfg.MediaGroup(group_name="three", media_array=["c.png"]),
    ]
    plan = plan_variant(command(0, groups=groups, speech_text_array=["t"]), FACTS, {"t": narration("t", 2.4)})
    assert [s.group for s in plan.shots] == ["one", "two", "three"] and plan.duration_s == Fraction(12, 5)
    assert all(s.speed == 1 for s in plan.shots)
    assert [s.duration_s for s in plan.shots] == [Fraction(4, 5)] * 3  # equal shares of 3 s shots


def test_auto_speed_fits_the_video_to_the_speech_with_as_many_shots_as_keep_it_near_speed_one() -> None:
    editing = cfg.EditingConfig(process_config=cfg.ProcessConfig(alignment_mode="AutoSpeed"))
    groups = [
        cfg.MediaGroup(group_name="one", media_array=["long1", "long2"]),
        cfg.MediaGroup(group_name="two", media_array=["a1", "a2"]),
    ]
    # seconds → shots (3 s of footage each): the number whose speed is closest to 1
    for seconds, shots in ((3.5, 2), (5.0, 2), (6.9, 2), (11.5, 4), (14.0, 5), (40.0, 13)):
        nar = {"t": narration("t", seconds)}
        plan = plan_variant(command(0, groups=groups, editing=editing, speech_text_array=["t"]), FACTS, nar)
        assert plan.duration_s == Fraction(str(seconds)) and len(plan.shots) == shots, seconds
        assert [s.group for s in plan.shots[:3]] == ["one", "two", "one"][:shots]
        speed = plan.shots[0].speed
        assert all(s.speed == speed for s in plan.shots)
        assert abs(float(speed) - 3 * shots / seconds) < 0.02
        assert Fraction(4, 5) < speed  # never the slow motion of one piece stretched
    # Far too short: the fastest speed, shots shortened.
    nar = {"t": narration("t", 1.0)}
    plan = plan_variant(command(0, groups=groups, editing=editing, speech_text_array=["t"]), FACTS, nar)
    assert plan.duration_s == 1 and all(s.speed == 2 for s in plan.shots)


def test_cut_alignment_keeps_speed_one_and_cuts_at_the_speech_end() -> None:
    editing = cfg.EditingConfig(process_config=cfg.ProcessConfig(alignment_mode="Cut"))
    groups = [
        cfg.MediaGroup(group_name="one", media_array=["long1"]),
        cfg.MediaGroup(group_name="two", media_array=["long2"]),
    ]
    plan = plan_variant(
        command(0, groups=groups, editing=editing, speech_text_array=["t"]), FACTS, {"t": narration("t", 7.5)}
    )
    assert [s.group for s in plan.shots] == ["one", "two", "one"]
    assert [s.duration_s for s in plan.shots] == [3, 3, Fraction(3, 2)] and plan.duration_s == Fraction(15, 2)
    assert all(s.speed == 1 for s in plan.shots)


def test_grouped_narration_gives_each_group_its_paragraph() -> None:
    groups = [
        cfg.MediaGroup(group_name="one", media_array=["long1"], speech_text_array=["p1", "p2"]),
        cfg.MediaGroup(group_name="quiet", media_array=["c.png"], duration=2),
        cfg.MediaGroup(group_name="two", media_array=["long2"], speech_text_array=["q1", "q2"]),
    ]
    nar = {
        "p1": narration("p1", 4),
        "p2": narration("p2", 5),
        "q1": narration("q1", 3),
        "q2": narration("q2", 6),
    }
    for i in range(4):
        sel = select(command(i, groups=groups))
        assert sel.paragraphs == (("p1", "", "q1") if i % 2 == 0 else ("p2", "", "q2"))  # k mod n
        plan = plan_variant(command(i, groups=groups), FACTS, {t: nar[t] for t in sel.texts_to_speak()})
        first, second = plan.speech
        assert (first.start_s, first.duration_s) == (0, 4 if i % 2 == 0 else 5)
        assert second.start_s == first.duration_s + 2  # after the quiet group's 2 s
        assert plan.duration_s == second.start_s + second.duration_s
        subtitles = [c for c in plan.captions if c.kind == "Subtitle"]
        assert subtitles[2].start_s == second.start_s  # cues move with their paragraph


def test_speech_is_sped_up_to_fit_max_duration_or_sets_the_length() -> None:
    output = cfg.OutputConfig(width=180, height=320, max_duration=10)
    plan = plan_variant(command(0, speech_text_array=["t"], output=output), FACTS, {"t": narration("t", 12)})
    assert plan.duration_s == 10 and plan.speech[0].speed == Fraction(6, 5)
    cues = [c for c in plan.captions if c.kind == "Subtitle"]
    assert (cues[0].end_s, cues[1].end_s) == (5, 10)  # cues scaled with the speech
    # more than 1.25x would be needed: the narration sets the length at its own speed, as in ICE
    long = plan_variant(
        command(0, speech_text_array=["t"], output=output), FACTS, {"t": narration("t", 12.6)}
    )
    assert long.duration_s == Fraction(63, 5) and long.speech[0].speed == 1


def test_texts_and_assets_are_spread_over_the_variants() -> None:
    stickers = [cfg.Sticker(media_url=u) for u in ("s1", "s2", "s3")]
    cmds = [
        command(
            i,
            count=20,
            title_array=["T1", "T2"],
            speech_text_array=["x", "y"],
            sticker_array=stickers,
            background_music_array=["m1", "m2", "m3", "m4"],
            sub_heading_array=[cfg.SubHeading(level=2, title_array=["s", "t", "u"])],
        )
        for i in range(20)
    ]
    selections = [select(c) for c in cmds]
    assert Counter(s.speech_text for s in selections) == {"x": 10, "y": 10}
    assert Counter(s.title for s in selections) == {"T1": 10, "T2": 10}
    # Chosen jointly: each title with each text equally often (never in lock-step), every variant's
    # combination its own.
    assert Counter((s.title, s.speech_text) for s in selections) == {
        (t, x): 5 for t in ("T1", "T2") for x in ("x", "y")
    }
    assert len({(s.title, s.speech_text, s.sticker.media_url if s.sticker else "", s.music_url,
                 s.subheadings, s.group_media) for s in selections}) == 20  # fmt: skip
    assert Counter(s.music_url for s in selections) == {"m1": 5, "m2": 5, "m3": 5, "m4": 5}
    assert set(Counter(s.sticker.media_url for s in selections if s.sticker).values()) == {6, 7}
    assert Counter(s.subheadings[0][1] for s in selections).most_common()[-1][1] >= 6
    other_seed = [
        select(command(i, seed=1, count=20, background_music_array=["m1", "m2", "m3", "m4"]))
        for i in range(4)
    ]
    assert {s.music_url for s in other_seed} == {"m1", "m2", "m3", "m4"}


def test_volumes_follow_narration_and_group_overrides() -> None:
    groups = [
        cfg.MediaGroup(group_name="loud", media_array=["a1"], volume=0.7, duration=2),
        cfg.MediaGroup(group_name="plain", media_array=["b1"], duration=2),
    ]
    nar = {"t": narration("t", 6)}
    plan = plan_variant(command(0, groups=groups, speech_text_array=["t"]), FACTS, nar)
    assert [s.volume for s in plan.shots] == [0.7, 0.0]
    editing = cfg.EditingConfig(
        media_config=cfg.MediaConfig(gain=0.5),
        speech_config=cfg.SpeechConfig(volume=2),
        background_music_config=cfg.BackgroundMusicConfig(ducking=False),
    )
    plan = plan_variant(
        command(0, groups=groups, editing=editing, speech_text_array=["t"], background_music_array=["m"]),
        FACTS,
        nar,
    )
    assert [s.volume for s in plan.shots] == [0.7, 0.5] and plan.speech[0].volume == 2
    assert plan.music is not None and (plan.music.volume, plan.music.ducking) == (0.2, False)
    plan = plan_variant(command(0, groups=groups, background_music_array=["m"]), FACTS)
    assert [s.volume for s in plan.shots] == [0.7, 1.0] and plan.music and plan.music.ducking


def test_transitions_overlap_shots_and_keep_the_length() -> None:
    pc = cfg.ProcessConfig(allow_transition=True, transition_duration=0.4, transition_list=["wipeleft"])
    groups = [cfg.MediaGroup(group_name=n, media_array=["long1"], duration=3) for n in ("a", "b", "c")]
    plan = plan_variant(command(0, groups=groups, editing=cfg.EditingConfig(process_config=pc)), FACTS)
    assert plan.duration_s == 9
    assert [s.transition for s in plan.shots] == ["", "wipeleft", "wipeleft"]
    assert all(s.transition_s == Fraction(2, 5) for s in plan.shots[1:])
    assert sum(s.duration_s for s in plan.shots) - sum(s.transition_s for s in plan.shots) == 9
    assert plan.starts_s[1] == plan.shots[0].duration_s - Fraction(2, 5)
    # A clip too short to be cut into gets plain cuts.
    short = [groups[0], cfg.MediaGroup(group_name="s", media_array=["b2"], duration=1), groups[1]]
    plan = plan_variant(command(0, groups=short, editing=cfg.EditingConfig(process_config=pc)), FACTS)
    assert [s.transition for s in plan.shots] == ["", "", ""] and plan.duration_s == 7


def test_smart_mix_draws_distinct_pieces_until_covered() -> None:
    pool = ["a1", "a2", "a3", "b1", "long1"]
    cmd = command(1, pool=pool, output=cfg.OutputConfig(fixed_duration=10, video=cfg.VideoSettings(fps=25)))
    plan = plan_variant(cmd, FACTS)
    assert plan.job_type == "Smart_Mix" and plan.duration_s == 10 and plan.output.fps == 25
    pieces = [(s.source_url, s.in_s) for s in plan.shots]
    assert len(set(pieces)) == len(pieces) == 4
    starts = {
        tuple((p.source_url, p.in_s) for p in plan_variant(command(i, pool=pool, count=10), FACTS).shots[:2])
        for i in range(10)
    }
    assert len(starts) == 10  # no two variants start alike
    nar = {"t": narration("t", 8)}
    plan = plan_variant(command(0, pool=pool, speech_text_array=["t"]), FACTS, nar)
    assert plan.duration_s == 8 and abs(plan.shots[0].speed - 1) < Fraction(1, 2)


def test_layers_and_look_are_in_the_plan() -> None:
    pc = cfg.ProcessConfig(
        allow_vfx_effect=True,
        vfx_effect_probability=1,
        vfx_first_clip_effect_list=["zoomin"],
        vfx_not_first_clip_effect_list=["shake"],
        allow_filter=True,
        filter_list=["mono"],
    )
    editing = cfg.EditingConfig(
        process_config=pc,
        title_config=cfg.TextStyle(font_size=40, alignment="TopLeft", x=0.1, y=20, font_color="#FF0000"),
        background_image_config=cfg.BackgroundImageConfig(sub_type="Image"),
    )
    sticker = cfg.Sticker(media_url="logo.png", x=10, y=0.5, width=0.5, opacity=0.6)
    cmd = command(
        0,
        editing=editing,
        title_array=["Hello"],
        sticker_array=[sticker],
        background_image_array=["c.png"],
        speech_text_array=["t"],
    )
    plan = plan_variant(cmd, FACTS, {"t": narration("t", 6)})
    assert [s.effect for s in plan.shots] == ["zoomin", "shake", "shake"] and plan.color_filter == "mono"
    title = plan.captions[0]
    assert (title.kind, title.look.size_px, title.look.x_px, title.look.y_px) == ("Title", 40, 18, 20)
    assert (title.start_s, title.end_s) == (0, plan.duration_s)
    (s,) = plan.stickers
    assert (s.x_px, s.y_px, s.width_px, s.height_px, s.opacity) == (10, 160, 90, 45, 0.6)
    assert plan.background.image_url == "c.png"
    doc = json.loads(plan.to_json())
    assert doc["Shots"][0]["Effect"] == "zoomin" and doc["Filter"] == "mono"
    assert doc["Texts"][0]["Text"] == "Hello" and doc["Texts"][1]["Kind"] == "Subtitle"
    assert doc["Speech"][0]["Text"] == "t" and doc["Stickers"][0]["Opacity"] == 0.6
    assert doc["Background"] == {"SubType": "Image", "Media": "c.png"} and doc["DistinctVariants"] == 6
    assert {"Media", "Start", "Duration", "In", "Out", "Speed", "Volume"} <= set(doc["Shots"][0])


def test_subtitles_follow_the_cues_on_the_frame_grid() -> None:
    n = Narration(
        "/s.wav",
        Fraction(5),
        (Cue(Fraction(0), Fraction(21, 10), "一。"), Cue(Fraction(21, 10), Fraction(5), "二。")),
        "一。二。",
    )
    plan = plan_variant(command(0, speech_text_array=["一。二。"]), FACTS, {"一。二。": n})
    subs = [(c.text, c.start_s, c.end_s) for c in plan.captions if c.kind == "Subtitle"]
    assert subs == [("一。", 0, Fraction(21, 10)), ("二。", Fraction(21, 10), 5)]
    off = cfg.EditingConfig(speech_config=cfg.SpeechConfig(subtitles=False))
    plan = plan_variant(command(0, editing=off, speech_text_array=["一。二。"]), FACTS, {"一。二。": n})
    assert not [c for c in plan.captions if c.kind == "Subtitle"]


def test_pixel_styles_shrink_with_a_preview() -> None:
    """Pixel values are meant for the requested size (reelmill/jobspec.py makes the preview's)."""
    editing = cfg.EditingConfig(title_config=cfg.TextStyle(font_size=80))
    cmd = command(0, editing=editing, title_array=["T"], output=cfg.OutputConfig(generate_preview_only=True))
    assert plan_variant(cmd, FACTS).captions[0].look.size_px == 27


@pytest.mark.parametrize(("fps", "expected"), [(30.0, Fraction(30)), (29.97, Fraction(30000, 1001))])
def test_output_fps_is_exact(fps: float, expected: Fraction) -> None:
    cmd = command(0, output=cfg.OutputConfig(video=cfg.VideoSettings(fps=fps)))
    assert plan_variant(cmd, FACTS).output.fps == expected
