from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from forewarn.core.errors import ForewarnError, InvalidInput
from forewarn.core.keys import DataKey, load_keys


def test_keys_are_created_once_with_0600(tmp_path: Path) -> None:
    first = load_keys(tmp_path)
    for name in ("signing.ed25519", "data.aes256"):
        mode = stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode)
        assert mode == 0o600
    again = load_keys(tmp_path)
    assert again.signing.public_bytes == first.signing.public_bytes
    assert again.data.raw == first.data.raw


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_keys(tmp_path)
    os.chmod(tmp_path / "keys" / "data.aes256", 0o644)
    with pytest.raises(ForewarnError, match="readable by others"):
        load_keys(tmp_path)


def test_keys_from_settings(tmp_path: Path) -> None:
    import base64

    seed, raw = os.urandom(32), os.urandom(32)
    keys = load_keys(
        tmp_path, signing_b64=base64.b64encode(seed).decode(), data_b64=base64.b64encode(raw).decode()
    )
    assert keys.data.raw == raw
    assert not (tmp_path / "keys").exists()
    with pytest.raises(ForewarnError, match="32 bytes"):
        load_keys(tmp_path, signing_b64=base64.b64encode(b"short").decode())


def test_seal_binds_context_and_detects_tampering() -> None:
    key = DataKey(os.urandom(32))
    sealed = key.seal(b"threshold=0.62", aad=b"policy:1")
    assert b"threshold" not in sealed
    assert key.open(sealed, aad=b"policy:1") == b"threshold=0.62"
    with pytest.raises(InvalidInput):
        key.open(sealed, aad=b"policy:2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(InvalidInput):
        key.open(tampered, aad=b"policy:1")
    with pytest.raises(InvalidInput):
        DataKey(os.urandom(32)).open(sealed, aad=b"policy:1")


def test_key_reprs_hide_material() -> None:
    key = DataKey(os.urandom(32))
    assert key.raw.hex() not in repr(key)
