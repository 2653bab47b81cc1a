"""Alibaba Cloud's V3 request signature (ACS3-HMAC-SHA256), as ICE's official SDKs sign: verified here,
pure (no I/O), so that the ICE door (ice.py) only hands over what arrived.

    canonical request = METHOD \\n PATH \\n sorted query (key=%-encoded value, &-joined) \\n
                        signed headers as name:value lines \\n ; -joined signed header names \\n
                        hex SHA-256 of the body
    string to sign    = ACS3-HMAC-SHA256 \\n hex SHA-256 of the canonical request
    signature         = hex HMAC-SHA256(AccessKeySecret, string to sign)

The SDK's own code (alibabacloud_tea_openapi.utils.get_authorization) is what the tests sign with.
Besides the signature: the body must hash to x-acs-content-sha256, the headers that identify the call
must be signed, and x-acs-date must lie within the skew window; replayed nonces are the caller's check
(ice.py keeps the window's nonces).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from gateway.errors import SignatureError

ALGORITHM = "ACS3-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
MAX_NONCE_CHARS = 128  # the SDKs send 32 hex digits
# What a signature must cover, beyond what the caller chose to sign: the call itself and its freshness.
REQUIRED_SIGNED = ("host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
                   "x-acs-version")  # fmt: skip
_AUTHORIZATION = re.compile(
    rf"^{ALGORITHM}\s+Credential=(?P<key>[^,\s]+)\s*,\s*SignedHeaders=(?P<headers>[^,\s]+)\s*,"
    r"\s*Signature=(?P<signature>[0-9a-fA-F]{64})$"
)


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization:
    match = _AUTHORIZATION.match(value.strip())
    if match is None:
        raise SignatureError(
            "IncompleteSignature", f"the Authorization header is not an {ALGORITHM} signature"
        )
    headers = tuple(match["headers"].split(";"))
    missing = [h for h in REQUIRED_SIGNED if h not in headers]
    if missing:
        raise SignatureError(
            "IncompleteSignature", f"the signature must cover the headers {', '.join(missing)}"
        )
    return Authorization(match["key"], headers, match["signature"].lower())


def canonical_request(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, Sequence[str]],
                      signed_headers: Sequence[str], payload_sha256: str) -> str:  # fmt: skip
    """`headers` by lower-case name, each with every value it arrived with."""
    canonical_query = "&".join(f"{k}={quote(query[k], safe='~')}" for k in sorted(query))
    lines = "".join(
        f"{h}:{','.join(sorted(v.strip() for v in headers.get(h, ())))}\n" for h in signed_headers
    )
    return (
        f"{method}\n{path or '/'}\n{canonical_query}\n{lines}\n{';'.join(signed_headers)}\n{payload_sha256}"
    )


def signature(secret: str, canonical: str) -> str:
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def verify(auth: Authorization, secret: str, method: str, path: str, query: Mapping[str, str],
           headers: Mapping[str, Sequence[str]], body: bytes, now: datetime) -> None:  # fmt: skip
    """Raises SignatureError unless the request is signed with `secret`, its body is the one signed, and its
    date is within MAX_SKEW of `now`."""
    declared, date = _one(headers, "x-acs-content-sha256"), _one(headers, "x-acs-date")
    if len(_one(headers, "x-acs-signature-nonce")) > MAX_NONCE_CHARS:
        raise SignatureError(
            "IncompleteSignature", f"x-acs-signature-nonce is over {MAX_NONCE_CHARS} characters"
        )
    actual = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(declared.lower(), actual):
        raise SignatureError("SignatureDoesNotMatch", "the body does not hash to x-acs-content-sha256")
    canonical = canonical_request(method, path, query, headers, auth.signed_headers, declared.lower())
    if not hmac.compare_digest(signature(secret, canonical), auth.signature):
        raise SignatureError("SignatureDoesNotMatch", "the request signature does not match")
    try:
        when = datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as e:
        raise SignatureError(
            "InvalidTimeStamp.Format", f"x-acs-date {date!r} is not yyyy-MM-ddTHH:mm:ssZ"
        ) from e
    if abs(now - when) > MAX_SKEW:
        raise SignatureError(
            "InvalidTimeStamp.Expired",
            f"x-acs-date {date} is more than {MAX_SKEW.seconds // 60} minutes from the server's time",
        )


def _one(headers: Mapping[str, Sequence[str]], name: str) -> str:
    values = headers.get(name, ())
    if len(values) != 1 or not values[0].strip():
        raise SignatureError("IncompleteSignature", f"the {name} header is required, once")
    return values[0].strip()
