"""Small helpers around av.filter graphs."""

from __future__ import annotations

import threading
from fractions import Fraction

from av.filter.context import FilterContext
from av.frame import Frame

# Frames from the frame cache are shared by the renders of a process, and a frame's pts is read when it
# is pushed: stamping and pushing under one lock keeps each render's stamp its own (the buffer source
# takes its own reference to the frame, with the pts it has at that moment).
_stamping = threading.Lock()


def pull_available(sink: FilterContext) -> tuple[list[Frame], bool]:
    """Every frame the sink has ready now, and whether the graph has reached its end."""
    frames: list[Frame] = []
    while True:
        try:
            frames.append(sink.pull())
        except BlockingIOError:  # av.error.BlockingIOError (EAGAIN): needs more input
            return frames, False
        except EOFError:  # av.error.EOFError: the graph is finished
            return frames, True


def push_stamped(
    source: FilterContext, frame: Frame, pts: int, time_base: Fraction, duration: int | None = None
) -> None:
    """Push `frame` into a buffer source at `pts` (in `time_base`)."""
    with _stamping:
        frame.pts, frame.time_base = pts, time_base
        if duration is not None:
            frame.duration = duration  # type: ignore[attr-defined]
        source.push(frame)
