"""Errors of the gateway: one tree, each class knowing its status, reason and whether a retry helps.

    GatewayError                      INTERNAL            (retryable: no)
    ├── InvalidArgumentError          INVALID_ARGUMENT    INVALID_ARGUMENT, with field violations
    │   └── PageTokenError                                a NextToken this service did not issue
    ├── NotFoundError                 NOT_FOUND           JOB_NOT_FOUND
    │   ├── TemplateNotFoundError                         TEMPLATE_NOT_FOUND
    │   └── MediaNotFoundError                            MEDIA_NOT_FOUND
    ├── IdempotencyMismatchError      ALREADY_EXISTS      IdempotentParameterMismatch
    ├── FailedPreconditionError       FAILED_PRECONDITION JOB_ALREADY_TERMINAL
    ├── UnauthenticatedError          UNAUTHENTICATED     UNAUTHENTICATED
    │   └── SignatureError                                Alibaba's code: SignatureDoesNotMatch, …
    ├── UnavailableError              UNAVAILABLE         (retryable: yes)
    │   ├── DatabaseUnavailableError                      DATABASE_UNAVAILABLE
    │   └── BusUnavailableError                           BUS_UNAVAILABLE
    ├── DeliveryError                                     a webhook receiver did not take a callback
    └── KeysFileError                                     the API keys file cannot be used (at start)

A door (gRPC in api.py, HTTP ones to come) maps `status` to its wire code in one table and sends
`reason` as ICE's error code; subclasses inherit both, so a new error needs no new mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """What kind of failure, independent of the wire: each door has one table from these."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    UNAVAILABLE = "UNAVAILABLE"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    INTERNAL = "INTERNAL"


class GatewayError(Exception):
    status = Status.INTERNAL
    reason = "INTERNAL"
    retryable = False


@dataclass(frozen=True)
class FieldViolation:
    field: str  # ICE path, e.g. InputConfig.MediaGroupArray[1].MediaArray[0]
    description: str

    def __post_init__(self) -> None:
        # A description may quote what the caller sent; a huge one would make the whole answer too
        # large for gRPC's trailers ("Stream removed"), so what comes back is clipped.
        object.__setattr__(self, "field", clip(self.field, MAX_FIELD_CHARS))
        object.__setattr__(self, "description", clip(self.description, MAX_DESCRIPTION_CHARS))


MAX_FIELD_CHARS, MAX_DESCRIPTION_CHARS = 200, 500
MAX_VIOLATIONS = 50  # reported at once; more are summed up (every one of them is a mistake of the caller)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class InvalidArgumentError(GatewayError):
    status = Status.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation]) -> None:
        if len(violations) > MAX_VIOLATIONS:
            more = len(violations) - MAX_VIOLATIONS + 1
            violations = [*violations[: MAX_VIOLATIONS - 1],
                          FieldViolation("(more)", f"{more} more problems of the same request")]  # fmt: skip
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


class PageTokenError(InvalidArgumentError):
    """A NextToken that this service did not issue, or issued for another query."""

    def __init__(self, description: str) -> None:
        super().__init__([FieldViolation("NextToken", description)])


class NotFoundError(GatewayError):
    status = Status.NOT_FOUND
    reason = "JOB_NOT_FOUND"


class TemplateNotFoundError(NotFoundError):
    reason = "TEMPLATE_NOT_FOUND"


class MediaNotFoundError(NotFoundError):
    reason = "MEDIA_NOT_FOUND"


class IdempotencyMismatchError(GatewayError):
    """A ClientToken reused with a different request."""

    status = Status.ALREADY_EXISTS
    reason = "IdempotentParameterMismatch"


class FailedPreconditionError(GatewayError):
    status = Status.FAILED_PRECONDITION
    reason = "JOB_ALREADY_TERMINAL"


class UnauthenticatedError(GatewayError):
    status = Status.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class SignatureError(UnauthenticatedError):
    """An ICE request whose AccessKey signature cannot be accepted; `reason` is Alibaba's error code for
    why (IncompleteSignature, SignatureDoesNotMatch, InvalidTimeStamp.Expired, SignatureNonceUsed,
    InvalidAccessKeyId.NotFound), so that the SDK's exception says it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class UnavailableError(GatewayError):
    """A dependency is down for now; the same request may succeed later."""

    status = Status.UNAVAILABLE
    reason = "UNAVAILABLE"
    retryable = True


class QuotaExceededError(GatewayError):
    """A tenant's limit (gateway/quotas.py) would be passed; the same request may succeed after
    `retry_after_s`. `limit` names it, as the setting and the keys file's field do."""

    status = Status.RESOURCE_EXHAUSTED
    reason = "Throttling.User"  # ICE's code for a caller over its flow control; its SDK knows it

    def __init__(self, tenant: str, limit: str, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.tenant = tenant
        self.limit = limit
        self.retry_after_s = retry_after_s


class DatabaseUnavailableError(UnavailableError):
    reason = "DATABASE_UNAVAILABLE"


class BusUnavailableError(UnavailableError):
    """NATS cannot be reached or did not confirm."""

    reason = "BUS_UNAVAILABLE"


class DeliveryError(GatewayError):
    """A webhook receiver did not take a callback; retried with backoff."""

    retryable = True


class KeysFileError(GatewayError):
    """The API keys file cannot be read or holds a bad entry: the gateway does not start."""


class Violations:
    """Every problem of a request, collected so that a client fixes them all at once; and the fields it
    had that neither ICE's documents nor reelmill know, which are ignored (and said so)."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []
        self.ignored: list[str] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def ignore(self, field: str) -> None:
        self.ignored.append(field)

    def raise_any(self) -> None:
        if self.items:
            raise InvalidArgumentError(self.items)
