"""The whole path with real parts: gateway, nats-server, worker, a database; outputs decoded."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av
import pytest

from cli.client import submit_request
from cli.samples import make_image, make_video
from conftest import make_stack

WIDTH, HEIGHT = 240, 320


def three_variant_job(media: Path) -> dict:
    return {
        "InputConfig": {
            "MediaGroupArray": [
                {"GroupName": "opening", "MediaArray": [f"file://{media}/a1.mp4", f"file://{media}/a2.mp4"],
                 "Duration": 1.5},
                {"GroupName": "product", "MediaArray": [f"file://{media}/b1.mp4", f"file://{media}/still.png"],
                 "Duration": 1.2},
            ]
        },
        "OutputConfig": json.dumps({"Count": 3, "Width": WIDTH, "Height": HEIGHT, "Video": {"Crf": 27}}),
        "UserData": json.dumps({"campaign": "e2e"}),
    }  # fmt: skip


def write_media(media: Path) -> None:
    make_video(str(media / "a1.mp4"), 320, 240, 2.0)
    make_video(str(media / "a2.mp4"), 320, 240, 2.0, tone_hz=550)
    make_video(str(media / "b1.mp4"), 320, 240, 2.0, with_audio=False)
    make_image(str(media / "still.png"), 400, 300)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_batch_of_three_renders_and_finishes(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db_url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    stack = make_stack(tmp_path, db_url)
    try:
        write_media(stack.media_dir)
        stack.start("gateway")
        stack.start("worker")
        done = stack.stub.SubmitBatchMediaProducingJob(
            submit_request(three_variant_job(stack.media_dir), "/")
        )
        assert (done.combinations, list(done.warnings)) == (4, [])  # 2 × 2 media: room for 3 variants
        job_id = done.job_id
        stack.watch(job_id)
        job = stack.get(job_id)
    finally:
        stack.close()

    assert job.status == "Finished", stack.log("worker")
    assert job.job_type == "Script"
    assert json.loads(job.user_data) == {"campaign": "e2e"}
    assert job.HasField("complete_time")
    assert [s.index for s in job.sub_job_list] == [0, 1, 2]
    outputs = set()
    for sub in job.sub_job_list:
        assert sub.status == "Success" and sub.progress == 1.0 and not sub.error_code
        path = Path(unquote(urlsplit(sub.media_url).path))
        assert path.is_file() and path.parent == stack.output_dir / "default" / job_id
        poster = Path(unquote(urlsplit(sub.poster_url).path))
        assert poster == path.with_suffix(".jpg") and poster.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
        outputs.add(path)
        plan = json.loads(sub.plan)
        with av.open(str(path)) as c:
            video = c.streams.video[0]
            audio = c.streams.audio[0]
            assert (video.codec_context.name, audio.codec_context.name) == ("h264", "aac")
            assert (video.codec_context.width, video.codec_context.height) == (WIDTH, HEIGHT)
            frames = sum(1 for _ in c.decode(video=0))
        duration = frames / 30
        assert abs(duration - plan["Duration"]) <= 0.1
        assert abs(sub.duration - plan["Duration"]) <= 0.1
        assert plan["Duration"] == pytest.approx(2.7)
        # The quality report, measured on the output.
        qc = sub.qc
        assert qc.duration == pytest.approx(frames / 30, abs=1e-3) and abs(qc.av_end_offset) <= 1 / 30
        assert qc.loudness == pytest.approx(-14, abs=1) and qc.true_peak <= -1
        assert qc.text_overlaps == 0 and qc.distinct and len(qc.digest) == 16
        assert not qc.frozen_runs  # the still of group 2 is frozen by nature: not reported
    assert len(outputs) == 3 and not any(s.HasField("repeat_of") for s in job.sub_job_list)
    names = sorted(p.name for p in (stack.output_dir / "default" / job_id).iterdir())
    assert names == ["0.jpg", "0.mp4", "1.jpg", "1.mp4", "2.jpg", "2.mp4"]  # each video and its poster


def test_a_batch_that_cannot_be_distinct_says_so_at_submit_and_names_its_repeats(tmp_path: Path) -> None:
    """One short clip, one title, Count 3: one combination. Submit warns; Get names the repeats."""
    stack = make_stack(tmp_path, None)
    try:
        write_media(stack.media_dir)
        stack.start("gateway")
        stack.start("worker")
        doc = {
            "InputConfig": {"MediaGroupArray": [{"GroupName": "g", "MediaArray": [f"file://{stack.media_dir}/a1.mp4"],
                                                 "Duration": 1}], "TitleArray": ["Only"]},
            "OutputConfig": json.dumps({"Count": 3, "Width": WIDTH, "Height": HEIGHT}),
        }  # fmt: skip
        done = stack.stub.SubmitBatchMediaProducingJob(submit_request(doc, "/"))
        assert done.combinations == 1
        (warning,) = done.warnings
        assert "Count 3 is more than the 1 combinations" in warning and "RepeatOf" in warning
        stack.watch(done.job_id)
        job = stack.get(done.job_id)
    finally:
        stack.close()
    assert job.status == "Finished"
    subs = sorted(job.sub_job_list, key=lambda s: s.index)
    assert not subs[0].HasField("repeat_of")
    assert [s.repeat_of for s in subs[1:]] == [0, 0]
    assert [s.qc.distinct for s in subs] == [True, False, False]
    assert len({s.qc.digest for s in subs}) == 1
    # They do repeat: the same pictures.
    frames = []
    for sub in subs:
        with av.open(unquote(urlsplit(sub.media_url).path)) as c:
            frames.append([bytes(f.planes[0]) for f in c.decode(video=0)])
    assert frames[0] == frames[1] == frames[2]
