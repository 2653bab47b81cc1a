"""The quality report of an output, measured on the written file (not computed from the plan).

One decoding pass over the MP4: the picture is scaled down to a thumbnail strip and run through
libavfilter's blackdetect and freezedetect; the sound through ebur128 (render/audio.py's measure).
Black or frozen stretches where the plan shows a still image are the image, not a fault, and are left
out; so are those where the clip shown is itself black or frozen over the same stretch of its source
(decoded again for that stretch only, and only when the output has such a run: rare, so cheap).
The digest hashes the decoded thumbnails and samples: two outputs that look and sound the same have
the same digest, whatever the encoder wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import av
from av.filter import Graph
from av.video.frame import VideoFrame

from reelmill.catalog import KEN_BURNS
from worker.plan import VariantPlan
from worker.render.audio import SAMPLE_RATE, measure
from worker.render.filters import pull_available

THUMB_WIDTH = 96  # pixels: enough for black and freeze detection and the digest, cheap to scale to
BLACK_MIN_S = 0.1  # a black stretch shorter than this is a cut, not a fault
FREEZE_MIN_S = 0.5
FREEZE_NOISE = "-50dB"
SOURCE_SHARE = 0.8  # a run is the footage's when its sources are black (or frozen) this much of it


@dataclass
class QualityReport:
    duration_s: float
    loudness_lufs: float
    true_peak_db: float
    av_end_offset_s: float  # where the sound ends minus where the picture ends
    # Black and frozen stretches, except where the plan shows a still image (that is the image).
    black_runs: list[tuple[float, float]] = field(default_factory=list)
    frozen_runs: list[tuple[float, float]] = field(default_factory=list)
    text_overlaps: int = 0  # pairs of texts or stickers whose drawn pixels meet while both show
    digest: str = ""

    def to_json(self) -> str:
        return json.dumps({
            "Duration": round(self.duration_s, 4), "Loudness": round(self.loudness_lufs, 2),
            "TruePeak": round(self.true_peak_db, 2), "AVEndOffset": round(self.av_end_offset_s, 4),
            "BlackRuns": [{"Start": round(a, 3), "End": round(b, 3)} for a, b in self.black_runs],
            "FrozenRuns": [{"Start": round(a, 3), "End": round(b, 3)} for a, b in self.frozen_runs],
            "TextOverlaps": self.text_overlaps, "Digest": self.digest,
        })  # fmt: skip


def measure_output(
    path: str, plan: VariantPlan, text_overlaps: int = 0, sources: Mapping[str, str] | None = None
) -> QualityReport:
    """The report of the output at `path`, rendered from `plan`. With `sources` (the plan's media as
    local files), a black or frozen stretch whose shots' sources are themselves black or frozen there
    is the footage, not a fault, and is left out."""
    digest = hashlib.sha256()
    picture = _picture(path, digest)
    with av.open(path) as c:
        audio = c.streams.audio[0] if c.streams.audio else None
        frames = list(c.decode(audio)) if audio is not None else []
    for f in frames:
        digest.update(bytes(f.planes[0])[: 4 * f.samples])
    sound_end = sum(f.samples for f in frames) / SAMPLE_RATE
    loudness = measure(frames) if frames else None  # decoded AAC: fltp stereo 48 kHz, as measure takes
    stills = [
        (float(start), float(start + shot.duration_s))
        for shot, start in zip(plan.shots, plan.starts_s, strict=True)
        if shot.is_image and not _moves_all_along(shot.effect)
    ]
    return QualityReport(
        duration_s=picture.duration_s,
        loudness_lufs=loudness.integrated_lufs if loudness else -70.0,
        true_peak_db=loudness.true_peak_db if loudness else -70.0,
        av_end_offset_s=sound_end - picture.duration_s if frames else 0.0,
        black_runs=[
            r for r in picture.black if not _inside(r, stills) and not _in_source(r, "black", plan, sources)
        ],
        frozen_runs=[
            r for r in picture.frozen if not _inside(r, stills) and not _in_source(r, "frozen", plan, sources)
        ],
        text_overlaps=text_overlaps,
        digest=digest.hexdigest()[:16],
    )


@dataclass
class _Picture:
    duration_s: float
    black: list[tuple[float, float]]
    frozen: list[tuple[float, float]]


def _picture(path: str, digest: hashlib._Hash | None, window: tuple[float, float] | None = None) -> _Picture:
    """Black and frozen runs of a video (times in its own seconds); `window`: only that stretch."""
    black: list[tuple[float, float]] = []
    frozen: list[tuple[float, float]] = []
    black_from = frozen_from = None
    count, fps = 0, Fraction(30)
    with av.open(path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        fps = stream.average_rate or fps
        graph = sink = source = None
        if window is not None and window[0] > 0 and stream.time_base:
            with contextlib.suppress(av.FFmpegError):
                c.seek(round(window[0] / stream.time_base), stream=stream)
        for frame in c.decode(stream):
            if window is not None and frame.time is not None:
                if frame.time < window[0] - 1e-3:
                    continue
                if frame.time > window[1]:
                    break
            if graph is None:
                graph = Graph()
                source = graph.add_buffer(template=stream)
                sink = graph.add("buffersink")
                graph.link_nodes(
                    source,
                    graph.add("scale", f"{THUMB_WIDTH}:-2"),
                    graph.add("blackdetect", d=str(BLACK_MIN_S), pix_th="0.10"),
                    graph.add("freezedetect", n=FREEZE_NOISE, d=str(FREEZE_MIN_S)),
                    graph.add("format", "gray"),
                    sink,
                ).configure()
            assert source is not None and sink is not None
            count += 1
            source.push(frame)
            for out in pull_available(sink, VideoFrame)[0]:
                if digest is not None:
                    digest.update(bytes(out.planes[0]))
                meta = out.metadata
                if "lavfi.black_start" in meta:
                    black_from = float(meta["lavfi.black_start"])
                if "lavfi.black_end" in meta and black_from is not None:
                    black.append((black_from, float(meta["lavfi.black_end"])))
                    black_from = None
                if "lavfi.freezedetect.freeze_start" in meta:
                    frozen_from = float(meta["lavfi.freezedetect.freeze_start"])
                if "lavfi.freezedetect.freeze_end" in meta and frozen_from is not None:
                    frozen.append((frozen_from, float(meta["lavfi.freezedetect.freeze_end"])))
                    frozen_from = None
    duration = float(count / fps)
    end = window[1] if window is not None else duration
    if black_from is not None:
        black.append((black_from, end))
    if frozen_from is not None:
        frozen.append((frozen_from, end))
    return _Picture(duration, black, frozen)


def _in_source(
    run: tuple[float, float], kind: str, plan: VariantPlan, sources: Mapping[str, str] | None
) -> bool:
    """Whether the footage itself is black (or frozen) where the run shows it: every video shot under
    the run, looked at over the stretch of its source the run shows, is so for most of it."""
    if not sources:
        return False
    looked = False
    for shot, start in zip(plan.shots, plan.starts_s, strict=True):
        a, b = max(run[0], float(start)), min(run[1], float(start + shot.duration_s))
        if b - a < BLACK_MIN_S or shot.is_image:
            continue
        path = sources.get(shot.source_url)
        if path is None:
            return False
        s0 = float(shot.in_s) + (a - float(start)) * float(shot.speed)
        s1 = float(shot.in_s) + (b - float(start)) * float(shot.speed)
        try:
            there = _picture(path, None, (s0, s1))
        except (av.FFmpegError, IndexError):
            return False
        runs = there.black if kind == "black" else there.frozen
        covered = sum(max(0.0, min(y, s1) - max(x, s0)) for x, y in runs)
        if covered < SOURCE_SHARE * (s1 - s0):
            return False
        looked = True
    return looked


def _moves_all_along(effect: str) -> bool:
    """A still under a zoom or a pan changes every frame; under blur or shake only at its start."""
    return effect in ("zoomin", "zoomout") or effect in KEN_BURNS


def _inside(run: tuple[float, float], stills: list[tuple[float, float]], slack: float = 0.1) -> bool:
    return any(a - slack <= run[0] and run[1] <= b + slack for a, b in stills)
