"""The quality report of an output, measured on what was encoded (not computed from the plan).

The frames and the mixed sound are measured as they go to the encoder: the picture scaled down to a
thumbnail and run through libavfilter's blackdetect and freezedetect, the sound through ebur128
(render/audio.py's LoudnessMeter). The durations are read from the written file's packets.
Black or frozen stretches where the plan shows a still image are the image, not a fault, and are left
out; so are those where the clip shown is itself black or frozen over the same stretch of its source
(decoded again for that stretch only, and only when the output has such a run: rare, so cheap).
The digest hashes the thumbnails and samples: two outputs that look and sound the same have the same
digest, whatever the encoder wrote. measure_output does the same for a file already written, decoding it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import av
from av.audio.frame import AudioFrame
from av.filter import Graph
from av.video.frame import VideoFrame
from PIL import Image

from reelmill.catalog import KEN_BURNS
from worker.plan import VariantPlan
from worker.render.audio import LoudnessMeter
from worker.render.filters import pull_available, push_stamped
from worker.render.inputs import FileIdentity, file_identity
from worker.render.poster import poster_image
from worker.render.threads import new_graph

THUMB_WIDTH = 96  # pixels: enough for black and freeze detection and the digest, cheap to scale to
BLACK_MIN_S = 0.1  # a black stretch shorter than this is a cut, not a fault
FREEZE_MIN_S = 0.5
FREEZE_NOISE = "-50dB"
SOURCE_SHARE = 0.8  # a run is the footage's when its sources are black (or frozen) this much of it
# Decoding a source stretch again (rare, remembered) or a written output: two frame threads, whatever
# the node's cores (libav's own count would be up to 16, in a pod that may have two: worker/cpus.py).
CHECK_DECODER_THREADS = 2


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


class PictureMeter:
    """Black and frozen runs of a picture, and the digest of its thumbnails, fed frame by frame."""

    def __init__(self, digest: hashlib._Hash | None = None) -> None:
        self.digest = digest
        self.black: list[tuple[float, float]] = []
        self.frozen: list[tuple[float, float]] = []
        self._black_from: float | None = None
        self._frozen_from: float | None = None
        self._graph: Graph | None = None  # made for the first frame's geometry

    def push(self, frame: VideoFrame, time_base: Fraction, pts: int | None = None) -> None:
        """`frame` at `pts` in `time_base` (its own pts when None)."""
        if self._graph is None:
            # One thread: a thumbnail is little work, and slice threads would wait on the encoder's.
            g = self._graph = new_graph()
            size, pix_fmt = f"{frame.width}x{frame.height}", frame.format.name
            self._source = g.add(
                "buffer", video_size=size, pix_fmt=pix_fmt, time_base=str(time_base), pixel_aspect="1/1"
            )
            self._sink = g.add("buffersink")
            g.link_nodes(
                self._source,
                # area: an average of each block, cheap (a quarter of bicubic's time) and noise-free.
                g.add("scale", f"{THUMB_WIDTH}:-2:flags=area"),
                g.add("blackdetect", d=str(BLACK_MIN_S), pix_th="0.10"),
                g.add("freezedetect", n=FREEZE_NOISE, d=str(FREEZE_MIN_S)),
                g.add("format", "gray"),
                self._sink,
            ).configure()
        if pts is None:
            self._source.push(frame)
        else:
            push_stamped(self._source, frame, pts, time_base)
        for out in pull_available(self._sink, VideoFrame)[0]:
            self._read(out)

    def _read(self, out: VideoFrame) -> None:
        if self.digest is not None:
            self.digest.update(bytes(out.planes[0]))
        meta = out.metadata
        if "lavfi.black_start" in meta:
            self._black_from = float(meta["lavfi.black_start"])
        if "lavfi.black_end" in meta and self._black_from is not None:
            self.black.append((self._black_from, float(meta["lavfi.black_end"])))
            self._black_from = None
        if "lavfi.freezedetect.freeze_start" in meta:
            self._frozen_from = float(meta["lavfi.freezedetect.freeze_start"])
        if "lavfi.freezedetect.freeze_end" in meta and self._frozen_from is not None:
            self.frozen.append((self._frozen_from, float(meta["lavfi.freezedetect.freeze_end"])))
            self._frozen_from = None

    def ended(self, end: float) -> None:
        """The picture ends at `end` seconds: a run still open ends there."""
        if self._black_from is not None:
            self.black.append((self._black_from, end))
        if self._frozen_from is not None:
            self.frozen.append((self._frozen_from, end))
        self._black_from = self._frozen_from = None


class OutputMeter:
    """What the report measures of the picture and the sound, taken as they go to the encoder (one
    pass: decoding the output again cost a tenth of a render), and the poster's frame."""

    def __init__(self, plan: VariantPlan) -> None:
        self.fps = Fraction(plan.output.fps)
        self.picture_digest, self.sound_digest = hashlib.sha256(), hashlib.sha256()
        self.picture = PictureMeter(self.picture_digest)
        self.loudness = LoudnessMeter()
        self.sound_samples = 0
        # The poster: the frame at a third of the video, at most 1 s in (past any fade from black).
        self.poster_index = min(round(min(Fraction(1), plan.duration_s / 3) * self.fps), plan.frame_count - 1)
        self.poster: Image.Image | None = None

    def video(self, frame: VideoFrame, index: int) -> None:
        """Output frame `index` (counted from 0)."""
        self.picture.push(frame, 1 / self.fps, index)
        if index == self.poster_index:
            self.poster = poster_image(frame)

    def audio(self, frame: AudioFrame) -> None:
        """The next mixed frame (fltp stereo 48 kHz, as the encoder takes it)."""
        self.sound_digest.update(bytes(frame.planes[0])[: 4 * frame.samples])
        self.loudness.push(frame)
        self.sound_samples += frame.samples

    def digest(self) -> str:
        both = hashlib.sha256(self.picture_digest.digest() + self.sound_digest.digest())
        return both.hexdigest()[:16]


def report(
    meter: OutputMeter,
    path: str,
    plan: VariantPlan,
    text_overlaps: int = 0,
    sources: Mapping[str, str] | None = None,
) -> QualityReport:
    """The report of the output written at `path` from `plan`, with `meter` fed all its frames. The
    durations are the file's own (its packets, as a player reads them); the rest is the meter's. With
    `sources` (the plan's media as local files), a black or frozen stretch whose shots' sources are
    themselves black or frozen there is the footage, not a fault, and is left out."""
    picture_s, sound_end_s = _durations(path)
    meter.picture.ended(picture_s)
    loudness = meter.loudness.result() if meter.sound_samples else None
    stills = [
        (float(start), float(start + shot.duration_s))
        for shot, start in zip(plan.shots, plan.starts_s, strict=True)
        if shot.is_image and not _moves_all_along(shot.effect)
    ]
    return QualityReport(
        duration_s=picture_s,
        loudness_lufs=loudness.integrated_lufs if loudness else -70.0,
        true_peak_db=loudness.true_peak_db if loudness else -70.0,
        av_end_offset_s=sound_end_s - picture_s if sound_end_s is not None else 0.0,
        black_runs=[
            r
            for r in meter.picture.black
            if not _inside(r, stills) and not _in_source(r, "black", plan, sources)
        ],
        frozen_runs=[
            r
            for r in meter.picture.frozen
            if not _inside(r, stills) and not _in_source(r, "frozen", plan, sources)
        ],
        text_overlaps=text_overlaps,
        digest=meter.digest(),
    )


def measure_output(
    path: str, plan: VariantPlan, text_overlaps: int = 0, sources: Mapping[str, str] | None = None
) -> QualityReport:
    """The report of an output already written, by decoding it (the render measures as it encodes)."""
    meter = OutputMeter(plan)
    with av.open(path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = CHECK_DECODER_THREADS
        for frame in c.decode(stream):
            meter.picture.push(frame, stream.time_base or Fraction(1, 30))
    with av.open(path) as c:
        if c.streams.audio:
            for sound in c.decode(c.streams.audio[0]):
                meter.audio(sound)  # decoded AAC: fltp stereo 48 kHz, as the meter takes
    return report(meter, path, plan, text_overlaps, sources)


def _durations(path: str) -> tuple[float, float | None]:
    """How long the picture of the file at `path` lasts (its frames at its frame rate) and where its
    sound ends (the last packet's end on the container's timeline), read from its packets alone."""
    frames, sound_end, fps = 0, None, Fraction(30)
    with av.open(path) as c:
        video = c.streams.video[0]
        fps = video.average_rate or fps
        for packet in c.demux():
            if packet.size == 0:  # the demuxer's flush packet
                continue
            if packet.stream.type == "video":
                frames += 1
            elif packet.stream.type == "audio" and packet.pts is not None and packet.time_base:
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                sound_end = end if sound_end is None else max(sound_end, end)
    return float(frames / fps), sound_end


Runs = list[tuple[float, float]]
SOURCE_MEMO = 256  # stretches of sources remembered per process


def _source_runs(path: str, window: tuple[float, float]) -> tuple[Runs, Runs]:
    """The black and frozen runs of a source over `window` (to the millisecond), remembered per
    process: the variants of a batch show the same stretches of the same sources, and decoding a 4K
    source again for each one costs more than the variant's encoding."""
    file = file_identity(path)
    if file is None:
        raise FileNotFoundError(path)
    return _file_runs(file, round(window[0], 3), round(window[1], 3))


@functools.lru_cache(maxsize=SOURCE_MEMO)
def _file_runs(file: FileIdentity, start: float, end: float) -> tuple[Runs, Runs]:
    meter = _picture(file.path, (start, end))
    return meter.black, meter.frozen


def _picture(path: str, window: tuple[float, float]) -> PictureMeter:
    """Black and frozen runs of a video over `window` (times in its own seconds)."""
    meter = PictureMeter()
    with av.open(path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = CHECK_DECODER_THREADS
        if window[0] > 0 and stream.time_base:
            with contextlib.suppress(av.FFmpegError):
                c.seek(round(window[0] / stream.time_base), stream=stream)
        for frame in c.decode(stream):
            if frame.time is not None:
                if frame.time < window[0] - 1e-3:
                    continue
                if frame.time > window[1]:
                    break
            meter.push(frame, stream.time_base or Fraction(1, 30))
    meter.ended(window[1])
    return meter


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
            there = _source_runs(path, (s0, s1))
        except (av.FFmpegError, IndexError, OSError):
            return False
        runs = there[0] if kind == "black" else there[1]
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
