"""Packs, policies, consultations and determinations through the service, runs on mockllm."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.benchmark import world

from forewarn.accounts.schemas import OrgKind, Role
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.benchmark import attestation, jobs, runner
from forewarn.earlyaccess.benchmark import service as benchmark
from forewarn.earlyaccess.benchmark.schemas import (
    ConsultationIn,
    DeterminationStatus,
    PolicyIn,
    PolicyStatus,
    PublicVerdict,
)
from forewarn.earlyaccess.review import service as review
from forewarn.ledger import service as ledger


@pytest.fixture(scope="module")
def canary_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return world.write_canary_pack(tmp_path_factory.mktemp("canary") / "pack")


async def _lab(session: AsyncSession) -> tuple[uuid.UUID, world.Principal]:
    from forewarn.accounts import service as accounts
    from forewarn.accounts.schemas import OrganisationIn

    org = await accounts.create_organisation(
        session, data=OrganisationIn(name=f"Lab {uuid.uuid4().hex[:8]}", kind=OrgKind.LAB), actor=None
    )
    return org.id, await world.person(session, org.id, [Role.SAFETY_LEAD])


async def _ledger_types(session: AsyncSession, about: uuid.UUID | None = None) -> list[str]:
    """Types of the ledger's entries (only those naming ``about``: other tests may commit entries)."""
    rows = await session.execute(
        text(
            "SELECT type FROM ledger_entries WHERE CAST(:about AS text) IS NULL"
            " OR convert_from(data, 'UTF8') LIKE '%' || CAST(:about AS text) || '%' ORDER BY index"
        ),
        {"about": None if about is None else str(about)},
    )
    return [r[0] for r in rows]


async def test_policy_needs_both_consultations_and_nsa(
    session: AsyncSession, runtime: Runtime, canary_dir: Path
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    blob = world.sealed_pack(canary_dir, key)
    imported = await benchmark.import_pack(session, blob=blob, actor=who.nsa, key=key)
    with pytest.raises(Conflict):
        await benchmark.import_pack(session, blob=blob, actor=who.nsa, key=key)
    data = PolicyIn(
        pack_id=imported.id,
        p0=0.5,
        delta=0.2,
        alpha=0.05,
        beta=0.05,
        max_calls=40,
        family_limit=2,
        period_days=7,
    )
    with pytest.raises(Forbidden):
        await benchmark.propose_policy(session, data=data, actor=who.cisa, key=key)
    with pytest.raises(InvalidInput) as too_many:
        await benchmark.propose_policy(
            session, data=data.model_copy(update={"max_calls": 500}), actor=who.nsa, key=key
        )
    assert "500" not in str(too_many.value)
    proposed = await benchmark.propose_policy(session, data=data, actor=who.nsa, key=key)
    assert proposed.status is PolicyStatus.PROPOSED and proposed.commitment.startswith("sha256:")
    with pytest.raises(Conflict, match="ONCD and CISA"):
        await benchmark.activate_policy(session, policy_id=proposed.id, actor=who.nsa)
    with pytest.raises(Forbidden):
        await benchmark.consult(
            session,
            policy_id=proposed.id,
            data=ConsultationIn(concur=True, comment="x"),
            actor=who.nsa,
            key=key,
        )
    await benchmark.consult(
        session,
        policy_id=proposed.id,
        data=ConsultationIn(concur=False, comment="too low"),
        actor=who.oncd,
        key=key,
    )
    with pytest.raises(Conflict, match="already"):
        await benchmark.consult(
            session,
            policy_id=proposed.id,
            data=ConsultationIn(concur=True, comment="again"),
            actor=who.oncd,
            key=key,
        )
    with pytest.raises(Conflict, match="CISA"):
        await benchmark.activate_policy(session, policy_id=proposed.id, actor=who.nsa)
    await benchmark.consult(
        session,
        policy_id=proposed.id,
        data=ConsultationIn(concur=True, comment="fine"),
        actor=who.cisa,
        key=key,
    )
    with pytest.raises(Forbidden):
        await benchmark.activate_policy(session, policy_id=proposed.id, actor=who.cisa)
    active = await benchmark.activate_policy(session, policy_id=proposed.id, actor=who.nsa)
    assert active.status is PolicyStatus.ACTIVE
    assert [(c.agency, c.concur) for c in active.consultations] == [("ONCD", False), ("CISA", True)]
    comments = await benchmark.consultation_comments(
        session, policy_id=proposed.id, actor=who.nsa, key=runtime.keys.data
    )
    assert ("ONCD", False, "too low") in comments
    types = await _ledger_types(session)
    for kind in ("pack_imported", "policy_proposed", "policy_consulted", "policy_activated"):
        assert f"benchmark.{kind}" in types
    # A newer policy supersedes the active one.
    second = await world.active_policy(session, key, who, world.sealed_pack(canary_dir, key), max_calls=40)
    policies = {p.id: p.status for p in await benchmark.list_policies(session, actor=who.nsa)}
    assert policies[active.id] is PolicyStatus.SUPERSEDED and policies[second.id] is PolicyStatus.ACTIVE


async def test_policy_commitment_opens_with_the_sealed_salt(
    session: AsyncSession, runtime: Runtime, canary_dir: Path
) -> None:
    from forewarn.earlyaccess.benchmark.models import ThresholdPolicy

    key = runtime.keys.data
    who = await world.agencies(session)
    active = await world.active_policy(session, key, who, world.sealed_pack(canary_dir, key))
    row = await session.get(ThresholdPolicy, active.id)
    assert row is not None
    sealed = benchmark._open_json(key, row.spec_sealed, "benchmark_policies", "spec", row.id)
    data = PolicyIn(pack_id=active.pack_id, **sealed["spec"], family_limit=3, period_days=30)
    opened, _ = ledger.commitment(
        benchmark._commitment_content(active.pack_hash, data), salt=bytes.fromhex(sealed["salt"])
    )
    assert opened == active.commitment


async def test_labs_request_only_for_their_models_and_within_the_limit(
    session: AsyncSession, runtime: Runtime, canary_dir: Path
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    lab, lead = await _lab(session)
    other_lab, other_lead = await _lab(session)
    model = await world.register_model(session, key, lead)
    with pytest.raises(Conflict, match="no threshold policy"):
        await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
    await world.active_policy(session, key, who, world.sealed_pack(canary_dir, key), family_limit=2)
    with pytest.raises(NotFound):
        await benchmark.request_determination(session, model_id=model.id, actor=other_lead, key=key)
    with pytest.raises(Forbidden):
        await benchmark.request_determination(session, model_id=model.id, actor=who.nsa, key=key)
    first = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
    sibling = await world.register_model(session, key, lead)  # same family, another model
    second = await benchmark.request_determination(session, model_id=sibling.id, actor=lead, key=key)
    third = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
    assert [first.status, second.status, third.status] == [
        DeterminationStatus.REQUESTED,
        DeterminationStatus.REQUESTED,
        DeterminationStatus.REFUSED,
    ]
    error = benchmark.limit_error(third)
    assert error.status_code == 429 and "limit" in str(error)
    other_family = await world.register_model(session, key, lead, family="heron")
    assert (
        await benchmark.request_determination(session, model_id=other_family.id, actor=lead, key=key)
    ).status is DeterminationStatus.REQUESTED
    types = await _ledger_types(session, about=lab)
    assert types.count("benchmark.determination_requested") == 3
    assert types.count("benchmark.determination_refused") == 1
    jobs_queued = await session.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND args->>'determination_id' = :d"
        ),
        {"t": benchmark.RUN_TASK, "d": str(first.id)},
    )
    assert jobs_queued == 1
    # A lab sees its own determinations only, without custodian details.
    mine = await benchmark.list_determinations(session, actor=lead)
    assert {d.id for d in mine} >= {first.id, second.id, third.id}
    assert all(d.attempts is None and d.policy_id is None for d in mine)
    assert await benchmark.list_determinations(session, actor=other_lead) == []
    assert other_lab != lab


@pytest.mark.parametrize(
    ("mode", "rate", "verdict"),
    [
        ("enclave", 0.95, PublicVerdict.COVERED),
        ("enclave", 0.02, PublicVerdict.NOT_COVERED),
        ("remote", 0.95, PublicVerdict.COVERED),
    ],
)
async def test_a_determination_runs_to_a_signed_verdict(
    session: AsyncSession,
    runtime: Runtime,
    canary_dir: Path,
    tmp_path: Path,
    mode: str,
    rate: float,
    verdict: PublicVerdict,
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    _, lead = await _lab(session)
    await world.active_policy(session, key, who, world.sealed_pack(canary_dir, key))
    model = await world.register_model(
        session, key, lead, base_url=f"mockllm:oracle?pass_rate={rate}", mode=mode
    )
    requested = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
    rt = world.runtime_in(session, runtime, tmp_path)
    seen: list[tuple[int, int]] = []
    done = await jobs.run_now(rt, requested.id, on_progress=lambda d, t: seen.append((d, t)))
    assert done is not None and done.status is DeterminationStatus.COMPLETED and done.verdict is verdict
    assert await jobs.run_now(rt, requested.id) is None  # idempotent
    # The review programme got the one bit in the same transaction.
    registered = await review.get_model(session, model_id=model.id, actor=lead)
    assert registered.covered is (verdict is PublicVerdict.COVERED)
    assert registered.determination_id == requested.id
    state = await _sealed_state(session, runtime, requested.id)
    result = state["result"]
    if mode == "remote":
        assert result["model_calls"] == 60 and result["outcomes"] == 60  # the whole budget, always
        assert result["early_stops"] == 0
    else:
        # The run really stopped early: Inspect's hook skipped the rest and no further call was made.
        assert result["model_calls"] == result["decided_at"] < 60
        assert result["early_stops"] > 0
    assert seen and seen[-1][0] == result["outcomes"]
    envelope = await benchmark.get_attestation(session, determination_id=requested.id, actor=lead)
    stmt = attestation.verify(json.dumps(envelope).encode(), runtime.keys.signing.public)
    predicate = stmt["predicate"]
    assert predicate["verdict"] == verdict.value and predicate["mode"] == mode
    assert set(predicate) == {
        "determination_id",
        "model",
        "benchmark",
        "policy",
        "error_rates",
        "mode",
        "verdict",
        "date",
    }
    # Alpha and beta of the policy (world.active_policy), not the sealed threshold.
    assert predicate["error_rates"] == {"alpha": 0.05, "beta": 0.05}
    assert done.attestation_hash == attestation.envelope_hash(envelope)
    entry = await session.scalar(
        text(
            "SELECT data FROM ledger_entries WHERE type = 'benchmark.determination_completed'"
            " ORDER BY index DESC LIMIT 1"
        )
    )
    assert entry is not None and done.attestation_hash.encode() in bytes(entry)
    # Inspect's logs exist only sealed; no plaintext left behind.
    work = tmp_path / "sealed" / "benchmark" / str(requested.id)
    names = [p.name for p in work.rglob("*") if p.is_file()]
    assert any(n.endswith(".eval.sealed") for n in names)
    assert not any(n.endswith((".eval", ".json")) for n in names)
    assert not (work / "scratch").exists()


async def _sealed_state(
    session: AsyncSession, runtime: Runtime, determination_id: uuid.UUID
) -> dict[str, object]:
    from forewarn.earlyaccess.benchmark.models import Determination

    row = await session.get(Determination, determination_id)
    assert row is not None and row.state_sealed is not None
    return benchmark._open_json(
        runtime.keys.data, row.state_sealed, "benchmark_determinations", "state", row.id
    )


async def test_a_failed_run_resumes_the_same_sealed_sequence(
    session: AsyncSession, runtime: Runtime, canary_dir: Path, tmp_path: Path
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    _, lead = await _lab(session)
    # p0 = 0.5 and a model right at it: the run needs many outcomes, and the endpoint fails midway.
    await world.active_policy(
        session, key, who, world.sealed_pack(canary_dir, key), p0=0.5, delta=0.15, max_calls=100
    )
    model = await world.register_model(session, key, lead, base_url="mockllm:oracle?pass_rate=0.5")
    requested = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
    rt = world.runtime_in(session, runtime, tmp_path)
    spec_and_attempt = None

    async def interrupted() -> None:
        nonlocal spec_and_attempt
        async with rt.db.transaction() as s:
            spec_and_attempt = await benchmark.begin_run(
                s, determination_id=requested.id, keys=rt.keys, settings=benchmark.run_settings(rt.settings)
            )
        assert spec_and_attempt is not None
        spec, attempt = spec_and_attempt
        progress: list[int] = []

        def stop_after_three(done: int, total: int) -> None:
            progress.append(done)
            if done >= 3:
                raise RuntimeError("worker died")

        with pytest.raises(RuntimeError):
            await runner.run(spec, on_progress=stop_after_three, attempt=str(attempt))

    await interrupted()
    done = await jobs.run_now(rt, requested.id)
    assert done is not None and done.status is DeterminationStatus.COMPLETED and done.verdict is not None
    state = await _sealed_state(session, runtime, requested.id)
    assert state["result"]["resumed_from"] >= 3  # type: ignore[index]
    custodian_view = await benchmark.get_determination(session, determination_id=requested.id, actor=who.nsa)
    assert custodian_view.attempts == 2 and "resumes the same sealed sequence" in (custodian_view.notes or "")
    # Custodians audit the sealed details; nobody else does.
    audit = await benchmark.audit_determination(
        session, determination_id=requested.id, actor=who.nsa, key=key
    )
    assert audit["sealed_result"] == state["result"] and audit["attempts"] == 2
    with pytest.raises(Forbidden):
        await benchmark.audit_determination(session, determination_id=requested.id, actor=lead, key=key)


async def test_mock_endpoints_are_refused_unless_allowed(
    session: AsyncSession, runtime: Runtime, canary_dir: Path, tmp_path: Path
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    _, lead = await _lab(session)
    await world.active_policy(session, key, who, world.sealed_pack(canary_dir, key))
    model = await world.register_model(session, key, lead)
    requested = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
    rt = world.runtime_in(session, runtime, tmp_path, benchmark_allow_mock_endpoints=False)
    with pytest.raises(runner.RunFailed) as failed:
        await jobs.run_now(rt, requested.id, final=True)
    assert "sealed" in str(failed.value)
    after = await benchmark.get_determination(session, determination_id=requested.id, actor=who.nsa)
    assert after.status is DeterminationStatus.FAILED and after.verdict is None


def test_the_run_job_is_registered() -> None:
    from forewarn.core.db import libpq_url
    from forewarn.core.jobs import build_app

    app = build_app(libpq_url("postgresql://unused"))
    task = app.tasks[benchmark.RUN_TASK]
    assert task.retry_strategy is not None and task.retry_strategy.max_attempts == jobs.MAX_ATTEMPTS
