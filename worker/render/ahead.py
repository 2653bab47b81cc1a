"""An iterator run in its own thread, a bounded number of items ahead of its consumer.

The render uses it to make the picture (decoding, libavfilter graphs) while the encoder works: both
release the GIL inside libav, so the two overlap on two cores.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()
_POLL_S = 0.1  # how often a producer blocked on a full queue looks whether it was closed


class Ahead(Generic[T]):
    """Iterate over `items` in a thread, at most `depth` items ahead. Iterating an Ahead yields the items
    in order and re-raises, in the consumer, whatever the producer raised. Always close() it: that
    stops the producer (at its next item) and waits for it; `items` is closed in its own thread."""

    def __init__(self, items: Iterator[T], depth: int, name: str = "ahead") -> None:
        self._queue: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=max(depth, 1))
        self._closed = threading.Event()
        context = contextvars.copy_context()  # the job's log context goes along
        self._thread = threading.Thread(
            target=context.run, args=(self._produce, items), name=name, daemon=True
        )
        self._thread.start()

    def _produce(self, items: Iterator[T]) -> None:
        error: BaseException | None = None
        try:
            for item in items:
                if not self._put(item, None):
                    return
        except BaseException as e:  # handed to the consumer
            error = e
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        self._put(_END, error)

    def _put(self, item: object, error: BaseException | None) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put((item, error), timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            item, error = self._queue.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._closed.set()
        while self._thread.is_alive():
            try:  # make room, so that a blocked producer sees the close at once
                self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
        self._thread.join()
