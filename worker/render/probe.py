"""Probing a local media file: the MediaFacts the planner needs."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from fractions import Fraction

import av
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from worker.errors import MaterialTooLargeError, MaterialUnreadableError
from worker.plan import MediaFacts
from worker.render.inputs import FileIdentity, describe, file_identity, is_image_container, open_input

KNOWN_FILES = 512  # facts remembered per process: a batch's variants probe the same sources again


_known: OrderedDict[FileIdentity, tuple[MediaFacts, tuple[int, int]]] = OrderedDict()
_known_lock = threading.Lock()


def probe(path: str, url: str, *, max_pixels: int | None = None) -> MediaFacts:
    """Facts about the media at `path` (downloaded from `url`, which names it in error messages).

    Decodes the first video frame, so that a file with a readable header but undecodable content is
    rejected here rather than halfway through a render. The facts of a file probed before (the same
    file: device, inode, size and modification time) are remembered: opening a 4K HEVC source and
    decoding its first frame costs about 40 ms, three times per variant of a batch.
    """
    key = file_identity(path)  # None: opening it reports the problem
    known = None
    if key is not None:
        with _known_lock:
            known = _known.get(key)
            if known is not None:
                _known.move_to_end(key)
    if known is not None:
        facts, (width, height) = known
        _check_pixels(width, height, max_pixels, url)
        return dataclasses.replace(facts, url=url)
    facts, header = _probe(path, url, max_pixels)
    if key is not None:
        with _known_lock:
            _known[key] = (facts, header)
            while len(_known) > KNOWN_FILES:
                _known.popitem(last=False)
    return facts


def _check_pixels(width: int, height: int, max_pixels: int | None, url: str) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise MaterialTooLargeError(f"media {url} is {width}x{height}, more than {max_pixels} pixels")


def _probe(path: str, url: str, max_pixels: int | None) -> tuple[MediaFacts, tuple[int, int]]:
    """The facts, and the picture's size as its header declares it (what max_pixels limits)."""
    with open_input(path, url) as container:
        if not container.streams.video:
            raise MaterialUnreadableError(f"media {url} has no video stream")
        stream = container.streams.video[0]
        is_image = is_image_container(container)
        # Sizes from the header, before anything is decoded: a small file may declare a huge picture
        # (a PNG of a few kilobytes can decode to gigabytes). Image demuxers leave the size to the
        # decoder, so for stills the header is read with Pillow, which decodes nothing on open.
        width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
        if is_image and not width:
            width, height = _image_header_size(path, url)
        _check_pixels(width, height, max_pixels, url)
        header = (width, height)
        frame = _first_frame(container, stream, url)
        width, height = display_size(frame, stream)
        if is_image:
            still = MediaFacts(
                url=url, is_image=True, width=width, height=height, duration_s=Fraction(0), has_audio=False
            )
            return still, header
        duration = _duration(container, stream)
        if duration <= 0:
            raise MaterialUnreadableError(f"media {url} has zero length")
        facts = MediaFacts(
            url=url,
            is_image=False,
            width=width,
            height=height,
            duration_s=duration,
            has_audio=bool(container.streams.audio),
        )
        return facts, header


def display_size(frame: VideoFrame, stream: VideoStream) -> tuple[int, int]:
    """Width and height as shown: non-square pixels stretched, phone rotation applied."""
    width, height = frame.width, frame.height
    sar = stream.codec_context.sample_aspect_ratio
    if sar and sar != 1:
        width = max(1, round(width * sar))
    if abs(frame.rotation) == 90:
        width, height = height, width
    return width, height


def _first_frame(container: InputContainer, stream: VideoStream, url: str) -> VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as e:
        raise MaterialUnreadableError(f"cannot decode media {url}: {describe(e)}") from e
    raise MaterialUnreadableError(f"media {url} has no decodable video frame")


def _duration(container: InputContainer, stream: VideoStream) -> Fraction:
    # The video stream's own length is what shots are cut from; the container's may include a longer
    # audio track, and some formats (Matroska) only have the container's.
    if stream.duration and stream.time_base:
        return stream.duration * stream.time_base
    if container.duration:
        return Fraction(container.duration, av.time_base)
    return Fraction(0)


def sound_length(path: str, url: str) -> Fraction:
    """The length of a media without pictures (music, a recorded voice-over)."""
    with open_input(path, url) as container:
        if not container.streams.audio:
            raise MaterialUnreadableError(f"media {url} has neither pictures nor sound")
        stream = container.streams.audio[0]
        if stream.duration and stream.time_base:
            return stream.duration * stream.time_base
        return Fraction(container.duration or 0, av.time_base)


def has_pictures(path: str, url: str) -> bool:
    with open_input(path, url) as container:
        return bool(container.streams.video)


def container_tags(path: str, url: str) -> dict[str, str]:
    """The container-level metadata tags of a media file (e.g. the sub-job that wrote an output)."""
    with open_input(path, url) as container:
        return dict(container.metadata)


def _image_header_size(path: str, url: str) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except Image.DecompressionBombError as e:
        raise MaterialTooLargeError(f"media {url} is too large a picture to decode: {e}") from e
    except (OSError, ValueError) as e:
        raise MaterialUnreadableError(f"cannot read the image {url}: {e}") from e
