"""Errors of the worker: one tree, each carrying the spec's ErrorCode and whether a retry could help.

    WorkerError                   Internal                   (retryable: yes)
    ├── MaterialNotFoundError     InvalidMaterial.NotFound
    ├── MaterialUnreadableError   InvalidMaterial.Unreadable
    ├── MaterialTooLargeError     InvalidMaterial.TooLarge
    ├── SpeechError               Internal                   (speech/engine.py; not retried)
    ├── OutputWriteError          Output.WriteFailed         (retryable)
    ├── OutputExistsError         Output.AlreadyExists       another job's output is at the place
    ├── OutputRefusedError        Output.Refused             a place outside the tenant's own
    ├── OutputTooLongError        Output.TooLong             longer than REELMILL_MAX_OUTPUT_DURATION_S
    ├── RenderCancelledError      Cancelled
    ├── RenderTimeoutError        Internal
    ├── BadCommandError           Internal                   a command this worker cannot read
    └── BusUnavailableError       NATS is away: the outcome could not be reported (retryable)

A failed sub-job shows `code`; `retryable` says whether its command goes back to the queue. A
BusUnavailableError never fails a sub-job: the command stays unacknowledged and comes back.
"""

from __future__ import annotations


class WorkerError(Exception):
    code = "Internal"
    retryable = True

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class MaterialNotFoundError(WorkerError):
    code = "InvalidMaterial.NotFound"
    retryable = False


class MaterialUnreadableError(WorkerError):
    """Corrupt or unsupported media."""

    code = "InvalidMaterial.Unreadable"
    retryable = False


class MaterialTooLargeError(WorkerError):
    code = "InvalidMaterial.TooLarge"
    retryable = False


class OutputWriteError(WorkerError):
    code = "Output.WriteFailed"
    retryable = True


class OutputExistsError(WorkerError):
    """The output's place holds another job's finished output: never overwritten (issue 13); only a
    redelivery of the same sub-job may adopt what is there."""

    code = "Output.AlreadyExists"
    retryable = False


class OutputRefusedError(WorkerError):
    """An output place outside the tenant's own folder (the gateway refuses those at Submit; this is
    the worker's second lock)."""

    code = "Output.Refused"
    retryable = False


class OutputTooLongError(WorkerError):
    """A plan longer than the worker's limit on one output (narration sets a Script video's length)."""

    code = "Output.TooLong"
    retryable = False


class RenderCancelledError(WorkerError):
    code = "Cancelled"
    retryable = False


class RenderTimeoutError(WorkerError):
    """A render past REELMILL_RENDER_TIMEOUT_S: it would take as long again, so it is not retried."""

    code = "Internal"
    retryable = False


class BadCommandError(WorkerError):
    """A render command whose parts do not decode (its job spec): it would fail again, so no retry."""

    retryable = False


class BusUnavailableError(WorkerError):
    """NATS could not be reached or did not confirm."""

    retryable = True
