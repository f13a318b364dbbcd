"""The sealed benchmark's operations: packs, threshold policies and their consultations, determinations.

Invariants:

- **Sealed at rest.** A pack is stored as its sealed file; its item count, a policy's threshold,
  budget and design, consultation comments and a run's seed and result are stored
  ``DataKey.seal``-ed, with associated data naming the table, column and row (a sealed value cannot be
  moved). Nothing here decrypts a pack's items: only the runner's subprocess does, in memory. Import
  authenticates a pack (and counts its items) in the importing process, a custodian's.
- **Nothing sealed leaves.** Output schemas have no field for items, answers, thresholds, scores or
  call counts; errors state rules, never values (``ThresholdSpec`` and ``pack`` errors are written
  that way); ledger entries carry ids, public reasons and ``sha256:`` hashes only.
- **Policy life.** An NSA custodian proposes; ONCD and CISA custodians each record one consultation
  (concur or not, with a sealed comment); an NSA custodian activates only once both are recorded.
  Activation supersedes the previous active policy. The ledger gets a salted HMAC commitment to the
  policy (pack hash, p0, delta, alpha, beta, max calls, limits); the salt is sealed with the policy, so
  a later disclosure of both proves what the threshold was.
- **Determinations.** A lab's safety lead requests one for its own model under the active policy. At
  most ``family_limit`` determinations per lab and model family per ``period_days`` (an advisory lock
  per lab and family serialises the check); a refusal is recorded (row and ledger entry) and returned
  with status ``refused``, so the entry point can commit it and answer with an error. Every request is
  in the ledger. The run job is enqueued in the same transaction.
- **Never a half verdict.** A verdict, its sealed result, the signed attestation, its ledger entry and
  the model's covered bit in the review programme (``review.record_determination``) are written
  together in :func:`finish_run`'s transaction; a failed attempt writes a note only.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import rfc8785
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.core.clock import utcnow
from forewarn.core.errors import Conflict, Forbidden, ForewarnError, InvalidInput, NotFound, forbid_unless
from forewarn.core.jobs import enqueue
from forewarn.core.keys import DataKey, Keys
from forewarn.earlyaccess.benchmark import attestation, pack, policy, stats
from forewarn.earlyaccess.benchmark.models import (
    BenchmarkPack,
    Determination,
    PolicyConsultation,
    ThresholdPolicy,
)
from forewarn.earlyaccess.benchmark.runner import RunResult, RunSpec
from forewarn.earlyaccess.benchmark.schemas import (
    ConsultationIn,
    ConsultationOut,
    DeterminationOut,
    DeterminationStatus,
    PackOut,
    PackStatus,
    PolicyIn,
    PolicyOut,
    PolicyStatus,
)
from forewarn.earlyaccess.review import service as review
from forewarn.ledger import service as ledger

RUN_TASK = "benchmark:run_determination"


class LimitReached(ForewarnError):
    status_code = 429
    title = "Determination limit reached"


def _aad(table: str, column: str, row_id: uuid.UUID) -> bytes:
    return f"forewarn {table}.{column}\n{row_id}".encode()


def _seal_json(key: DataKey, data: dict[str, Any], table: str, column: str, row_id: uuid.UUID) -> bytes:
    return key.seal(json.dumps(data).encode(), aad=_aad(table, column, row_id))


def _open_json(key: DataKey, sealed: bytes, table: str, column: str, row_id: uuid.UUID) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(key.open(sealed, aad=_aad(table, column, row_id)))
    return data


def _lock_key(*parts: str) -> int:
    digest = hashlib.sha256("\n".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# --- packs -----------------------------------------------------------------------------------------


def _pack_out(row: BenchmarkPack) -> PackOut:
    return PackOut(
        id=row.id,
        name=row.name,
        version=row.version,
        classification=row.classification,
        key_id=row.key_id,
        pack_hash=row.pack_hash,
        status=PackStatus(row.status),
        created_at=row.created_at,
        retired_at=row.retired_at,
    )


async def import_pack(session: AsyncSession, *, blob: bytes, actor: Principal, key: DataKey) -> PackOut:
    """Import a sealed pack file (authenticated and validated before anything is written)."""
    forbid_unless(policy.can_manage_packs(actor), "only benchmark custodians import packs")
    opened = pack.open_pack(blob, key)  # authenticates the header and validates every item
    header = opened.header
    pack_id = uuid.uuid4()
    row = BenchmarkPack(
        id=pack_id,
        name=header.name,
        version=header.version,
        classification=header.classification,
        key_id=header.key_id,
        pack_hash=header.pack_hash,
        blob=blob,
        item_count_sealed=_seal_json(
            key,
            {"items": len(opened), "model_graded": opened.model_graded},
            "benchmark_packs",
            "item_count",
            pack_id,
        ),
        status=PackStatus.ACTIVE.value,
        imported_by=actor.organisation_id,
    )
    del opened
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise Conflict("this pack (same pack hash) is already imported") from None
    await ledger.append(
        session,
        type="benchmark.pack_imported",
        actor_organisation_id=actor.organisation_id,
        subjects=[("benchmark_pack", pack_id)],
        reason="A sealed benchmark pack was imported",
        sealed_hashes={"pack": "sha256:" + header.pack_hash},
    )
    return _pack_out(row)


async def list_packs(session: AsyncSession, *, actor: Principal) -> list[PackOut]:
    forbid_unless(policy.can_manage_packs(actor), "only benchmark custodians see packs")
    rows = await session.scalars(select(BenchmarkPack).order_by(BenchmarkPack.created_at.desc()).limit(1000))
    return [_pack_out(row) for row in rows]


async def _pack_row(session: AsyncSession, pack_id: uuid.UUID) -> BenchmarkPack:
    row = await session.get(BenchmarkPack, pack_id)
    if row is None:
        raise NotFound("no such pack")
    return row


async def find_pack(session: AsyncSession, *, ref: str, actor: Principal) -> PackOut:
    """A pack by id, by pack hash (or a unique prefix of 8+ hex digits), or by ``name@version``."""
    forbid_unless(policy.can_manage_packs(actor), "only benchmark custodians see packs")
    query = select(BenchmarkPack)
    try:
        query = query.where(BenchmarkPack.id == uuid.UUID(ref))
    except ValueError:
        if "@" in ref:
            name, _, version = ref.partition("@")
            query = query.where(BenchmarkPack.name == name, BenchmarkPack.version == version)
        elif len(ref) >= 8 and all(c in "0123456789abcdef" for c in ref):
            query = query.where(BenchmarkPack.pack_hash.startswith(ref))
        else:
            raise NotFound("no such pack") from None
    rows = list(await session.scalars(query.limit(2)))
    if len(rows) != 1:
        raise NotFound("no such pack" if not rows else "that reference names several packs")
    return _pack_out(rows[0])


async def retire_pack(session: AsyncSession, *, pack_id: uuid.UUID, actor: Principal) -> PackOut:
    """Retire a pack: no new policy can use it; an active policy on it is superseded."""
    forbid_unless(policy.can_manage_packs(actor), "only benchmark custodians retire packs")
    row = await _pack_row(session, pack_id)
    if row.status == PackStatus.RETIRED.value:
        return _pack_out(row)
    row.status = PackStatus.RETIRED.value
    row.retired_at = utcnow()
    for active in await session.scalars(
        select(ThresholdPolicy).where(
            ThresholdPolicy.pack_id == pack_id, ThresholdPolicy.status == PolicyStatus.ACTIVE.value
        )
    ):
        active.status = PolicyStatus.SUPERSEDED.value
    await ledger.append(
        session,
        type="benchmark.pack_retired",
        actor_organisation_id=actor.organisation_id,
        subjects=[("benchmark_pack", pack_id)],
        reason="A sealed benchmark pack was retired",
        sealed_hashes={"pack": "sha256:" + row.pack_hash},
    )
    return _pack_out(row)


# --- threshold policies ----------------------------------------------------------------------------


async def _policy_out(session: AsyncSession, row: ThresholdPolicy) -> PolicyOut:
    consultations = await session.scalars(
        select(PolicyConsultation)
        .where(PolicyConsultation.policy_id == row.id)
        .order_by(PolicyConsultation.created_at)
    )
    pack_row = await _pack_row(session, row.pack_id)
    return PolicyOut(
        id=row.id,
        pack_id=row.pack_id,
        pack_hash=pack_row.pack_hash,
        status=PolicyStatus(row.status),
        commitment=row.commitment,
        family_limit=row.family_limit,
        period_days=row.period_days,
        consultations=[
            ConsultationOut(
                agency=c.agency, organisation_id=c.organisation_id, concur=c.concur, created_at=c.created_at
            )
            for c in consultations
        ],
        created_at=row.created_at,
        activated_at=row.activated_at,
    )


def _commitment_content(pack_hash: str, data: PolicyIn) -> bytes:
    content: dict[str, Any] = {
        "kind": "forewarn-threshold-policy",
        "pack_hash": pack_hash,
        "p0": data.p0,
        "delta": data.delta,
        "alpha": data.alpha,
        "beta": data.beta,
        "max_calls": data.max_calls,
        "family_limit": data.family_limit,
        "period_days": data.period_days,
    }
    if data.grader is not None:  # the grader decides model-graded items: it is part of the policy
        content["grader"] = {"base_url": data.grader.base_url, "model": data.grader.model}
    return bytes(rfc8785.dumps(content))


async def propose_policy(
    session: AsyncSession, *, data: PolicyIn, actor: Principal, key: DataKey
) -> PolicyOut:
    """Propose a threshold policy (NSA). The numbers are sealed; the ledger gets their commitment."""
    forbid_unless(
        policy.can_propose_policy(actor), "only NSA benchmark custodians propose threshold policies"
    )
    pack_row = await _pack_row(session, data.pack_id)
    if pack_row.status != PackStatus.ACTIVE.value:
        raise Conflict("the pack is retired")
    spec = stats.ThresholdSpec(
        p0=data.p0, delta=data.delta, alpha=data.alpha, beta=data.beta, max_calls=data.max_calls
    )
    counts = _open_json(key, pack_row.item_count_sealed, "benchmark_packs", "item_count", pack_row.id)
    if spec.max_calls > counts["items"]:
        raise InvalidInput("max_calls must not exceed the number of items in the pack")
    if counts.get("model_graded", 0) and data.grader is None:
        raise InvalidInput("the pack has model-graded items: the policy must name a grader model (grader)")
    design = stats.design(spec)  # raises InvalidInput (without numbers) if the budget is too small
    policy_id = uuid.uuid4()
    commitment, salt = ledger.commitment(_commitment_content(pack_row.pack_hash, data))
    grader = (
        None
        if data.grader is None
        else {
            "base_url": data.grader.base_url,
            "model": data.grader.model,
            "credential": data.grader.credential.get_secret_value() if data.grader.credential else None,
        }
    )
    sealed = _seal_json(
        key,
        {"spec": spec.to_dict(), "design": design.to_dict(), "salt": salt.hex(), "grader": grader},
        "benchmark_policies",
        "spec",
        policy_id,
    )
    row = ThresholdPolicy(
        id=policy_id,
        pack_id=pack_row.id,
        status=PolicyStatus.PROPOSED.value,
        spec_sealed=sealed,
        commitment=commitment,
        family_limit=data.family_limit,
        period_days=data.period_days,
        proposed_by=actor.organisation_id,
    )
    session.add(row)
    await session.flush()
    await ledger.append(
        session,
        type="benchmark.policy_proposed",
        actor_organisation_id=actor.organisation_id,
        subjects=[("benchmark_policy", policy_id), ("benchmark_pack", pack_row.id)],
        reason="NSA proposed a threshold policy for the sealed benchmark",
        sealed_hashes={"policy": commitment},
    )
    return await _policy_out(session, row)


async def _policy_row(session: AsyncSession, policy_id: uuid.UUID) -> ThresholdPolicy:
    row = await session.get(ThresholdPolicy, policy_id)
    if row is None:
        raise NotFound("no such policy")
    return row


async def consult(
    session: AsyncSession, *, policy_id: uuid.UUID, data: ConsultationIn, actor: Principal, key: DataKey
) -> PolicyOut:
    """Record ONCD's or CISA's consultation on a proposed policy (once per agency)."""
    forbid_unless(policy.can_consult(actor), "only ONCD and CISA benchmark custodians record consultations")
    row = await _policy_row(session, policy_id)
    if row.status != PolicyStatus.PROPOSED.value:
        raise Conflict("consultations are recorded on proposed policies only")
    agency = str(actor.org_code)
    consultation_id = uuid.uuid4()
    commitment, salt = ledger.commitment(data.comment.encode())
    entry = PolicyConsultation(
        id=consultation_id,
        policy_id=row.id,
        agency=agency,
        organisation_id=actor.organisation_id,
        concur=data.concur,
        comment_sealed=_seal_json(
            key,
            {"comment": data.comment, "salt": salt.hex()},
            "benchmark_consultations",
            "comment",
            consultation_id,
        ),
    )
    try:
        async with session.begin_nested():
            session.add(entry)
            await session.flush()
    except IntegrityError:
        raise Conflict(f"{agency} has already recorded its consultation on this policy") from None
    await ledger.append(
        session,
        type="benchmark.policy_consulted",
        actor_organisation_id=actor.organisation_id,
        subjects=[("benchmark_policy", row.id)],
        reason=f"{agency} {'concurred with' if data.concur else 'did not concur with'} a proposed"
        " threshold policy",
        sealed_hashes={"comment": commitment, "policy": row.commitment},
    )
    return await _policy_out(session, row)


async def consultation_comments(
    session: AsyncSession, *, policy_id: uuid.UUID, actor: Principal, key: DataKey
) -> list[tuple[str, bool, str]]:
    """(agency, concur, comment) of a policy's consultations: sealed, for custodians only."""
    forbid_unless(policy.is_custodian(actor), "only benchmark custodians read consultations")
    rows = await session.scalars(select(PolicyConsultation).where(PolicyConsultation.policy_id == policy_id))
    return [
        (
            c.agency,
            c.concur,
            str(_open_json(key, c.comment_sealed, "benchmark_consultations", "comment", c.id)["comment"]),
        )
        for c in rows
    ]


async def activate_policy(session: AsyncSession, *, policy_id: uuid.UUID, actor: Principal) -> PolicyOut:
    """Activate a proposed policy (NSA) once ONCD and CISA have both recorded their consultation."""
    forbid_unless(
        policy.can_propose_policy(actor), "only NSA benchmark custodians activate threshold policies"
    )
    row = await _policy_row(session, policy_id)
    if row.status != PolicyStatus.PROPOSED.value:
        raise Conflict("only a proposed policy can be activated")
    consulted = set(
        await session.scalars(select(PolicyConsultation.agency).where(PolicyConsultation.policy_id == row.id))
    )
    missing = [agency for agency in policy.CONSULTED if agency not in consulted]
    if missing:
        raise Conflict("the policy needs the consultation of " + " and ".join(missing) + " before activation")
    pack_row = await _pack_row(session, row.pack_id)
    if pack_row.status != PackStatus.ACTIVE.value:
        raise Conflict("the policy's pack is retired")
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("benchmark.policy")})
    for previous in await session.scalars(
        select(ThresholdPolicy).where(ThresholdPolicy.status == PolicyStatus.ACTIVE.value)
    ):
        previous.status = PolicyStatus.SUPERSEDED.value
    row.status = PolicyStatus.ACTIVE.value
    row.activated_at = utcnow()
    await session.flush()
    await ledger.append(
        session,
        type="benchmark.policy_activated",
        actor_organisation_id=actor.organisation_id,
        subjects=[("benchmark_policy", row.id), ("benchmark_pack", row.pack_id)],
        reason="NSA activated a threshold policy after consulting ONCD and CISA",
        sealed_hashes={"policy": row.commitment},
    )
    return await _policy_out(session, row)


async def list_policies(session: AsyncSession, *, actor: Principal) -> list[PolicyOut]:
    forbid_unless(policy.is_custodian(actor), "only benchmark custodians see threshold policies")
    rows = await session.scalars(
        select(ThresholdPolicy).order_by(ThresholdPolicy.created_at.desc()).limit(1000)
    )
    return [await _policy_out(session, row) for row in rows]


async def _active_policy(session: AsyncSession) -> ThresholdPolicy | None:
    found: ThresholdPolicy | None = await session.scalar(
        select(ThresholdPolicy).where(ThresholdPolicy.status == PolicyStatus.ACTIVE.value)
    )
    return found


# --- determinations --------------------------------------------------------------------------------


def _determination_out(row: Determination, actor: Principal | None) -> DeterminationOut:
    full = actor is None or policy.is_custodian(actor)
    return DeterminationOut.model_validate(
        {
            "id": row.id,
            "model_id": row.model_id,
            "organisation_id": row.organisation_id,
            "family": row.family,
            "mode": row.mode,
            "status": row.status,
            "verdict": row.verdict,
            "created_at": row.created_at,
            "completed_at": row.completed_at,
            "attestation_hash": row.attestation_hash,
            "policy_id": row.policy_id if full else None,
            "pack_id": row.pack_id if full else None,
            "attempts": row.attempts if full else None,
            "notes": row.notes if full else None,
        }
    )


async def request_determination(
    session: AsyncSession, *, model_id: uuid.UUID, actor: Principal, key: DataKey
) -> DeterminationOut:
    """Request a determination for one of the actor's lab's models.

    Over the per-family limit, the request is recorded as ``refused`` and returned (not raised), so the
    refusal commits with its ledger entry; the entry point then answers with :class:`LimitReached`.
    """
    forbid_unless(policy.can_request_determination(actor), "only a lab's safety lead requests determinations")
    model = await review.get_model(session, model_id=model_id, actor=actor)
    if model.organisation_id != actor.organisation_id:
        raise NotFound("no such model")
    active = await _active_policy(session)
    if active is None:
        raise Conflict("no threshold policy is active: determinations cannot run now")
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:k)"),
        {"k": _lock_key("benchmark.limit", str(model.organisation_id), model.family)},
    )
    since = utcnow() - timedelta(days=active.period_days)
    used = await session.scalar(
        select(func.count())
        .select_from(Determination)
        .where(
            Determination.organisation_id == model.organisation_id,
            Determination.family == model.family,
            Determination.created_at >= since,
            Determination.status != DeterminationStatus.REFUSED.value,
        )
    )
    determination_id = uuid.uuid4()
    refused = (used or 0) >= active.family_limit
    row = Determination(
        id=determination_id,
        model_id=model.id,
        organisation_id=model.organisation_id,
        family=model.family,
        requested_by=actor.person_id,
        policy_id=active.id,
        pack_id=active.pack_id,
        mode=model.access_mode.value,
        status=(DeterminationStatus.REFUSED if refused else DeterminationStatus.REQUESTED).value,
        attempts=0,
        notes="refused: per-family limit reached" if refused else "",
        state_sealed=None
        if refused
        else _seal_json(
            key, {"seed": pack.new_seed().hex()}, "benchmark_determinations", "state", determination_id
        ),
    )
    session.add(row)
    await session.flush()
    await ledger.append(
        session,
        type="benchmark.determination_refused" if refused else "benchmark.determination_requested",
        actor_organisation_id=actor.organisation_id,
        subjects=[
            ("determination", determination_id),
            ("model", model.id),
            ("organisation", model.organisation_id),
        ],
        reason=(
            f"A lab requested a covered-model determination; refused: the limit of {active.family_limit}"
            f" per model family per {active.period_days} days is reached"
            if refused
            else "A lab requested a covered-model determination"
        ),
        sealed_hashes={"policy": active.commitment},
    )
    if not refused:
        await enqueue(session, RUN_TASK, determination_id=str(determination_id))
    return _determination_out(row, actor)


def limit_error(out: DeterminationOut) -> LimitReached:
    return LimitReached(
        f"the limit of determinations for the model family {out.family!r} in this period is reached;"
        " the refused request is recorded in the transparency log"
    )


async def _determination_row(session: AsyncSession, determination_id: uuid.UUID) -> Determination:
    row = await session.get(Determination, determination_id)
    if row is None:
        raise NotFound("no such determination")
    return row


async def get_determination(
    session: AsyncSession, *, determination_id: uuid.UUID, actor: Principal | None
) -> DeterminationOut:
    row = await _determination_row(session, determination_id)
    if actor is not None and not policy.can_view_determination(actor, row.organisation_id):
        raise NotFound("no such determination")
    return _determination_out(row, actor)


async def list_determinations(session: AsyncSession, *, actor: Principal) -> list[DeterminationOut]:
    if not policy.can_list_determinations(actor):
        raise Forbidden("your role does not allow this")
    query = select(Determination).order_by(Determination.created_at.desc()).limit(1000)
    if not policy.is_custodian(actor):
        query = query.where(Determination.organisation_id == actor.organisation_id)
    return [_determination_out(row, actor) for row in await session.scalars(query)]


async def get_attestation(
    session: AsyncSession, *, determination_id: uuid.UUID, actor: Principal | None
) -> dict[str, Any]:
    row = await _determination_row(session, determination_id)
    if actor is not None and not policy.can_view_determination(actor, row.organisation_id):
        raise NotFound("no such determination")
    if row.attestation is None:
        raise NotFound("this determination has no attestation yet")
    envelope: dict[str, Any] = json.loads(row.attestation)
    return envelope


async def audit_determination(
    session: AsyncSession, *, determination_id: uuid.UUID, actor: Principal, key: DataKey
) -> dict[str, Any]:
    """A run's sealed details, for benchmark custodians only: its public fields, attempts and notes, and
    the sealed result (outcomes consumed, calls to the verdict, model calls, early stops, resumed from).

    Never exposed by the API: the CLI shows it to a custodian (``determination audit``).
    """
    forbid_unless(policy.is_custodian(actor), "only benchmark custodians audit determination runs")
    row = await _determination_row(session, determination_id)
    out = _determination_out(row, actor).model_dump(mode="json")
    result = None
    if row.state_sealed is not None:
        result = _open_json(key, row.state_sealed, "benchmark_determinations", "state", row.id).get("result")
    return out | {"sealed_result": result}


# --- runs (worker side) ------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class RunSettings:
    sealed_dir: Path
    max_samples: int = 1
    max_tokens: int = 48
    timeout_seconds: float = 3600.0
    allow_mock: bool = False


async def begin_run(
    session: AsyncSession, *, determination_id: uuid.UUID, keys: Keys, settings: RunSettings
) -> tuple[RunSpec, int] | None:
    """Mark a run started (recording whether it resumes) and build its spec; None if nothing to do."""
    row = await session.scalar(
        select(Determination).where(Determination.id == determination_id).with_for_update()
    )
    if row is None:
        raise NotFound("no such determination")
    if row.status in (DeterminationStatus.COMPLETED.value, DeterminationStatus.REFUSED.value):
        return None
    if row.policy_id is None or row.pack_id is None or row.state_sealed is None:
        raise Conflict("this determination has no policy or seed")
    policy_row = await _policy_row(session, row.policy_id)
    pack_row = await _pack_row(session, row.pack_id)
    sealed_policy = _open_json(keys.data, policy_row.spec_sealed, "benchmark_policies", "spec", policy_row.id)
    state = _open_json(keys.data, row.state_sealed, "benchmark_determinations", "state", row.id)
    target = await review.model_target(session, model_id=row.model_id, key=keys.data)
    work_dir = settings.sealed_dir / "benchmark" / str(row.id)
    resuming = (work_dir / "progress.sealed").exists()
    row.attempts += 1
    row.status = DeterminationStatus.RUNNING.value
    row.notes = (row.notes + "\n" if row.notes else "") + (
        f"attempt {row.attempts}: resumes the same sealed sequence"
        if resuming
        else f"attempt {row.attempts}: started"
    )
    spec = RunSpec(
        determination_id=str(row.id),
        data_key=keys.data.raw,
        pack_blob=pack_row.blob,
        design=sealed_policy["design"],
        seed=bytes.fromhex(state["seed"]),
        mode=row.mode,
        base_url=target.base_url,
        model=target.model,
        credential=target.credential.get_secret_value() if target.credential else None,
        work_dir=work_dir,
        max_samples=settings.max_samples,
        max_tokens=settings.max_tokens,
        timeout_seconds=settings.timeout_seconds,
        allow_mock=settings.allow_mock,
        grader=sealed_policy.get("grader"),
    )
    return spec, row.attempts


async def note_run_failure(
    session: AsyncSession, *, determination_id: uuid.UUID, final: bool, incomplete: bool
) -> None:
    """Record a failed attempt (no verdict is written); ``final`` marks the determination failed."""
    row = await _determination_row(session, determination_id)
    if row.status == DeterminationStatus.COMPLETED.value:
        return
    what = "ended without a verdict" if incomplete else "failed"
    row.notes = (
        (row.notes + "\n" if row.notes else "")
        + f"attempt {row.attempts}: {what}"
        + ("" if final else "; a retry resumes it")
    )
    if final:
        row.status = DeterminationStatus.FAILED.value
        await ledger.append(
            session,
            type="benchmark.determination_failed",
            actor_organisation_id=None,
            subjects=[("determination", row.id), ("model", row.model_id)],
            reason="A determination could not be completed",
        )


async def finish_run(
    session: AsyncSession, *, determination_id: uuid.UUID, result: RunResult, keys: Keys
) -> DeterminationOut:
    """Write the verdict, the sealed result, the signed attestation and its ledger entry, together."""
    row = await session.scalar(
        select(Determination).where(Determination.id == determination_id).with_for_update()
    )
    if row is None:
        raise NotFound("no such determination")
    if row.status == DeterminationStatus.COMPLETED.value:
        return _determination_out(row, None)
    if result.verdict is stats.Verdict.UNDECIDED or row.policy_id is None or row.state_sealed is None:
        raise Conflict("a determination is finished only with a verdict")
    policy_row = await _policy_row(session, row.policy_id)
    pack_row = await _pack_row(session, policy_row.pack_id)
    model = await review.get_model(session, model_id=row.model_id, actor=None)
    state = _open_json(keys.data, row.state_sealed, "benchmark_determinations", "state", row.id)
    state["result"] = result.sealed_dict()
    # Alpha and beta go into the attestation (DESIGN.md §4); p0, delta and the budget stay sealed.
    sealed_policy = _open_json(keys.data, policy_row.spec_sealed, "benchmark_policies", "spec", policy_row.id)
    rates = sealed_policy["spec"]
    now = utcnow()
    stmt = attestation.statement(
        determination_id=str(row.id),
        organisation_id=str(row.organisation_id),
        model_id=str(model.id),
        model_name=model.name,
        model_version=model.version,
        model_family=model.family,
        pack_hash=pack_row.pack_hash,
        policy_id=str(policy_row.id),
        policy_commitment=policy_row.commitment,
        alpha=float(rates["alpha"]),
        beta=float(rates["beta"]),
        mode=row.mode,
        verdict=result.verdict.value,
        day=now.date(),
    )
    envelope = attestation.sign(stmt, keys.signing)
    digest = attestation.envelope_hash(envelope)
    row.state_sealed = _seal_json(keys.data, state, "benchmark_determinations", "state", row.id)
    row.verdict = result.verdict.value
    row.status = DeterminationStatus.COMPLETED.value
    row.completed_at = now
    row.attestation = attestation.envelope_bytes(envelope).decode()
    row.attestation_hash = digest
    row.notes = (
        (row.notes + "\n" if row.notes else "")
        + f"attempt {row.attempts}: verdict reached"
        + (f" (resumed after {result.resumed_from} outcomes)" if result.resumed_from else "")
    )
    # The review programme learns the one bit in the same transaction (no half state between them).
    await review.record_determination(
        session,
        model_id=row.model_id,
        determination_id=row.id,
        covered=result.verdict is stats.Verdict.COVERED,
    )
    await ledger.append(
        session,
        type="benchmark.determination_completed",
        actor_organisation_id=None,
        subjects=[("determination", row.id), ("model", row.model_id), ("organisation", row.organisation_id)],
        reason="A covered-model determination was completed and its attestation signed",
        sealed_hashes={"attestation": digest, "policy": policy_row.commitment},
    )
    return _determination_out(row, None)


def run_settings(settings: Any) -> RunSettings:
    """The runner's settings from forewarn's ``Settings``."""
    return RunSettings(
        sealed_dir=Path(settings.data_dir) / "sealed",
        max_samples=int(getattr(settings, "benchmark_max_samples", 1)),
        max_tokens=int(getattr(settings, "benchmark_max_tokens", 48)),
        timeout_seconds=float(getattr(settings, "benchmark_run_timeout_seconds", 3600.0)),
        allow_mock=bool(getattr(settings, "benchmark_allow_mock_endpoints", False)),
    )
