"""The output file: an MP4 with one H.264/HEVC and one AAC stream, written with faststart."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Literal

import av
from av.audio.frame import AudioFrame
from av.container import OutputContainer
from av.video.frame import PictureType, VideoFrame

from worker.errors import OutputWriteError, WorkerError
from worker.plan import OutputSpec
from worker.render.audio import SAMPLE_RATE
from worker.render.inputs import describe

_Encoder = Literal["libx264", "libx265"]
_ENCODERS: dict[str, _Encoder] = {"h264": "libx264", "hevc": "libx265"}


class Encoder:
    """Encodes and muxes frames stamped on the output timeline; every libav failure is an OutputWriteError."""

    def __init__(
        self, out_path: str, spec: OutputSpec, metadata: Mapping[str, str] | None = None, threads: int = 0
    ) -> None:
        """`threads`: the video encoder's (0: its own choice, from the node's cores)."""
        codec = _ENCODERS.get(spec.codec)
        if codec is None:
            raise WorkerError(f"unsupported output codec {spec.codec!r}")
        if codec not in av.codecs_available:
            raise WorkerError(f"encoder {codec} for {spec.codec} is not available in this build of libav")
        self.time_base = 1 / Fraction(spec.fps)
        try:
            # faststart: the moov atom goes before mdat, so players can start before the whole file is in.
            self.container: OutputContainer = av.open(
                out_path, "w", format="mp4", container_options={"movflags": "+faststart"}
            )
        except (av.FFmpegError, OSError) as e:
            raise OutputWriteError(f"cannot create the output file: {describe(e)}") from e
        try:
            self.container.metadata.update(metadata or {})
            self._add_streams(codec, spec, threads)
        except BaseException:
            self.container.close()
            raise

    def _add_streams(self, codec: _Encoder, spec: OutputSpec, threads: int) -> None:
        options: dict[str, object] = {"preset": spec.preset}
        if codec == "libx265":
            options["x265-params"] = "log-level=error"
        video = self.container.add_stream(codec, rate=Fraction(spec.fps))
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        # Declare what the graphs produce (BT.709, limited range) instead of leaving players to guess.
        ctx = video.codec_context
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1  # AVCOL_SPC/PRI/TRC_BT709
        ctx.color_range = 1  # AVCOL_RANGE_MPEG
        # The spec has one of the two (a bitrate wins over Crf: reelmill/jobspec.py).
        if spec.video_bitrate_kbps is not None:
            video.bit_rate = spec.video_bitrate_kbps * 1000  # average bitrate instead of constant quality
        if spec.crf is not None:
            options["crf"] = str(spec.crf)
        if spec.gop:
            video.gop_size = spec.gop
        video.options = options
        # PyAV opens encoders with slice threads: x264 runs ~17% slower, files ~4% larger than frame threads.
        video.thread_type = "FRAME"
        video.thread_count = threads
        if codec == "libx265":
            video.codec_tag = "hvc1"  # what Apple players require of HEVC in MP4
        audio = self.container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        audio.bit_rate = spec.audio_bitrate_kbps * 1000
        self.video, self.audio = video, audio

    def write_video(self, frame: VideoFrame, index: int) -> None:
        frame.pts, frame.time_base = index, self.time_base
        # Decoded frames keep their source's I/P/B type through the graphs and x264 would obey it.
        frame.pict_type = PictureType.NONE
        try:
            self.container.mux(self.video.encode(frame))
        except (av.FFmpegError, OSError) as e:
            raise OutputWriteError(f"cannot encode or write video: {describe(e)}") from e

    def write_audio(self, frame: AudioFrame, first_sample: int) -> None:
        # PyAV's AAC encoder re-chunks into 1024-sample frames (its own resampler graph), so the short
        # last frame of each shot is joined with the next shot's samples rather than padded.
        frame.pts, frame.time_base = first_sample, Fraction(1, SAMPLE_RATE)
        try:
            self.container.mux(self.audio.encode(frame))
        except (av.FFmpegError, OSError) as e:
            raise OutputWriteError(f"cannot encode or write audio: {describe(e)}") from e

    def finish(self) -> None:
        """Flush the encoders and write the trailer (with faststart, this rewrites the file)."""
        try:
            self.container.mux(self.video.encode(None))
            self.container.mux(self.audio.encode(None))
            self.container.close()
        except (av.FFmpegError, OSError) as e:
            raise OutputWriteError(f"cannot finish the output file: {describe(e)}") from e

    def close(self) -> None:
        """Release the file after a failure; what is on disk is garbage the caller discards."""
        try:
            self.container.close()
        except (av.FFmpegError, OSError):
            pass
