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
    row = r"^\| 1 \| 1 \| [\d.]+ \| [\d.]+ \| 1\.00 \| [\d.]+ \| [\d.]+ \| yes \|$"
    assert re.search(row, done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^One variant alone, Submit to Success: [\d.]+ s\.$", done.stdout, re.MULTILINE)
    pinned = r"^\d+ cores \([^)]+\), each worker pinned to 1 core\(s\) of its own, one cache folder for all\."
    assert re.search(pinned, done.stdout, re.MULTILINE), done.stdout


def test_the_scale_benchmark_pins_workers_to_physical_cores_before_their_siblings() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from scale import _cpu_list, by_siblings

    assert _cpu_list("0-3,8,10-11\n") == {0, 1, 2, 3, 8, 10, 11}
    pairs = {0: (0, 8), 8: (0, 8), 1: (1, 9), 9: (1, 9), 2: (2, 10), 10: (2, 10)}
    assert by_siblings(pairs) == [0, 1, 2, 8, 9, 10]
    assert by_siblings({3: (3,), 1: (1,), 2: (2,)}) == [1, 2, 3]
    assert by_siblings({0: (0, 1), 1: (0, 1), 5: (4, 5)}) == [0, 5, 1]  # 4 not ours: 5 is its core's first


def test_the_scale_benchmark_refuses_rows_larger_than_one_job_before_starting_anything() -> None:
    """Each row is one job: 8 variants per worker at 16 workers would be 128, past OutputConfig.Count."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--workers", "1,16", "--variants-per-worker", "8"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "a row's job would be 128 variants" in done.stderr and "more than 100" in done.stderr, done.stderr
    assert "OutputConfig.Count" in done.stderr
    # So is the untimed warm-up before a row, two variants per worker however few the row asks.
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--workers", "1,60", "--variants-per-worker", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "a row's job would be 120 variants" in done.stderr, done.stderr


def test_the_phone_footage_batch_runs_and_keeps_frames_on_disk(tmp_path: Path) -> None:
    """The phone-footage batch in miniature: HEVC sources (10- and 8-bit, 60 and 30 fps, turned) made
    with the ffmpeg CLI, three variants by ffmpeg commands, by reelmill with and without frames kept on
    disk, and the x264 floor; every output checked to be the composition before a time is reported."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-reference",
         "--tools", "reelmill,ffmpeg", "--phone", "--count", "3", "--worker-processes", "2",
         "--work", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    assert "Batch (phone-quick): 3 variants" in table and "phone-like sources: 4K HEVC" in table
    rows = [
        "3 × ffmpeg CLI, one command each",
        "reelmill, one worker process, frame reuse off",
        "reelmill, one worker process, frames kept on disk, 8000 MB",
        "reelmill, 2 worker processes on a core each, frames kept on disk, a folder each",
        "reelmill, 2 worker processes on a core each, frames kept on disk, one folder for all",
        "x264 alone on the same frames",
    ]
    for row in rows:
        assert f"| {row}" in table, row
    assert re.search(r"^\| frames kept on disk, 8000 MB \| \d+ \| 9 \|", table, re.MULTILINE), table
    assert "| first video done after, s (last round) |" in table


def test_the_gateway_benchmark_runs_on_postgresql_with_two_gateways() -> None:
    """`make bench-gateway` in miniature: two gateway processes on one address, Submits at a low rate in
    two runs, then Get and List over a few stored jobs."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gateway_load.py"), "--rate", "20", "--runs", "2",
         "--seconds", "1", "--jobs", "50", "--calls", "5", "--gateways", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^PostgreSQL [\w.() +-]+, autovacuum (on|off)$", done.stdout, re.MULTILINE), done.stdout
    rows = [
        "Submit at 20/s for 1 s (3 variants each), run 1 of 2",
        "run 2 of 2",
        "Get with 50 jobs stored",
        "List, 20 per page, paging on, 50 jobs",
        "List Status=Failed, 20 per page",
    ]
    for row in rows:
        assert row in done.stdout, done.stdout
    submits = re.findall(r"^\| Submit at 20/s .*? \| (\d+) \| (\d+) \|", done.stdout, re.MULTILINE)
    assert submits == [("20", "0"), ("20", "0")], done.stdout
