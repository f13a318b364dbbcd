"""Determination attestations: an in-toto Statement v1 in a DSSE envelope, signed with Ed25519.

Invariants:

- **What it says, and only that.** The statement names the model (lab organisation id, model id,
  name, version, family), the pack hash, the policy's id and salted commitment, the policy's error
  rates alpha (wrongly "covered") and beta (wrongly "not covered"), the mode (enclave or remote),
  the verdict and the date (UTC day) — DESIGN.md §4. :func:`statement` takes no score, item,
  threshold (p0, delta) or call count: there is no way to put one in. Alpha and beta are not the
  threshold: they say how far a reader may trust the verdict, not where the line is.
- **Versions.** Predicate ``…/v2`` carries ``error_rates``; ``…/v1`` (issued before alpha/beta were
  added) did not. :func:`verify` accepts both and requires ``error_rates`` in v2.
- **DSSE v1.** The signature covers ``PAE("application/vnd.in-toto+json", payload)`` as the DSSE
  protocol defines it (``DSSEv1 <len> <type> <len> <body>``), so neither the payload type nor the
  payload can be swapped; ``keyid`` is the SHA-256 fingerprint of the raw public key.
- **Verification is strict.** :func:`verify` checks the envelope's shape, the payload type, at least
  one signature by the given key, then the statement's type, predicate type and required fields;
  anything else is ``InvalidInput`` naming what failed (never partial success).
- The ledger records ``sha256:`` of the envelope's canonical bytes (:func:`envelope_hash`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import date
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from forewarn.core.errors import InvalidInput
from forewarn.core.keys import SigningKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://forewarn.dev/attestations/covered-model-determination/v2"
PREDICATE_TYPE_V1 = "https://forewarn.dev/attestations/covered-model-determination/v1"
MAX_ENVELOPE_BYTES = 64 * 1024
_VERDICTS = {"covered", "not_covered"}
_MODES = {"enclave", "remote"}


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(
    *,
    determination_id: str,
    organisation_id: str,
    model_id: str,
    model_name: str,
    model_version: str,
    model_family: str,
    pack_hash: str,
    policy_id: str,
    policy_commitment: str,
    alpha: float,
    beta: float,
    mode: str,
    verdict: str,
    day: date,
) -> dict[str, Any]:
    """The in-toto statement of one determination."""
    if verdict not in _VERDICTS or mode not in _MODES:
        raise InvalidInput("an attestation needs a final verdict and a known mode")
    if not (_error_rate(alpha) and _error_rate(beta)):
        raise InvalidInput("an attestation's error rates must be numbers between 0 and 0.5")
    model = {
        "organisation_id": organisation_id,
        "model_id": model_id,
        "name": model_name,
        "version": model_version,
        "family": model_family,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": f"forewarn:model:{model_id}",
                "digest": {"sha256": hashlib.sha256(rfc8785.dumps(model)).hexdigest()},
            }
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "determination_id": determination_id,
            "model": model,
            "benchmark": {"pack_sha256": pack_hash},
            "policy": {"id": policy_id, "commitment": policy_commitment},
            "error_rates": {"alpha": alpha, "beta": beta},
            "mode": mode,
            "verdict": verdict,
            "date": day.isoformat(),
        },
    }


def _error_rate(value: object) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool) and 0 < value < 0.5


def sign(stmt: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """The DSSE envelope of ``stmt`` signed by ``key``."""
    payload = rfc8785.dumps(stmt)
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key.fingerprint, "sig": base64.b64encode(signature).decode()}],
    }


def envelope_bytes(envelope: dict[str, Any]) -> bytes:
    return rfc8785.dumps(envelope)


def envelope_hash(envelope: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(envelope_bytes(envelope)).hexdigest()


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM, or from base64 / hex of the 32 raw bytes."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = load_pem_public_key(text)
        except ValueError:
            raise InvalidInput("the public key file is not a valid PEM key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidInput("the public key is not an Ed25519 key")
        return key
    raw: bytes | None = None
    try:
        raw = bytes.fromhex(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        try:
            raw = base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raw = None
    if raw is None or len(raw) != 32:
        raise InvalidInput("the public key must be PEM, or base64 or hex of 32 raw bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_pem(key: SigningKey) -> str:
    return key.public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def verify(envelope_data: bytes, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """Check a DSSE envelope and return its statement; raises ``InvalidInput`` on any failure."""
    if len(envelope_data) > MAX_ENVELOPE_BYTES:
        raise InvalidInput("the attestation is too large")
    try:
        envelope = json.loads(envelope_data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the attestation is not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("payloadType") != PAYLOAD_TYPE:
        raise InvalidInput("not a DSSE envelope of an in-toto statement")
    signatures = envelope.get("signatures")
    payload_b64 = envelope.get("payload")
    if not isinstance(payload_b64, str) or not isinstance(signatures, list) or not signatures:
        raise InvalidInput("the envelope has no payload or no signatures")
    try:
        payload = base64.b64decode(payload_b64, validate=True)
    except (ValueError, binascii.Error):
        raise InvalidInput("the envelope payload is not base64") from None
    message = pae(PAYLOAD_TYPE, payload)
    good = False
    for entry in signatures:
        if not isinstance(entry, dict) or not isinstance(entry.get("sig"), str):
            continue
        try:
            public_key.verify(base64.b64decode(entry["sig"], validate=True), message)
            good = True
            break
        except (InvalidSignature, ValueError, binascii.Error):
            continue
    if not good:
        raise InvalidInput("no valid signature by this key")
    try:
        stmt = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the signed payload is not JSON") from None
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
        raise InvalidInput("the payload is not an in-toto Statement v1")
    predicate_type = stmt.get("predicateType")
    if predicate_type not in (PREDICATE_TYPE, PREDICATE_TYPE_V1):
        raise InvalidInput("the statement is not a forewarn determination")
    predicate = stmt.get("predicate")
    if (
        not isinstance(predicate, dict)
        or predicate.get("verdict") not in _VERDICTS
        or predicate.get("mode") not in _MODES
        or not isinstance(predicate.get("benchmark"), dict)
        or not isinstance(predicate.get("policy"), dict)
    ):
        raise InvalidInput("the determination statement is incomplete")
    if predicate_type == PREDICATE_TYPE:
        rates = predicate.get("error_rates")
        if (
            not isinstance(rates, dict)
            or set(rates) != {"alpha", "beta"}
            or not (_error_rate(rates["alpha"]) and _error_rate(rates["beta"]))
        ):
            raise InvalidInput("the determination statement has no valid error rates (alpha, beta)")
    return stmt
