"""Footage plays at its own speed under a narration longer than the planned shots (issue 16): proven
on the rendered file, from sources whose frames show their own number."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from cli.samples import make_wav
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from tests.numbered import make_numbered_video, numbers_of
from worker.job import JobState, run_job
from worker.narration import Cue, Narration
from worker.settings import WorkerSettings

SOURCE_FPS, OUTPUT_FPS = 25, 30
NARRATION_S = 14.0


def shots_of(numbers: list[int | None]) -> list[list[tuple[int, int]]]:
    """Runs of (output frame, source number) where the number moves on by 0–3 frames at a time: one run
    per shot (a cut jumps elsewhere in the source or to another source)."""
    runs: list[list[tuple[int, int]]] = []
    for i, n in enumerate(numbers):
        if n is None:
            continue
        if runs and 0 <= n - runs[-1][-1][1] <= 3 and i - runs[-1][-1][0] == 1:
            runs[-1].append((i, n))
        else:
            runs.append([(i, n)])
    return runs


def test_a_long_narration_gets_more_shots_each_at_its_own_speed(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    # Portrait sources that fill the 180×320 frame; the second group's numbers start at 2000.
    make_numbered_video(str(media / "a.mp4"), 90, 160, 12.0, SOURCE_FPS, first=0)
    make_numbered_video(str(media / "b.mp4"), 90, 160, 12.0, SOURCE_FPS, first=2000)
    speech = tmp_path / "speech.wav"
    make_wav(str(speech), NARRATION_S)
    seconds = Fraction(str(NARRATION_S))

    def narrate(text: str, voice: str, rate: int, language: str) -> Narration:
        return Narration(str(speech), seconds, (Cue(Fraction(0), seconds, text),), text, voice)

    ic = cfg.InputConfig(
        media_group_array=[
            cfg.MediaGroup(group_name="one", media_array=[f"file://{media}/a.mp4"]),
            cfg.MediaGroup(group_name="two", media_array=[f"file://{media}/b.mp4"]),
        ],
        speech_text_array=["A narration far longer than one shot per group."],
    )
    ec = cfg.EditingConfig(speech_config=cfg.SpeechConfig(subtitles=False))
    cmd = render_pb2.RenderCommand(
        batch_id="b", sub_job_id="b-0", index=0, count=1, seed=3, input_config=ic, editing_config=ec,
        output_config=cfg.OutputConfig(width=180, height=320), output_url=f"file://{tmp_path}/out.mp4",
    )  # fmt: skip
    settings = WorkerSettings(media_roots=(str(media),), output_dir=str(tmp_path))
    done = run_job(cmd, settings, JobState(), narrate=narrate)
    assert done.duration_s == pytest.approx(NARRATION_S, abs=0.05)

    numbers = numbers_of(done.media_url.removeprefix("file://"))
    assert len(numbers) == round(NARRATION_S * OUTPUT_FPS)
    assert sum(n is None for n in numbers) == 0  # every frame shows one source frame, whole
    runs = shots_of(numbers)
    # 14 s of speech over 3 s pieces: at least five shots, from both groups.
    assert len(runs) >= 5, [(r[0], r[-1]) for r in runs]
    assert {r[0][1] >= 2000 for r in runs} == {False, True}
    expected = SOURCE_FPS / OUTPUT_FPS  # source frames per output frame at speed 1
    for run in runs:
        if len(run) < 15:  # too short to measure a slope on a 25→30 fps cadence
            continue
        slope = _slope(run)
        assert slope / expected == pytest.approx(1.0, abs=0.02), (run[0], run[-1])


def _slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
