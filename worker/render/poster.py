"""A poster frame for each output: a JPEG of one frame, shown before the video plays (a player's
`poster`, the console's lists). The render takes the frame as it encodes it (quality.OutputMeter), at
a third of the video and at most 1 s in, past any fade from black."""

from __future__ import annotations

from pathlib import Path

from av.video.frame import VideoFrame
from PIL import Image

MAX_SIDE = 960  # a poster is a preview: the longer side at most this, the aspect kept
QUALITY = 85


def poster_path(video: Path) -> Path:
    """Where the poster of `video` goes: beside it, the same name with .jpg (x.mp4 → x.jpg)."""
    return video.with_suffix(".jpg")


def poster_image(frame: VideoFrame) -> Image.Image:
    """`frame` as a poster-sized RGB picture: scaled in libswscale, before the RGB conversion."""
    scale = min(1.0, MAX_SIDE / max(frame.width, frame.height))
    width, height = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
    return frame.reformat(width, height, "rgb24", interpolation="AREA").to_image()


def save_poster(image: Image.Image, target: Path) -> None:
    image.convert("RGB").save(target, "JPEG", quality=QUALITY, optimize=True)
