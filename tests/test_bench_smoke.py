"""The render benchmark still runs: its quick version (360×640, 3 s) renders the reference job with
reelmill, the ffmpeg CLI and MoviePy (when `make bench-env` has made its virtualenv), checks that the
outputs are the same video, and does a small batch. Timings are printed, never asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MOVIEPY = ROOT / ".bench" / "moviepy" / "bin" / "python"


def test_the_quick_benchmark_renders_checks_and_reports(tmp_path: Path) -> None:
    tools = "reelmill,ffmpeg,moviepy" if MOVIEPY.exists() else "reelmill,ffmpeg"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--runs", "1", "--tools", tools,
         "--batch", "--count", "3", "--work", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    assert (
        "| reelmill (worker.job.run_job, child process) |" in table and "| ffmpeg CLI, one command |" in table
    )
    assert "reelmill / ffmpeg CLI: **" in table
    assert "| x264 alone on reelmill's frames (ffmpeg CLI, raw input) |" in table
    assert "x264 alone on the same frames: " in table
    if MOVIEPY.exists():
        assert "| MoviePy 2.2.1 |" in table and "MoviePy / reelmill (wall): **" in table
    assert "| 3 × ffmpeg CLI, one command each |" in table and "x264 alone on the same frames" in table
    assert "| 2 |" in table  # render slots
    # The frame cache's row (3 variants need not share a shot: variants sharing a clip start it at
    # different pieces; tests/worker/test_frame_cache.py proves the hits).
    assert re.search(r"^\| frame cache 5000 MB \| (\d+) \|", table, re.MULTILINE) is not None


def test_the_stage_profile_runs_every_stage(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "stages.py"), "--quick", "--work", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    rows = [line.split("|") for line in lines if line.startswith("| ") and "---" not in line]
    stages = {r[1].strip(): int(r[2]) for r in rows[1:]}
    assert len(stages) == 7, done.stdout
    assert stages.pop("of which: the mix measured before it is normalised") == 0  # sound only
    frames = 3 * 30  # the quick job: 3 s at 30 fps
    # Decoding may yield a frame or two before the in-points (from the keyframe); every later stage makes
    # exactly the plan's frames.
    assert stages.pop("decoding the shots' pieces") >= frames
    assert set(stages.values()) == {frames}, stages


def test_the_scale_benchmark_runs_workers_and_reports_their_efficiency() -> None:
    """`make bench-scale` in miniature: one worker, one tiny variant, through a real gateway and NATS."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--max-workers", "1", "--variants-per-worker", "1",
         "--size", "160x288", "--seconds", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^\| 1 \| 1 \| [\d.]+ \| [\d.]+ \| 1\.00 \|$", done.stdout, re.MULTILINE), done.stdout
