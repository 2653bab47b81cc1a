"""A source whose frames lie far apart (issue 13): a 4.5 KB MP4 with two frames 45 s apart made a
worker hold every canvas frame of the gap at once (4.4 GB at 1080×1920). Frames are now taken from
the graph one at a time; the peak memory of a process framing such a shot stays small."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av

SCRIPT = r"""
import json, sys
from fractions import Fraction
from reelmill.jobspec import OutputSpec
from worker.plan.model import Background, Shot
from worker.render.video import Canvas, shot_video_frames

path, count = sys.argv[1], int(sys.argv[2])
spec = OutputSpec(540, 960, Fraction(30), "h264", 23, "veryfast", None, None, 128)
shot = Shot(path, Fraction(0), Fraction(count, 30), False, 0.0)
n = sum(1 for _ in shot_video_frames(path, path, shot, Canvas(spec, Background(), None), count))
# VmHWM: this process's own peak (ru_maxrss would count the parent's memory at fork).
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"frames": n, "peak_mb": hwm / 1024}))
"""


def make_sparse_video(path: Path, gap_s: int) -> None:
    """Two frames, gap_s seconds apart (tens of kilobytes)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=1)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        vs.time_base = Fraction(1, 1000)
        for i, pts in enumerate((0, gap_s * 1000)):
            frame = av.VideoFrame(320, 240, "yuv420p")
            frame.planes[0].update(bytes([40 + 150 * i]) * frame.planes[0].buffer_size)
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))


def test_a_long_gap_between_two_frames_is_framed_one_frame_at_a_time(tmp_path: Path) -> None:
    source = tmp_path / "sparse.mp4"
    make_sparse_video(source, 45)
    assert source.stat().st_size < 100_000  # tens of kilobytes
    count = 45 * 30  # the whole gap at 30 fps: 1350 canvas frames of 540×960 (about 1 GB if held at once)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(source), str(count)], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["frames"] == count
    assert result["peak_mb"] < 400, result
