"""Errors of the gateway; the API layer turns each into a gRPC status."""

from __future__ import annotations

from dataclasses import dataclass


class GatewayError(Exception):
    retryable = False


@dataclass(frozen=True)
class FieldViolation:
    field: str  # ICE path, e.g. InputConfig.MediaGroupArray[1].MediaArray[0]
    description: str


class InvalidArgumentError(GatewayError):
    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


class NotFoundError(GatewayError):
    pass


class IdempotencyMismatchError(GatewayError):
    """A ClientToken reused with a different request."""


class FailedPreconditionError(GatewayError):
    pass


class DatabaseUnavailableError(GatewayError):
    retryable = True
