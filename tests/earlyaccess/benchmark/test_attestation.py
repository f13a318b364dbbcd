"""Attestations: in-toto Statement v1 in a DSSE envelope, Ed25519; strict verification."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest

from forewarn.core.errors import InvalidInput
from forewarn.core.keys import SigningKey
from forewarn.earlyaccess.benchmark import attestation


def _statement(verdict: str = "covered", alpha: float = 0.05, beta: float = 0.1) -> dict[str, object]:
    return attestation.statement(
        determination_id="d",
        organisation_id="o",
        model_id="m",
        model_name="wren",
        model_version="1",
        model_family="wren",
        pack_hash="ab" * 32,
        policy_id="p",
        policy_commitment="sha256:" + "cd" * 32,
        alpha=alpha,
        beta=beta,
        mode="enclave",
        verdict=verdict,
        day=date(2027, 1, 2),
    )


def test_sign_and_verify_round_trip() -> None:
    key = SigningKey.generate()
    envelope = attestation.sign(_statement(), key)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"][0]["keyid"] == key.fingerprint
    stmt = attestation.verify(attestation.envelope_bytes(envelope), key.public)
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["predicate"]["verdict"] == "covered" and stmt["predicate"]["date"] == "2027-01-02"
    assert stmt["predicateType"].endswith("/v2")
    assert stmt["predicate"]["error_rates"] == {"alpha": 0.05, "beta": 0.1}
    # The DSSE PAE, by the spec's own example shape.
    assert attestation.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_every_key_format_loads() -> None:
    key = SigningKey.generate()
    pem = attestation.public_key_pem(key).encode()
    for form in (pem, base64.b64encode(key.public_bytes), key.public_bytes.hex().encode()):
        assert attestation.load_public_key(form).public_bytes_raw() == key.public_bytes
    with pytest.raises(InvalidInput):
        attestation.load_public_key(b"not a key")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: e | {"payloadType": "text/plain"},
        lambda e: (
            e
            | {
                "payload": base64.b64encode(
                    base64.b64decode(e["payload"]).replace(b"covered", b"COVERED")
                ).decode()
            }
        ),
        lambda e: e | {"signatures": []},
        lambda e: e | {"signatures": [{"keyid": "x", "sig": base64.b64encode(b"\0" * 64).decode()}]},
    ],
)
def test_tampering_is_refused(tamper: object) -> None:
    key = SigningKey.generate()
    envelope = attestation.sign(_statement(), key)
    with pytest.raises(InvalidInput):
        attestation.verify(json.dumps(tamper(envelope)).encode(), key.public)  # type: ignore[operator]


def test_another_key_is_refused_and_no_half_statement_is_signed() -> None:
    envelope = attestation.sign(_statement(), SigningKey.generate())
    with pytest.raises(InvalidInput, match="no valid signature"):
        attestation.verify(attestation.envelope_bytes(envelope), SigningKey.generate().public)
    with pytest.raises(InvalidInput):
        _statement(verdict="undecided")


def _resigned(stmt: dict[str, object], key: SigningKey) -> bytes:
    return attestation.envelope_bytes(attestation.sign(stmt, key))


def test_error_rates_are_required_in_v2_and_v1_statements_still_verify() -> None:
    key = SigningKey.generate()
    stmt = _statement()
    predicate = dict(stmt["predicate"])  # type: ignore[call-overload]
    rates = predicate.pop("error_rates")
    without = stmt | {"predicate": predicate}
    with pytest.raises(InvalidInput, match="error rates"):
        attestation.verify(_resigned(without, key), key.public)
    for bad in ({"alpha": 0.5, "beta": 0.1}, {"alpha": "0.05", "beta": 0.1}, {"alpha": 0.05}):
        with pytest.raises(InvalidInput, match="error rates"):
            attestation.verify(
                _resigned(stmt | {"predicate": predicate | {"error_rates": bad}}, key), key.public
            )
    # A statement issued before alpha/beta were added (predicate v1) still verifies.
    legacy = without | {"predicateType": attestation.PREDICATE_TYPE_V1}
    assert attestation.verify(_resigned(legacy, key), key.public)["predicate"] == predicate
    assert rates == {"alpha": 0.05, "beta": 0.1}


@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 0.1), (0.05, 0.5), (float("nan"), 0.1)])
def test_a_statement_needs_sensible_error_rates(alpha: float, beta: float) -> None:
    with pytest.raises(InvalidInput, match="error rates"):
        _statement(alpha=alpha, beta=beta)
