"""The sound of one shot: exactly the shot's number of 48 kHz stereo samples, built in libav graphs."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.filter import Graph
from av.filter.context import FilterContext

from worker.errors import MaterialUnreadableError
from worker.plan import Shot
from worker.render.filters import pull_available
from worker.render.inputs import describe, open_input

SAMPLE_RATE = 48000
AAC_FRAME_SIZE = 1024


class _Chain:
    """A linear audio graph ending in a sink that hands out AAC-sized frames (the Graph is kept alive)."""

    def __init__(self, graph: Graph, nodes: list[FilterContext]) -> None:
        self.graph = graph
        self.sink = graph.add("abuffersink")
        graph.link_nodes(*nodes, self.sink).configure()
        graph.set_audio_frame_size(AAC_FRAME_SIZE)
        self.source = nodes[0]


def _source_chain(first: AudioFrame, stream: AudioStream, volume: float, samples: int) -> _Chain:
    graph = Graph()
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
        graph.add("volume", f"{volume}"),
        graph.add("apad"),  # a source shorter than the shot ends in silence...
        graph.add("atrim", f"end_sample={samples}"),  # ...and every shot has exactly `samples`
    ]
    return _Chain(graph, nodes)


def _silence_chain(samples: int) -> _Chain:
    graph = Graph()
    nodes = [
        graph.add("anullsrc", f"r={SAMPLE_RATE}:cl=stereo"),
        graph.add("aformat", "sample_fmts=fltp"),  # anullsrc makes u8
        graph.add("atrim", f"end_sample={samples}"),
    ]
    return _Chain(graph, nodes)


def shot_audio_frames(path: str, url: str, shot: Shot, samples: int) -> Iterator[AudioFrame]:
    """Exactly `samples` samples of fltp stereo 48 kHz for the shot: its source's sound, or silence
    for a still or a source without sound. Yielded frames carry no meaningful pts: the caller stamps
    them on the output timeline.
    """
    if samples <= 0:
        return
    if shot.is_image:
        yield from _drain(_silence_chain(samples))
        return
    with open_input(path, url) as container:
        if not container.streams.audio:
            yield from _drain(_silence_chain(samples))
            return
        try:
            yield from _decode(container, container.streams.audio[0], shot, samples)
        except av.FFmpegError as e:
            raise MaterialUnreadableError(f"cannot decode the sound of media {url}: {describe(e)}") from e


def _drain(chain: _Chain) -> Iterator[AudioFrame]:
    while True:
        frames, done = pull_available(chain.sink)
        yield from frames  # type: ignore[misc]
        if done or not frames:  # after end of input the graph never waits, so no frames means the end
            return


def _decode(container: InputContainer, stream: AudioStream, shot: Shot, samples: int) -> Iterator[AudioFrame]:
    time_base = stream.time_base or Fraction(1, stream.sample_rate)
    # in_s counts from the start of the video (as in probe), so a track that starts later stays in sync.
    origin = Fraction(0)
    if container.streams.video:
        video = container.streams.video[0]
        if video.start_time is not None and video.time_base:
            origin = video.start_time * video.time_base
    in_pts = round((origin + shot.in_s) / time_base)
    if shot.in_s > 0:
        try:
            container.seek(in_pts, stream=stream)
        except av.FFmpegError:
            pass  # not seekable: decode from the start; atrim drops what comes before in_s

    chain: _Chain | None = None
    produced = 0
    for frame in container.decode(stream):
        if chain is None:
            chain = _source_chain(frame, stream, shot.volume, samples)
        if frame.pts is not None:
            frame.pts -= in_pts
        chain.source.push(frame)
        ready, done = pull_available(chain.sink)
        for out in ready:
            yield out  # type: ignore[misc]
            produced += out.samples  # type: ignore[attr-defined]
        if done or produced >= samples:
            return
    if chain is None:  # an audio stream without a single frame
        chain = _silence_chain(samples)
    else:
        chain.source.push(None)
    yield from _drain(chain)
