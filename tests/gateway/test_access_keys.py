"""ICE AccessKeys: secrets derived, never stored; a keys file that names AccessKeys without the master key
does not load (fail closed). (Nonces: tests/gateway/test_store.py, on both databases.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.errors import KeysFileError, SignatureError
from gateway.tenants import Authenticator, access_key_secret, new_master_key, read_master_key


def write_keys(tmp_path: Path, **entry: str) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"tenant": "acme", "sha256": "a" * 64, **entry}]}))
    return path


def test_a_secret_is_derived_from_the_master_key_and_never_stored(tmp_path: Path) -> None:
    master_file = tmp_path / "master.key"
    master_file.write_text(new_master_key())
    keys = write_keys(tmp_path, access_key_id="RMAK1")
    auth = Authenticator.from_file(str(keys), str(master_file))
    tenant, secret = auth.access_key("RMAK1")
    assert tenant.name == "acme" and secret == access_key_secret(read_master_key(str(master_file)), "RMAK1")
    assert secret not in keys.read_text() and len(secret) >= 40
    other = tmp_path / "other.key"
    other.write_text(new_master_key())
    assert access_key_secret(read_master_key(str(other)), "RMAK1") != secret  # a new master: new secrets
    with pytest.raises(SignatureError) as e:
        auth.access_key("RMAK2")
    assert e.value.reason == "InvalidAccessKeyId.NotFound"


def test_access_keys_without_a_master_key_fail_closed(tmp_path: Path) -> None:
    with pytest.raises(KeysFileError, match="REELMILL_ACCESS_KEY_MASTER_FILE"):
        Authenticator.from_file(str(write_keys(tmp_path, access_key_id="RMAK1")))
    short = tmp_path / "short.key"
    short.write_text("c2hvcnQ=")  # 5 bytes
    with pytest.raises(KeysFileError, match="32 bytes"):
        Authenticator.from_file(str(write_keys(tmp_path, access_key_id="RMAK1")), str(short))
    # API keys alone still load, and have no AccessKey
    auth = Authenticator.from_file(str(write_keys(tmp_path)))
    with pytest.raises(SignatureError):
        auth.access_key("RMAK1")
