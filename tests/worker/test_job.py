"""One variant start to finish without the bus: outputs land atomically (file:// or s3://) and are
recognised on redelivery; recorded WAV narration stands in for speech synthesis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import av
import boto3
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from cli.samples import make_video, make_wav
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from worker import s3
from worker.errors import BadCommandError, MaterialNotFoundError, OutputExistsError, OutputTooLongError
from worker.job import JobState, existing_output, frame_cache, run_job
from worker.s3 import S3Outputs
from worker.settings import WorkerSettings
from worker.speech import narration_from_wav


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    make_video(str(folder / "clip.mp4"), 320, 240, 1.0)
    make_wav(str(folder / "voice.wav"), 0.8)
    return folder


def command(
    media: Path, sub_job_id: str, output_url: str = "", url: str = "", speech: str = "", batch_id: str = "b1"
) -> render_pb2.RenderCommand:
    group = cfg.MediaGroup(group_name="g", media_array=[url or f"file://{media}/clip.mp4"], duration=0.5)
    ic = cfg.InputConfig(media_group_array=[group], speech_text_array=[speech] if speech else [])
    return render_pb2.RenderCommand(
        batch_id=batch_id,
        sub_job_id=sub_job_id,
        index=0,
        count=1,
        seed=1,
        output_url=output_url,
        input_config=ic,
        output_config=cfg.OutputConfig(width=64, height=64),
    )


def test_output_is_moved_into_place_and_recognised_only_by_its_sub_job(media: Path, tmp_path: Path) -> None:
    settings = WorkerSettings(media_roots=(str(media),), output_dir=str(tmp_path))
    url = f"file://{tmp_path}/same.mp4"
    state = JobState()
    first = run_job(command(media, "sub-a", url), settings, state)
    assert first.media_url == url and first.duration_s == pytest.approx(0.5)
    assert json.loads(state.plan_json)["Duration"] == 0.5 and state.progress == pytest.approx(1.0)
    # no temporary file left; the poster frame beside the video, a JPEG of its aspect
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.jpg", "same.mp4"]
    with Image.open(tmp_path / "same.jpg") as poster:
        assert poster.format == "JPEG" and poster.size == (64, 64)
    assert existing_output(command(media, "sub-a", url), settings) == first.__class__(url, first.duration_s)
    # Another job that writes to the same MediaURL neither adopts the old file nor overwrites it: it
    # fails (before rendering, and at publish if the file appeared meanwhile), the file stays the first's.
    with pytest.raises(OutputExistsError, match="another job's output") as refused:
        existing_output(command(media, "sub-b", url), settings)
    assert refused.value.code == "Output.AlreadyExists" and not refused.value.retryable
    with pytest.raises(OutputExistsError):
        run_job(command(media, "sub-b", url), settings, JobState())
    assert existing_output(command(media, "sub-a", url), settings) == first.__class__(url, first.duration_s)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.jpg", "same.mp4"]


def test_a_command_whose_spec_does_not_decode_fails_without_retry(media: Path, tmp_path: Path) -> None:
    cmd = command(media, "sub-bad")
    cmd.spec = b'{"job_type": "Script"}'  # a gateway of another version, or a bug
    settings = WorkerSettings(media_roots=(str(media),), output_dir=str(tmp_path / "out"))
    with pytest.raises(BadCommandError, match="job spec does not decode") as info:
        run_job(cmd, settings, JobState())
    assert not info.value.retryable
    assert not (tmp_path / "out").exists()  # nothing fetched, nothing rendered


def test_a_symlink_out_of_the_media_roots_is_refused(media: Path, tmp_path: Path) -> None:
    root = tmp_path / "roots"
    root.mkdir()
    (root / "link.mp4").symlink_to(media / "clip.mp4")  # inside the root by name, outside in fact
    settings = WorkerSettings(media_roots=(str(root),), output_dir=str(tmp_path))
    with pytest.raises(MaterialNotFoundError, match="not under a configured media root"):
        run_job(command(media, "s", url=f"file://{root}/link.mp4"), settings, JobState())
    assert not (tmp_path / "b1").exists()


def test_narration_is_synthesised_or_a_recorded_wav(media: Path, tmp_path: Path) -> None:
    settings = WorkerSettings(
        media_roots=(str(media),), output_dir=str(tmp_path), cache_dir=str(tmp_path / "c")
    )
    state = JobState()
    done = run_job(command(media, "s", speech=f"file://{media}/voice.wav", batch_id="b-s"), settings, state)
    plan = json.loads(state.plan_json)
    assert plan["Duration"] == pytest.approx(0.8) and done.duration_s == pytest.approx(0.8, abs=0.04)
    assert plan["Speech"][0]["Duration"] == pytest.approx(0.8) and plan["Shots"][0]["Volume"] == 0
    # A text is spoken by the offline engine, with subtitles timed to it.
    state = JobState()
    spoken = run_job(command(media, "t", speech="你好，欢迎光临。", batch_id="b-t"), settings, state)
    plan = json.loads(state.plan_json)
    assert 0.8 < plan["Speech"][0]["Duration"] < 5 and spoken.duration_s == pytest.approx(
        plan["Duration"], abs=0.04
    )
    assert not list((tmp_path / "c").glob("narration-*"))  # the job's narration files are gone with it
    # The seam: any narrate(text, voice, rate, language) callable can stand in.
    calls: list[tuple[str, str, int, str]] = []

    def narrate(text: str, voice: str, rate: int, language: str):  # type: ignore[no-untyped-def]
        calls.append((text, voice, rate, language))
        return narration_from_wav(str(media / "voice.wav"))

    run_job(command(media, "u", speech="你好", batch_id="b-u"), settings, JobState(), narrate=narrate)
    assert calls == [("你好", "", 0, "zh")]


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_s3_outputs_are_uploaded_whole_and_recognised_on_redelivery(
    media: Path, tmp_path: Path, s3_server: str
) -> None:
    settings = WorkerSettings(
        media_roots=(str(media),),
        output_dir=str(tmp_path),
        s3_endpoint_url=s3_server,
        s3_region="us-east-1",
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket="reels")
    url = "s3://reels/campaign/0.mp4"
    done = run_job(command(media, "sub-a", url), settings, JobState())
    assert done.media_url == url and done.duration_s == pytest.approx(0.5)
    head = client.head_object(Bucket="reels", Key="campaign/0.mp4")
    assert head["Metadata"]["reelmill-tag"] == "reelmill:sub-a" and head["ContentType"] == "video/mp4"
    assert client.head_object(Bucket="reels", Key="campaign/0.jpg")["ContentType"] == "image/jpeg"  # poster
    local = tmp_path / "out.mp4"
    local.write_bytes(client.get_object(Bucket="reels", Key="campaign/0.mp4")["Body"].read())
    with av.open(str(local)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 15
    assert not list((tmp_path / ".s3-staging").rglob("*.mp4"))  # the staged file is gone
    redelivered = existing_output(command(media, "sub-a", url), settings)
    assert redelivered is not None and redelivered.duration_s == pytest.approx(done.duration_s)
    # Another job at the same key is refused, before rendering and at the conditional PUT alike; the
    # object stays the first job's.
    with pytest.raises(OutputExistsError):
        existing_output(command(media, "sub-b", url), settings)
    with pytest.raises(OutputExistsError):
        S3Outputs(settings).publish(str(local), s3.location(url), "reelmill:sub-b", 0.5)
    assert (
        client.head_object(Bucket="reels", Key="campaign/0.mp4")["Metadata"]["reelmill-tag"]
        == "reelmill:sub-a"
    )


def test_a_preview_is_small_and_fast(media: Path, tmp_path: Path) -> None:
    settings = WorkerSettings(media_roots=(str(media),), output_dir=str(tmp_path))
    cmd = command(media, "p")
    cmd.output_config.CopyFrom(cfg.OutputConfig(generate_preview_only=True))  # 1080×1920 asked for
    state = JobState()
    done = run_job(cmd, settings, state)
    assert json.loads(state.plan_json)["Output"]["Preset"] == "ultrafast"
    with av.open(done.media_url.removeprefix("file://")) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (360, 640)


def test_an_output_longer_than_the_limit_fails_before_a_frame_is_made(media: Path, tmp_path: Path) -> None:
    """Issue 13: narration sets a Script video's length; its cost is bounded at plan time."""
    settings = WorkerSettings(media_roots=(str(media),), output_dir=str(tmp_path / "out"),
                              cache_dir=str(tmp_path / "c"), max_output_duration_s=0.6)  # fmt: skip
    with pytest.raises(OutputTooLongError, match="0.8 s long .* limit of 0.6 s") as info:
        run_job(command(media, "s", speech=f"file://{media}/voice.wav"), settings, JobState())
    assert info.value.code == "Output.TooLong" and not info.value.retryable
    assert not list((tmp_path / "out").rglob("*.mp4"))


def test_only_a_batch_keeps_frames_for_its_next_variants(media: Path, tmp_path: Path) -> None:
    """A batch of one cannot reuse its shots: it keeps none (writing them would only cost); a batch of
    two keeps them for its next variant."""
    folders = {"output_dir": str(tmp_path), "cache_dir": str(tmp_path / "c")}
    settings = WorkerSettings(media_roots=(str(media),), frame_spill_mb=64, **folders)
    run_job(command(media, "one-0", f"file://{tmp_path}/one.mp4"), settings, JobState())
    assert frame_cache(settings).stats()["shots"] == 0
    two = command(media, "two-0", f"file://{tmp_path}/two.mp4")
    two.count = 2
    run_job(two, settings, JobState())
    assert frame_cache(settings).stats()["shots"] >= 1
