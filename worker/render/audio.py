"""The variant's sound: the clips' own sound, the narration and the music, mixed in libav graphs into
one 48 kHz stereo track of exactly the video's length.

Each track is a stream of fltp stereo frames with exactly the timeline's number of samples:
- clips: shot by shot, each shot's sound over its cell (from the middle of the transition into it to
  the middle of the transition out of it), sped up or slowed down with the picture (atempo), at the
  shot's volume, crossfaded over 20 ms at each cut (no click, no dip);
- narration: silence, then each narration where the plan puts it (sped up by atempo when it had to be
  fitted to MaxDuration), at the speech volume;
- music: the file looped (or cut) to the length.
The mix graph lowers the music by the volume filter with an envelope driven by the narration's
times: down to DUCK_GAIN from DUCK_RAMP_S before a narration starts until DUCK_RAMP_S after it ends,
with linear ramps. Driving it by the plan rather than a sidechain compressor keeps it exact and
deterministic (a pause between two sentences does not pump the music) and costs nothing to compute.
Then the music fades out over the last second, and amix adds the tracks (every volume is the one the
job asked for).

Last, the mix is normalised (EBU R128): the mix is measured by libavfilter's ebur128 (integrated
loudness, true peak) and kept; the final pass replays it raised or lowered by the one gain that
brings it to the target loudness, and a look-ahead limiter keeps its peaks under the true-peak ceiling.
One gain for the whole video keeps the balance of voice, music and clips as the job asked; a dynamic
normaliser (loudnorm's one-pass mode) would pump the music between sentences.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction

import av
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.filter import Graph
from av.filter.context import FilterContext

from worker.errors import MaterialUnreadableError
from worker.plan import MusicLayer, Shot, SpeechLayer, VariantPlan
from worker.render.filters import pull_available, push_stamped
from worker.render.inputs import describe, open_input
from worker.render.threads import new_graph

SAMPLE_RATE = 48000
SILENT_LUFS = -70.0  # ebur128's floor: nothing to normalise (silence, or shorter than one 400 ms block)
MAX_BOOST_DB = 24.0  # a mix far quieter than the target is raised this much at most (noise stays noise)
# The limiter works on samples: its ceiling sits this far under the true-peak limit for the peaks
# between samples and the AAC encoder's overshoot.
LIMITER_MARGIN_DB = 1.0
LIMITER_CORRECTIONS = 2
LOUDNESS_TOLERANCE_LU = 0.3  # how near the target a limited mix must come before no correction
KEEP_MIX_S = 180  # a mix up to this long (69 MB of samples) is kept for its final pass, not made again
AAC_FRAME_SIZE = 1024
EDGE_FADE_S = 0.01  # a shot too short to crossfade fades in and out this long: no clicks at cuts
CROSSFADE_SAMPLES = 960  # 20 ms: the clips' sound at a cut, one shot's fading out under the next's
DUCK_GAIN = 0.35  # music under narration: about -9 dB below its volume
DUCK_RAMP_S = 0.3
FLTP_STEREO = f"sample_fmts=fltp:channel_layouts=stereo:sample_rates={SAMPLE_RATE}"


class _Chain:
    """A linear audio graph ending in a sink (the Graph is kept alive with it)."""

    def __init__(self, graph: Graph, nodes: list[FilterContext], frame_size: int | None = None) -> None:
        self.graph = graph
        self.sink = graph.add("abuffersink")
        graph.link_nodes(*nodes, self.sink).configure()
        if frame_size:
            graph.set_audio_frame_size(frame_size)
        self.source = nodes[0]


@dataclass(frozen=True)
class _Cut:
    """What to take from a sound file: from in_s, at `speed`, `volume`, exactly `samples` samples."""

    in_s: Fraction
    speed: Fraction
    volume: float
    samples: int
    fades: bool = True


def _source_chain(first: AudioFrame, stream: AudioStream, cut: _Cut) -> _Chain:
    graph = new_graph()
    nodes = [
        graph.add(
            "abuffer",
            sample_rate=str(first.sample_rate),
            sample_fmt=first.format.name,
            channel_layout=first.layout.name,
            time_base=str(stream.time_base or Fraction(1, first.sample_rate)),
        ),
        # Frames arrive stamped relative to the in-point: drop what lies before it, to the sample.
        graph.add("atrim", start="0"),
        # async=1 + first_pts=0: a track that starts late (or has holes) is filled with silence.
        graph.add("aresample", f"{SAMPLE_RATE}:async=1:first_pts=0"),
        graph.add("aformat", "sample_fmts=fltp:channel_layouts=stereo"),
    ]
    if cut.speed != 1:
        nodes.append(graph.add("atempo", f"{float(cut.speed):.6f}"))
    nodes += [
        graph.add("volume", f"{cut.volume}"),
        graph.add("apad"),  # a source shorter than the cut ends in silence...
        graph.add("atrim", f"end_sample={cut.samples}"),  # ...and every cut has exactly `samples`
    ]
    if cut.fades:
        length_s = cut.samples / SAMPLE_RATE
        fade = min(EDGE_FADE_S, length_s / 2)
        nodes += [
            graph.add("afade", t="in", d=f"{fade:.6f}"),
            graph.add("afade", t="out", st=f"{max(length_s - fade, 0):.6f}", d=f"{fade:.6f}"),
        ]
    nodes.append(graph.add("aformat", FLTP_STEREO))  # atempo may have asked for another layout
    return _Chain(graph, nodes)


def silence(samples: int) -> Iterator[AudioFrame]:
    """Exactly `samples` samples of fltp stereo silence."""
    if samples <= 0:
        return
    graph = new_graph()
    nodes = [
        graph.add("anullsrc", f"r={SAMPLE_RATE}:cl=stereo:nb_samples=4096"),
        graph.add("aformat", "sample_fmts=fltp"),  # anullsrc makes u8
        graph.add("atrim", f"end_sample={samples}"),
    ]
    yield from _drain(_Chain(graph, nodes))


def sound_frames(path: str, url: str, cut: _Cut) -> Iterator[AudioFrame]:
    """Exactly cut.samples samples of fltp stereo 48 kHz from the file's first audio stream (silence
    if it has none). Yielded frames carry no meaningful pts: the caller stamps them."""
    if cut.samples <= 0:
        return
    with open_input(path, url) as container:
        if not container.streams.audio:
            yield from silence(cut.samples)
            return
        try:
            yield from _decode(container, container.streams.audio[0], cut)
        except av.FFmpegError as e:
            raise MaterialUnreadableError(f"cannot decode the sound of media {url}: {describe(e)}") from e


def _drain(chain: _Chain) -> Iterator[AudioFrame]:
    while True:
        frames, done = pull_available(chain.sink, AudioFrame)
        yield from frames
        if done or not frames:  # after end of input the graph never waits, so no frames means the end
            return


def _decode(container: InputContainer, stream: AudioStream, cut: _Cut) -> Iterator[AudioFrame]:
    time_base = stream.time_base or Fraction(1, stream.sample_rate)
    # in_s counts from the start of the video (as in probe), so a track that starts later stays in sync.
    origin = Fraction(0)
    if container.streams.video:
        video = container.streams.video[0]
        if video.start_time is not None and video.time_base:
            origin = video.start_time * video.time_base
    in_pts = round((origin + cut.in_s) / time_base)
    if cut.in_s > 0:
        try:
            container.seek(in_pts, stream=stream)
        except av.FFmpegError:
            pass  # not seekable: decode from the start; atrim drops what comes before in_s

    chain: _Chain | None = None
    produced = 0
    for frame in container.decode(stream):
        if chain is None:
            chain = _source_chain(frame, stream, cut)
        if frame.pts is not None:
            frame.pts -= in_pts
        chain.source.push(frame)
        ready, done = pull_available(chain.sink, AudioFrame)
        for out in ready:
            yield out
            produced += out.samples
        if done or produced >= cut.samples:
            return
    if chain is None:  # an audio stream without a single frame
        yield from silence(cut.samples)
        return
    chain.source.push(None)
    yield from _drain(chain)


# -- the three tracks ---------------------------------------------------------------------------------


def total_samples(plan: VariantPlan) -> int:
    return math.floor(plan.duration_s * SAMPLE_RATE)


def clip_track(plan: VariantPlan, sources: Mapping[str, str]) -> Iterator[AudioFrame]:
    """The shots' own sound, each over its cell, crossfaded at the cuts: each shot's sound runs on
    CROSSFADE_S/2 past each edge of its cell and the two overlap with equal-power ramps, so a cut
    neither clicks nor dips. A cell shorter than the crossfade is cut hard (with EDGE_FADE_S fades)."""
    edges = [s + shot.transition_s / 2 for shot, s in zip(plan.shots, plan.starts_s, strict=True)]
    edges = [Fraction(0), *edges[1:], plan.duration_s]
    bounds = [math.floor(e * SAMPLE_RATE) for e in edges]
    xf = CROSSFADE_SAMPLES
    if any(b - a < 2 * xf for a, b in zip(bounds, bounds[1:], strict=False)):
        yield from _hard_cut_track(plan, sources, bounds)
        return
    half = xf // 2
    tail: tuple[array[float], array[float]] | None = None  # the last shot's run-on past its cell
    last = len(plan.shots) - 1
    for i, (shot, start) in enumerate(zip(plan.shots, plan.starts_s, strict=True)):
        lead = half if i > 0 else 0  # samples before the cell's start
        trail = xf - half if i < last else 0  # after its end
        a, b = bounds[i] - lead, bounds[i + 1] + trail
        left, right = _shot_sound(shot, start, sources, a, b)
        if tail is not None:  # the crossfade into this shot: its fade-in over the last one's fade-out
            for ch, prev in ((left, tail[0]), (right, tail[1])):
                for k in range(xf):
                    w = math.sin(math.pi / 2 * (k + 0.5) / xf)
                    ch[k] = ch[k] * w + prev[k] * math.sqrt(max(0.0, 1 - w * w))
        keep = len(left) - (xf if i < last else 0)
        tail = (left[keep:], right[keep:]) if i < last else None
        yield from _frames(left[:keep], right[:keep])


def _shot_sound(
    shot: Shot, start: Fraction, sources: Mapping[str, str], a: int, b: int
) -> tuple[array[float], array[float]]:
    """The shot's own sound from sample a to b of the timeline (it may run on past its cell)."""
    samples = b - a
    if shot.is_image or shot.volume == 0:
        return array("f", bytes(4 * samples)), array("f", bytes(4 * samples))
    in_s = max(shot.in_s + (Fraction(a, SAMPLE_RATE) - start) * shot.speed, Fraction(0))
    frames = sound_frames(sources[shot.source_url], shot.source_url,
                          _Cut(in_s, shot.speed, shot.volume, samples, fades=False))  # fmt: skip
    left, right = array("f"), array("f")
    for f in frames:
        left.frombytes(bytes(f.planes[0])[: 4 * f.samples])
        right.frombytes(bytes(f.planes[1])[: 4 * f.samples])
    return left, right


def _frames(left: array[float], right: array[float]) -> Iterator[AudioFrame]:
    for at in range(0, len(left), AAC_FRAME_SIZE):
        n = min(AAC_FRAME_SIZE, len(left) - at)
        frame = AudioFrame(format="fltp", layout="stereo", samples=n)
        for plane, ch in zip(frame.planes, (left, right), strict=True):
            data = ch[at : at + n].tobytes()
            plane.update(data + bytes(plane.buffer_size - len(data)))
        frame.sample_rate = SAMPLE_RATE
        yield frame


def _hard_cut_track(plan: VariantPlan, sources: Mapping[str, str], bounds: list[int]) -> Iterator[AudioFrame]:
    """Each shot's sound exactly over its cell, with short fades at both ends (cells too short to
    crossfade)."""
    for shot, start, a, b in zip(plan.shots, plan.starts_s, bounds, bounds[1:], strict=False):
        samples = b - a
        if shot.is_image or shot.volume == 0:
            yield from silence(samples)
            continue
        in_s = shot.in_s + (Fraction(a, SAMPLE_RATE) - start) * shot.speed
        yield from sound_frames(sources[shot.source_url], shot.source_url,
                                _Cut(in_s, shot.speed, shot.volume, samples))  # fmt: skip


def speech_track(plan: VariantPlan, total: int) -> Iterator[AudioFrame]:
    """Silence with each narration where the plan puts it."""
    at = 0
    for layer in sorted(plan.speech, key=lambda s: s.start_s):
        start = max(math.floor(layer.start_s * SAMPLE_RATE), at)
        samples = min(math.floor(layer.duration_s * SAMPLE_RATE), total - start)
        yield from silence(start - at)
        if samples > 0:
            cut = _Cut(Fraction(0), layer.speed, layer.volume, samples, fades=False)
            yield from sound_frames(layer.audio_path, layer.text[:60] or "narration", cut)
            at = start + samples
        else:
            at = start
    yield from silence(total - at)


def music_track(music: MusicLayer, path: str, total: int) -> Iterator[AudioFrame]:
    """The music file over and over, cut at `total` samples (volume, ducking and fade come in the mix)."""
    at = 0
    while at < total:
        before = at
        cut = _Cut(Fraction(0), Fraction(1), 1.0, total - at, fades=False)
        for frame in _natural_length(path, music.url, cut):
            yield frame
            at += frame.samples
        if at == before:  # a file without sound: silence for the rest
            yield from silence(total - at)
            return


def _natural_length(path: str, url: str, cut: _Cut) -> Iterator[AudioFrame]:
    """Like sound_frames, but ends where the file ends (no padding) or at cut.samples."""
    with open_input(path, url) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        graph: Graph | None = None
        sink = source = None
        produced = 0
        # An AAC file decodes to whole 1024-sample frames: the last one is padded past the length the
        # container states (about 20 ms of silence in .m4a). Looped, that padding is a gap at every
        # seam, so the file ends where the container says it does.
        end = cut.samples
        if stream.duration and stream.time_base:
            end = min(end, math.floor(stream.duration * stream.time_base * SAMPLE_RATE))
        try:
            for frame in container.decode(stream):
                if graph is None:
                    graph = new_graph()
                    nodes = [
                        graph.add("abuffer", sample_rate=str(frame.sample_rate), sample_fmt=frame.format.name,
                                  channel_layout=frame.layout.name,
                                  time_base=str(stream.time_base or Fraction(1, frame.sample_rate))),
                        graph.add("aresample", f"{SAMPLE_RATE}"),
                        graph.add("aformat", "sample_fmts=fltp:channel_layouts=stereo"),
                        graph.add("atrim", f"end_sample={end}"),
                    ]  # fmt: skip
                    sink = graph.add("abuffersink")
                    graph.link_nodes(*nodes, sink).configure()
                    source = nodes[0]
                assert source is not None and sink is not None
                source.push(frame)
                ready, done = pull_available(sink, AudioFrame)
                for out in ready:
                    yield out
                    produced += out.samples
                if done or produced >= end:
                    return
            if source is not None and sink is not None:
                source.push(None)
                while True:
                    ready, done = pull_available(sink, AudioFrame)
                    yield from ready
                    if done or not ready:
                        return
        except av.FFmpegError as e:
            raise MaterialUnreadableError(f"cannot decode music {url}: {describe(e)}") from e


# -- the mix ------------------------------------------------------------------------------------------


def duck_envelope(volume: float, speech: tuple[SpeechLayer, ...]) -> str:
    """The music's gain over time t as a libavfilter expression."""
    if not speech:
        return f"{volume}"
    r = DUCK_RAMP_S
    terms = []
    for s in speech:
        down, up = float(s.start_s) - r, float(s.start_s + s.duration_s) + r
        terms.append(f"clip((t-{down:.4f})/{r},0,1)*clip(({up:.4f}-t)/{r},0,1)")
    duck = terms[0]
    for term in terms[1:]:
        duck = f"max({duck},{term})"
    return f"{volume}*(1-{1 - DUCK_GAIN}*{duck})"


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float  # SILENT_LUFS for silence
    true_peak_db: float


def mix_source(graph: Graph) -> FilterContext:
    """A buffer source for the mix's frames: fltp stereo 48 kHz, stamped in samples."""
    rate = str(SAMPLE_RATE)
    return graph.add("abuffer", sample_rate=rate, sample_fmt="fltp", channel_layout="stereo",
                     time_base=f"1/{rate}")  # fmt: skip


class LoudnessMeter:
    """EBU R128 integrated loudness and true peak of fltp stereo 48 kHz frames (libavfilter ebur128),
    fed as they come: the render measures its mix while it encodes it."""

    def __init__(self) -> None:
        graph = self.graph = new_graph()
        self.source = mix_source(graph)
        self.sink = graph.add("abuffersink")
        graph.link_nodes(self.source, graph.add("ebur128", metadata="1", peak="true"), self.sink).configure()
        self.integrated, self.peak = SILENT_LUFS, 0.0
        self.samples = 0

    def push(self, frame: AudioFrame) -> None:
        # Stamped on the meter's own count: a frame's pts is the caller's (the encoder's, the mix's).
        push_stamped(self.source, frame, self.samples, Fraction(1, SAMPLE_RATE))
        self.samples += frame.samples
        self._read(pull_available(self.sink, AudioFrame)[0])

    def _read(self, out: list[AudioFrame]) -> None:
        for f in out:
            meta = f.metadata
            if "lavfi.r128.I" in meta:
                self.integrated = float(meta["lavfi.r128.I"])
                self.peak = max(self.peak, float(meta.get("lavfi.r128.true_peak", 0.0)))

    def result(self) -> Loudness:
        """The figures of everything pushed; the meter is finished after this."""
        self.source.push(None)
        while True:
            ready, done = pull_available(self.sink, AudioFrame)
            self._read(ready)
            if done or not ready:
                break
        integrated, peak = self.integrated, self.peak
        peak_db = 20 * math.log10(peak) if peak > 0 else -math.inf
        return Loudness(max(integrated, SILENT_LUFS) if math.isfinite(integrated) else SILENT_LUFS, peak_db)


def measure(frames: Iterable[AudioFrame]) -> Loudness:
    """EBU R128 integrated loudness and true peak of fltp stereo 48 kHz frames."""
    meter = LoudnessMeter()
    for frame in frames:
        meter.push(frame)
    return meter.result()


class Sound:
    """The variant's sound as it is encoded: the mix (Mixer), raised or lowered by the one gain that
    brings it to the plan's loudness target, under the limiter; exactly `total` samples.

    The mix is made once where it can be: its first pass is measured and kept (up to KEEP_MIX_S, in
    memory) to be replayed through the gain, instead of decoding and mixing every track again. A longer
    mix is made again for each pass."""

    def __init__(self, plan: VariantPlan, sources: Mapping[str, str]) -> None:
        self.plan, self.sources = plan, sources
        self.total = total_samples(plan)
        self._kept: list[AudioFrame] | None = None
        self.gain_db = self._normalising_gain_db()

    def frames(self) -> Iterator[AudioFrame]:
        """The frames to encode, in order (AAC-sized)."""
        if self.gain_db is None:
            return self._mix()
        return self._limited(self.gain_db)

    def _mix(self) -> Iterator[AudioFrame]:
        return iter(self._kept) if self._kept is not None else Mixer(self.plan, self.sources).frames()

    def _limited(self, gain_db: float) -> Iterator[AudioFrame]:
        ceiling = 10 ** ((self.plan.output.true_peak_db - LIMITER_MARGIN_DB) / 20)
        graph = new_graph()
        nodes = [
            mix_source(graph),
            graph.add("volume", volume=f"{gain_db:.4f}dB"),
            # level=0: no automatic make-up gain; latency=1: no delay, and the look-ahead flushed.
            graph.add("alimiter", limit=f"{ceiling:.6f}", attack="5", release="50", level="0", latency="1"),
            graph.add("apad", whole_len=str(self.total)),  # `total` samples, whatever the limiter does
            graph.add("atrim", end_sample=str(self.total)),
            graph.add("aformat", FLTP_STEREO),
        ]  # fmt: skip
        chain = _Chain(graph, nodes, AAC_FRAME_SIZE)
        pushed = 0
        for frame in self._mix():
            # Stamped on this graph's own count: a kept frame was stamped by the pass before.
            push_stamped(chain.source, frame, pushed, Fraction(1, SAMPLE_RATE))
            pushed += frame.samples
            yield from pull_available(chain.sink, AudioFrame)[0]
        chain.source.push(None)
        yield from _drain(chain)

    def _normalising_gain_db(self) -> float | None:
        """The one gain that brings the mix to its loudness target (None: not normalised).

        Measured on a first pass of the mix. Where that gain would push peaks into the limiter, the
        limited mix is measured again and the gain corrected for the loudness the limiter took (at most
        twice)."""
        target = self.plan.output.loudness_lufs
        if target is None:
            return None
        kept: list[AudioFrame] = []
        keep = self.plan.duration_s <= KEEP_MIX_S

        def first_pass() -> Iterator[AudioFrame]:
            for frame in Mixer(self.plan, self.sources).frames():
                if keep:
                    kept.append(frame)
                yield frame

        raw = measure(first_pass())
        if keep:
            self._kept = kept
        if raw.integrated_lufs <= SILENT_LUFS:
            return 0.0
        gain = min(target - raw.integrated_lufs, MAX_BOOST_DB)
        if raw.true_peak_db + gain <= self.plan.output.true_peak_db - LIMITER_MARGIN_DB:
            return gain  # the limiter will not touch it
        for _ in range(LIMITER_CORRECTIONS):
            short = target - measure(self._limited(gain)).integrated_lufs
            if abs(short) < LOUDNESS_TOLERANCE_LU:
                break
            gain = min(gain + short, MAX_BOOST_DB)
        return gain


class Mixer:
    """amix of the clip, narration and music tracks; pulls AAC-sized frames, exactly `total` samples."""

    def __init__(self, plan: VariantPlan, sources: Mapping[str, str]) -> None:
        total = self.total = total_samples(plan)
        tracks: list[Iterator[AudioFrame]] = [clip_track(plan, sources)]
        if plan.speech:
            tracks.append(speech_track(plan, total))
        g = self.graph = new_graph()
        sources_ = [mix_source(g) for _ in tracks]
        inputs: list[FilterContext] = list(sources_)
        music = plan.music
        if music is not None:
            tracks.append(music_track(music, sources[music.url], total))
            source = mix_source(g)
            sources_.append(source)
            gain = duck_envelope(music.volume, plan.speech if music.ducking else ())
            length_s = total / SAMPLE_RATE
            fade = min(float(music.fade_out_s), length_s)
            nodes = [
                source,
                g.add("volume", volume=gain, eval="frame"),
                g.add("afade", t="out", st=f"{length_s - fade:.6f}", d=f"{fade:.6f}"),
            ]
            g.link_nodes(*nodes)
            inputs.append(nodes[-1])
        mix = g.add(
            "amix", inputs=str(len(inputs)), normalize="0", duration="longest", dropout_transition="0"
        )
        for i, node in enumerate(inputs):
            node.link_to(mix, 0, i)
        self.sink = g.add("abuffersink")
        layout = g.add("aformat", f"sample_fmts=fltp:channel_layouts=stereo:sample_rates={SAMPLE_RATE}")
        g.link_nodes(mix, layout, self.sink)
        g.configure()
        g.set_audio_frame_size(AAC_FRAME_SIZE)
        self.tracks = tracks
        self.sources = sources_
        self.pushed = [0] * len(tracks)
        self.open = [True] * len(tracks)

    def frames(self) -> Iterator[AudioFrame]:
        """The mixed frames, in order; the tracks are fed in step so that none runs far ahead."""
        while any(self.open):
            i = min((k for k in range(len(self.tracks)) if self.open[k]), key=lambda k: self.pushed[k])
            frame = next(self.tracks[i], None)
            if frame is None:
                self.open[i] = False
                self.sources[i].push(None)
            else:
                frame.pts, frame.time_base = self.pushed[i], Fraction(1, SAMPLE_RATE)
                self.pushed[i] += frame.samples
                self.sources[i].push(frame)
            ready, _ = pull_available(self.sink, AudioFrame)
            yield from ready
        while True:
            ready, done = pull_available(self.sink, AudioFrame)
            yield from ready
            if done or not ready:
                return
