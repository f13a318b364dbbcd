"""The public API and pages, and verifying the log through them the way an outsider does."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession
from tests.ledger.conftest import ORIGIN, MakeLog, tamper

from forewarn.core.jobs import Runtime
from forewarn.ledger import audit, merkle, note, service


def raw(value: str) -> bytes:
    return base64.b64decode(value)


@pytest.fixture
def signer(runtime: Runtime) -> service.LogSigner:
    # The app signs with the runtime's settings: the test origin is what settings derive.
    return service.LogSigner(runtime.settings.ledger_log_origin, runtime.keys.signing.private)


async def test_no_checkpoint_yet_is_a_clear_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/ledger/checkpoint")
    assert response.status_code == 404 and "no checkpoint yet" in response.json()["detail"]


async def test_checkpoint_key_entries_and_proofs_over_http(
    client: httpx.AsyncClient, make_log: MakeLog, signer: service.LogSigner
) -> None:
    await make_log(3, 4, 6)
    key = (await client.get("/api/v1/ledger/key")).text.strip()
    verifier = note.parse_vkey(key)
    assert verifier == signer.verifier and verifier.name == signer.origin

    text_note = await client.get("/api/v1/ledger/checkpoint")
    assert text_note.headers["content-type"].startswith("text/plain")
    checkpoint, _ = note.open_checkpoint(text_note.text, [verifier], origin=signer.origin)
    assert checkpoint.size == 13
    latest = (await client.get("/api/v1/ledger/checkpoints/latest")).json()
    assert latest["size"] == 13 and latest["note"] == text_note.text and latest["origin"] == signer.origin
    listed = (await client.get("/api/v1/ledger/checkpoints", params={"after": 3})).json()
    assert [c["size"] for c in listed] == [7, 13]

    page = (await client.get("/api/v1/ledger/entries", params={"start": 2, "end": 50})).json()
    assert page["tree_size"] == 13 and [e["index"] for e in page["entries"]] == list(range(2, 13))
    leaves = [
        merkle.leaf_hash(raw(e["data"]))
        for e in (await client.get("/api/v1/ledger/entries?end=13")).json()["entries"]
    ]
    assert merkle.root(leaves) == checkpoint.root_hash

    by_index = (await client.get("/api/v1/ledger/entries/5")).json()
    entry_id = by_index["entry"]["entry_id"]
    by_id = (await client.get(f"/api/v1/ledger/entries/by-id/{entry_id}")).json()
    assert by_id == by_index
    inclusion = by_id["inclusion"]
    merkle.verify_inclusion(leaves[5], 5, 13, [raw(p) for p in inclusion["proof"]], checkpoint.root_hash)
    older = (await client.get("/api/v1/ledger/entries/5", params={"tree_size": 7})).json()
    merkle.verify_inclusion(
        leaves[5], 5, 7, [raw(p) for p in older["inclusion"]["proof"]], merkle.root(leaves[:7])
    )
    assert older["checkpoint"]["size"] == 7

    proof = (await client.get("/api/v1/ledger/proof/consistency", params={"first": 3, "second": 13})).json()
    merkle.verify_consistency(
        3, 13, [raw(p) for p in proof["proof"]], merkle.root(leaves[:3]), checkpoint.root_hash
    )

    for path, status in [
        ("/api/v1/ledger/entries/99", 404),
        ("/api/v1/ledger/entries/5?tree_size=5", 404),
        ("/api/v1/ledger/entries/by-id/00000000-0000-0000-0000-000000000000", 404),
        ("/api/v1/ledger/checkpoints/5", 404),
        ("/api/v1/ledger/proof/consistency?first=4&second=14", 422),
        ("/api/v1/ledger/proof/consistency?first=9&second=4", 422),
        ("/api/v1/ledger/entries?start=-1", 422),
        ("/api/v1/ledger/entries/by-id/not-a-uuid", 422),
    ]:
        response = await client.get(path)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_witness_cosignature_over_http(
    client: httpx.AsyncClient, make_log: MakeLog, session: AsyncSession, signer: service.LogSigner
) -> None:
    key = Ed25519PrivateKey.generate()
    vkey = audit.witness_vkey("witness.test/http", key)
    await service.register_witness(session, vkey=vkey)
    (size,) = await make_log(2)
    body = note.parse_note((await client.get("/api/v1/ledger/checkpoint")).text).text
    line = note.cosign(body, name="witness.test/http", private_key=key, timestamp=int(time.time())).line()
    url = f"/api/v1/ledger/checkpoints/{size}/cosignatures"
    assert (await client.post(url, json={"signature": line})).status_code == 201
    assert (await client.post(url, json={"signature": line})).status_code == 200
    assert (await client.get(url)).json()[0]["line"] == line
    assert (await client.get("/api/v1/ledger/checkpoint")).text.endswith(line)
    assert [w["vkey"] for w in (await client.get("/api/v1/ledger/witnesses")).json()] == [vkey]
    bad = await client.post(url, json={"signature": "— nobody AAAA"})
    assert bad.status_code == 422
    missing = await client.post("/api/v1/ledger/checkpoints/999/cosignatures", json={"signature": line})
    assert missing.status_code == 404


async def test_pages_browse_search_and_explain_a_proof(
    client: httpx.AsyncClient, make_log: MakeLog, session: AsyncSession
) -> None:
    await make_log(4, 3)
    page = await client.get("/ledger")
    assert page.status_code == 200 and "Latest checkpoint" in page.text
    assert "7 entries" in page.text and "event number 6" in page.text
    typed = await client.get(
        "/ledger", params={"type": "test.event", "since": "2000-01-01", "until": "2999-12-31"}
    )
    assert "event number 3" in typed.text
    none = await client.get("/ledger", params={"type": "accounts.role_granted"})
    assert "No entries match this search" in none.text
    bad = await client.get("/ledger", params={"organisation": "acme", "since": "yesterday"})
    assert (
        bad.status_code == 200 and "must be an organisation id" in bad.text and "must be a date" in bad.text
    )

    entry = (await service.get_entries(session, start=2, end=3)).entries[0]
    shown = await client.get(f"/ledger/entries/{entry.entry_id}")
    assert shown.status_code == 200
    assert "Verified: this entry is in the log." in shown.text
    assert "Audit path of 3 hashes" in shown.text and "equals the root of checkpoint 7" in shown.text
    assert "event number 2" in shown.text
    await tamper(
        session,
        "UPDATE ledger_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), 'number', 'NUMBER'),"
        " 'UTF8') WHERE \"index\" = 2",
    )
    session.expire_all()
    broken = await client.get(f"/ledger/entries/{entry.entry_id}")
    assert "Not verified." in broken.text and "which is not the leaf the log stores" in broken.text
    assert (await client.get("/ledger/entries/00000000-0000-0000-0000-000000000000")).status_code == 404


# --- verify: a good log, and each kind of tampering named by index --------------------------


async def verify_over_http(client: httpx.AsyncClient, signer: service.LogSigner) -> audit.Report:
    return await audit.verify(audit.HttpSource(client), key=signer.verifier)


async def test_verify_a_good_log(
    client: httpx.AsyncClient, make_log: MakeLog, signer: service.LogSigner
) -> None:
    await make_log(1, 4, 8, 20)
    seen: list[int] = []
    report = await audit.verify(
        audit.HttpSource(client), key=signer.verifier, progress=lambda done, total: seen.append(done)
    )
    assert (report.size, report.checkpoints, report.entries) == (33, 4, 33)
    assert seen[-1] == 33


EDIT = (
    "UPDATE ledger_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), 'number', 'NUMBER'),"
    " 'UTF8') WHERE \"index\" = 11"
)
EDIT_AND_REHASH = (
    "UPDATE ledger_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), 'number', 'NUMBER'),"
    " 'UTF8'), leaf_hash = sha256('\\x00'::bytea || convert_to(replace(convert_from(data, 'UTF8'), 'number',"
    " 'NUMBER'), 'UTF8')) WHERE \"index\" = 11"
)
REMOVE = 'DELETE FROM ledger_entries WHERE "index" = 11'
# Swap rows 11 and 12 (through a free index: the primary key is checked row by row).
REORDER = (
    'UPDATE ledger_entries SET "index" = 1000000 WHERE "index" = 11;'
    ' UPDATE ledger_entries SET "index" = 11 WHERE "index" = 12;'
    ' UPDATE ledger_entries SET "index" = 12 WHERE "index" = 1000000'
)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (EDIT, "entry 11: its data does not hash to the leaf hash"),
        (EDIT_AND_REHASH, "entry 11 is not the entry the log signed at that index"),
        (REMOVE, "entry 11 is missing"),
        (REORDER, "entry 11 is not the entry the log signed at that index"),
    ],
    ids=["tampered", "tampered-and-rehashed", "removed", "reordered-pair"],
)
async def test_verify_names_the_first_bad_entry(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_log: MakeLog,
    signer: service.LogSigner,
    sql: str,
    message: str,
) -> None:
    await make_log(5, 4, 8, 7)
    await verify_over_http(client, signer)
    await tamper(session, sql)
    session.expire_all()
    with pytest.raises(audit.VerifyFailed) as failed:
        await verify_over_http(client, signer)
    assert failed.value.index == 11, str(failed.value)
    assert message in str(failed.value)


async def test_verify_names_a_forged_checkpoint(
    client: httpx.AsyncClient, session: AsyncSession, make_log: MakeLog, signer: service.LogSigner
) -> None:
    await make_log(3, 3, 3)
    # A rogue operator re-signs checkpoint #1 with a key of their own under the log's name.
    rogue = Ed25519PrivateKey.generate()
    forged = note.sign_note(
        note.format_checkpoint(note.Checkpoint(signer.origin, 6, bytes(32))),
        name=signer.origin,
        private_key=rogue,
    )
    await tamper(session, "UPDATE ledger_checkpoints SET note = :note WHERE size = 6", note=forged)
    session.expire_all()
    with pytest.raises(
        audit.VerifyFailed, match=r"checkpoint #1 \(size 6\): note is not signed by any known key"
    ) as failed:
        await verify_over_http(client, signer)
    assert failed.value.checkpoint == 1


async def test_verify_names_a_checkpoint_whose_text_was_changed(
    client: httpx.AsyncClient, session: AsyncSession, make_log: MakeLog, signer: service.LogSigner
) -> None:
    await make_log(3, 3)
    original = (await service.get_checkpoint(session, size=6)).note
    changed = original.replace("\n6\n", "\n5\n", 1)
    await tamper(session, "UPDATE ledger_checkpoints SET note = :note WHERE size = 6", note=changed)
    session.expire_all()
    with pytest.raises(audit.VerifyFailed, match=r"checkpoint #1 \(size 5\): invalid signature by known key"):
        await verify_over_http(client, signer)


async def test_verify_refuses_another_key_or_origin(
    client: httpx.AsyncClient, make_log: MakeLog, signer: service.LogSigner
) -> None:
    await make_log(2)
    other = note.VerifierKey.from_public_key(signer.origin, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(audit.VerifyFailed, match="not signed by any known key"):
        await audit.verify(audit.HttpSource(client), key=other)
    with pytest.raises(audit.VerifyFailed, match="origin"):
        await audit.verify(audit.HttpSource(client), key=signer.verifier, origin="elsewhere.test/log")


# --- dumps ---------------------------------------------------------------------------------


async def write_dump(session: AsyncSession, signer: service.LogSigner, path: Path) -> list[str]:
    out = io.StringIO()
    size = await audit.export(audit.ServiceSource(session, signer), out)
    await asyncio.to_thread(path.write_text, out.getvalue(), encoding="utf-8")
    lines = out.getvalue().splitlines()
    assert size == sum(1 for line in lines if line.startswith('{"entry"'))
    return lines


async def verify_dump(path: Path, signer: service.LogSigner) -> audit.Report:
    source = audit.DumpSource(path)
    try:
        return await audit.verify(source, key=signer.verifier)
    finally:
        source.close()


async def test_dump_round_trip_and_tampering(
    tmp_path: Path, session: AsyncSession, make_log: MakeLog, signer: service.LogSigner
) -> None:
    await make_log(4, 4, 5)
    dump = tmp_path / "log.jsonl"
    lines = await write_dump(session, signer, dump)
    assert json.loads(lines[0])["header"]["key"] == signer.vkey
    report = await verify_dump(dump, signer)
    assert (report.size, report.checkpoints) == (13, 3)
    first_entry = next(i for i, line in enumerate(lines) if line.startswith('{"entry"'))

    def variant(change: str) -> Path:
        copy = list(lines)
        at = first_entry + 6
        if change == "edit":
            record = json.loads(copy[at])
            data = raw(record["entry"]["data"]).replace(b"number", b"NUMBER")
            record["entry"]["data"] = base64.b64encode(data).decode()
            copy[at] = json.dumps(record)
        elif change == "remove":
            del copy[at]
        elif change == "swap":
            copy[at], copy[at + 1] = copy[at + 1], copy[at]
        path = tmp_path / f"{change}.jsonl"
        path.write_text("\n".join(copy) + "\n", encoding="utf-8")
        return path

    for change, message in [
        ("edit", "entry 6: its data does not hash"),
        ("remove", "entry 6 is missing"),
        ("swap", "entry 6 is missing or out of order: the log serves entry 7"),
    ]:
        with pytest.raises(audit.VerifyFailed, match=message) as failed:
            await verify_dump(variant(change), signer)
        assert failed.value.index == 6


async def test_prove_checks_an_entry_with_only_the_key(
    client: httpx.AsyncClient, make_log: MakeLog, session: AsyncSession, signer: service.LogSigner
) -> None:
    await make_log(9)
    entry = (await service.get_entries(session, start=4, end=5)).entries[0]
    found = await audit.HttpSource(client).entry(entry.entry_id)
    checkpoint = audit.check_proof(found, key=signer.verifier)
    assert checkpoint.size == 9
    found.entry.data = base64.b64encode(raw(found.entry.data).replace(b"number", b"NUMBER")).decode()
    with pytest.raises(audit.VerifyFailed, match="entry 4: calculated root does not match"):
        audit.check_proof(found, key=signer.verifier)


# --- witness -------------------------------------------------------------------------------


async def test_witness_cosigns_only_consistent_growth(
    tmp_path: Path,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_log: MakeLog,
    signer: service.LogSigner,
) -> None:
    key = Ed25519PrivateKey.generate()
    await service.register_witness(session, vkey=audit.witness_vkey("witness.test/w", key))
    await make_log(3)
    state = tmp_path / "state.json"
    http = audit.HttpSource(client)

    async def round_() -> audit.WitnessResult:
        return await audit.witness_once(
            http, name="witness.test/w", private_key=key, state_path=state, log_key=signer.verifier
        )

    first = await round_()
    assert first.cosigned and first.size == 4 and first.previous == 0
    assert (await round_()).cosigned is False  # nothing new
    await make_log(5)
    second = await round_()
    assert second.cosigned and (second.previous, second.size) == (4, 9)
    saved = json.loads(state.read_text())
    assert saved["size"] == 9 and saved["line"] == second.line
    served = (await client.get("/api/v1/ledger/checkpoint")).text
    note.verify_note(served, [note.parse_vkey(audit.witness_vkey("witness.test/w", key))])
    witness = note.parse_vkey(audit.witness_vkey("witness.test/w", key))
    report = await audit.verify(http, key=signer.verifier, witnesses=[witness])
    assert report.cosigned == {witness.label: 2}

    # A log that shows a smaller tree, or another root at the same size, is refused.
    state.write_text(json.dumps(saved | {"size": 50}))
    with pytest.raises(audit.VerifyFailed, match="shrank"):
        await round_()
    state.write_text(json.dumps(saved | {"root_hash": base64.b64encode(bytes(32)).decode()}))
    with pytest.raises(audit.VerifyFailed, match="forked"):
        await round_()
    state.write_text(json.dumps(saved | {"size": 5, "root_hash": base64.b64encode(bytes(32)).decode()}))
    await make_log(1)
    with pytest.raises(audit.VerifyFailed, match="not consistent"):
        await round_()
    # Pinned: a witness never switches to a key the log hands it.
    state.write_text(json.dumps(saved))
    other = note.VerifierKey.from_public_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(Exception, match="differs"):
        await audit.witness_once(
            http, name="witness.test/w", private_key=key, state_path=state, log_key=other
        )
