"""C2SP signed notes, checkpoints, vkeys and cosignatures."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from forewarn.ledger import note
from forewarn.ledger.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Checkpoint,
    NoteError,
    VerifierKey,
)

# The example key pair and signed note documented in Go's golang.org/x/mod/sumdb/note
# package (note.go, package comment). Ed25519 is deterministic, so signing the text with
# the key must give this note byte for byte.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
    "dngotpRZb6KE6RyyBwJnAM=\n"
)
GO_NOTE = GO_TEXT + "\n" + GO_SIG
# The same package comment's note re-signed by a second key, EnochRoot, unknown here.
GO_ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwn"
    "WLox33WWd1RvMc+QQ=\n"
)

# c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature examples: a checkpoint with a
# log signature and a witness cosignature made at "time 1679315147".
SPEC_CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_NOTE = (
    SPEC_CHECKPOINT + "\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4"
    "URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9"
    "dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
# A native cosignature/v1 vkey from transparency-dev/formats note/note_cosigv1_test.go.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"


def go_key() -> Ed25519PrivateKey:
    return note.parse_skey(GO_SKEY)[1]


def checkpoint(size: int = 5) -> Checkpoint:
    return Checkpoint("forewarn.example/log", size, bytes(range(32)))


# --- the Go reference vector


def test_go_vector_keys() -> None:
    name, key = note.parse_skey(GO_SKEY)
    vkey = note.parse_vkey(GO_VKEY)
    assert (name, vkey.name, vkey.alg, vkey.key_id.hex()) == (
        "PeterNeumann",
        "PeterNeumann",
        ALG_ED25519,
        "c74f20a3",
    )
    assert note.format_vkey(VerifierKey.from_public_key(name, key.public_key())) == GO_VKEY
    assert note.format_skey(name, key) == GO_SKEY
    assert note.key_id(name, ALG_ED25519, vkey.public_key).hex() == "c74f20a3"


def test_go_vector_signs_and_verifies() -> None:
    assert note.sign_note(GO_TEXT, name="PeterNeumann", private_key=go_key()) == GO_NOTE
    opened = note.verify_note(GO_NOTE, [note.parse_vkey(GO_VKEY)])
    assert opened.text == GO_TEXT
    assert [s.label for s in opened.verified] == ["PeterNeumann+c74f20a3"]
    assert opened.unverified == ()
    assert note.verify_note(GO_NOTE.encode(), [note.parse_vkey(GO_VKEY)]) == opened


def test_unknown_signatures_are_ignored_and_kept() -> None:
    both = GO_NOTE + GO_ENOCH_SIG
    opened = note.verify_note(both, [note.parse_vkey(GO_VKEY)])
    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert [s.name for s in opened.unverified] == ["EnochRoot"]
    assert note.format_note(opened.text, opened.verified + opened.unverified) == both
    with pytest.raises(NoteError, match="not signed by any known key"):
        note.verify_note(GO_TEXT + "\n" + GO_ENOCH_SIG, [note.parse_vkey(GO_VKEY)])


def test_tampering_fails() -> None:
    known = [note.parse_vkey(GO_VKEY)]
    with pytest.raises(NoteError, match="invalid signature by known key PeterNeumann"):
        note.verify_note(GO_NOTE.replace("cryptography", "cryptographY"), known)
    raw = base64.b64decode(GO_SIG.rsplit(maxsplit=1)[-1])
    bad = raw[:10] + bytes([raw[10] ^ 1]) + raw[11:]
    forged = GO_TEXT + "\n— PeterNeumann " + base64.b64encode(bad).decode() + "\n"
    with pytest.raises(NoteError, match="invalid signature"):
        note.verify_note(forged, known)
    # A valid signature next to a bad one by the same key still rejects the note.
    with pytest.raises(NoteError, match="invalid signature"):
        note.verify_note(GO_NOTE + forged.split("\n\n")[1], known)
    other = Ed25519PrivateKey.generate()
    with pytest.raises(NoteError, match="not signed by any known key"):
        note.verify_note(GO_NOTE, [VerifierKey.from_public_key("PeterNeumann", other.public_key())])
    with pytest.raises(NoteError, match="not signed by any known key"):
        note.verify_note(GO_NOTE, [])


@pytest.mark.parametrize(
    "msg",
    [
        GO_TEXT + GO_SIG,  # no blank line
        GO_NOTE[:-1],  # signature line without newline
        GO_TEXT + "\n",  # no signatures
        GO_TEXT + "\n\n" + GO_SIG,  # blank line among the signatures' block
        GO_NOTE + "\n",
        GO_NOTE + "trailing",
        GO_NOTE.replace("— ", "-- "),
        GO_NOTE.replace("— ", "—"),
        GO_NOTE.replace("— ", "—  "),
        GO_NOTE.replace("PeterNeumann", "Peter Neumann"),
        GO_NOTE.replace("PeterNeumann", "Peter+Neumann"),
        GO_NOTE.replace("PeterNeumann", "Peter\u00a0Neumann"),
        GO_NOTE.replace("AM=\n", "AM\n"),  # unpadded base64
        GO_NOTE.replace("AM=\n", "AN=\n"),  # non-canonical base64
        GO_NOTE.replace("AM=\n", "AM= \n"),
        GO_NOTE.replace("x08go", "x08g!"),
        GO_TEXT + "\n— PeterNeumann AAAAAA==\n",  # shorter than a key id and one byte
        GO_NOTE.replace("answer", "ans\twer"),
        GO_NOTE.replace("answer", "ans\rwer"),
        GO_NOTE + GO_SIG.replace("— ", "") * 2,
        "\n".join([GO_NOTE[:-1]] + [GO_ENOCH_SIG[:-1]] * 100) + "\n",  # 101 signatures
        GO_TEXT * 3000 + "\n" + GO_SIG,  # too long
        "\ud800\n\n" + GO_SIG,
    ],
)
def test_malformed_notes_are_rejected(msg: str) -> None:
    with pytest.raises(NoteError):
        note.verify_note(msg, [note.parse_vkey(GO_VKEY)])


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        note.parse_note(b"\xff\n\n" + GO_SIG.encode())


def test_parse_note_accepts_empty_lines_in_the_text() -> None:
    text = "first\n\nthird\n\n"
    key = Ed25519PrivateKey.generate()
    signed = note.sign_note(text, name="example.com/k", private_key=key)
    parsed = note.parse_note(signed)
    assert parsed.text == text
    vkey = VerifierKey.from_public_key("example.com/k", key.public_key())
    assert note.verify_note(signed, [vkey]).text == text


@given(
    st.text(
        st.characters(exclude_categories=["Cs"], min_codepoint=0x20),
        max_size=200,
    ).map(lambda s: s + "\n"),
    st.data(),
)
def test_sign_verify_round_trip(text: str, data: st.DataObject) -> None:
    key = Ed25519PrivateKey.generate()
    vkey = VerifierKey.from_public_key("witness.example/a", key.public_key())
    signed = note.sign_note(text, name=vkey.name, private_key=key)
    assert note.verify_note(signed, [vkey]).text == text
    i = data.draw(st.integers(0, len(text) - 1))
    changed = text[:i] + ("x" if text[i] != "x" else "y") + text[i + 1 :]
    with pytest.raises(NoteError):
        note.verify_note(changed + signed[len(text) :], [vkey])


def test_sign_rejects_bad_text_and_names() -> None:
    key = Ed25519PrivateKey.generate()
    for text in ["no newline", "tab\there\n", ""]:
        with pytest.raises(NoteError):
            note.sign(text, name="log", private_key=key)
    for name in ["", "a b", "a+b", "a\nb"]:
        with pytest.raises(NoteError):
            note.sign("text\n", name=name, private_key=key)
    with pytest.raises(NoteError):
        note.format_note("text\n", [])


# --- vkeys and skeys


def test_vkey_manglings_are_rejected() -> None:
    """Every proper substring, and every single-byte change, of a vkey is refused."""
    for i in range(len(GO_VKEY)):
        for j in range(i + 1, len(GO_VKEY) + 1):
            if (i, j) != (0, len(GO_VKEY)):
                with pytest.raises(NoteError):
                    note.parse_vkey(GO_VKEY[i:j])
    for i, c in enumerate(GO_VKEY):
        with pytest.raises(NoteError):
            note.parse_vkey(GO_VKEY[:i] + chr(ord(c) + 1) + GO_VKEY[i + 1 :])


@pytest.mark.parametrize(
    "vkey",
    [
        # From Go's note_test.go: a key of the wrong length and an unknown algorithm,
        # each with a key id that matches.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
        "",
    ],
)
def test_bad_vkeys(vkey: str) -> None:
    with pytest.raises(NoteError):
        note.parse_vkey(vkey)


def test_cosignature_vkey_id() -> None:
    key = note.parse_vkey(REMORA_VKEY)
    assert (key.alg, key.key_id.hex()) == (ALG_COSIGNATURE_V1, "da77ade7")
    assert note.format_vkey(key) == REMORA_VKEY


def test_skey_errors_do_not_leak_the_key() -> None:
    secret = GO_SKEY.rsplit("+", 1)[1]
    for bad in [
        GO_SKEY.replace("c74f20a3", "c74f20a4"),
        GO_SKEY.replace("PRIVATE", "PUBLIC"),
        GO_SKEY[:-4],
        GO_SKEY.replace("AYEK", "AiEK"),
    ]:
        with pytest.raises(NoteError) as info:
            note.parse_skey(bad)
        assert secret[:8] not in str(info.value)
        assert secret[-8:] not in str(info.value)


# --- checkpoints


def test_spec_checkpoint_parses() -> None:
    cp = note.parse_checkpoint(SPEC_CHECKPOINT)
    assert (cp.origin, cp.size, cp.root_hash[:4].hex(), cp.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        "0ac5186a",
        (),
    )
    assert note.format_checkpoint(cp) == SPEC_CHECKPOINT
    parsed = note.parse_note(SPEC_NOTE)
    assert parsed.text == SPEC_CHECKPOINT
    assert [s.name for s in parsed.signatures] == [
        "example.com/behind-the-sofa",
        "witness.example.com/w1",
    ]
    assert note.cosignature_timestamp(parsed.signatures[1]) == 1679315147
    with pytest.raises(NoteError, match="not a cosignature"):
        note.cosignature_timestamp(parsed.signatures[0])


lines = st.text(
    st.characters(exclude_categories=["Cs"], min_codepoint=0x20),
    min_size=1,
    max_size=40,
)


@given(
    lines,
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(lines, max_size=4),
)
def test_checkpoint_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    text = note.format_checkpoint(cp)
    assert note.parse_checkpoint(text) == cp
    assert text.count("\n") == 3 + len(extensions)


ROOT_B64 = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"log\n5\n{ROOT_B64}",  # no final newline
        f"log\n5\n{ROOT_B64}\n\n",  # empty extension line
        f"\n5\n{ROOT_B64}\n",  # empty origin
        "log\n5\n",
        f"log\n05\n{ROOT_B64}\n",
        f"log\n+5\n{ROOT_B64}\n",
        f"log\n 5\n{ROOT_B64}\n",
        f"log\n5 \n{ROOT_B64}\n",
        f"log\n1_000\n{ROOT_B64}\n",
        f"log\n\u0665\n{ROOT_B64}\n",  # ARABIC-INDIC DIGIT FIVE
        f"log\n-1\n{ROOT_B64}\n",
        f"log\n{2**64}\n{ROOT_B64}\n",
        f"log\n{'9' * 30}\n{ROOT_B64}\n",
        f"log\n5\n{ROOT_B64[:-1]}\n",
        f"log\n5\n{ROOT_B64[:-2]}9=\n",  # "...Hh8=" with non-zero padding bits
        f"log\n5\n{base64.b64encode(bytes(31)).decode()}\n",
        f"log\n5\n{ROOT_B64}\nx\ty\n",
        f"lo\rg\n5\n{ROOT_B64}\n",
        f"log\n5\n{ROOT_B64}\n" + "ext\n" * 17,
        "x" * 20_000 + f"\n5\n{ROOT_B64}\n",
    ],
)
def test_bad_checkpoints(text: str) -> None:
    with pytest.raises(NoteError):
        note.parse_checkpoint(text)


def test_checkpoint_rejects_bad_fields() -> None:
    with pytest.raises(NoteError):
        Checkpoint("log", -1, bytes(32))
    with pytest.raises(NoteError):
        Checkpoint("log", 2**64, bytes(32))
    with pytest.raises(NoteError):
        Checkpoint("log", 1, bytes(31))
    with pytest.raises(NoteError):
        Checkpoint("lo\ng", 1, bytes(32))


def test_open_checkpoint() -> None:
    key = Ed25519PrivateKey.generate()
    vkey = VerifierKey.from_public_key("forewarn.example/log", key.public_key())
    text = note.format_checkpoint(checkpoint(7))
    signed = note.sign_note(text, name=vkey.name, private_key=key)
    cp, opened = note.open_checkpoint(signed, [vkey], origin="forewarn.example/log")
    assert cp == checkpoint(7)
    assert opened.text == text
    with pytest.raises(NoteError, match="origin"):
        note.open_checkpoint(signed, [vkey], origin="other.example/log")
    bad = note.sign_note("not a checkpoint\n", name=vkey.name, private_key=key)
    with pytest.raises(NoteError):
        note.open_checkpoint(bad, [vkey], origin="forewarn.example/log")


# --- cosignatures


def test_cosignature_round_trip() -> None:
    log_key, witness_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    log = VerifierKey.from_public_key("forewarn.example/log", log_key.public_key())
    witness = VerifierKey.from_public_key("witness.example/w1", witness_key.public_key(), ALG_COSIGNATURE_V1)
    text = note.format_checkpoint(checkpoint())
    signed = note.sign_note(text, name=log.name, private_key=log_key)
    cosig = note.cosign(text, name=witness.name, private_key=witness_key, timestamp=1_700_000_000)
    assert cosig.key_id == witness.key_id
    assert cosig.key_id == note.key_id(
        witness.name, ALG_COSIGNATURE_V1, witness_key.public_key().public_bytes_raw()
    )
    assert note.cosignature_timestamp(cosig) == 1_700_000_000
    cosigned = signed + cosig.line()

    opened = note.verify_note(cosigned, [log, witness])
    assert [s.label for s in opened.verified] == [log.label, witness.label]
    # A log-only verifier ignores the cosignature; a witness-only one ignores the log's.
    assert note.verify_note(cosigned, [log]).unverified == (cosig,)
    assert note.verify_note(cosigned, [witness]).verified == (cosig,)

    # The witness key as a plain Ed25519 key has another id: the cosignature is unknown.
    plain = VerifierKey.from_public_key(witness.name, witness_key.public_key())
    assert plain.key_id != witness.key_id
    with pytest.raises(NoteError, match="not signed by any known key"):
        note.verify_note(text + "\n" + cosig.line(), [plain])

    # The timestamp is signed: moving it breaks the cosignature.
    moved = note.Signature(
        cosig.name,
        cosig.key_id,
        (1_700_000_001).to_bytes(8, "big") + cosig.signature[8:],
    )
    with pytest.raises(NoteError, match="invalid signature"):
        note.verify_note(signed + moved.line(), [log, witness])
    # So is the checkpoint, extension lines included.
    other = note.format_checkpoint(checkpoint(6))
    with pytest.raises(NoteError, match="invalid signature"):
        note.verify_note(other + "\n" + cosig.line(), [witness])


def test_cosignature_timestamp_bounds() -> None:
    key = Ed25519PrivateKey.generate()
    text = note.format_checkpoint(checkpoint())
    with pytest.raises(NoteError):
        note.cosign(text, name="w", private_key=key, timestamp=2**63)
    with pytest.raises(NoteError):
        note.cosign(text, name="w", private_key=key, timestamp=-1)
    huge = note.Signature("w", bytes(4), (2**63).to_bytes(8, "big") + bytes(64))
    with pytest.raises(NoteError, match="2\\*\\*63"):
        note.cosignature_timestamp(huge)


def test_cosignature_timestamp_from_transparency_dev() -> None:
    # transparency-dev/formats note/note_cosigv1_test.go, TestCoSigV1Timestamp.
    raw = base64.b64decode(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHW"
        "WOworDcFiEBYJXORmnFBOBA=="
    )
    sig = note.Signature("w", raw[:4], raw[4:])
    assert note.cosignature_timestamp(sig) == 1727964367
