"""Small helpers around av.filter graphs."""

from __future__ import annotations

from av.filter.context import FilterContext
from av.frame import Frame


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
