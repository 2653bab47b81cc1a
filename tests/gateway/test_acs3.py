"""The ACS3-HMAC-SHA256 verifier against the official SDK's own signing code (not a re-implementation)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest

from gateway import acs3
from gateway.errors import SignatureError

NOW = datetime(2026, 11, 30, 1, 11, 59, tzinfo=UTC)
BODY = b"EditingConfig=%7B%7D&InputConfig=%7B%22MediaArray%22%3A%5B%22a%20b%22%5D%7D"


def signed(secret: str = "SECRET", date: datetime = NOW, body: bytes = BODY,
           query: dict[str, str] | None = None) -> tuple[dict[str, list[str]], dict[str, str]]:  # fmt: skip
    """Headers (by lower-case name) and query of a request signed by the SDK, as a server receives them."""
    request = DaraRequest()
    request.method, request.pathname = "POST", "/"
    request.query = query if query is not None else {"ClientToken": "tok", "UserData": '{"k": "视 v"}'}
    request.headers = {
        "host": "127.0.0.1:8080", "x-acs-version": "2020-11-09",
        "x-acs-action": "SubmitBatchMediaProducingJob", "user-agent": "AlibabaCloud (test)",
        "x-acs-date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": "6f2c0e", "accept": "application/json",
        "content-type": "application/x-www-form-urlencoded",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }  # fmt: skip
    payload = request.headers["x-acs-content-sha256"]
    request.headers["Authorization"] = Utils.get_authorization(request, acs3.ALGORITHM, payload, "AK", secret)
    return {k.lower(): [v] for k, v in request.headers.items()}, dict(request.query)


def check(headers: dict[str, list[str]], query: dict[str, str], body: bytes = BODY,
          secret: str = "SECRET", now: datetime = NOW) -> None:  # fmt: skip
    auth = acs3.parse_authorization(headers["authorization"][0])
    acs3.verify(auth, secret, "POST", "/", query, headers, body, now)


def test_a_request_the_sdk_signed_verifies() -> None:
    headers, query = signed()
    auth = acs3.parse_authorization(headers["authorization"][0])
    assert auth.access_key_id == "AK" and "x-acs-signature-nonce" in auth.signed_headers
    check(headers, query)
    check(*signed(query={}), body=BODY)  # no query at all


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, q: q.update(ClientToken="other"), "SignatureDoesNotMatch"),
        (lambda h, q: h.update({"x-acs-action": ["GetBatchMediaProducingJob"]}), "SignatureDoesNotMatch"),
        (lambda h, q: h.update({"host": ["evil.example"]}), "SignatureDoesNotMatch"),
        (lambda h, q: h.pop("x-acs-date"), "IncompleteSignature"),
    ],
)
def test_a_changed_request_does_not_verify(tamper, reason: str) -> None:  # type: ignore[no-untyped-def]
    headers, query = signed()
    tamper(headers, query)
    with pytest.raises(SignatureError) as e:
        check(headers, query)
    assert e.value.reason == reason


def test_a_wrong_secret_a_changed_body_and_an_old_date_are_refused() -> None:
    with pytest.raises(SignatureError) as e:
        check(*signed(secret="WRONG"))
    assert e.value.reason == "SignatureDoesNotMatch"
    with pytest.raises(SignatureError) as e:
        check(*signed(), body=BODY + b"&Extra=1")
    assert e.value.reason == "SignatureDoesNotMatch"
    with pytest.raises(SignatureError) as e:
        check(*signed(date=NOW - timedelta(minutes=16)))
    assert e.value.reason == "InvalidTimeStamp.Expired"
    check(*signed(date=NOW - timedelta(minutes=14)))  # within the window


def test_an_authorization_that_leaves_out_the_call_is_incomplete() -> None:
    headers, _ = signed()
    value = headers["authorization"][0].replace("x-acs-action;", "")
    with pytest.raises(SignatureError) as e:
        acs3.parse_authorization(value)
    assert e.value.reason == "IncompleteSignature" and "x-acs-action" in str(e.value)
    for bad in ("", "Basic abc", "ACS3-HMAC-SHA256 Credential=AK"):
        with pytest.raises(SignatureError):
            acs3.parse_authorization(bad)
