"""Determinations through real procrastinate workers on committed data.

A lab's request is committed (with its job, in the same transaction). A standalone worker
(``forewarn worker``, a process of its own) takes the job and is killed with SIGKILL while the run is
half-way; its runner subprocess exits with it and no verdict is written. The dead worker's job is
found stalled and put back by ``jobs.retry_stalled_runs``, and an in-process worker finishes it: the
second attempt resumes the same sealed sequence, the verdict, the attestation, the ledger entry and
the model's covered bit in the review programme are recorded, and the notes say what happened.
And a worker with concurrency 2 runs two committed requests side by side, each in its own subprocess.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tests.conftest import scratch_database_async
from tests.earlyaccess.benchmark import world

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrganisationIn, OrgKind, Role
from forewarn.core.db import Database, libpq_url
from forewarn.core.jobs import Runtime, build_app
from forewarn.core.keys import DataKey, Keys, SigningKey
from forewarn.earlyaccess.benchmark import jobs, runner
from forewarn.earlyaccess.benchmark import service as benchmark
from forewarn.earlyaccess.benchmark.runner import _Progress
from forewarn.earlyaccess.benchmark.schemas import DeterminationStatus
from forewarn.earlyaccess.review import service as review

pytestmark = pytest.mark.slow


@pytest.fixture
async def isolated(database_url: str, runtime: Runtime, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A database of its own (these tests commit: ledger entries, an active policy, jobs), dropped after.

    Keys of our own, so a standalone worker can be handed them through its settings (environment).
    """
    async with scratch_database_async(database_url, "bench") as url:
        keys = Keys(signing=SigningKey.from_seed(os.urandom(32)), data=DataKey(os.urandom(32)))
        settings = runtime.settings.model_copy(
            update={"data_dir": tmp_path / "data", "benchmark_allow_mock_endpoints": True}
        )
        isolated = Runtime(settings=settings, db=Database(url), keys=keys)
        try:
            yield isolated
        finally:
            await isolated.db.dispose()


_JOB_STATUS = text(
    "SELECT status FROM procrastinate_jobs WHERE task_name = :t AND args->>'determination_id' = :d"
)


def _sealed_files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file() and "sealed" in p.parts]


def _progress_records(path: Path) -> int:
    return path.stat().st_size // _Progress._RECORD if path.exists() else 0


async def test_a_killed_worker_s_determination_is_resumed_by_another_worker(
    isolated: Runtime, tmp_path: Path
) -> None:
    rt, keys = isolated, isolated.keys
    data_dir = Path(rt.settings.data_dir)
    determination_id: uuid.UUID | None = None
    worker: asyncio.subprocess.Process | None = None
    try:
        async with rt.db.transaction() as session:
            who = await world.agencies(session)
            org = await accounts.create_organisation(
                session, data=OrganisationIn(name=f"Lab {uuid.uuid4().hex[:8]}", kind=OrgKind.LAB), actor=None
            )
            lead = await world.person(session, org.id, [Role.SAFETY_LEAD])
            blob = world.sealed_pack(world.write_canary_pack(tmp_path / "pack"), keys.data)
            # A model right at the threshold needs many outcomes: time to kill the worker mid-run.
            await world.active_policy(session, keys.data, who, blob, p0=0.5, delta=0.15, max_calls=100)
            model = await world.register_model(
                session, keys.data, lead, base_url="mockllm:oracle?pass_rate=0.5"
            )
            requested = await benchmark.request_determination(
                session, model_id=model.id, actor=lead, key=keys.data
            )
            determination_id = requested.id
        # Committed: the request and its job. A standalone worker takes it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {
            "FOREWARN_DATABASE_URL": rt.db.url,
            "FOREWARN_SIGNING_KEY": base64.b64encode(keys.signing.private.private_bytes_raw()).decode(),
            "FOREWARN_DATA_KEY": base64.b64encode(keys.data.raw).decode(),
            "FOREWARN_BENCHMARK_ALLOW_MOCK_ENDPOINTS": "true",
            "FOREWARN_LOG_JSON": "false",
        }
        worker = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "forewarn.cli.main", "worker", "--data-dir", str(data_dir)),
            *("--concurrency", "1"),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        journal = data_dir / "sealed" / "benchmark" / str(determination_id) / "progress.sealed"
        deadline = time.monotonic() + 120
        while _progress_records(journal) < 3:
            assert worker.returncode is None, "the worker stopped by itself"
            assert time.monotonic() < deadline, "the worker did not start the run"
            await asyncio.sleep(0.02)
        worker.send_signal(signal.SIGKILL)  # the worker dies mid-run, without a word
        await asyncio.wait_for(worker.wait(), timeout=30)
        # Its runner subprocess notices and exits (it checks its parent every 0.5 s): the journal stops.
        await asyncio.sleep(1.5)
        stopped_at = _progress_records(journal)
        await asyncio.sleep(1.0)
        assert _progress_records(journal) == stopped_at
        async with rt.db.transaction() as session:
            half = await benchmark.get_determination(session, determination_id=determination_id, actor=None)
            assert half.status is DeterminationStatus.RUNNING and half.verdict is None  # no half verdict
            assert half.attempts == 1
            job_status = await session.scalar(
                _JOB_STATUS, {"t": benchmark.RUN_TASK, "d": str(determination_id)}
            )
            assert job_status == "doing"  # procrastinate alone would leave it there forever
        app = build_app(libpq_url(rt.db.url))
        async with app.open_async():
            # The dead worker's last heartbeat is over a second old (it beats every 10 s).
            assert await jobs.retry_stalled_runs(app.job_manager, seconds_since_heartbeat=1.0) == 1
            await asyncio.wait_for(
                app.run_worker_async(
                    queues=["default"],
                    wait=False,
                    install_signal_handlers=False,
                    additional_context={"runtime": rt},
                ),
                timeout=180,
            )
        async with rt.db.transaction() as session:
            done = await benchmark.get_determination(session, determination_id=determination_id, actor=None)
            assert done.status is DeterminationStatus.COMPLETED and done.verdict is not None
            assert done.attempts == 2
            notes = done.notes or ""
            assert "attempt 1: started" in notes
            assert "attempt 2: resumes the same sealed sequence" in notes
            assert f"verdict reached (resumed after {stopped_at} outcomes)" in notes
            registered = await review.get_model(session, model_id=done.model_id, actor=None)
            assert registered.covered is (done.verdict.value == "covered")
            assert registered.determination_id == determination_id
            job_status = await session.scalar(
                _JOB_STATUS, {"t": benchmark.RUN_TASK, "d": str(determination_id)}
            )
            assert job_status == "succeeded"
            completed = await session.scalar(
                text(
                    "SELECT count(*) FROM ledger_entries WHERE type = 'benchmark.determination_completed'"
                    " AND convert_from(data, 'UTF8') LIKE :d"
                ),
                {"d": f"%{determination_id}%"},
            )
            assert completed == 1
        # Nothing is left in plaintext: the run's storage holds sealed files only.
        files = _sealed_files(data_dir)
        assert files and all(p.suffix == ".sealed" for p in files)
    finally:
        if worker is not None and worker.returncode is None:
            worker.kill()
            await asyncio.wait_for(worker.wait(), timeout=30)


async def test_a_worker_runs_committed_requests_to_their_verdicts_side_by_side(
    isolated: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, key = isolated, isolated.keys.data
    determinations: list[uuid.UUID] = []
    # Record when each run's subprocess runs, to see that a worker runs two at once.
    spans: list[tuple[float, float]] = []
    real_run = runner.run

    async def timed_run(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return await real_run(*args, **kwargs)
        finally:
            spans.append((started, time.monotonic()))

    monkeypatch.setattr(runner, "run", timed_run)
    async with rt.db.transaction() as session:
        who = await world.agencies(session)
        org = await accounts.create_organisation(
            session, data=OrganisationIn(name=f"Lab {uuid.uuid4().hex[:8]}", kind=OrgKind.LAB), actor=None
        )
        lead = await world.person(session, org.id, [Role.SAFETY_LEAD])
        blob = world.sealed_pack(world.write_canary_pack(tmp_path / "pack", items=80), key)
        await world.active_policy(session, key, who, blob)
        models = []
        for family, rate in (("wren", 0.95), ("heron", 0.02)):
            model = await world.register_model(
                session, key, lead, base_url=f"mockllm:oracle?pass_rate={rate}", family=family
            )
            models.append(model)
            requested = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
            determinations.append(requested.id)
    app = build_app(libpq_url(rt.db.url))
    async with app.open_async():
        await asyncio.wait_for(
            app.run_worker_async(
                queues=["default"],
                concurrency=2,
                wait=False,
                install_signal_handlers=False,
                additional_context={"runtime": rt},
            ),
            timeout=180,
        )
    async with rt.db.transaction() as session:
        verdicts = []
        for determination_id, model in zip(determinations, models, strict=True):
            done = await benchmark.get_determination(session, determination_id=determination_id, actor=lead)
            assert done.status is DeterminationStatus.COMPLETED and done.verdict is not None
            verdicts.append(done.verdict.value)
            covered = (await review.get_model(session, model_id=model.id, actor=lead)).covered
            assert covered is (done.verdict.value == "covered")
            assert await benchmark.get_attestation(session, determination_id=determination_id, actor=lead)
        assert verdicts == ["covered", "not_covered"]
    # Two runs, two subprocesses, at the same time.
    assert len(spans) == 2
    (a_start, a_end), (b_start, b_end) = spans
    assert max(a_start, b_start) < min(a_end, b_end)
