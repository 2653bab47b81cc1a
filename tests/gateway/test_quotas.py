"""Tenants' limits: read strictly from the keys file, defaults filled in, and how a refusal is said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.errors import KeysFileError, QuotaExceededError
from gateway.ice import _error
from gateway.quotas import Limits, Quotas
from gateway.tenants import Authenticator, hash_key


def keys_file(tmp_path: Path, *entries: dict[str, object]) -> str:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": list(entries)}))
    return str(path)


def entry(tenant: str, key: str, **extra: object) -> dict[str, object]:
    return {"tenant": tenant, "sha256": hash_key(key), **extra}


def test_a_tenants_own_limits_override_the_defaults_one_by_one(tmp_path: Path) -> None:
    path = keys_file(tmp_path, entry("acme", "k1", limits={"concurrent_renders": 2}), entry("globex", "k2"))
    quotas = Quotas(Limits(0, 2000, 600), Authenticator.from_file(path).limits())
    assert quotas.of("acme") == Limits(2, 2000, 600)
    assert quotas.of("globex") == Limits(0, 2000, 600)
    assert quotas.concurrent_renders("acme") == 2 and quotas.concurrent_renders("globex") == 0


@pytest.mark.parametrize(
    ("limits", "says"),
    [
        ({"concurrent_renders": -1}, "limits.concurrent_renders must be a whole number"),
        ({"queued_variants": 1.5}, "limits.queued_variants must be a whole number"),
        ({"submits_per_minute": True}, "limits.submits_per_minute must be a whole number"),
        ({"renders": 3}, "unknown fields ['renders']"),
        ([3], "limits must be an object"),
    ],
)
def test_bad_limits_stop_the_keys_file_naming_the_tenant(tmp_path: Path, limits: object, says: str) -> None:
    path = keys_file(tmp_path, entry("acme", "k1", limits=limits))
    with pytest.raises(KeysFileError, match="tenant 'acme'") as e:
        Authenticator.from_file(path)
    assert says in str(e.value)


def test_two_entries_of_a_tenant_must_agree_on_its_limits(tmp_path: Path) -> None:
    path = keys_file(tmp_path, entry("acme", "k1", limits={"queued_variants": 5}), entry("acme", "k2"))
    with pytest.raises(KeysFileError, match="different limits"):
        Authenticator.from_file(path)


def test_the_ice_door_says_throttling_with_retry_after() -> None:
    response = _error("req-1", QuotaExceededError("acme", "submits_per_minute", "too many", 12.2))
    assert response.status == 429
    assert response.headers["Retry-After"] == "13"
    body = json.loads(response.text or "")
    assert body["Code"] == "Throttling.User" and body["RequestId"] == "req-1"


def test_a_tenants_own_s3_prefixes_are_read_strictly(tmp_path: Path) -> None:
    path = keys_file(
        tmp_path, entry("acme", "k1", output_s3_prefixes=["s3://acme-videos/"]), entry("globex", "k2")
    )
    assert Authenticator.from_file(path).s3_prefixes() == {"acme": ("s3://acme-videos/",)}
    for bad in ("s3://acme-videos/", ["https://acme/"], ["s3:///nobucket"], ["s3://b/../other/"]):
        path = keys_file(tmp_path, entry("acme", "k1", output_s3_prefixes=bad))
        with pytest.raises(KeysFileError, match="tenant 'acme'"):
            Authenticator.from_file(path)
