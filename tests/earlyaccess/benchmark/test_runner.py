"""Model-graded items in a run: the policy's grader (Inspect's mockllm) grades them with the sealed rubric.

The grader double (``mockllm:grader``) reads the prompt the runner builds and passes an answer that
contains a reference answer; the model under test is the usual mock oracle. The rubric carries a
canary: it must reach the grader (in the sealed Inspect log) and nothing else — not the model under
test, not any response, page, ledger entry, job, log record, output, attestation or file on disk.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.benchmark import world

from forewarn.accounts.schemas import OrgKind, Role
from forewarn.core.errors import InvalidInput
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.benchmark import jobs
from forewarn.earlyaccess.benchmark import service as benchmark
from forewarn.earlyaccess.benchmark.runner import open_sealed_log
from forewarn.earlyaccess.benchmark.schemas import GraderIn, PolicyIn, PublicVerdict

GRADER = GraderIn(base_url="mockllm:grader", model="grader")  # type: ignore[call-arg]
RUBRIC_CANARIES = (world.CANARY_RUBRIC, world.CANARY_HANDLE)


@pytest.fixture(scope="module")
def graded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return world.write_graded_pack(tmp_path_factory.mktemp("graded") / "pack")


async def _lab(session: AsyncSession) -> world.Principal:
    from forewarn.accounts import service as accounts
    from forewarn.accounts.schemas import OrganisationIn

    org = await accounts.create_organisation(
        session, data=OrganisationIn(name=f"Lab {uuid.uuid4().hex[:8]}", kind=OrgKind.LAB), actor=None
    )
    return await world.person(session, org.id, [Role.SAFETY_LEAD])


def _events(work: Path, key: Any, determination_id: uuid.UUID, tmp_path: Path) -> list[tuple[str, str]]:
    """(model name, input text) of every model call in the run's sealed Inspect logs."""
    from inspect_ai.log import read_eval_log, resolve_sample_attachments

    calls: list[tuple[str, str]] = []
    for sealed in sorted((work / "sealed-logs").iterdir()):
        if not sealed.name.endswith(".eval.sealed"):
            continue
        plain = tmp_path / f"{sealed.name}.eval"
        plain.write_bytes(open_sealed_log(work, key, str(determination_id), sealed.name))
        for sample in read_eval_log(str(plain)).samples or []:
            # Inspect keeps long message texts as attachments of the sample.
            for event in resolve_sample_attachments(sample).events:
                if getattr(event, "event", None) == "model":
                    calls.append(
                        (str(event.model), json.dumps([m.model_dump(mode="json") for m in event.input]))
                    )
    return calls


async def test_a_graded_pack_needs_a_grader_in_its_policy(
    session: AsyncSession, runtime: Runtime, graded_dir: Path
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    imported = await benchmark.import_pack(
        session, blob=world.sealed_pack(graded_dir, key), actor=who.nsa, key=key
    )
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
    with pytest.raises(InvalidInput, match="grader"):
        await benchmark.propose_policy(session, data=data, actor=who.nsa, key=key)
    proposed = await benchmark.propose_policy(
        session, data=data.model_copy(update={"grader": GRADER}), actor=who.nsa, key=key
    )
    # The grader is part of what the commitment binds.
    assert proposed.commitment.startswith("sha256:")
    plain = benchmark._commitment_content(imported.pack_hash, data)
    assert (
        benchmark._commitment_content(imported.pack_hash, data.model_copy(update={"grader": GRADER})) != plain
    )
    with pytest.raises(ValueError, match="http"):
        GraderIn(base_url="file:///etc/passwd", model="g")  # type: ignore[call-arg]
    assert "mockllm" not in repr(GRADER)


@pytest.mark.parametrize(
    ("mode", "rate", "verdict"),
    [
        ("enclave", 0.95, PublicVerdict.COVERED),
        ("enclave", 0.02, PublicVerdict.NOT_COVERED),
        ("remote", 0.9, None),
    ],
)
async def test_model_graded_items_are_graded_with_the_sealed_rubric(
    session: AsyncSession,
    runtime: Runtime,
    graded_dir: Path,
    tmp_path: Path,
    mode: str,
    rate: float,
    verdict: PublicVerdict | None,
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    lead = await _lab(session)
    await world.active_policy(session, key, who, world.sealed_pack(graded_dir, key), grader=GRADER)
    model = await world.register_model(
        session, key, lead, base_url=f"mockllm:oracle?pass_rate={rate}", mode=mode
    )
    requested = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
    rt = world.runtime_in(session, runtime, tmp_path / "data")
    done = await jobs.run_now(rt, requested.id)
    assert done is not None and done.verdict is not None
    if verdict is not None:
        assert done.verdict is verdict  # graded items count: an oracle at 0.95 is covered, at 0.02 not
    work = tmp_path / "data" / "sealed" / "benchmark" / str(requested.id)
    calls = _events(work, key, requested.id, tmp_path)
    graded = [prompt for name, prompt in calls if name.endswith("grader")]
    tested = [prompt for name, prompt in calls if not name.endswith("grader")]
    # Items alternate between graded and exact-match in the pack, but the draw is random and an enclave
    # run may stop after a handful of items (all exact-match, now and then: seen once in CI). A remote
    # run always sends the whole budget, so there both kinds are certainly asked.
    assert tested
    if mode == "remote":
        assert graded
    assert all(world.CANARY_RUBRIC in prompt for prompt in graded)
    assert all(world.CANARY_ITEM in prompt for prompt in graded)  # the question goes with it
    # The model under test never sees a rubric or its handle.
    for prompt in tested:
        assert not any(canary in prompt for canary in RUBRIC_CANARIES)


async def test_rubric_text_never_leaves_sealed_storage(
    session: AsyncSession,
    runtime: Runtime,
    graded_dir: Path,
    tmp_path: Path,
    client: httpx.AsyncClient,
    make_token: Any,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    key = runtime.keys.data
    who = await world.agencies(session)
    lead = await _lab(session)
    policy = await world.active_policy(session, key, who, world.sealed_pack(graded_dir, key), grader=GRADER)
    rt = world.runtime_in(session, runtime, tmp_path / "data")
    outputs: list[str] = [repr(policy)]
    for mode, rate in (("enclave", 0.9), ("remote", 0.4)):
        model = await world.register_model(
            session, key, lead, base_url=f"mockllm:oracle?pass_rate={rate}", mode=mode, family=mode
        )
        requested = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
        done = await jobs.run_now(rt, requested.id)
        assert done is not None and done.verdict is not None
        outputs.append(done.model_dump_json())
        envelope = await benchmark.get_attestation(session, determination_id=requested.id, actor=lead)
        outputs.append(json.dumps(envelope))
    for person in (lead, who.nsa):
        headers = {"Authorization": f"Bearer {await make_token(person)}"}
        for path in (
            "/api/v1/benchmark/policies",
            "/api/v1/benchmark/packs",
            "/api/v1/benchmark/determinations",
            "/benchmark",
            "/determinations",
            "/ledger",
        ):
            response = await client.get(path, headers=headers)
            assert response.status_code < 500, path
            outputs.append(response.text)
    outputs += [str(data) for (data,) in await session.execute(text("SELECT data FROM ledger_entries"))]
    outputs += [args for (args,) in await session.execute(text("SELECT args::text FROM procrastinate_jobs"))]
    outputs += [caplog.text, repr([(r.msg, r.args) for r in caplog.records])]
    captured = capfd.readouterr()
    outputs += [captured.out, captured.err]
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".sealed" for p in files)
    outputs += [p.read_bytes().decode("latin-1") for p in files]
    for where, output in enumerate(outputs):
        for canary in RUBRIC_CANARIES:
            assert canary not in output, f"rubric canary in output #{where}"


# --- the sealed progress journal -----------------------------------------------------------------


def test_the_progress_journal_appends_sealed_records_and_drops_a_torn_one(tmp_path: Path) -> None:
    import os

    from forewarn.core.keys import DataKey
    from forewarn.earlyaccess.benchmark.runner import _Progress

    key = DataKey(os.urandom(32))
    journal = _Progress(tmp_path, key, "run-1")
    assert journal.load() == []
    outcomes = [True, False, False, True, True]
    for outcome in outcomes:
        journal.append(outcome)
    assert len(journal.path.read_bytes()) == 5 * _Progress._RECORD  # one fixed-size sealed record each
    assert _Progress(tmp_path, key, "run-1").load() == outcomes
    # A crash mid-write leaves a short last record: it is dropped (that sample is asked again).
    with journal.path.open("ab") as fh:
        fh.write(b"\x01" + b"\x00" * 7)
    resumed = _Progress(tmp_path, key, "run-1")
    assert resumed.load() == outcomes
    resumed.append(False)
    assert _Progress(tmp_path, key, "run-1").load() == [*outcomes, False]
    # Records are bound to the run and to their place: another run's key context or a swap fails.
    with pytest.raises(InvalidInput):
        _Progress(tmp_path, key, "run-2").load()
    data = journal.path.read_bytes()
    size = len(data) // 6
    journal.path.write_bytes(data[size : 2 * size] + data[:size] + data[2 * size :])
    with pytest.raises(InvalidInput):
        _Progress(tmp_path, key, "run-1").load()
