"""The quality report (issue 16): measured on the written output by decoding it again."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from cli.samples import make_image, make_video
from reelmill.jobspec import OutputSpec
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from worker.job import JobState, run_job
from worker.plan.model import Shot, VariantPlan
from worker.render.compose import overlaps
from worker.render.quality import measure_output
from worker.render.timeline import Layer
from worker.settings import WorkerSettings


def make_still_video(path: str, seconds: float, fps: int = 25) -> None:
    """A clip whose every frame is the same: frozen footage (a fault, unlike a still image)."""
    with av.open(path, "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 160, 90, "yuv420p"
        picture = Image.new("RGB", (160, 90), (30, 140, 200))
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_image(picture)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))


def moving_frozen_black(tmp_path: Path, moving_size: tuple[int, int]) -> render_pb2.RenderCommand:
    """A 5 s variant to out.mp4: 2 s of a moving clip, 2 s of a clip that stands still, 1 s of a black
    still, and a title."""
    make_video(str(tmp_path / "moving.mp4"), *moving_size, 3.0)
    make_still_video(str(tmp_path / "frozen.mp4"), 3.0)
    make_image(str(tmp_path / "black.png"), 64, 64, (0, 0, 0))
    groups = [
        cfg.MediaGroup(group_name="a", media_array=[f"file://{tmp_path}/moving.mp4"], duration=2),
        cfg.MediaGroup(group_name="b", media_array=[f"file://{tmp_path}/frozen.mp4"], duration=2),
        cfg.MediaGroup(group_name="c", media_array=[f"file://{tmp_path}/black.png"], duration=1),
    ]
    cmd = render_pb2.RenderCommand(
        batch_id="b", sub_job_id="b-0", index=0, count=1, seed=1,
        input_config=cfg.InputConfig(media_group_array=groups, title_array=["Quality"]),
        output_config=cfg.OutputConfig(width=180, height=320), output_url=f"file://{tmp_path}/out.mp4",
    )  # fmt: skip
    return cmd


def test_the_report_measures_the_output(tmp_path: Path) -> None:
    cmd = moving_frozen_black(tmp_path, (160, 90))
    done = run_job(cmd, WorkerSettings(media_roots=(str(tmp_path),), output_dir=str(tmp_path)), JobState())
    qc = json.loads(done.qc_json)
    assert qc["Duration"] == pytest.approx(5.0, abs=1e-3) and abs(qc["AVEndOffset"]) <= 1 / 30
    assert qc["Loudness"] == pytest.approx(-14, abs=1) and qc["TruePeak"] <= -1
    assert qc["TextOverlaps"] == 0 and len(qc["Digest"]) == 16
    # The clip that does not move (2–4 s) is frozen in its source, and the black still (4–5 s) is an
    # image: the footage, not faults, so neither is reported.
    assert qc["FrozenRuns"] == [] and all(run["End"] <= 4.1 for run in qc["BlackRuns"])


def test_a_frozen_stretch_the_source_does_not_have_is_reported(tmp_path: Path) -> None:
    """The report judges the output against the plan: a picture that stands still where the plan
    shows a moving clip is a fault (here: the output of a still clip, measured against a moving one)."""
    make_video(str(tmp_path / "moving.mp4"), 160, 90, 3.0)
    make_still_video(str(tmp_path / "frozen.mp4"), 2.0)
    shot = Shot(f"file://{tmp_path}/moving.mp4", Fraction(0), Fraction(2), False, 0.0)
    plan = VariantPlan(0, (shot,), OutputSpec(160, 90, Fraction(25), "h264", 23, "veryfast", None, None, 128))
    sources = {shot.source_url: str(tmp_path / "moving.mp4")}
    (run,) = measure_output(str(tmp_path / "frozen.mp4"), plan, 0, sources).frozen_runs
    assert run[0] == pytest.approx(0.0, abs=0.1) and run[1] == pytest.approx(2.0, abs=0.1)
    # Measured against its own, still source, the same stretch is the footage.
    same = {shot.source_url: str(tmp_path / "frozen.mp4")}
    assert measure_output(str(tmp_path / "frozen.mp4"), plan, 0, same).frozen_runs == []


def test_overlaps_count_drawn_pixels_not_boxes() -> None:
    ring = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    ring.paste((255, 0, 0, 255), (0, 0, 20, 4))  # only the top 4 rows are drawn
    dot = Image.new("RGBA", (10, 10), (0, 255, 0, 255))
    frame = av.VideoFrame(2, 2, "rgba")
    layer = lambda x, y, a=0, b=1: Layer(frame, x, y, Fraction(a), Fraction(b))  # noqa: E731
    assert overlaps([(ring, layer(0, 0)), (dot, layer(5, 10))]) == 0  # boxes meet, pixels do not
    assert overlaps([(ring, layer(0, 0)), (dot, layer(5, 0))]) == 1
    assert overlaps([(ring, layer(0, 0)), (dot, layer(5, 0, 1, 2))]) == 0  # never on screen together


def test_stills_get_a_gentle_pan_and_zoom_when_effects_are_allowed(tmp_path: Path) -> None:
    """AllowVfxEffect with no effect drawn: each still pans and zooms (Ken Burns) instead of sitting
    motionless; every frame differs from the one before, and nothing is frozen."""
    picture = Image.new("RGB", (400, 300))
    picture.putdata(
        [((x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256) for y in range(300) for x in range(400)]
    )
    picture.save(tmp_path / "photo.png")
    groups = [cfg.MediaGroup(group_name="a", media_array=[f"file://{tmp_path}/photo.png"], duration=2)]
    pc = cfg.ProcessConfig(allow_vfx_effect=True, vfx_effect_probability=0)
    cmd = render_pb2.RenderCommand(
        batch_id="b", sub_job_id="b-0", index=0, count=1, seed=1,
        input_config=cfg.InputConfig(media_group_array=groups),
        editing_config=cfg.EditingConfig(process_config=pc),
        output_config=cfg.OutputConfig(width=180, height=320), output_url=f"file://{tmp_path}/out.mp4",
    )  # fmt: skip
    state = JobState()
    done = run_job(cmd, WorkerSettings(media_roots=(str(tmp_path),), output_dir=str(tmp_path)), state)
    (shot,) = json.loads(state.plan_json)["Shots"]
    assert shot["Effect"].startswith("kenburns-")
    assert json.loads(done.qc_json)["FrozenRuns"] == []
    with av.open(done.media_url.removeprefix("file://")) as c:
        frames = [bytes(f.planes[0]) for f in c.decode(video=0)]
    # It moves all along: at this small size the pan can round to the same pixel for a frame or two,
    # never for three in a row.
    same = [a == b for a, b in zip(frames, frames[1:], strict=False)]
    assert len(frames) == 60 and not any(all(same[i : i + 2]) for i in range(len(same) - 1)), same


def test_a_still_that_moves_only_at_its_start_is_no_fault(tmp_path: Path) -> None:
    """Blur and shake move a still for half a second; the rest of it stands still, as a still does."""
    make_still_video(str(tmp_path / "out.mp4"), 2.0)
    spec = OutputSpec(160, 90, Fraction(25), "h264", 23, "veryfast", None, None, 128)
    for effect, reported in (("blur", False), ("shake", False), ("zoomin", True), ("kenburns-left", True)):
        shot = Shot("file:///still.png", Fraction(0), Fraction(2), True, 0.0, effect=effect)
        runs = measure_output(str(tmp_path / "out.mp4"), VariantPlan(0, (shot,), spec)).frozen_runs
        assert bool(runs) is reported, effect  # a zoom that does not move would be a fault


def test_the_report_taken_while_encoding_agrees_with_the_decoded_output(tmp_path: Path) -> None:
    """The render measures what it encodes (one pass). Decoding the written file and measuring it
    again gives the same runs and durations, and loudness within what AAC changes; the poster is the
    output's own frame at a third of the video."""
    cmd = moving_frozen_black(tmp_path, (320, 180))
    state = JobState()
    done = run_job(cmd, WorkerSettings(media_roots=(str(tmp_path),), output_dir=str(tmp_path)), state)
    during = json.loads(done.qc_json)
    # Measured again from the file, against a plan with no stills: every black or frozen run counts.
    moving = Shot(f"file://{tmp_path}/moving.mp4", Fraction(0), Fraction(5), False, 0.0)
    spec = OutputSpec(180, 320, Fraction(30), "h264", 23, "veryfast", None, None, 128)
    after = measure_output(str(tmp_path / "out.mp4"), VariantPlan(0, (moving,), spec))
    assert during["Duration"] == pytest.approx(after.duration_s, abs=1e-6) == pytest.approx(5.0)
    assert during["AVEndOffset"] == pytest.approx(after.av_end_offset_s, abs=1e-6)
    assert abs(during["AVEndOffset"]) <= 1 / 30
    assert during["Loudness"] == pytest.approx(after.loudness_lufs, abs=0.3)
    assert during["TruePeak"] == pytest.approx(after.true_peak_db, abs=0.5)
    # The file's frozen stretch (2–4 s: the still clip) and black end (4–5 s) are seen by both.
    (frozen,) = [r for r in after.frozen_runs if r[1] - r[0] > 1]
    assert frozen[0] == pytest.approx(2.0, abs=0.15) and frozen[1] >= 3.9
    assert any(a == pytest.approx(4.0, abs=0.15) and b >= 4.9 for a, b in after.black_runs)
    # The poster is the frame at 1 s (a third of 5 s is past the 1 s cap), as decoded from the output.
    with av.open(str(tmp_path / "out.mp4")) as c:
        frames = [f.to_image().convert("L") for f in c.decode(video=0)]
    with Image.open(tmp_path / "out.jpg") as poster:
        assert poster.size == (180, 320)
        shown = poster.convert("L")

    def difference(a: Image.Image, b: Image.Image) -> float:
        return sum(abs(x - y) for x, y in zip(a.tobytes(), b.tobytes(), strict=True)) / (180 * 320)

    nearest = min(range(len(frames)), key=lambda i: difference(shown, frames[i]))
    assert nearest == 30, [round(difference(shown, f), 1) for f in frames[25:36]]
