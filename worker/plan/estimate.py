"""How long a plan takes to render, estimated before rendering (a dry run's answer).

A render's cost is x264's on the output frames plus decoding and framing the sources, which scale with
the output's pixels per second; the preset multiplies the encoder's share. The constant was measured
on the benchmark machine (2 cores, 1080×1920 at 30 fps, veryfast: about 0.65 s of wall time per second
of video, the quality report included); other machines differ by their speed per core.
"""

from __future__ import annotations

from worker.plan.model import VariantPlan

SECONDS_PER_REFERENCE_SECOND = 0.65
REFERENCE_PIXEL_RATE = 1080 * 1920 * 30
FIXED_S = 0.3  # opening sources, planning, the audio passes
# x264's presets relative to veryfast (its own documentation's speed table, rounded).
PRESET_COST = {
    "ultrafast": 0.4, "superfast": 0.55, "veryfast": 1.0, "faster": 1.5, "fast": 1.9, "medium": 2.4,
    "slow": 3.5, "slower": 6.0, "veryslow": 10.0, "placebo": 30.0,
}  # fmt: skip


def render_seconds(plan: VariantPlan) -> float:
    out = plan.output
    pixel_rate = out.width * out.height * float(out.fps)
    preset = PRESET_COST.get(out.preset, 1.0) * (1.6 if out.codec == "hevc" else 1.0)
    per_second = SECONDS_PER_REFERENCE_SECOND * pixel_rate / REFERENCE_PIXEL_RATE * preset
    return round(FIXED_S + float(plan.duration_s) * per_second, 2)
