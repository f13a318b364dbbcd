"""C2SP signed notes, tlog checkpoints and Ed25519 cosignatures (pure: no I/O).

Formats: https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint,
https://c2sp.org/tlog-cosignature (``cosignature/v1``, Ed25519 only).

Invariants:

- A note is ``text || "\\n" || signature lines``; the text ends in a newline and is
  separated from the signatures by the *last* blank line. A signature line is ``"— "
  name " " base64(key id || signature) "\\n"`` (U+2014 EM DASH, then a space). Ed25519
  signatures (type 0x01) cover exactly the text; cosignatures (type 0x04) cover
  ``"cosignature/v1\\ntime <t>\\n" || text`` and carry ``u64 big-endian t || signature``.
- Key id = ``SHA-256(name || 0x0A || type || 32-byte public key)[:4]``; a known key is
  the pair (name, key id), and the type byte keeps log keys and witness keys apart.
- Parsing untrusted input is strict and bounded: at most ``MAX_NOTE_SIZE`` bytes and
  ``MAX_SIGNATURES`` signatures, valid UTF-8 without control characters other than
  newline, canonical padded base64, every line checked, nothing trailing.
- Verification fails closed: signatures from unknown keys are ignored, but a note passes
  only if at least one known key signed it, and any signature by a known key that does
  not verify rejects the whole note. Two different verifier keys with the same (name,
  key id) are refused.
- Errors never contain private key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from forewarn.core.errors import InvalidInput

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_CHECKPOINT_SIZE",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "Note",
    "NoteError",
    "Signature",
    "VerifiedNote",
    "VerifierKey",
    "cosign",
    "cosignature_timestamp",
    "format_checkpoint",
    "format_note",
    "format_skey",
    "format_vkey",
    "key_id",
    "open_checkpoint",
    "parse_checkpoint",
    "parse_note",
    "parse_skey",
    "parse_vkey",
    "sign",
    "sign_note",
    "verify_note",
]

ALG_ED25519 = 0x01
"""signed-note §Signature types: Ed25519 over the note text."""
ALG_COSIGNATURE_V1 = 0x04
"""signed-note §Signature types / tlog-cosignature: timestamped Ed25519 cosignatures."""

MAX_NOTE_SIZE = 256 * 1024
"""Bytes. signed-note §Format asks verifiers to bound notes but to accept at least 16
signatures, which may be post-quantum ones of nearly 5 kB each."""
MAX_SIGNATURES = 100
MAX_CHECKPOINT_SIZE = 16 * 1024
"""Bytes of checkpoint text (origin, size, root hash and extension lines)."""
MAX_EXTENSION_LINES = 16

_SIG_PREFIX = "\N{EM DASH} "
_COSIGNATURE_HEADER = "cosignature/v1\n"
_MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature §Format: the timestamp MUST NOT exceed 2^63 - 1.
_MAX_TREE_SIZE = 2**64 - 1
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64
_ROOT_HASH_SIZE = 32
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")
_KEY_ID_RE = re.compile(r"[0-9a-fA-F]{8}")
_SUPPORTED_ALGS = (ALG_ED25519, ALG_COSIGNATURE_V1)


class NoteError(InvalidInput, ValueError):
    """A note, checkpoint, key or signature is malformed or does not verify.

    An ``InvalidInput`` (forewarn's error root) and a ``ValueError`` (for scripts).
    """


# --- helpers --------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Standard padded base64 (RFC 4648 §4), canonical only: one text per value."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise NoteError(f"{what} is not valid base64") from None
    if _b64encode(data) != text:
        raise NoteError(f"{what} is not canonical base64")
    return data


def _has_control(text: str) -> bool:
    return any(c < " " and c != "\n" for c in text)


def _check_name(name: str, what: str = "key name") -> None:
    """signed-note §Format: non-empty, no Unicode space, plus or control character."""
    if not name:
        raise NoteError(f"{what} is empty")
    if any(c.isspace() or c == "+" or c < " " for c in name):
        raise NoteError(f"{what} {name!r} contains a space, a plus or a control character")


def _check_text(text: str) -> bytes:
    """A note text as signers may sign it; returns its UTF-8 encoding."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("note text is not valid UTF-8") from None
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _has_control(text):
        raise NoteError("note text contains a control character other than newline")
    if len(data) > MAX_NOTE_SIZE:
        raise NoteError(f"note text is longer than {MAX_NOTE_SIZE} bytes")
    return data


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """signed-note §Signatures: ``SHA-256(name || 0x0A || type || public key)[:4]``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:4]


# --- keys -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key to check notes with: a log key (0x01) or a witness key (0x04)."""

    name: str
    alg: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.alg not in _SUPPORTED_ALGS:
            raise NoteError(f"unsupported key type 0x{self.alg:02x} for key {self.name!r}")
        if len(self.public_key) != _ED25519_KEY_SIZE:
            raise NoteError(f"Ed25519 public key for {self.name!r} is not {_ED25519_KEY_SIZE} bytes")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            raise NoteError(f"Ed25519 public key for {self.name!r} is invalid") from None

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey, alg: int = ALG_ED25519) -> VerifierKey:
        return cls(name, alg, public_key.public_bytes_raw())

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.alg, self.public_key)

    @property
    def label(self) -> str:
        """``name+hexid``, how notes and errors name this key."""
        return f"{self.name}+{self.key_id.hex()}"


def format_vkey(key: VerifierKey) -> str:
    """``<name>+<hex key id>+<base64(type || public key)>``."""
    return f"{key.label}+{_b64encode(bytes([key.alg]) + key.public_key)}"


def parse_vkey(text: str) -> VerifierKey:
    """Parse a vkey, checking its key id against the name and key it carries."""
    # The name has no '+' and the id is hex, so only the base64 part may contain '+'.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteError("verifier key must be <name>+<key id>+<base64 key>")
    name, hex_id, b64 = parts
    _check_name(name)
    if not _KEY_ID_RE.fullmatch(hex_id):
        raise NoteError(f"verifier key id {hex_id!r} is not 8 hex digits")
    raw = _b64decode(b64, "verifier key")
    if len(raw) < 2:
        raise NoteError("verifier key is too short")
    key = VerifierKey(name, raw[0], raw[1:])
    if key.key_id != bytes.fromhex(hex_id):
        raise NoteError(f"verifier key id {hex_id} does not match the key (expected {key.key_id.hex()})")
    return key


def format_skey(name: str, private_key: Ed25519PrivateKey) -> str:
    """Go sumdb/note signer key: ``PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>``."""
    vkey = VerifierKey.from_public_key(name, private_key.public_key())
    seed = private_key.private_bytes_raw()
    return f"PRIVATE+KEY+{vkey.label}+{_b64encode(bytes([ALG_ED25519]) + seed)}"


def parse_skey(text: str) -> tuple[str, Ed25519PrivateKey]:
    """Parse a signer key into its name and private key. Errors never echo the key."""
    parts = text.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("signer key must be PRIVATE+KEY+<name>+<key id>+<base64 key>")
    name, hex_id, b64 = parts[2:]
    _check_name(name)
    if not _KEY_ID_RE.fullmatch(hex_id):
        raise NoteError("signer key id is not 8 hex digits")
    try:
        raw = base64.b64decode(b64.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise NoteError("signer key is not valid base64") from None
    if len(raw) != 1 + _ED25519_KEY_SIZE or raw[0] != ALG_ED25519:
        raise NoteError("signer key is not an Ed25519 key")
    private_key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if VerifierKey.from_public_key(name, private_key.public_key()).key_id != bytes.fromhex(hex_id):
        raise NoteError("signer key id does not match the key")
    return name, private_key


# --- signatures and notes -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: signer name, 4-byte key id, and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.key_id) != 4:
            raise NoteError("key id must be 4 bytes")
        if not self.signature:
            raise NoteError("signature is empty")

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"

    def line(self) -> str:
        return f"{_SIG_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed, not yet verified, signed note."""

    text: str
    signatures: tuple[Signature, ...]


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """A note with at least one valid signature from a known key."""

    text: str
    verified: tuple[Signature, ...]
    """Signatures by known keys, each checked."""
    unverified: tuple[Signature, ...]
    """Signatures by keys the verifier does not know: ignored, kept to be passed on."""


def _cosigned_message(text: str, timestamp: int) -> bytes:
    # tlog-cosignature §Ed25519 signed message.
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{text}".encode()


def sign(text: str, *, name: str, private_key: Ed25519PrivateKey) -> Signature:
    """An Ed25519 (type 0x01) signature of ``text`` by the key called ``name``."""
    data = _check_text(text)
    key = VerifierKey.from_public_key(name, private_key.public_key(), ALG_ED25519)
    return Signature(name, key.key_id, private_key.sign(data))


def cosign(text: str, *, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> Signature:
    """A ``cosignature/v1`` (type 0x04) of checkpoint text, at POSIX ``timestamp``."""
    _check_text(text)
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is outside [0, 2**63)")
    key = VerifierKey.from_public_key(name, private_key.public_key(), ALG_COSIGNATURE_V1)
    sig = private_key.sign(_cosigned_message(text, timestamp))
    return Signature(name, key.key_id, timestamp.to_bytes(8, "big") + sig)


def cosignature_timestamp(signature: Signature) -> int:
    """The time a ``cosignature/v1`` was made; raises ``NoteError`` if it is not one."""
    if len(signature.signature) != 8 + _ED25519_SIG_SIZE:
        raise NoteError(f"signature by {signature.label} is not a cosignature/v1")
    timestamp = int.from_bytes(signature.signature[:8], "big")
    if timestamp > _MAX_TIMESTAMP:
        raise NoteError(f"cosignature by {signature.label} has a timestamp above 2**63 - 1")
    return timestamp


def format_note(text: str, signatures: Iterable[Signature]) -> str:
    """``text``, a blank line, then one line per signature (signed-note §Format)."""
    _check_text(text)
    lines = [s.line() for s in signatures]
    if not lines:
        raise NoteError("a signed note needs at least one signature")
    return text + "\n" + "".join(lines)


def sign_note(text: str, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """``text`` signed with Ed25519 by ``name``, as a complete note."""
    return format_note(text, [sign(text, name=name, private_key=private_key)])


def parse_note(msg: bytes | str) -> Note:
    """Split a signed note into its text and signature lines, checking syntax only."""
    # Bound the work before decoding: a UTF-8 character is at least one byte.
    if len(msg) > MAX_NOTE_SIZE:
        raise NoteError(f"note is longer than {MAX_NOTE_SIZE} bytes")
    try:
        data = msg.encode("utf-8") if isinstance(msg, str) else msg
        text = msg if isinstance(msg, str) else msg.decode("utf-8")
    except UnicodeError:
        raise NoteError("note is not valid UTF-8") from None
    if len(data) > MAX_NOTE_SIZE:
        raise NoteError(f"note is longer than {MAX_NOTE_SIZE} bytes")
    if _has_control(text):
        raise NoteError("note contains a control character other than newline")
    # signed-note §Format: the text is separated from the signatures by the last empty line.
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteError("note has no signature lines, or they do not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(body, tuple(_parse_signature_line(i, line) for i, line in enumerate(lines, 1)))


def _parse_signature_line(number: int, line: str) -> Signature:
    if not line.startswith(_SIG_PREFIX):
        raise NoteError(f"signature line {number} does not start with an em dash and a space")
    name, space, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not space:
        raise NoteError(f"signature line {number} has no signature after the key name")
    _check_name(name, f"key name on signature line {number}")
    raw = _b64decode(b64, f"signature on line {number}")
    if len(raw) < 5:
        raise NoteError(f"signature on line {number} is too short")
    return Signature(name, raw[:4], raw[4:])


def _verify(key: VerifierKey, text: str, signature: Signature) -> bool:
    public_key = Ed25519PublicKey.from_public_bytes(key.public_key)
    if key.alg == ALG_ED25519:
        message, sig = text.encode("utf-8"), signature.signature
        if len(sig) != _ED25519_SIG_SIZE:
            return False
    else:
        try:
            timestamp = cosignature_timestamp(signature)
        except NoteError:
            return False
        message, sig = _cosigned_message(text, timestamp), signature.signature[8:]
    try:
        public_key.verify(sig, message)
    except InvalidSignature:
        return False
    return True


def verify_note(msg: bytes | str, verifiers: Iterable[VerifierKey]) -> VerifiedNote:
    """Parse a note and check it against the known keys (signed-note §Signatures).

    Raises ``NoteError`` if it is malformed, if any known key's signature fails, or if
    no known key signed it.
    """
    known: dict[tuple[str, bytes], VerifierKey] = {}
    for key in verifiers:
        other = known.setdefault((key.name, key.key_id), key)
        if other != key:
            raise NoteError(f"two different verifier keys share the name and id {key.label}")
    note = parse_note(msg)
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for sig in note.signatures:
        signer = known.get((sig.name, sig.key_id))
        if signer is None:
            unverified.append(sig)
        elif _verify(signer, note.text, sig):
            verified.append(sig)
        else:
            raise NoteError(f"invalid signature by known key {sig.label}")
    if not verified:
        found = ", ".join(s.label[:80] for s in unverified[:3]) or "none"
        raise NoteError(f"note is not signed by any known key (unknown keys: {found})")
    return VerifiedNote(note.text, tuple(verified), tuple(unverified))


# --- checkpoints ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tlog-checkpoint: the log's origin, tree size and RFC 9162 root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # tlog-checkpoint §Note text. The origin SHOULD be a schema-less URL, but clients MUST NOT
        # assume so: only non-empty and free of control characters is enforced.
        for what, line in [
            ("origin", self.origin),
            *(("extension line", e) for e in self.extensions),
        ]:
            if not line:
                raise NoteError(f"checkpoint {what} is empty")
            if "\n" in line or _has_control(line):
                raise NoteError(f"checkpoint {what} contains a newline or control character")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise NoteError(f"checkpoint tree size {self.size} is outside [0, 2**64)")
        if len(self.root_hash) != _ROOT_HASH_SIZE:
            raise NoteError(f"checkpoint root hash is {len(self.root_hash)} bytes, not {_ROOT_HASH_SIZE}")
        if len(self.extensions) > MAX_EXTENSION_LINES:
            raise NoteError(f"checkpoint has more than {MAX_EXTENSION_LINES} extension lines")


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The checkpoint's note text: one line per field, then the extension lines."""
    lines = [checkpoint.origin, str(checkpoint.size), _b64encode(checkpoint.root_hash)]
    text = "".join(line + "\n" for line in [*lines, *checkpoint.extensions])
    if len(text.encode("utf-8")) > MAX_CHECKPOINT_SIZE:
        raise NoteError(f"checkpoint is longer than {MAX_CHECKPOINT_SIZE} bytes")
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint's note text (not a whole note: see ``open_checkpoint``)."""
    if len(text) > MAX_CHECKPOINT_SIZE:
        raise NoteError(f"checkpoint is longer than {MAX_CHECKPOINT_SIZE} bytes")
    try:
        size_in_bytes = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise NoteError("checkpoint is not valid UTF-8") from None
    if size_in_bytes > MAX_CHECKPOINT_SIZE:
        raise NoteError(f"checkpoint is longer than {MAX_CHECKPOINT_SIZE} bytes")
    if not text.endswith("\n"):
        raise NoteError("checkpoint must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs an origin, a tree size and a root hash line")
    origin, size, root_hash, *extensions = lines
    if not _SIZE_RE.fullmatch(size):
        raise NoteError("checkpoint tree size is not a decimal number without leading zeros")
    return Checkpoint(
        origin=origin,
        size=int(size),
        root_hash=_b64decode(root_hash, "checkpoint root hash"),
        extensions=tuple(extensions),
    )


def open_checkpoint(
    msg: bytes | str, verifiers: Iterable[VerifierKey], *, origin: str
) -> tuple[Checkpoint, VerifiedNote]:
    """Verify a signed checkpoint and parse it; its origin must be ``origin``.

    Checking the origin stops a checkpoint of another log, signed with the same key,
    from being taken for this log's.
    """
    note = verify_note(msg, verifiers)
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != origin:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint, note
