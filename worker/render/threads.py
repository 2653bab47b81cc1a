"""How many threads each part of one render starts, from the cores the render has.

libav's own "auto" counts the node's cores (worker/cpus.py says why that is wrong in a container), so
the counts are given explicitly, by libav's own rules applied to the render's share of the cores:
- the decoders: one frame thread per core plus one (libavcodec's rule, and its cap of 16);
- x264: 1.5 threads per core (x264's rule: a frame's rows wait on the one before, so extra threads
  fill the gaps);
- the filter graphs (scaling, overlays, the quality meter's thumbnails): slice threads only where
  the render has cores that the encoder leaves idle. Up to 4 cores, x264 keeps them busy and each
  scale handed to slice threads only adds hand-offs: with the graphs in the render's own thread the
  reference render took 4 % less time and 1.5 CPU-s less on 2 cores (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from av.filter import Graph

MAX_DECODER_THREADS = 16  # libavcodec's own cap on automatic frame threads
SLICED_FILTERS_FROM = 5  # cores per render from which the filter graphs get slice threads


@dataclass(frozen=True)
class Threads:
    """0 leaves the count to libav (one per core of the machine, whatever the container allows)."""

    decoder: int = 0
    encoder: int = 0
    filters: int = 1


def for_cores(cores: int) -> Threads:
    """The threads of one render that has `cores` cores to itself."""
    cores = max(cores, 1)
    return Threads(
        decoder=min(cores + 1, MAX_DECODER_THREADS),
        encoder=max(round(cores * 1.5), 1),
        filters=cores if cores >= SLICED_FILTERS_FROM else 1,
    )


def new_graph(threads: int = 1) -> Graph:
    """A filter graph whose filters use at most `threads` slice threads (1: the caller's thread only).

    Every graph is made here: libavfilter starts a graph's thread pool with its first filter, one
    thread per core of the node unless told otherwise, even for a sound graph whose filters never
    work in slices. The count must be set before the first filter is added."""
    g = Graph()
    g.threads = threads
    return g
