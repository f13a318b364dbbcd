"""The log service against real PostgreSQL: appends, stored nodes, checkpoints, proofs, witnesses."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import OrgFactory
from tests.ledger.conftest import ORIGIN, MakeLog, event, tamper

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.clock import FrozenClock, set_clock, utcnow
from forewarn.core.errors import Conflict, InvalidInput, NotFound
from forewarn.core.jobs import Runtime
from forewarn.core.settings import Settings
from forewarn.ledger import audit, merkle, note, service
from forewarn.ledger.schemas import EntryFilter

EDIT_DATA = (
    "UPDATE ledger_entries SET data ="
    " convert_to(replace(convert_from(data, 'UTF8'), 'event', 'EVENT'), 'UTF8') WHERE \"index\" = :index"
)


def raw(value: str) -> bytes:
    return base64.b64decode(value)


async def all_leaves(session: AsyncSession) -> list[bytes]:
    rows = await session.execute(text('SELECT data FROM ledger_entries ORDER BY "index"'))
    return [merkle.leaf_hash(bytes(d)) for (d,) in rows]


async def test_append_writes_canonical_entries_leaves_and_nodes(session: AsyncSession) -> None:
    org = uuid.uuid4()
    out = await service.append(
        session,
        type="benchmark.determination_made",
        actor_organisation_id=org,
        subjects=[("model", "northwind/atlas-2"), ("organisation", org)],
        reason="covered frontier system",
        sealed_hashes={"pack": "sha256:" + "0" * 64},
    )
    assert out.index == 0 and out.type == "benchmark.determination_made"
    data = raw(out.data)
    document = json.loads(data)
    assert rfc8785.dumps(document) == data  # RFC 8785 canonical bytes are what is hashed
    assert document == {
        "v": 1,
        "id": str(out.entry_id),
        "type": "benchmark.determination_made",
        "timestamp": document["timestamp"],
        "actor": str(org),
        "subjects": [{"type": "model", "id": "northwind/atlas-2"}, {"type": "organisation", "id": str(org)}],
        "reason": "covered frontier system",
        "sealed": {"pack": "sha256:" + "0" * 64},
    }
    assert document["timestamp"].endswith("Z")
    assert raw(out.leaf_hash) == merkle.leaf_hash(data)
    more = await service.append_many(session, [event(i) for i in range(4)])
    assert [e.index for e in more] == [1, 2, 3, 4]
    nodes = (await session.execute(text("SELECT level, count(*) FROM ledger_nodes GROUP BY level"))).all()
    assert dict(nodes) == {0: 5, 1: 2, 2: 1}  # every complete aligned subtree of 5 leaves
    assert await service.root_at(session, 5) == merkle.root(await all_leaves(session))


async def test_proofs_from_storage_equal_the_in_memory_ones(session: AsyncSession) -> None:
    for batch in (1, 2, 5, 8, 1, 23):  # uneven batches cross every frontier shape
        start = await service._tree_size(session)
        await service.append_many(session, [event(start + i) for i in range(batch)])
    leaves = await all_leaves(session)
    assert len(leaves) == 40
    sizes = [1, 2, 3, 7, 8, 9, 16, 17, 31, 40]
    for n in sizes:
        assert await service.root_at(session, n) == merkle.root(leaves[:n])
        for i in range(n):
            proof = await service.inclusion_proof(session, index=i, tree_size=n)
            assert proof == merkle.inclusion_proof(i, leaves[:n])
            merkle.verify_inclusion(leaves[i], i, n, proof, merkle.root(leaves[:n]))
    for m in sizes:
        for n in sizes:
            if m <= n:
                proof = await service.consistency_proof(session, first=m, second=n)
                assert proof == merkle.consistency_proof(m, leaves[:n])


async def test_large_batches_take_the_copy_path_with_the_same_result(session: AsyncSession) -> None:
    small = await service.append_many(session, [event(i) for i in range(3)])
    large = await service.append_many(session, [event(i) for i in range(3, 303)])  # binary COPY
    assert [e.index for e in small + large] == list(range(303))
    leaves = await all_leaves(session)
    assert [raw(e.leaf_hash) for e in small + large] == leaves
    assert await service.root_at(session, 303) == merkle.root(leaves)
    assert await service.inclusion_proof(session, index=200, tree_size=303) == merkle.inclusion_proof(
        200, leaves
    )
    row = await session.execute(text('SELECT subject_ids, type FROM ledger_entries WHERE "index" = 250'))
    assert tuple(row.one()) == (["thing-250"], "test.event")
    assert large[0].reason == "event number 3" and large[0].subjects[0].id == "thing-3"


async def test_public_reads_stop_at_the_latest_checkpoint(
    session: AsyncSession, signer: service.LogSigner
) -> None:
    with pytest.raises(NotFound):
        await service.latest_checkpoint(session)
    first = await service.append_many(session, [event(i) for i in range(3)])
    assert (await service.get_entries(session, start=0, end=10)).entries == []
    with pytest.raises(NotFound, match="await its checkpoint"):
        await service.get_entry(session, entry_id=first[0].entry_id)
    assert await service.pending_count(session) == 3
    await service.issue_checkpoint(session, signer=signer)
    await service.append_many(session, [event(i) for i in range(3, 5)])
    page = await service.get_entries(session, start=0, end=10)
    assert [e.index for e in page.entries] == [0, 1, 2] and page.tree_size == 3
    assert await service.pending_count(session) == 2
    with pytest.raises(InvalidInput):
        await service.consistency(session, first=1, second=5)


async def test_checkpoints_are_signed_kept_and_pairwise_consistent(
    session: AsyncSession, signer: service.LogSigner, make_log: MakeLog
) -> None:
    sizes = await make_log(1, 3, 4, 9)
    assert sizes == [1, 4, 8, 17]
    again = await service.issue_checkpoint(session, signer=signer)  # nothing new: no new checkpoint
    assert again.size == 17
    kept = await service.list_checkpoints(session)
    assert [c.size for c in kept] == sizes
    leaves = await all_leaves(session)
    opened = []
    for c in kept:
        checkpoint, verified = note.open_checkpoint(c.note, [signer.verifier], origin=ORIGIN)
        assert checkpoint.root_hash == merkle.root(leaves[: c.size]) == raw(c.root_hash)
        assert verified.verified[0].name == ORIGIN
        opened.append(checkpoint)
    for a in opened:
        for b in opened:
            if a.size <= b.size:
                proof = await service.consistency_proof(session, first=a.size, second=b.size)
                merkle.verify_consistency(a.size, b.size, proof, a.root_hash, b.root_hash)
    assert [c.size for c in await service.list_checkpoints(session, after=4, limit=2)] == [8, 17]


async def test_empty_log_gets_a_size_zero_checkpoint(
    session: AsyncSession, signer: service.LogSigner
) -> None:
    empty = await service.issue_checkpoint(session, signer=signer)
    assert empty.size == 0 and raw(empty.root_hash) == merkle.EMPTY_ROOT


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"type": "NotAType"}, "type"),
        ({"type": "x"}, "type"),
        ({"reason": "line\x00feed"}, "control character"),
        ({"reason": "x" * 4001}, "reason"),
        ({"sealed_hashes": {"threshold": "0.73"}}, "sha256"),
        ({"sealed_hashes": {"Bad Label": "sha256:" + "0" * 64}}, "lower-case"),
        ({"subjects": [("organisation", "has space")]}, "subjects"),
        ({"subjects": [("thing", str(i)) for i in range(33)]}, "subjects"),
    ],
)
async def test_bad_entries_are_refused_before_anything_is_written(
    session: AsyncSession, fields: dict[str, object], problem: str
) -> None:
    arguments: dict[str, object] = {
        "type": "test.event",
        "actor_organisation_id": None,
        "reason": "ok",
    } | fields
    with pytest.raises(InvalidInput, match=problem):
        await service.append(session, **arguments)  # type: ignore[arg-type]
    assert await service._tree_size(session) == 0


async def test_the_database_refuses_changes_to_the_log(session: AsyncSession, make_log: MakeLog) -> None:
    await make_log(3)
    for sql in (
        "UPDATE ledger_entries SET type = 'test.changed'",
        "DELETE FROM ledger_nodes WHERE level = 0",
        "UPDATE ledger_checkpoints SET note = 'x'",
        "TRUNCATE ledger_entries",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with session.begin_nested():
                await session.execute(text(sql))


async def test_governance_events_are_logged_with_ids_only(
    session: AsyncSession,
    make_org: OrgFactory,
    make_person: Callable[..., Awaitable[Principal]],
    signer: service.LogSigner,
) -> None:
    lab = await make_org(name="Quiet Lab", kind=OrgKind.LAB)
    person = await make_person(lab, [Role.SAFETY_LEAD, Role.ADMIN], email="jo.bloggs@quiet.example")
    await service.issue_checkpoint(session, signer=signer)
    entries = (await service.get_entries(session, start=0, end=100)).entries
    assert [e.type for e in entries] == [
        "accounts.organisation_created",
        "accounts.role_granted",
        "accounts.role_granted",
    ]
    assert entries[0].subjects[0].id == str(lab)
    granted = {e.reason for e in entries[1:]}
    assert granted == {"role safety_lead granted", "role admin granted"}
    assert all({s.id for s in e.subjects} == {str(lab), str(person.person_id)} for e in entries[1:])
    everything = b"".join(raw(e.data) for e in entries)
    for secret in (b"Quiet Lab", b"jo.bloggs", b"quiet.example", b"Test Person"):
        assert secret not in everything


async def test_first_admin_bootstrap_is_logged(session: AsyncSession, signer: service.LogSigner) -> None:
    from forewarn.accounts import service as accounts

    await session.execute(text("UPDATE people SET is_platform_admin = false"))
    assert await accounts.create_first_admin(session, email="first@forewarn.test") is not None
    await service.issue_checkpoint(session, signer=signer)
    types = [e.reason for e in (await service.get_entries(session, start=0, end=10)).entries]
    assert "role platform_admin granted" in types and "role admin granted" in types


def witness_key(name: str = "witness.test/w1") -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    return key, audit.witness_vkey(name, key)


async def test_witness_registration_and_cosignatures(
    session: AsyncSession, signer: service.LogSigner, make_log: MakeLog
) -> None:
    await make_log(5)
    key, vkey = witness_key()
    registered = await service.register_witness(session, vkey=vkey)
    assert registered.active and registered.vkey == vkey
    with pytest.raises(Conflict):
        await service.register_witness(session, vkey=vkey)
    with pytest.raises(InvalidInput, match="cosignature/v1"):
        await service.register_witness(session, vkey=signer.vkey)  # a log key is not a witness key
    checkpoint = await service.issue_checkpoint(session, signer=signer)  # covers the witness entry
    assert checkpoint.size == 6
    body = note.parse_note(checkpoint.note).text

    def line(
        text_: str = body, *, at: int | None = None, k: Ed25519PrivateKey = key, name: str = "witness.test/w1"
    ) -> str:
        return note.cosign(text_, name=name, private_key=k, timestamp=at or int(time.time())).line()

    stored, created = await service.add_cosignature(session, size=6, signature=line())
    assert created and stored.witness == registered.name + "+" + registered.key_id
    again, created = await service.add_cosignature(session, size=6, signature=line())
    assert not created and again.line == stored.line  # idempotent: the first one stays
    served = await service.get_checkpoint(session, size=6)
    assert served.note.endswith(stored.line) and served.cosignatures == [stored]
    note.verify_note(served.note, [note.parse_vkey(vkey)])  # the witness's signature is in the note
    note.open_checkpoint(served.note, [signer.verifier], origin=ORIGIN)  # and the log's still verifies

    good = note.cosign(body, name="witness.test/w1", private_key=key, timestamp=int(time.time()))
    flipped = good.signature[:-1] + bytes([good.signature[-1] ^ 1])
    forged = note.Signature(good.name, good.key_id, flipped).line()
    with pytest.raises(note.NoteError, match="invalid signature"):
        await service.add_cosignature(session, size=6, signature=forged)
    other_key, _ = witness_key()
    with pytest.raises(InvalidInput, match="not a registered witness"):  # same name, another key
        await service.add_cosignature(session, size=6, signature=line(k=other_key))
    with pytest.raises(InvalidInput, match="not a registered witness"):
        await service.add_cosignature(session, size=6, signature=line(name="stranger.test/w"))
    with pytest.raises(note.NoteError):  # a cosignature of another checkpoint's text
        await service.add_cosignature(session, size=6, signature=line(body.replace("\n6\n", "\n7\n")))
    with pytest.raises(InvalidInput, match="future"):
        await service.add_cosignature(session, size=6, signature=line(at=int(time.time()) + 3600))
    with pytest.raises(InvalidInput, match="one signature line"):
        await service.add_cosignature(session, size=6, signature=line() + line())
    with pytest.raises(NotFound):
        await service.add_cosignature(session, size=99, signature=line())

    await service.remove_witness(session, label=f"{registered.name}+{registered.key_id}")
    assert await service.list_witnesses(session) == []
    await service.issue_checkpoint(session, signer=signer)
    with pytest.raises(InvalidInput, match="not a registered witness"):
        await service.add_cosignature(
            session,
            size=7,
            signature=line(note.parse_note((await service.latest_checkpoint(session)).note).text),
        )
    types = [e.type for e in (await service.get_entries(session, start=0, end=10)).entries]
    assert types[-2:] == ["ledger.witness_added", "ledger.witness_removed"]


async def test_search_filters_and_pages(session: AsyncSession, signer: service.LogSigner) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    set_clock(clock)
    try:
        org_a, org_b = uuid.uuid4(), uuid.uuid4()
        for i in range(12):
            await service.append_many(
                session, [event(i, type_="test.odd" if i % 2 else "test.even", org=org_a if i < 6 else org_b)]
            )
            clock.advance(timedelta(days=1))
        await service.append(
            session, type="test.about", actor_organisation_id=None, subjects=[("organisation", org_a)]
        )
        await service.issue_checkpoint(session, signer=signer)
    finally:
        from forewarn.core.clock import SystemClock

        set_clock(SystemClock())

    async def indices(**kwargs: object) -> list[int]:
        page = await service.search(session, **kwargs)  # type: ignore[arg-type]
        return [e.index for e in page.entries]

    assert await indices(where=EntryFilter()) == list(range(12, -1, -1))
    assert await indices(where=EntryFilter(type="test.odd")) == [11, 9, 7, 5, 3, 1]
    assert await indices(where=EntryFilter(organisation_id=org_a)) == [12, 5, 4, 3, 2, 1, 0]
    since, until = datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)
    assert await indices(where=EntryFilter(since=since, until=until)) == [3, 2]
    first = await service.search(session, where=EntryFilter(), limit=5)
    assert [e.index for e in first.entries] == [12, 11, 10, 9, 8] and first.newer is None and first.older == 8
    second = await service.search(session, where=EntryFilter(), before=first.older, limit=5)
    assert [e.index for e in second.entries] == [7, 6, 5, 4, 3] and second.newer == 7
    back = await service.search(session, where=EntryFilter(), after=second.newer, limit=5)
    assert [e.index for e in back.entries] == [12, 11, 10, 9, 8] and back.newer is None
    last = await service.search(session, where=EntryFilter(), before=3, limit=5)
    assert [e.index for e in last.entries] == [2, 1, 0] and last.older is None
    assert set(await service.entry_types(session)) == {"test.odd", "test.even", "test.about"}


def test_commitments_hide_guessable_secrets() -> None:
    digest, salt = service.commitment(b"0.73")
    other, _ = service.commitment(b"0.73")
    assert digest != other and digest.startswith("sha256:") and len(digest) == 71
    assert service.commitment(b"0.73", salt=salt)[0] == digest


async def test_the_origin_is_fixed_when_the_log_is_born(
    session: AsyncSession, runtime: Runtime, make_log: MakeLog, signer: service.LogSigner
) -> None:
    await make_log(2)
    elsewhere = Runtime(settings=Settings(port=9999), db=runtime.db, keys=runtime.keys)
    assert (await service.log_signer(session, elsewhere)).origin == ORIGIN
    renamed = Runtime(settings=Settings(ledger_origin="other.test/log"), db=runtime.db, keys=runtime.keys)
    with pytest.raises(service.LedgerCorrupt, match="keeps its origin"):
        await service.log_signer(session, renamed)
    await service.append_many(session, [event(9)])
    with pytest.raises(service.LedgerCorrupt, match="another one"):
        await service.issue_checkpoint(
            session, signer=service.LogSigner("other.test/log", signer.private_key)
        )


async def test_default_origin_comes_from_the_public_url() -> None:
    assert Settings(host="127.0.0.1", port=8123).ledger_log_origin == "127.0.0.1/ledger"
    assert (
        Settings(base_url="https://forewarn.example.gov").ledger_log_origin == "forewarn.example.gov/ledger"
    )
    assert Settings(ledger_origin="log.example/x").ledger_log_origin == "log.example/x"


async def test_entry_check_in_words(
    session: AsyncSession, make_log: MakeLog, signer: service.LogSigner
) -> None:
    await make_log(6)
    entry = (await service.get_entries(session, start=2, end=3)).entries[0]
    check = await service.check_entry(session, entry_id=entry.entry_id, signer=signer)
    assert check.ok and check.signed_by == signer.verifier.label and check.leaf_matches
    await tamper(session, EDIT_DATA, index=2)
    session.expire_all()
    check = await service.check_entry(session, entry_id=entry.entry_id, signer=signer)
    assert not check.ok and not check.leaf_matches and check.path_error is not None


async def test_clock_is_used_for_timestamps(session: AsyncSession) -> None:
    out = await service.append(session, type="test.event", actor_organisation_id=None)
    assert abs((out.timestamp - utcnow()).total_seconds()) < 60
