"""Checking the log from the outside: verify, prove, export and witness, with only its key.

Invariants:

- Nothing a source serves is trusted except what the pinned log key signed: checkpoints are
  opened with that key and the expected origin (c2sp.org/tlog-checkpoint), every entry is
  re-hashed from its bytes (RFC 9162 §2.1.1), and the whole tree is recomputed and compared
  with every checkpoint's root. Served leaf hashes and proofs are only used to *locate* a
  problem, never to accept anything.
- The first problem stops verification and is named: an entry by its index, a checkpoint by
  its position and claimed size. When recomputed roots disagree with a checkpoint, the first
  bad entry is found by bisection with consistency proofs against that signed root: a prefix
  passes only if it is exactly the prefix the log signed (collision resistance of SHA-256).
- Consecutive checkpoints must grow and be consistent (RFC 9162 §2.1.4.2), so no signed
  history was rewritten between them.
- A witness cosigns a checkpoint only after it verified the log's signature and the
  consistency of that checkpoint with the last one it cosigned, and only after writing the
  new state to its own state file (atomically); it never cosigns a smaller tree or a
  different root at the same size.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import rfc8785

from forewarn.core.errors import ForewarnError, InvalidInput, Unavailable
from forewarn.ledger import merkle, note
from forewarn.ledger.schemas import EntryWithProof

if TYPE_CHECKING:
    import httpx
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy.ext.asyncio import AsyncSession

    from forewarn.ledger.service import LogSigner

DUMP_FORMAT = "forewarn-ledger-dump/1"
BATCH = 1000
ENTRY_FIELDS = frozenset({"v", "id", "type", "timestamp", "actor", "subjects", "reason", "sealed"})
API = "/api/v1/ledger"


class VerifyFailed(ForewarnError):
    """The log, a dump or a proof does not verify; ``index`` names the first bad entry."""

    status_code = 422
    title = "Verification failed"

    def __init__(self, message: str, *, index: int | None = None, checkpoint: int | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.checkpoint = checkpoint


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except ValueError:
        raise InvalidInput(f"{what} is not valid base64") from None


@dataclass(frozen=True, slots=True)
class RawEntry:
    """An entry as a source serves it: claimed index, data bytes, claimed leaf hash."""

    index: int
    data: bytes
    leaf_hash: bytes | None = None


class Source(Protocol):
    """Where the log comes from: a server, a dump, or the local database."""

    async def log_key(self) -> str: ...

    async def checkpoints(self) -> list[str]:
        """Every signed checkpoint note, smallest tree first."""
        ...

    async def entries(self, start: int, end: int) -> list[RawEntry]:
        """Entries from ``start`` up to ``end`` (exclusive), in the order served."""
        ...

    async def consistency(self, first: int, second: int) -> list[bytes] | None:
        """A consistency proof, or None when the source cannot give one."""
        ...


# --- sources -----------------------------------------------------------------------------


class HttpSource:
    """A forewarn server's public API, through an ``httpx.AsyncClient`` with its base URL."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _get(self, path: str, **params: Any) -> Any:
        import httpx

        try:
            response = await self.client.get(API + path, params=params or None)
        except httpx.HTTPError as exc:
            raise Unavailable(f"could not reach the log at {self.client.base_url}: {exc}") from None
        if response.status_code != 200:
            detail = response.text[:200].strip()
            raise Unavailable(f"GET {API}{path} answered {response.status_code}: {detail}")
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def log_key(self) -> str:
        return str(await self._get("/key")).strip()

    async def latest_note(self) -> str:
        return str(await self._get("/checkpoint"))

    async def checkpoints(self) -> list[str]:
        notes: list[str] = []
        after = -1
        while True:
            page = await self._get("/checkpoints", after=after, limit=BATCH)
            if not page:
                return notes
            notes.extend(str(c["note"]) for c in page)
            last = int(page[-1]["size"])
            if last <= after:  # a server that does not page forward: stop rather than loop
                return notes
            after = last

    async def entries(self, start: int, end: int) -> list[RawEntry]:
        out: list[RawEntry] = []
        cursor = start
        while cursor < end:
            page = await self._get("/entries", start=cursor, end=end)
            rows = page.get("entries", []) if isinstance(page, dict) else []
            if not rows:
                break
            for row in rows:
                out.append(
                    RawEntry(
                        int(row["index"]),
                        _unb64(row["data"], "entry data"),
                        _unb64(row["leaf_hash"], "leaf hash"),
                    )
                )
            # Continue after the last index served, so a missing entry shows as a gap.
            cursor = max(cursor + 1, int(rows[-1]["index"]) + 1)
        return out

    async def consistency(self, first: int, second: int) -> list[bytes] | None:
        body = await self._get("/proof/consistency", first=first, second=second)
        return [_unb64(p, "consistency proof") for p in body["proof"]]

    async def entry(self, entry_id: uuid.UUID) -> EntryWithProof:
        return EntryWithProof.model_validate(await self._get(f"/entries/by-id/{entry_id}"))

    async def submit_cosignature(self, size: int, line: str) -> int:
        import httpx

        try:
            response = await self.client.post(
                f"{API}/checkpoints/{size}/cosignatures", json={"signature": line}
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"could not reach the log at {self.client.base_url}: {exc}") from None
        if response.status_code not in (200, 201):
            raise Unavailable(
                f"the log refused the cosignature ({response.status_code}): {response.text[:200]}"
            )
        return response.status_code


class DumpSource:
    """A dump written by ``export``: JSON lines, entries last (read as a stream)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("r", encoding="utf-8")
        self.header: dict[str, Any] = {}
        self._checkpoints: list[str] = []
        self._proofs: dict[tuple[int, int], list[bytes]] = {}
        self._pending: RawEntry | None = None
        self._line = 0
        self._read_head()

    def close(self) -> None:
        self._file.close()

    def _next(self) -> dict[str, Any] | None:
        raw = self._file.readline()
        if not raw:
            return None
        self._line += 1
        try:
            record = json.loads(raw)
        except ValueError:
            raise VerifyFailed(f"dump line {self._line} is not JSON") from None
        if not isinstance(record, dict) or len(record) != 1:
            raise VerifyFailed(f"dump line {self._line} is not a single record")
        return record

    def _entry(self, record: dict[str, Any]) -> RawEntry:
        body = record["entry"]
        try:
            leaf = _unb64(body["leaf_hash"], "leaf hash") if body.get("leaf_hash") else None
            return RawEntry(int(body["index"]), _unb64(body["data"], "entry data"), leaf)
        except (KeyError, TypeError, ValueError, InvalidInput) as exc:
            raise VerifyFailed(f"dump line {self._line} is not a valid entry: {exc}") from None

    def _read_head(self) -> None:
        first = self._next()
        if first is None or "header" not in first or first["header"].get("format") != DUMP_FORMAT:
            raise VerifyFailed(f"{self.path} is not a {DUMP_FORMAT} file")
        self.header = first["header"]
        while (record := self._next()) is not None:
            if "checkpoint" in record:
                self._checkpoints.append(str(record["checkpoint"]))
            elif "consistency" in record:
                c = record["consistency"]
                self._proofs[(int(c["first"]), int(c["second"]))] = [
                    _unb64(p, "consistency proof") for p in c["proof"]
                ]
            elif "entry" in record:
                self._pending = self._entry(record)
                return
            else:
                raise VerifyFailed(f"dump line {self._line} has an unknown record {next(iter(record))!r}")

    async def log_key(self) -> str:
        return str(self.header.get("key", ""))

    async def checkpoints(self) -> list[str]:
        return list(self._checkpoints)

    async def entries(self, start: int, end: int) -> list[RawEntry]:
        out: list[RawEntry] = []
        while len(out) < end - start:
            if self._pending is not None:
                out.append(self._pending)
                self._pending = None
                continue
            record = self._next()
            if record is None:
                break
            if "entry" not in record:
                raise VerifyFailed(f"dump line {self._line}: only entries may follow the first entry")
            out.append(self._entry(record))
        return out

    async def consistency(self, first: int, second: int) -> list[bytes] | None:
        return self._proofs.get((first, second))


class ServiceSource:
    """The local database, through the service (for ``export`` and ``prove`` on the server)."""

    def __init__(self, session: AsyncSession, signer: LogSigner) -> None:
        self.session = session
        self.signer = signer

    async def log_key(self) -> str:
        return self.signer.vkey

    async def checkpoints(self) -> list[str]:
        from forewarn.ledger import service

        notes: list[str] = []
        after = -1
        while page := await service.list_checkpoints(self.session, after=after, limit=BATCH):
            notes.extend(c.note for c in page)
            after = page[-1].size
        return notes

    async def entries(self, start: int, end: int) -> list[RawEntry]:
        from forewarn.ledger import service

        page = await service.get_entries(self.session, start=start, end=end)
        return [RawEntry(e.index, _unb64(e.data, "data"), _unb64(e.leaf_hash, "leaf")) for e in page.entries]

    async def consistency(self, first: int, second: int) -> list[bytes] | None:
        from forewarn.ledger import service

        return await service.consistency_proof(self.session, first=first, second=second)


# --- verify ------------------------------------------------------------------------------


@dataclass
class Report:
    """What a successful verification covered."""

    origin: str
    key: str
    size: int = 0
    root_hash: str = ""
    checkpoints: int = 0
    entries: int = 0
    #: witness label → number of checkpoints it validly cosigned (pinned witness keys only).
    cosigned: dict[str, int] = field(default_factory=dict)


def _claimed_size(text: str) -> str:
    try:
        return f" (size {note.parse_checkpoint(note.parse_note(text).text).size})"
    except note.NoteError:
        return ""


def check_entry_document(data: bytes, index: int) -> None:
    """An entry must be RFC 8785 canonical JSON with exactly forewarn's entry fields."""
    try:
        document = json.loads(data.decode("utf-8"))
        canonical = rfc8785.dumps(document)
    except (UnicodeDecodeError, ValueError, TypeError, rfc8785.CanonicalizationError):
        raise VerifyFailed(f"entry {index}: its data is not JSON", index=index) from None
    if canonical != data:
        raise VerifyFailed(f"entry {index}: its data is not RFC 8785 canonical JSON", index=index)
    if not isinstance(document, dict) or set(document) != ENTRY_FIELDS:
        raise VerifyFailed(f"entry {index}: its data does not have the fields of a log entry", index=index)


async def verify(
    source: Source,
    *,
    key: note.VerifierKey,
    origin: str | None = None,
    witnesses: Sequence[note.VerifierKey] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Verify a whole log against its pinned key; raise ``VerifyFailed`` at the first problem."""
    origin = origin or key.name
    report = Report(origin=origin, key=note.format_vkey(key))
    notes = await source.checkpoints()
    if not notes:
        raise VerifyFailed("the log has no checkpoint to verify against")
    checkpoints: list[note.Checkpoint] = []
    for number, text in enumerate(notes):
        try:
            checkpoint, _ = note.open_checkpoint(text, [key], origin=origin)
        except note.NoteError as exc:
            raise VerifyFailed(
                f"checkpoint #{number}{_claimed_size(text)}: {exc}", checkpoint=number
            ) from None
        if checkpoints and checkpoint.size <= checkpoints[-1].size:
            raise VerifyFailed(
                f"checkpoint #{number} (size {checkpoint.size}) does not grow the log "
                f"(the one before has size {checkpoints[-1].size})",
                checkpoint=number,
            )
        if checkpoint.size == 0 and checkpoint.root_hash != merkle.EMPTY_ROOT:
            raise VerifyFailed(f"checkpoint #{number} (size 0) has a root that is not the empty tree's")
        for witness in witnesses:
            try:
                note.verify_note(text, [witness])
            except note.NoteError as exc:
                if "not signed by any known key" not in str(exc):
                    raise VerifyFailed(f"checkpoint #{number}: {exc}", checkpoint=number) from None
                continue
            report.cosigned[witness.label] = report.cosigned.get(witness.label, 0) + 1
        checkpoints.append(checkpoint)

    for number, (old, new) in enumerate(itertools.pairwise(checkpoints), start=1):
        if old.size == 0:
            continue  # every tree extends the empty one
        proof = await source.consistency(old.size, new.size)
        if proof is None:
            continue  # a dump without this proof: the recomputation below still covers it
        try:
            merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
        except merkle.ProofError as exc:
            raise VerifyFailed(
                f"checkpoint #{number} (size {new.size}) is not consistent with the one before "
                f"(size {old.size}): {exc}",
                checkpoint=number,
            ) from None

    await _recompute(source, checkpoints, progress)
    last = checkpoints[-1]
    report.size, report.root_hash = last.size, _b64(last.root_hash)
    report.checkpoints, report.entries = len(checkpoints), last.size
    return report


async def _recompute(
    source: Source,
    checkpoints: list[note.Checkpoint],
    progress: Callable[[int, int], None] | None,
) -> None:
    targets = [c for c in checkpoints if c.size > 0]
    final = checkpoints[-1].size
    # The recomputed tree (size, frontier hashes), and the last size a checkpoint confirmed.
    size, edge = 0, tuple[bytes, ...]()
    base_size, base_edge = 0, tuple[bytes, ...]()
    window: list[bytes] = []  # leaf hashes since base_size
    target = 0
    position = 0
    while position < final:
        end = min(position + BATCH, final)
        batch = await source.entries(position, end)
        leaves: list[bytes] = []
        for offset, entry in enumerate(batch):
            expected = position + offset
            if entry.index != expected:
                raise VerifyFailed(
                    f"entry {expected} is missing or out of order: the log serves entry {entry.index} "
                    "in its place",
                    index=expected,
                )
            leaf = merkle.leaf_hash(entry.data)
            if entry.leaf_hash is not None and entry.leaf_hash != leaf:
                raise VerifyFailed(
                    f"entry {expected}: its data does not hash to the leaf hash the log gives for it",
                    index=expected,
                )
            check_entry_document(entry.data, expected)
            leaves.append(leaf)
        if len(leaves) < end - position:
            missing = position + len(leaves)
            raise VerifyFailed(
                f"entry {missing} is missing: the log serves only {missing} of the {final} entries "
                "its latest checkpoint covers",
                index=missing,
            )
        taken = 0
        while taken < len(leaves):
            goal = targets[target]
            chunk = leaves[taken : taken + goal.size - size]
            appended = merkle.append(size, edge, chunk)
            size, edge = appended.size, appended.frontier
            window.extend(chunk)
            taken += len(chunk)
            if size == goal.size:
                if appended.root != goal.root_hash:
                    bad = await _locate(source, base_size, base_edge, window, goal)
                    if bad is None:
                        raise VerifyFailed(
                            f"entries {base_size} to {goal.size - 1} do not hash to the root of the "
                            f"checkpoint of size {goal.size}",
                            index=base_size,
                        )
                    raise VerifyFailed(
                        f"entry {bad} is not the entry the log signed at that index: the first {bad} "
                        f"entries match the checkpoint of size {goal.size}, the first {bad + 1} do not",
                        index=bad,
                    )
                base_size, base_edge, window = size, edge, []
                target += 1
        position = end
        if progress is not None:
            progress(position, final)


async def _locate(
    source: Source,
    base_size: int,
    base_edge: tuple[bytes, ...],
    window: list[bytes],
    goal: note.Checkpoint,
) -> int | None:
    """The first entry after ``base_size`` that differs from what ``goal`` signed, or None.

    Bisection: a prefix of ``m`` recomputed entries is good iff a consistency proof from
    ``m`` to the signed root verifies with the recomputed root of ``m`` (RFC 9162 §2.1.4.2).
    """
    good, bad = base_size, goal.size
    while bad - good > 1:
        middle = (good + bad) // 2
        proof = await source.consistency(middle, goal.size)
        if proof is None:
            return None
        prefix = merkle.append(base_size, base_edge, window[: middle - base_size]).root
        try:
            merkle.verify_consistency(middle, goal.size, proof, prefix, goal.root_hash)
            good = middle
        except merkle.ProofError:
            bad = middle
    return bad - 1


# --- prove -------------------------------------------------------------------------------


def check_proof(
    found: EntryWithProof, *, key: note.VerifierKey, origin: str | None = None
) -> note.Checkpoint:
    """Check an entry's inclusion proof and its checkpoint's signature; raise ``VerifyFailed``."""
    index = found.inclusion.index
    data = _unb64(found.entry.data, "entry data")
    leaf = merkle.leaf_hash(data)
    try:
        checkpoint, _ = note.open_checkpoint(found.checkpoint.note, [key], origin=origin or key.name)
    except note.NoteError as exc:
        raise VerifyFailed(f"the checkpoint does not verify: {exc}") from None
    if checkpoint.size != found.inclusion.tree_size:
        raise VerifyFailed(
            f"the proof is for a tree of {found.inclusion.tree_size}, the checkpoint of {checkpoint.size}"
        )
    try:
        merkle.verify_inclusion(
            leaf,
            index,
            checkpoint.size,
            [_unb64(p, "proof") for p in found.inclusion.proof],
            checkpoint.root_hash,
        )
    except merkle.ProofError as exc:
        raise VerifyFailed(f"entry {index}: {exc}", index=index) from None
    check_entry_document(data, index)
    return checkpoint


# --- export ------------------------------------------------------------------------------


async def export(source: Source, out: IO[str], *, progress: Callable[[int, int], None] | None = None) -> int:
    """Write a dump: header, checkpoints, consistency proofs between them, then entries."""
    notes = await source.checkpoints()
    sizes = [note.parse_checkpoint(note.parse_note(n).text).size for n in notes]
    size = sizes[-1] if sizes else 0
    origin = note.parse_checkpoint(note.parse_note(notes[-1]).text).origin if notes else ""
    header = {"format": DUMP_FORMAT, "origin": origin, "key": await source.log_key(), "size": size}
    out.write(json.dumps({"header": header}) + "\n")
    for text in notes:
        out.write(json.dumps({"checkpoint": text}, ensure_ascii=False) + "\n")
    for old, new in itertools.pairwise(sizes):
        if old > 0:
            proof = await source.consistency(old, new) or []
            record = {"first": old, "second": new, "proof": [_b64(p) for p in proof]}
            out.write(json.dumps({"consistency": record}) + "\n")
    position = 0
    while position < size:
        batch = await source.entries(position, min(position + BATCH, size))
        if not batch:
            break
        for entry in batch:
            record = {"index": entry.index, "data": _b64(entry.data)}
            if entry.leaf_hash is not None:
                record["leaf_hash"] = _b64(entry.leaf_hash)
            out.write(json.dumps({"entry": record}) + "\n")
        position = batch[-1].index + 1
        if progress is not None:
            progress(position, size)
    return size


# --- witness -----------------------------------------------------------------------------


@dataclass
class WitnessState:
    """What a witness remembers of a log: its key and the last checkpoint it cosigned."""

    origin: str
    log_key: str
    size: int = 0
    root_hash: str = ""
    #: The cosignature line it gave for that checkpoint (re-sent if the log lost it).
    line: str = ""

    @classmethod
    def load(cls, path: Path) -> WitnessState | None:
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: raw[k] for k in ("origin", "log_key", "size", "root_hash", "line")})
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(f"witness state file {path} is damaged; restore it from a backup") from None

    def save(self, path: Path) -> None:
        """Atomically: a crash leaves the old state or the new one, never half of either."""
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.__dict__, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


@dataclass(frozen=True)
class WitnessResult:
    size: int
    previous: int
    cosigned: bool
    line: str


async def witness_once(
    source: HttpSource,
    *,
    name: str,
    private_key: Ed25519PrivateKey,
    state_path: Path,
    log_key: note.VerifierKey,
    now: Callable[[], float] = time.time,
) -> WitnessResult:
    """Check the log's latest checkpoint against the last one cosigned; cosign if it extends it."""
    state = WitnessState.load(state_path)
    if state is not None and note.parse_vkey(state.log_key) != log_key:
        raise InvalidInput("the log key differs from the one in the witness state file")
    origin = state.origin if state else log_key.name
    text = await source.latest_note()
    try:
        checkpoint, _ = note.open_checkpoint(text, [log_key], origin=origin)
    except note.NoteError as exc:
        raise VerifyFailed(f"the log's latest checkpoint does not verify: {exc}") from None
    root = _b64(checkpoint.root_hash)
    previous = state.size if state else 0
    if state is not None:
        if checkpoint.size < state.size:
            raise VerifyFailed(
                f"the log shrank: its checkpoint has size {checkpoint.size}, this witness cosigned "
                f"{state.size} (a rollback; refusing to cosign)"
            )
        if checkpoint.size == state.size:
            if root != state.root_hash:
                raise VerifyFailed(
                    f"the log forked: size {checkpoint.size} now has root {root}, this witness "
                    f"cosigned {state.root_hash} (refusing to cosign)"
                )
            if state.line and state.line not in text:
                await source.submit_cosignature(checkpoint.size, state.line)
            return WitnessResult(checkpoint.size, previous, False, state.line)
        if state.size > 0:
            proof = await source.consistency(state.size, checkpoint.size) or []
            try:
                merkle.verify_consistency(
                    state.size, checkpoint.size, proof, _unb64(state.root_hash, "root"), checkpoint.root_hash
                )
            except merkle.ProofError as exc:
                raise VerifyFailed(
                    f"the checkpoint of size {checkpoint.size} is not consistent with the one this witness "
                    f"cosigned (size {state.size}): {exc} (refusing to cosign)"
                ) from None
    body = note.parse_note(text).text
    line = note.cosign(body, name=name, private_key=private_key, timestamp=int(now())).line()
    # Persist before releasing the cosignature (c2sp.org/tlog-witness): never cosign twice
    # from a state that was not kept.
    WitnessState(origin, note.format_vkey(log_key), checkpoint.size, root, line).save(state_path)
    await source.submit_cosignature(checkpoint.size, line)
    return WitnessResult(checkpoint.size, previous, True, line)


def witness_vkey(name: str, private_key: Ed25519PrivateKey) -> str:
    """The ``cosignature/v1`` verifier key a log operator registers for this witness."""
    return note.format_vkey(
        note.VerifierKey.from_public_key(name, private_key.public_key(), note.ALG_COSIGNATURE_V1)
    )
