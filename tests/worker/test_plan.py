"""The planner is pure: same command and facts, same plan; variants distinct; times on the frame grid."""

from __future__ import annotations

from fractions import Fraction

import pytest

from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from worker.plan import MediaFacts, chosen_media, distinct_variants, plan_variant


def video(url: str, seconds: float, audio: bool = True) -> MediaFacts:
    return MediaFacts(url, False, 320, 240, Fraction(seconds), audio)


def script_command(index: int, seed: int = 42, **output: object) -> render_pb2.RenderCommand:
    ic = cfg.InputConfig(media_group_array=[
        cfg.MediaGroup(group_name="a", media_array=["a1", "a2", "a3"], duration=2.0),
        cfg.MediaGroup(group_name="b", media_array=["b1", "b2"], duration=1.5),
        cfg.MediaGroup(group_name="c", media_array=["c.png"]),
    ])  # fmt: skip
    oc = cfg.OutputConfig(width=180, height=320, **output)  # type: ignore[arg-type]
    return render_pb2.RenderCommand(index=index, count=6, seed=seed, input_config=ic, output_config=oc)


FACTS = {
    **{u: video(u, 4.0) for u in ("a1", "a2", "a3", "b1")},
    "b2": video("b2", 1.0, audio=False),
    "c.png": MediaFacts("c.png", True, 400, 300, Fraction(0), False),
}


def test_same_command_and_facts_give_the_same_plan() -> None:
    assert plan_variant(script_command(3), FACTS) == plan_variant(script_command(3), FACTS)
    assert (
        plan_variant(script_command(3), FACTS).to_json() == plan_variant(script_command(3), FACTS).to_json()
    )


def test_variants_are_pairwise_distinct_while_the_pool_allows() -> None:
    groups = [["a1", "a2", "a3"], ["b1", "b2"], ["c.png"]]
    choices = {tuple(chosen_media(script_command(i))) for i in range(6)}
    assert len(choices) == 6 == distinct_variants(groups, 6)
    assert distinct_variants(groups, 20) == 6
    other_seed = [tuple(chosen_media(script_command(i, seed=7))) for i in range(6)]
    assert set(other_seed) == choices  # every combination once, in another order
    assert other_seed != [tuple(chosen_media(script_command(i))) for i in range(6)]


def test_shots_follow_group_durations_on_the_frame_grid() -> None:
    for i in range(6):
        plan = plan_variant(script_command(i), FACTS)
        a, b, c = plan.shots
        assert a.duration_s == 2 and c.duration_s == 5 and c.is_image  # default group duration 5 s
        assert b.duration_s == (1 if b.source_url == "b2" else Fraction(3, 2))  # a short clip is used whole
        for shot in plan.shots:
            assert (shot.in_s * 30).denominator == 1 and (shot.duration_s * 30).denominator == 1
            assert shot.in_s + shot.duration_s <= (FACTS[shot.source_url].duration_s or shot.duration_s)
        assert plan.frame_count == plan.duration_s * 30
        assert b.volume == (0.0 if b.source_url == "b2" else 1.0)  # no sound, no gain


def test_max_duration_cuts_the_timeline() -> None:
    plan = plan_variant(script_command(0, max_duration=3.01), FACTS)
    assert plan.duration_s == Fraction(90, 30)
    assert [s.duration_s for s in plan.shots] == [2, 1]


def test_smart_mix_fills_the_fixed_duration_from_the_pool() -> None:
    ic = cfg.InputConfig(media_array=["a1", "a2", "a3", "b1"])
    oc = cfg.OutputConfig(fixed_duration=10, video=cfg.VideoSettings(fps=25))
    cmd = render_pb2.RenderCommand(index=1, seed=5, input_config=ic, output_config=oc)
    plan = plan_variant(cmd, FACTS)
    assert plan.duration_s == 10 and plan.output.fps == 25
    assert len({s.source_url for s in plan.shots}) == len(plan.shots) == 4  # no repeats
    assert [s.duration_s for s in plan.shots] == [3, 3, 3, 1]


@pytest.mark.parametrize(("fps", "expected"), [(30.0, Fraction(30)), (29.97, Fraction(30000, 1001))])
def test_output_fps_is_exact(fps: float, expected: Fraction) -> None:
    cmd = script_command(0, video=cfg.VideoSettings(fps=fps))
    assert plan_variant(cmd, FACTS).output.fps == expected
