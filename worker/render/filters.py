"""Small helpers around av.filter graphs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from fractions import Fraction
from typing import TypeVar

from av.filter.context import FilterContext
from av.frame import Frame

# Frames from the frame cache are shared by the renders of a process, and a frame's pts is read when it
# is pushed: stamping and pushing under one lock keeps each render's stamp its own (the buffer source
# takes its own reference to the frame, with the pts it has at that moment).
_stamping = threading.Lock()

_F = TypeVar("_F", bound=Frame)


def pull_available(sink: FilterContext, kind: type[_F]) -> tuple[list[_F], bool]:
    """Every frame the sink has ready now, and whether the graph has reached its end. `kind` is what the
    graph makes (VideoFrame from a buffersink, AudioFrame from an abuffersink): pull() is typed as Frame."""
    frames: list[_F] = []
    while True:
        try:
            frame = sink.pull()
        except BlockingIOError:  # av.error.BlockingIOError (EAGAIN): needs more input
            return frames, False
        except EOFError:  # av.error.EOFError: the graph is finished
            return frames, True
        assert isinstance(frame, kind), f"{kind.__name__} expected from the sink, got {type(frame).__name__}"
        frames.append(frame)


def pulled(sink: FilterContext, kind: type[_F]) -> Iterator[_F]:
    """The frames the sink has ready, one at a time as they are taken: a filter that makes many frames
    of one input (fps filling a long gap between two source frames) makes them on demand, so only the
    frame in hand is in memory."""
    while True:
        try:
            frame = sink.pull()
        except (BlockingIOError, EOFError):
            return
        assert isinstance(frame, kind), f"{kind.__name__} expected from the sink, got {type(frame).__name__}"
        yield frame


def push_stamped(
    source: FilterContext, frame: Frame, pts: int, time_base: Fraction, duration: int | None = None
) -> None:
    """Push `frame` into a buffer source at `pts` (in `time_base`)."""
    with _stamping:
        frame.pts, frame.time_base = pts, time_base
        if duration is not None:
            frame.duration = duration
        source.push(frame)
