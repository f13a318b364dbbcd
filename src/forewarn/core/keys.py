"""Key handling: the programme's Ed25519 signing key and its AES-256-GCM data key.

Invariants:
- A key comes from settings (base64) or from a file in ``<data_dir>/keys``; a file is created on first
  start with mode 0600 and never rewritten. A key file with looser permissions is refused.
- Key material never appears in a log line, an error message or a response; only the public key and
  key ids are shown.
- Sealed data is AES-GCM with a fresh 96-bit nonce per message and the caller's associated data (which
  binds a ciphertext to what it is for, so a sealed blob cannot be moved to another record).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from forewarn.core.errors import ForewarnError, InvalidInput

NONCE_BYTES = 12
_SEAL_VERSION = b"\x01"


class KeyError_(ForewarnError):  # noqa: N801 -- avoid shadowing the builtin KeyError
    title = "Key error"


def _read_or_create(path: Path, size: int) -> bytes:
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyError_(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
        data = path.read_bytes()
        if len(data) != size:
            raise KeyError_(f"key file {path} has the wrong length")
        return data
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return data


def _from_b64(value: str, size: int, name: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise KeyError_(f"{name} is not valid base64") from None
    if len(raw) != size:
        raise KeyError_(f"{name} must be {size} bytes")
    return raw


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key pair used to sign checkpoints, attestations and feeds."""

    private: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def public_bytes(self) -> bytes:
        return self.public.public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the raw public key, hex: a stable name for the key."""
        return hashlib.sha256(self.public_bytes).hexdigest()

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(fingerprint={self.fingerprint[:16]}…)"


@dataclass(frozen=True)
class DataKey:
    """An AES-256-GCM key for data sealed at rest."""

    raw: bytes

    def __repr__(self) -> str:
        return "DataKey(…)"

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"forewarn data key id\n" + self.raw).hexdigest()[:16]

    def seal(self, plaintext: bytes, *, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return _SEAL_VERSION + nonce + AESGCM(self.raw).encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, *, aad: bytes) -> bytes:
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != _SEAL_VERSION:
            raise InvalidInput("sealed data is malformed")
        nonce = sealed[1 : 1 + NONCE_BYTES]
        try:
            return AESGCM(self.raw).decrypt(nonce, sealed[1 + NONCE_BYTES :], aad)
        except InvalidTag:
            raise InvalidInput("sealed data failed authentication (wrong key, context or tampered)") from None


@dataclass(frozen=True)
class Keys:
    signing: SigningKey
    data: DataKey


def load_keys(data_dir: Path, *, signing_b64: str | None = None, data_b64: str | None = None) -> Keys:
    """Read keys from settings, or from ``<data_dir>/keys`` (created on first start, mode 0600)."""
    key_dir = data_dir / "keys"
    seed = (
        _from_b64(signing_b64, 32, "FOREWARN_SIGNING_KEY")
        if signing_b64
        else _read_or_create(key_dir / "signing.ed25519", 32)
    )
    data = (
        _from_b64(data_b64, 32, "FOREWARN_DATA_KEY")
        if data_b64
        else _read_or_create(key_dir / "data.aes256", 32)
    )
    return Keys(signing=SigningKey.from_seed(seed), data=DataKey(data))
