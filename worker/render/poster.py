"""A poster frame for each output: a JPEG of one frame, shown before the video plays (a player's
`poster`, the console's lists). Taken from the written output itself, so it is what viewers see."""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image

MAX_SIDE = 960  # a poster is a preview: the longer side at most this, the aspect kept
QUALITY = 85


def poster_path(video: Path) -> Path:
    """Where the poster of `video` goes: beside it, the same name with .jpg (x.mp4 → x.jpg)."""
    return video.with_suffix(".jpg")


def write_poster(video: str, target: Path, duration_s: float) -> None:
    """The frame at a third of the video (at most 1 s in, past any fade from black) as a JPEG."""
    at = min(1.0, duration_s / 3)
    with av.open(video) as container:
        stream = container.streams.video[0]
        image: Image.Image | None = None
        for frame in container.decode(stream):
            image = frame.to_image()
            if frame.time is not None and frame.time >= at:
                break
    if image is None:
        raise ValueError(f"{video}: no picture to take a poster from")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    image.convert("RGB").save(target, "JPEG", quality=QUALITY, optimize=True)
