"""The transparency log: appending governance events, signed checkpoints, proofs, witnesses.

Invariants:

- **One sequencer.** Every append takes ``pg_advisory_xact_lock(APPEND_LOCK)`` in the
  caller's transaction before it reads the tree size, and holds it until that transaction
  ends; so appends are serialised, each sees every earlier committed append (READ COMMITTED:
  each statement after the lock sees the commits before it), and the tree never forks. The
  primary keys on entry index and ``(level, index)`` make a stale read fail rather than
  fork. Callers append at the end of their transaction, to hold the lock briefly.
- **All or nothing.** An entry, its leaf and the subtree nodes it completes are written in
  the caller's transaction: a crash or rollback leaves none of them. A checkpoint is issued
  from what is committed (or from the issuer's own transaction), so it never covers an entry
  that did not commit. Checkpoints are serialised by ``CHECKPOINT_LOCK``, only ever grow,
  and are all kept (consistency between any two can be proved).
- **Append-only.** Nothing here updates or deletes an entry, node, checkpoint or
  cosignature; the database refuses it too (trigger, migration 0002).
- **Public content only.** An entry is RFC 8785 canonical JSON of: version, entry id, type,
  timestamp, actor organisation id, typed subject ids, a public reason, and sealed or TLP
  content as ``sha256:`` hashes only (callers hash low-entropy secrets as salted
  commitments, see :func:`commitment`). Never emails, names or sealed text.
- **Proofs from storage.** Roots and proofs read the O(log n) complete aligned subtrees
  they need from ``ledger_nodes`` in one query (``merkle.nodes_for``); the entries table is
  never used to build them. Public reads stop at the latest checkpoint's size.
- **Witnesses** are registered by a platform operator (CLI), an entry records it, and a
  cosignature is stored only if it verifies with a registered, active witness key over the
  stored checkpoint's text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.core.clock import utcnow
from forewarn.core.errors import Conflict, ForewarnError, InvalidInput, NotFound, Problem, validated
from forewarn.core.jobs import enqueue
from forewarn.ledger import merkle, note
from forewarn.ledger.models import (
    LedgerCheckpoint,
    LedgerCosignature,
    LedgerEntry,
    LedgerWitness,
)
from forewarn.ledger.schemas import (
    SUBJECT_ID,
    CheckpointOut,
    ConsistencyProofOut,
    CosignatureOut,
    EntriesPage,
    EntryFilter,
    EntryIn,
    EntryOut,
    EntryWithProof,
    InclusionProofOut,
    SubjectRef,
    WitnessOut,
)

if TYPE_CHECKING:
    from forewarn.core.jobs import Runtime


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


APPEND_LOCK = _lock_key("forewarn.ledger.append")
CHECKPOINT_LOCK = _lock_key("forewarn.ledger.checkpoint")
CHECKPOINT_TASK = "ledger:checkpoint"
ENTRY_VERSION = 1
#: Bytes of one entry's canonical JSON.
MAX_ENTRY_BYTES = 16 * 1024
#: Entries in one ``append_many`` call.
MAX_BATCH = 50_000
#: Entries, checkpoints or search results in one read.
MAX_RANGE = 1000
#: How far a cosignature's own timestamp may be ahead of our clock.
COSIGNATURE_SKEW = timedelta(minutes=5)


class LedgerCorrupt(ForewarnError):
    """Stored tree state is missing or contradicts itself (never a caller's fault)."""

    status_code = 500
    title = "Transparency log storage error"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except ValueError:
        raise InvalidInput(f"{what} is not valid base64") from None


def commitment(content: bytes, *, salt: bytes | None = None) -> tuple[str, bytes]:
    """A ``sha256:`` hiding commitment to sealed content and its salt (keep the salt sealed).

    HMAC-SHA256 keyed with a fresh 32-byte salt, so a guessable secret (a threshold, a
    verdict) cannot be confirmed by hashing guesses; reveal the salt to open it.
    """
    salt = salt if salt is not None else os.urandom(32)
    return "sha256:" + hmac.new(salt, content, hashlib.sha256).hexdigest(), salt


# --- the log's key -----------------------------------------------------------------------


@dataclass(frozen=True)
class LogSigner:
    """The log's origin and Ed25519 key; the key's name in notes is the origin."""

    origin: str
    private_key: Ed25519PrivateKey

    @property
    def verifier(self) -> note.VerifierKey:
        return note.VerifierKey.from_public_key(self.origin, self.private_key.public_key())

    @property
    def vkey(self) -> str:
        return note.format_vkey(self.verifier)


async def log_signer(session: AsyncSession, runtime: Runtime) -> LogSigner:
    """The log's signer: the runtime's key, and the origin the log was born with.

    The origin names the log for its whole life, so once a checkpoint exists its origin wins
    over settings (a CLI run with other host or port settings must not sign another log's
    checkpoints); an explicit ``FOREWARN_LEDGER_ORIGIN`` that disagrees is refused.
    """
    first = await session.scalar(select(LedgerCheckpoint.note).order_by(LedgerCheckpoint.size).limit(1))
    if first is None:
        return LogSigner(runtime.settings.ledger_log_origin, runtime.keys.signing.private)
    origin = first.split("\n", 1)[0]
    configured = runtime.settings.ledger_origin
    if configured and configured != origin:
        raise LedgerCorrupt(
            f"FOREWARN_LEDGER_ORIGIN is {configured!r} but the log's origin is {origin!r}; "
            "a log keeps its origin for life"
        )
    return LogSigner(origin, runtime.keys.signing.private)


# --- appending ---------------------------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class _Prepared:
    entry_id: uuid.UUID
    source: EntryIn
    data: bytes
    leaf: bytes


def _prepare(entry: EntryIn, moment: datetime, position: int) -> _Prepared:
    entry_id = uuid.uuid4()
    document: dict[str, Any] = {
        "v": ENTRY_VERSION,
        "id": str(entry_id),
        "type": entry.type,
        "timestamp": _timestamp(moment),
        "actor": str(entry.actor_organisation_id) if entry.actor_organisation_id else None,
        "subjects": [{"type": s.type, "id": s.id} for s in entry.subjects],
        "reason": entry.reason,
        "sealed": dict(entry.sealed_hashes),
    }
    data: bytes = rfc8785.dumps(document)
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidInput(
            "ledger entry too large",
            problems=[Problem(f"entries.{position}", f"more than {MAX_ENTRY_BYTES} bytes of canonical JSON")],
        )
    return _Prepared(entry_id, entry, data, merkle.leaf_hash(data))


async def append(
    session: AsyncSession,
    *,
    type: str,
    actor_organisation_id: uuid.UUID | None,
    subjects: Iterable[SubjectRef | tuple[str, object]] = (),
    reason: str = "",
    sealed_hashes: Mapping[str, str] | None = None,
) -> EntryOut:
    """Append one governance event in the caller's transaction; see ``append_many``."""
    entry = validated(
        EntryIn,
        {
            "type": type,
            "actor_organisation_id": actor_organisation_id,
            "subjects": [
                s if isinstance(s, SubjectRef) else {"type": s[0], "id": str(s[1])} for s in subjects
            ],
            "reason": reason,
            "sealed_hashes": dict(sealed_hashes or {}),
        },
        message="invalid ledger entry",
    )
    return (await append_many(session, [entry]))[0]


async def append_many(session: AsyncSession, entries: Sequence[EntryIn]) -> list[EntryOut]:
    """Append entries in order, in the caller's transaction, under the sequencer lock.

    Everything is validated and hashed before the lock is taken; then the tree size and
    frontier are read, the entries and the nodes they complete are inserted, and a
    checkpoint job is queued (one at a time: a queueing lock) to sign the new head after
    this transaction commits.
    """
    if not entries:
        return []
    if len(entries) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} ledger entries per batch")
    moment = utcnow()
    prepared = [_prepare(e, moment, i) for i, e in enumerate(entries)]

    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK})
    size = await _tree_size(session)
    edge = merkle.frontier(size)
    stored = await _fetch_nodes(session, edge)
    appended = merkle.append(size, [stored[n] for n in edge], [p.leaf for p in prepared])

    indices = range(size, appended.size)
    rows = [
        (
            index,
            p.entry_id,
            p.source.type,
            moment,
            p.source.actor_organisation_id,
            [s.id for s in p.source.subjects],
            p.data,
            p.leaf,
        )
        for index, p in zip(indices, prepared, strict=True)
    ]
    await _write(session, "ledger_entries", _ENTRY_COLUMNS, rows)
    await _write(session, "ledger_nodes", _NODE_COLUMNS, appended.nodes)
    await _schedule_checkpoint(session)
    return [
        EntryOut.model_construct(
            index=index,
            entry_id=p.entry_id,
            type=p.source.type,
            timestamp=moment,
            actor_organisation_id=p.source.actor_organisation_id,
            subjects=list(p.source.subjects),
            reason=p.source.reason,
            sealed_hashes=dict(p.source.sealed_hashes),
            data=b64(p.data),
            leaf_hash=b64(p.leaf),
        )
        for index, p in zip(indices, prepared, strict=True)
    ]


#: (column, PostgreSQL type) of the rows ``append_many`` writes, in order.
_ENTRY_COLUMNS = (
    ('"index"', "int8"),
    ("entry_id", "uuid"),
    ("type", "text"),
    ("timestamp", "timestamptz"),
    ("actor_organisation_id", "uuid"),
    ("subject_ids", "jsonb"),
    ("data", "bytea"),
    ("leaf_hash", "bytea"),
)
_NODE_COLUMNS = (("level", "int2"), ('"index"', "int8"), ("hash", "bytea"))
#: From this many rows on, binary COPY beats one INSERT of arrays (no array text encoding).
_COPY_FROM = 256


async def _write(
    session: AsyncSession, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert rows in the caller's transaction: one INSERT ... unnest, or binary COPY when many."""
    jsonb = [i for i, (_, kind) in enumerate(columns) if kind == "jsonb"]
    names = ", ".join(name for name, _ in columns)
    if len(rows) >= _COPY_FROM:
        from psycopg.types.json import Jsonb

        connection = await session.connection()
        driver: Any = (await connection.get_raw_connection()).driver_connection
        async with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([kind for _, kind in columns])
            for row in rows:
                if jsonb:
                    row = [Jsonb(v) if i in jsonb else v for i, v in enumerate(row)]  # noqa: PLW2901
                await copy.write_row(row)
        return
    params = {f"c{i}": [row[i] for row in rows] for i in range(len(columns))}
    for i in jsonb:
        params[f"c{i}"] = [json.dumps(v) for v in params[f"c{i}"]]
    arrays = ", ".join(
        f"CAST(CAST(:c{i} AS text[]) AS jsonb[])" if kind == "jsonb" else f"CAST(:c{i} AS {kind}[])"
        for i, (_, kind) in enumerate(columns)
    )
    await session.execute(text(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"), params)  # noqa: S608 -- fixed identifiers


async def _schedule_checkpoint(session: AsyncSession) -> None:
    """Queue ``ledger:checkpoint`` unless one is already waiting (batching appends)."""
    waiting = await session.scalar(
        text("SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = :q AND status = 'todo' LIMIT 1"),
        {"q": CHECKPOINT_TASK},
    )
    if waiting:
        return
    try:
        # A savepoint: losing the race for the queueing lock must not abort the caller.
        async with session.begin_nested():
            await enqueue(session, CHECKPOINT_TASK, queueing_lock=CHECKPOINT_TASK)
    except IntegrityError:
        pass


async def _tree_size(session: AsyncSession) -> int:
    """Entries committed (or written by this transaction): the next index."""
    value = await session.scalar(text('SELECT coalesce(max("index") + 1, 0) FROM ledger_entries'))
    return int(value or 0)


async def _fetch_nodes(session: AsyncSession, ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
    """Stored hashes of the given complete subtrees, in one query; all must exist."""
    if not ids:
        return {}
    # One primary-key lookup per wanted node (LATERAL). The ids are written into the query as
    # integer literals, not bound as arrays: a prepared statement's generic plan, made while
    # the table was small, would keep scanning the whole table as it grows.
    pairs = ", ".join(f"({int(level)}, {int(index)})" for level, index in ids)
    rows = await session.execute(
        text(
            f"SELECT q.level, q.idx, n.hash FROM (VALUES {pairs}) AS q(level, idx) CROSS JOIN LATERAL"  # noqa: S608 -- integers only
            ' (SELECT hash FROM ledger_nodes WHERE level = q.level AND "index" = q.idx) AS n'
        )
    )
    found: dict[merkle.NodeId, bytes] = {(level, index): bytes(h) for level, index, h in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise LedgerCorrupt(f"stored tree node {missing[0]} is missing")
    return found


async def _proof(session: AsyncSession, ranges: list[tuple[int, int]]) -> list[bytes]:
    nodes = await _fetch_nodes(session, merkle.nodes_for(ranges))
    return [merkle.range_hash(s, e, lambda level, index: nodes[(level, index)]) for s, e in ranges]


async def root_at(session: AsyncSession, size: int) -> bytes:
    """``MTH`` of the first ``size`` entries, from stored nodes."""
    if size == 0:
        return merkle.EMPTY_ROOT
    return (await _proof(session, [(0, size)]))[0]


# --- checkpoints -------------------------------------------------------------------------


async def issue_checkpoint(session: AsyncSession, *, signer: LogSigner) -> CheckpointOut:
    """Sign the current tree head, unless the latest checkpoint already covers it.

    Run by the ``ledger:checkpoint`` job after appends commit, or directly (CLI). Returns the
    checkpoint that covers the log as this transaction sees it.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHECKPOINT_LOCK})
    size = await _tree_size(session)
    latest = await _latest_row(session)
    if latest is not None:
        if latest.note.split("\n", 1)[0] != signer.origin:
            raise LedgerCorrupt(f"refusing to sign for origin {signer.origin!r}: this log is another one")
        if latest.size == size:
            return await _checkpoint_out(session, latest)
        if latest.size > size:
            raise LedgerCorrupt(f"the log has {size} entries but its latest checkpoint covers {latest.size}")
    root_hash = await root_at(session, size)
    body = note.format_checkpoint(note.Checkpoint(signer.origin, size, root_hash))
    row = LedgerCheckpoint(
        size=size,
        root_hash=root_hash,
        note=note.sign_note(body, name=signer.origin, private_key=signer.private_key),
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return await _checkpoint_out(session, row, cosignatures=[])


async def _latest_row(session: AsyncSession) -> LedgerCheckpoint | None:
    row: LedgerCheckpoint | None = await session.scalar(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc()).limit(1)
    )
    return row


async def _cosignatures(session: AsyncSession, sizes: Sequence[int]) -> dict[int, list[CosignatureOut]]:
    out: dict[int, list[CosignatureOut]] = {s: [] for s in sizes}
    if not sizes:
        return out
    rows = await session.execute(
        select(LedgerCosignature, LedgerWitness)
        .join(LedgerWitness, LedgerWitness.id == LedgerCosignature.witness_id)
        .where(LedgerCosignature.checkpoint_size.in_(sizes))
        .order_by(LedgerCosignature.checkpoint_size, LedgerCosignature.received_at, LedgerCosignature.id)
    )
    for cosig, witness in rows:
        out[cosig.checkpoint_size].append(
            CosignatureOut(
                witness=f"{witness.name}+{witness.key_id}",
                vkey=witness.vkey,
                signed_at=cosig.signed_at,
                line=cosig.line,
            )
        )
    return out


async def _checkpoint_out(
    session: AsyncSession, row: LedgerCheckpoint, cosignatures: list[CosignatureOut] | None = None
) -> CheckpointOut:
    if cosignatures is None:
        cosignatures = (await _cosignatures(session, [row.size]))[row.size]
    return _checkpoint_model(row, cosignatures)


def _checkpoint_model(row: LedgerCheckpoint, cosignatures: list[CosignatureOut]) -> CheckpointOut:
    origin = row.note.split("\n", 1)[0]
    return CheckpointOut(
        origin=origin,
        size=row.size,
        root_hash=b64(row.root_hash),
        created_at=row.created_at,
        # Cosignatures are further signature lines of the same note (c2sp.org/tlog-cosignature).
        note=row.note + "".join(c.line for c in cosignatures),
        cosignatures=cosignatures,
    )


async def latest_checkpoint(session: AsyncSession) -> CheckpointOut:
    row = await _latest_row(session)
    if row is None:
        raise NotFound("the log has no checkpoint yet")
    return await _checkpoint_out(session, row)


async def get_checkpoint(session: AsyncSession, *, size: int) -> CheckpointOut:
    row = await session.get(LedgerCheckpoint, size)
    if row is None:
        raise NotFound(f"no checkpoint of size {size}")
    return await _checkpoint_out(session, row)


async def list_checkpoints(
    session: AsyncSession, *, after: int = -1, limit: int = 100
) -> list[CheckpointOut]:
    """Checkpoints of size greater than ``after``, smallest first."""
    limit = max(1, min(limit, MAX_RANGE))
    rows = list(
        await session.scalars(
            select(LedgerCheckpoint)
            .where(LedgerCheckpoint.size > after)
            .order_by(LedgerCheckpoint.size)
            .limit(limit)
        )
    )
    cosigs = await _cosignatures(session, [r.size for r in rows])
    return [_checkpoint_model(r, cosigs[r.size]) for r in rows]


async def published_size(session: AsyncSession) -> int:
    """The latest checkpoint's size: what the public log is (0 when none)."""
    value = await session.scalar(select(func.max(LedgerCheckpoint.size)))
    return int(value or 0)


async def pending_count(session: AsyncSession) -> int:
    """Entries committed but not yet covered by a checkpoint."""
    return await _tree_size(session) - await published_size(session)


# --- reading entries ---------------------------------------------------------------------


def _entry_out(
    index: int,
    data: bytes,
    leaf: bytes,
    entry_id: uuid.UUID,
    type_: str,
    timestamp: datetime,
    actor: uuid.UUID | None,
) -> EntryOut:
    """The entry as served: fields from its canonical JSON, which is the record.

    Stored data that does not parse (a damaged row) is still served byte for byte, with the
    index columns' values, so that verifiers can see and name it.
    """
    subjects: list[SubjectRef] = []
    reason = ""
    sealed: dict[str, str] = {}
    try:
        doc = json.loads(data)
        entry_id = uuid.UUID(doc["id"])
        type_ = str(doc["type"])
        timestamp = datetime.fromisoformat(doc["timestamp"])
        actor = uuid.UUID(doc["actor"]) if doc["actor"] else None
        subjects = [SubjectRef.model_validate(s) for s in doc["subjects"]]
        reason = str(doc["reason"])
        sealed = {str(k): str(v) for k, v in doc["sealed"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return EntryOut(
        index=index,
        entry_id=entry_id,
        type=type_,
        timestamp=timestamp,
        actor_organisation_id=actor,
        subjects=subjects,
        reason=reason,
        sealed_hashes=sealed,
        data=b64(data),
        leaf_hash=b64(leaf),
    )


def _row_out(row: LedgerEntry) -> EntryOut:
    return _entry_out(
        row.index,
        row.data,
        row.leaf_hash,
        row.entry_id,
        row.type,
        row.timestamp,
        row.actor_organisation_id,
    )


async def get_entries(session: AsyncSession, *, start: int, end: int) -> EntriesPage:
    """Entries ``[start, end)``, clipped to the latest checkpoint and to ``MAX_RANGE``."""
    if start < 0 or end <= start:
        raise InvalidInput("need 0 <= start < end", problems=[Problem("start", "out of range")])
    size = await published_size(session)
    end = min(end, size, start + MAX_RANGE)
    rows = (
        list(
            await session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.index >= start, LedgerEntry.index < end)
                .order_by(LedgerEntry.index)
            )
        )
        if start < end
        else []
    )
    return EntriesPage(start=start, end=max(start, end), tree_size=size, entries=[_row_out(r) for r in rows])


async def _published_row(
    session: AsyncSession, *, index: int | None = None, entry_id: uuid.UUID | None = None
) -> tuple[LedgerEntry, int]:
    size = await published_size(session)
    if index is not None:
        row = await session.get(LedgerEntry, index)
    else:
        row = await session.scalar(select(LedgerEntry).where(LedgerEntry.entry_id == entry_id))
    if row is None or row.index >= size:
        raise NotFound("no such entry in the published log (it may await its checkpoint)")
    return row, size


async def get_entry(
    session: AsyncSession, *, index: int | None = None, entry_id: uuid.UUID | None = None
) -> EntryOut:
    row, _ = await _published_row(session, index=index, entry_id=entry_id)
    return _row_out(row)


async def inclusion_proof(session: AsyncSession, *, index: int, tree_size: int) -> list[bytes]:
    """RFC 9162 ``PATH(index, D[tree_size])`` from stored nodes (one query)."""
    return await _proof(session, merkle.inclusion_ranges(index, tree_size))


async def consistency_proof(session: AsyncSession, *, first: int, second: int) -> list[bytes]:
    """RFC 9162 ``PROOF(first, D[second])`` from stored nodes (one query)."""
    return await _proof(session, merkle.consistency_ranges(first, second))


async def _checkpoint_size(session: AsyncSession, tree_size: int | None) -> LedgerCheckpoint:
    if tree_size is None:
        row = await _latest_row(session)
        if row is None:
            raise NotFound("the log has no checkpoint yet")
        return row
    found = await session.get(LedgerCheckpoint, tree_size)
    if found is None:
        raise NotFound(
            f"no checkpoint of size {tree_size}",
            problems=[Problem("tree_size", "proofs are given against checkpointed sizes")],
        )
    return found


async def entry_with_proof(
    session: AsyncSession,
    *,
    index: int | None = None,
    entry_id: uuid.UUID | None = None,
    tree_size: int | None = None,
) -> EntryWithProof:
    """An entry, its inclusion proof and the checkpoint (latest, or of ``tree_size``)."""
    row, _ = await _published_row(session, index=index, entry_id=entry_id)
    checkpoint = await _checkpoint_size(session, tree_size)
    if row.index >= checkpoint.size:
        raise NotFound(f"entry {row.index} is not in the checkpoint of size {checkpoint.size}")
    proof = await inclusion_proof(session, index=row.index, tree_size=checkpoint.size)
    leaf = (await _fetch_nodes(session, [(0, row.index)]))[(0, row.index)]
    return EntryWithProof(
        entry=_row_out(row),
        inclusion=InclusionProofOut(
            index=row.index,
            tree_size=checkpoint.size,
            leaf_hash=b64(leaf),
            proof=[b64(p) for p in proof],
            root_hash=b64(checkpoint.root_hash),
        ),
        checkpoint=await _checkpoint_out(session, checkpoint),
    )


async def consistency(session: AsyncSession, *, first: int, second: int) -> ConsistencyProofOut:
    """A consistency proof between two published sizes (0 < first <= second)."""
    size = await published_size(session)
    if not 0 < first <= second <= size:
        raise InvalidInput(
            f"need 0 < first <= second <= {size} (the latest checkpoint's size)",
            problems=[Problem("first", f"{first}"), Problem("second", f"{second}")],
        )
    proof = await consistency_proof(session, first=first, second=second)
    return ConsistencyProofOut(
        first=first,
        second=second,
        first_root=b64(await root_at(session, first)),
        second_root=b64(await root_at(session, second)),
        proof=[b64(p) for p in proof],
    )


@dataclass(frozen=True)
class SearchPage:
    entries: list[EntryOut]
    tree_size: int
    #: ``before`` cursor of the next (older) page, or None at the end.
    older: int | None
    #: ``after`` cursor of the previous (newer) page, or None at the start.
    newer: int | None


async def search(
    session: AsyncSession,
    *,
    where: EntryFilter,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> SearchPage:
    """Published entries matching the filter, newest first, paged by index cursors."""
    limit = max(1, min(limit, 200))
    size = await published_size(session)
    query = select(LedgerEntry).where(LedgerEntry.index < size)
    if where.type:
        query = query.where(LedgerEntry.type == where.type)
    if where.organisation_id:
        query = query.where(
            (LedgerEntry.actor_organisation_id == where.organisation_id)
            | LedgerEntry.subject_ids.contains([str(where.organisation_id)])
        )
    if where.since:
        query = query.where(LedgerEntry.timestamp >= where.since)
    if where.until:
        query = query.where(LedgerEntry.timestamp < where.until)
    if after is not None:  # a newer page: the `limit` entries just above `after`, newest first
        rows = list(
            await session.scalars(
                query.where(LedgerEntry.index > after).order_by(LedgerEntry.index).limit(limit + 1)
            )
        )
        has_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        has_older = True
    else:
        if before is not None:
            query = query.where(LedgerEntry.index < before)
        rows = list(await session.scalars(query.order_by(LedgerEntry.index.desc()).limit(limit + 1)))
        has_older = len(rows) > limit
        rows = rows[:limit]
        has_newer = before is not None
    return SearchPage(
        entries=[_row_out(r) for r in rows],
        tree_size=size,
        older=rows[-1].index if rows and has_older else None,
        newer=rows[0].index if rows and has_newer else None,
    )


async def entry_types(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(LedgerEntry.type).distinct().order_by(LedgerEntry.type)))


# --- witnesses ---------------------------------------------------------------------------


async def register_witness(
    session: AsyncSession, *, vkey: str, actor_organisation_id: uuid.UUID | None = None
) -> WitnessOut:
    """Accept cosignatures by this ``cosignature/v1`` key (a platform operator's decision)."""
    key = note.parse_vkey(vkey.strip())
    if key.alg != note.ALG_COSIGNATURE_V1:
        raise InvalidInput("a witness key must be a cosignature/v1 (type 0x04) verifier key")
    if not SUBJECT_ID.match(key.name):
        raise InvalidInput("a witness key name may hold letters, digits and . _ : / + = @ - only")
    canonical = note.format_vkey(key)
    clash = await session.scalar(
        select(LedgerWitness).where(
            (LedgerWitness.vkey == canonical)
            | ((LedgerWitness.name == key.name) & (LedgerWitness.key_id == key.key_id.hex()))
        )
    )
    if clash is not None:
        raise Conflict(
            f"witness key {key.label} is already registered" + ("" if clash.active else " (retired)")
        )
    row = LedgerWitness(name=key.name, key_id=key.key_id.hex(), vkey=canonical, active=True)
    session.add(row)
    await session.flush()
    await append(
        session,
        type="ledger.witness_added",
        actor_organisation_id=actor_organisation_id,
        subjects=[("witness_key", key.label)],
        reason=f"witness key {canonical} may cosign checkpoints",
    )
    return WitnessOut.model_validate(row)


async def remove_witness(
    session: AsyncSession, *, label: str, actor_organisation_id: uuid.UUID | None = None
) -> WitnessOut:
    """Retire a witness key: its stored cosignatures stay, new ones are refused."""
    name, _, key_id = label.strip().rpartition("+")
    row = await session.scalar(
        select(LedgerWitness).where(LedgerWitness.name == name, LedgerWitness.key_id == key_id.lower())
    )
    if row is None or not row.active:
        raise NotFound(f"no active witness key {label}")
    row.active = False
    row.removed_at = utcnow()
    await session.flush()
    await append(
        session,
        type="ledger.witness_removed",
        actor_organisation_id=actor_organisation_id,
        subjects=[("witness_key", f"{row.name}+{row.key_id}")],
        reason=f"witness key {row.vkey} retired",
    )
    return WitnessOut.model_validate(row)


async def list_witnesses(session: AsyncSession, *, include_retired: bool = False) -> list[WitnessOut]:
    query = select(LedgerWitness).order_by(LedgerWitness.created_at, LedgerWitness.name)
    if not include_retired:
        query = query.where(LedgerWitness.active.is_(True))
    return [WitnessOut.model_validate(w) for w in await session.scalars(query)]


async def add_cosignature(session: AsyncSession, *, size: int, signature: str) -> tuple[CosignatureOut, bool]:
    """Store a witness's cosignature line of checkpoint ``size``; (stored, newly added).

    The line must parse as one signed-note signature by a registered active witness, and
    verify as ``cosignature/v1`` over exactly the stored checkpoint's text. A second
    cosignature by the same witness for the same checkpoint returns the first.
    """
    checkpoint = await session.get(LedgerCheckpoint, size)
    if checkpoint is None:
        raise NotFound(f"no checkpoint of size {size}")
    body = note.parse_note(checkpoint.note).text
    line = signature.removesuffix("\n") + "\n"
    if "\n" in line[:-1]:
        raise InvalidInput("send exactly one signature line")
    parsed = note.parse_note(body + "\n" + line)
    if parsed.text != body or len(parsed.signatures) != 1:
        raise InvalidInput("send exactly one signature line")
    sig = parsed.signatures[0]
    witness = await session.scalar(
        select(LedgerWitness).where(
            LedgerWitness.name == sig.name,
            LedgerWitness.key_id == sig.key_id.hex(),
            LedgerWitness.active.is_(True),
        )
    )
    if witness is None:
        raise InvalidInput(f"{sig.label[:80]} is not a registered witness key")
    note.verify_note(body + "\n" + line, [note.parse_vkey(witness.vkey)])
    signed_at = datetime.fromtimestamp(note.cosignature_timestamp(sig), UTC)
    now = utcnow()
    if signed_at > now + COSIGNATURE_SKEW:
        raise InvalidInput("the cosignature's timestamp is in the future")
    if signed_at < checkpoint.created_at - COSIGNATURE_SKEW:
        raise InvalidInput("the cosignature's timestamp is older than the checkpoint")
    existing = await session.scalar(
        select(LedgerCosignature).where(
            LedgerCosignature.checkpoint_size == size, LedgerCosignature.witness_id == witness.id
        )
    )
    label = f"{witness.name}+{witness.key_id}"
    if existing is not None:
        return CosignatureOut(
            witness=label, vkey=witness.vkey, signed_at=existing.signed_at, line=existing.line
        ), False
    row = LedgerCosignature(
        checkpoint_size=size, witness_id=witness.id, line=sig.line(), signed_at=signed_at, received_at=now
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same witness's cosignature arrived concurrently
        raise Conflict("this witness's cosignature of this checkpoint is being stored; retry") from None
    return CosignatureOut(witness=label, vkey=witness.vkey, signed_at=signed_at, line=row.line), True


async def cosignatures(session: AsyncSession, *, size: int) -> list[CosignatureOut]:
    if await session.get(LedgerCheckpoint, size) is None:
        raise NotFound(f"no checkpoint of size {size}")
    return (await _cosignatures(session, [size]))[size]


# --- an entry's proof, checked on the server (for the entry page) -------------------------


@dataclass(frozen=True)
class EntryCheck:
    """What the entry page says it checked, step by step."""

    proof: EntryWithProof
    computed_leaf: str
    leaf_matches: bool
    path_error: str | None
    signed_by: str | None
    signature_error: str | None
    cosigned_by: list[str]

    @property
    def ok(self) -> bool:
        return self.leaf_matches and self.path_error is None and self.signature_error is None


async def check_entry(session: AsyncSession, *, entry_id: uuid.UUID, signer: LogSigner) -> EntryCheck:
    """Fetch an entry with its proof and check it the way an outside verifier would."""
    found = await entry_with_proof(session, entry_id=entry_id)
    data = unb64(found.entry.data, "entry data")
    computed = merkle.leaf_hash(data)
    inclusion = found.inclusion
    path_error: str | None = None
    try:
        merkle.verify_inclusion(
            computed,
            inclusion.index,
            inclusion.tree_size,
            [unb64(p, "proof") for p in inclusion.proof],
            unb64(found.checkpoint.root_hash, "root"),
        )
    except merkle.ProofError as exc:
        path_error = str(exc)
    signed_by: str | None = None
    signature_error: str | None = None
    cosigned_by: list[str] = []
    try:
        checkpoint, _ = note.open_checkpoint(found.checkpoint.note, [signer.verifier], origin=signer.origin)
        if b64(checkpoint.root_hash) != found.checkpoint.root_hash or checkpoint.size != inclusion.tree_size:
            signature_error = "the signed note does not state this root and size"
        else:
            signed_by = signer.verifier.label
    except note.NoteError as exc:
        signature_error = str(exc)
    for witness in await list_witnesses(session, include_retired=True):
        try:
            note.verify_note(found.checkpoint.note, [note.parse_vkey(witness.vkey)])
            cosigned_by.append(f"{witness.name}+{witness.key_id}")
        except note.NoteError:
            continue
    return EntryCheck(
        proof=found,
        computed_leaf=b64(computed),
        leaf_matches=b64(computed) == inclusion.leaf_hash,
        path_error=path_error,
        signed_by=signed_by,
        signature_error=signature_error,
        cosigned_by=cosigned_by,
    )
