"""One variant start to finish without the bus: outputs land atomically and are recognised on redelivery."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelmill.samples import make_video
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from worker.errors import MaterialNotFoundError
from worker.job import JobState, existing_output, run_job
from worker.settings import WorkerSettings


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    make_video(str(folder / "clip.mp4"), 320, 240, 1.0)
    return folder


def command(media: Path, sub_job_id: str, output_url: str = "", url: str = "") -> render_pb2.RenderCommand:
    group = cfg.MediaGroup(group_name="g", media_array=[url or f"file://{media}/clip.mp4"], duration=0.5)
    return render_pb2.RenderCommand(
        batch_id="b1", sub_job_id=sub_job_id, index=0, seed=1, output_url=output_url,
        input_config=cfg.InputConfig(media_group_array=[group]),
        output_config=cfg.OutputConfig(width=64, height=64),
    )  # fmt: skip


def test_output_is_moved_into_place_and_recognised_only_by_its_sub_job(media: Path, tmp_path: Path) -> None:
    settings = WorkerSettings(media_roots=(str(media),), output_dir=str(tmp_path))
    url = f"file://{tmp_path}/same.mp4"
    state = JobState()
    first = run_job(command(media, "sub-a", url), settings, state)
    assert first.media_url == url and first.duration_s == pytest.approx(0.5)
    assert '"Duration": 0.5' in state.plan_json and state.progress == pytest.approx(1.0)
    assert [p.name for p in tmp_path.iterdir()] == ["same.mp4"]  # no temporary file left
    assert existing_output(command(media, "sub-a", url), settings) == first.__class__(url, first.duration_s)
    # Another job that writes to the same MediaURL must render, not adopt the old file.
    assert existing_output(command(media, "sub-b", url), settings) is None


def test_a_symlink_out_of_the_media_roots_is_refused(media: Path, tmp_path: Path) -> None:
    root = tmp_path / "roots"
    root.mkdir()
    (root / "link.mp4").symlink_to(media / "clip.mp4")  # inside the root by name, outside in fact
    settings = WorkerSettings(media_roots=(str(root),), output_dir=str(tmp_path))
    with pytest.raises(MaterialNotFoundError, match="not under a configured media root"):
        run_job(command(media, "s", url=f"file://{root}/link.mp4"), settings, JobState())
    assert not (tmp_path / "b1").exists()
