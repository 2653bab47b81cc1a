"""Memory bounded by construction (issue 13): whole renders of hostile media, each in a process of its
own whose peak memory (VmHWM) is measured against the worker pod's 1 GiB limit."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
POD_LIMIT_MIB = 1024

SCRIPT = r"""
import json, sys
from reelmill.v1 import job_config_pb2 as cfg, render_pb2
from worker.job import JobState, run_job
from worker.settings import WorkerSettings

media, out, clip, sticker = sys.argv[1:5]
ic = cfg.InputConfig(media_group_array=[cfg.MediaGroup(group_name="g", media_array=[f"file://{clip}"],
                                                       duration=2.0)])
if sticker:
    ic.sticker.CopyFrom(cfg.Sticker(media_url=f"file://{sticker}", x=0, y=0, width=4096, height=4096))
cmd = render_pb2.RenderCommand(batch_id="b", sub_job_id="s", index=0, count=1, seed=1, tenant="t",
                               input_config=ic, output_config=cfg.OutputConfig(width=1080, height=1920))
done = run_job(cmd, WorkerSettings(media_roots=(media,), output_dir=out, cache_dir=out + "/c"), JobState())
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"duration": done.duration_s, "peak_mib": hwm / 1024}))
"""


def make_odd_rate_video(path: Path) -> None:
    """240 fps in a 1/90001 time base, with uneven steps between frames (a phone's variable rate)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=240)
        vs.width, vs.height, vs.pix_fmt = 640, 360, "yuv420p"
        vs.time_base = Fraction(1, 90001)
        pts = 0
        for i in range(2 * 240):
            frame = av.VideoFrame(640, 360, "yuv420p")
            frame.planes[0].update(bytes([(i * 7) % 200 + 20]) * frame.planes[0].buffer_size)
            frame.pts, frame.time_base = pts, Fraction(1, 90001)
            pts += 300 + (i % 3) * 75  # steps of 300, 375 and 450 ticks
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))


@pytest.mark.parametrize("case", ["odd frame rate", "4096-pixel sticker"])
def test_hostile_media_render_within_the_pod_limit(tmp_path: Path, case: str) -> None:
    media = tmp_path / "media"
    media.mkdir()
    clip = media / "clip.mp4"
    make_odd_rate_video(clip)
    sticker = ""
    if case == "4096-pixel sticker":
        Image.new("RGBA", (4096, 4096), (200, 40, 40, 128)).save(media / "big.png")
        sticker = str(media / "big.png")
    argv = [sys.executable, "-c", SCRIPT, str(media), str(tmp_path / "out"), str(clip), sticker]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{case}: 2 s at 1080x1920, peak {result['peak_mib']:.0f} MiB")
    assert result["duration"] == pytest.approx(2.0, abs=0.05)
    assert result["peak_mib"] < POD_LIMIT_MIB * 0.75, result  # room for the interpreter's own growth
