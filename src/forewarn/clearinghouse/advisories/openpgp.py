"""The clearinghouse's OpenPGP key and the detached signatures of its CSAF documents.

CSAF 2.0 §7.1.19 (requirement 19): a trusted provider puts a detached, ASCII-armored OpenPGP
signature ``<file>.json.asc`` beside each document; §7.1.7 / §7.2.1: provider-metadata.json lists
the signing keys in ``public_openpgp_keys`` (``fingerprint`` and ``url``). The public key is served
at ``/.well-known/csaf/openpgp/<FINGERPRINT>.asc``.

Invariants (as for the programme's other keys, :mod:`forewarn.core.keys`):

- The key comes from the setting ``FOREWARN_CSAF_OPENPGP_KEY`` (an armored OpenPGP secret key), or
  from ``<data_dir>/keys/csaf-openpgp.key``, created once (mode 0600, never rewritten) with the
  publisher's name and namespace as its user id. A key file readable by others is refused.
- Secret key material never appears in a log line, an error message, a repr or a response: only the
  public certificate and its fingerprint leave this module.
- Signatures are Ed25519 (RFC 4880 v4 packets, which every OpenPGP implementation in use reads,
  gpg 2.2 included). An OpenPGP signature carries its creation time and a salt, so signing the same
  bytes twice gives two different (equally valid) signatures; a signer keeps the signature it made
  for each document content, so one process serves the same ``.asc`` every time.

``pysequoia`` (Sequoia-PGP) is imported inside the functions that need it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forewarn.core.keys import KeyError_

if TYPE_CHECKING:
    import pysequoia

__all__ = [
    "KEY_FILE",
    "OPENPGP_DIRECTORY",
    "CsafSigner",
    "generate_secret_key",
    "load_signer",
    "signer_from_settings",
    "user_id",
    "verify_detached",
]

KEY_FILE = "csaf-openpgp.key"
OPENPGP_DIRECTORY = ".well-known/csaf/openpgp"
#: Signatures kept per signer (by SHA-256 of the signed bytes); old ones are dropped first.
_SIGNATURE_CACHE = 4096


def user_id(publisher_name: str, namespace: str) -> str:
    """The key's user id: the CSAF publisher's name with its namespace as the comment."""
    name = " ".join(publisher_name.replace("(", "[").replace(")", "]").split())
    return f"{name} ({namespace.strip()})"


def generate_secret_key(uid: str) -> bytes:
    """A new armored OpenPGP secret key (Ed25519 primary and signing subkey, no expiry)."""
    import pysequoia

    tsk = pysequoia.Tsk.generate(user_id=uid, profile=pysequoia.Profile.RFC4880)
    return str(tsk).encode()


class CsafSigner:
    """Signs CSAF documents with the clearinghouse's OpenPGP key; gives out only the public parts."""

    def __init__(self, tsk: pysequoia.Tsk) -> None:
        cert = tsk.extract_certificate()
        self._signer = tsk.signer()
        self.fingerprint: str = cert.fingerprint.upper()
        self.public_key: bytes = str(cert).encode()
        self._signatures: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CsafSigner(fingerprint={self.fingerprint})"

    @property
    def public_key_path(self) -> str:
        """Where the public key lives, relative to the web root."""
        return f"{OPENPGP_DIRECTORY}/{self.fingerprint}.asc"

    def key_entry(self, base_url: str) -> dict[str, str]:
        """The key's entry in provider-metadata.json ``public_openpgp_keys``."""
        return {"fingerprint": self.fingerprint, "url": f"{base_url.rstrip('/')}/{self.public_key_path}"}

    def sign(self, content: bytes) -> bytes:
        """A detached, ASCII-armored OpenPGP signature of *content* (the ``.asc`` file)."""
        import pysequoia

        digest = hashlib.sha256(content).digest()
        with self._lock:
            cached = self._signatures.get(digest)
            if cached is not None:
                self._signatures.move_to_end(digest)
                return cached
            signature = pysequoia.sign(self._signer, content, mode=pysequoia.SignatureMode.DETACHED)
            self._signatures[digest] = signature
            while len(self._signatures) > _SIGNATURE_CACHE:
                self._signatures.popitem(last=False)
        return signature


def _parse(armored: bytes, where: str) -> CsafSigner:
    import pysequoia

    try:
        tsk = pysequoia.Tsk.from_bytes(armored)
        return CsafSigner(tsk)
    except Exception:  # the library's message may quote the key: never pass it on
        raise KeyError_(f"{where} is not a usable OpenPGP secret key with a signing subkey") from None


def _read_or_create(path: Path, uid: str) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = generate_secret_key(uid)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return data
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyError_(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    return path.read_bytes()


def load_signer(data_dir: Path, *, armored: str | None = None, uid: str) -> CsafSigner:
    """The signer from *armored* (the setting) or ``<data_dir>/keys/csaf-openpgp.key`` (made once)."""
    if armored:
        return _parse(armored.encode(), "FOREWARN_CSAF_OPENPGP_KEY")
    path = data_dir / "keys" / KEY_FILE
    return _parse(_read_or_create(path, uid), f"key file {path}")


@lru_cache(maxsize=8)
def _cached_signer(data_dir: str, armored: str | None, uid: str) -> CsafSigner:
    return load_signer(Path(data_dir), armored=armored, uid=uid)


def signer_from_settings(settings: Any) -> CsafSigner:
    """The signer the settings name, loaded once per process (so its signatures stay the same)."""
    secret = settings.csaf_openpgp_key
    namespace = settings.advisory_publisher_namespace or settings.public_base_url.rstrip("/")
    return _cached_signer(
        str(settings.data_dir),
        secret.get_secret_value() if secret is not None else None,
        user_id(settings.advisory_publisher_name, namespace),
    )


def verify_detached(content: bytes, signature: bytes, public_key: bytes) -> bool:
    """Whether *signature* is a valid detached signature of *content* by the key *public_key*."""
    import pysequoia

    try:
        cert = pysequoia.Cert.from_bytes(public_key)
        result = pysequoia.verify(
            bytes=content, store=lambda _ids: [cert], signature=pysequoia.Sig.from_bytes(signature)
        )
    except (RuntimeError, ValueError):
        return False
    return bool(result.valid_sigs)
