"""Canary test (CONVENTIONS §10): sealed content planted with canaries never shows up anywhere.

Canary strings sit in every item's text, every answer key, the pack description and the policy
consultations, and the threshold uses recognisable numbers. Determinations run on mockllm (whose
outputs contain the answers, so the sealed Inspect logs do too); then every API response, page,
log record, captured output, attestation, ledger entry, job argument, error message and file left on
disk outside the sealed (encrypted) files is searched: no canary may appear.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.benchmark import world

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.errors import ForewarnError
from forewarn.core.jobs import Runtime
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.benchmark import jobs, pack
from forewarn.earlyaccess.benchmark import service as benchmark
from forewarn.earlyaccess.benchmark.schemas import ConsultationIn, PolicyIn


def _assert_clean(where: str, blob: str | bytes) -> None:
    data = blob.encode("utf-8", "replace") if isinstance(blob, str) else blob
    for canary in world.CANARIES:
        assert canary.encode() not in data, f"canary {canary!r} leaked in {where}"


async def test_no_sealed_content_escapes(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_org: Callable[..., Awaitable[uuid.UUID]],
    make_person: Callable[..., Awaitable[Principal]],
    make_token: Callable[[Principal], Awaitable[str]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    key = runtime.keys.data
    who = await world.agencies(session)
    lab = await make_org(kind=OrgKind.LAB)
    lead = await make_person(lab, [Role.SAFETY_LEAD])
    blob = world.sealed_pack(world.write_canary_pack(tmp_path / "authoring"), key)
    policy = await world.active_policy(session, key, who, blob, family_limit=3)
    errors: list[str] = []

    async def expect_error(call: Awaitable[object]) -> None:
        try:
            await call
        except ForewarnError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        else:  # pragma: no cover - each call below must fail
            raise AssertionError("expected an error")

    # Errors custodians can provoke with sealed values in hand.
    pack_id = policy.pack_id
    bad = PolicyIn(
        pack_id=pack_id,
        p0=world.CANARY_P0,
        delta=world.CANARY_DELTA,
        alpha=0.05,
        beta=0.05,
        max_calls=119_999 % 10_000,
        family_limit=1,
        period_days=1,
    )
    await expect_error(benchmark.propose_policy(session, data=bad, actor=who.nsa, key=key))
    await expect_error(
        benchmark.propose_policy(
            session,
            data=bad.model_copy(update={"max_calls": 3, "delta": 0.0173}),
            actor=who.nsa,
            key=key,
        )
    )
    await expect_error(
        benchmark.consult(
            session,
            policy_id=policy.id,
            data=ConsultationIn(concur=True, comment=world.CANARY_COMMENT),
            actor=who.oncd,
            key=key,
        )
    )
    await expect_error(benchmark.import_pack(session, blob=blob, actor=who.nsa, key=DataKey(b"\x01" * 32)))
    await expect_error(benchmark.import_pack(session, blob=blob[:-40] + b"\x00" * 40, actor=who.nsa, key=key))
    with pytest.raises(ForewarnError) as opened:
        pack.open_pack(blob[:-40] + b"\x00" * 40, key)
    errors.append(str(opened.value))

    # Three determinations: covered and not covered in enclave mode, one in remote mode.
    rt = world.runtime_in(session, runtime, tmp_path / "data")
    determinations = []
    for rate, mode, family in (
        (0.97, "enclave", "wren"),
        (0.03, "enclave", "heron"),
        (0.9, "remote", "kite"),
    ):
        model = await world.register_model(
            session, key, lead, base_url=f"mockllm:oracle?pass_rate={rate}", mode=mode, family=family
        )
        requested = await benchmark.request_determination(session, model_id=model.id, actor=lead, key=key)
        done = await jobs.run_now(rt, requested.id)
        assert done is not None and done.verdict is not None
        determinations.append((model, requested))
    model_id = determinations[0][0].id

    # The lab over its limit, through the API.
    lab_token = await make_token(lead)
    custodian_token = await make_token(await make_person(who.nsa.organisation_id, [Role.BENCHMARK_CUSTODIAN]))
    responses: list[tuple[str, httpx.Response]] = []
    for _ in range(3):
        response = await client.post(
            "/api/v1/benchmark/determinations",
            json={"model_id": str(model_id)},
            headers={"Authorization": f"Bearer {lab_token}"},
        )
        responses.append(("POST determinations", response))
    assert responses[-1][1].status_code == 429
    assert "limit" in responses[-1][1].json()["detail"]

    # Custodian writes through the API, with the sealed numbers and comment in hand.
    nsa = {"Authorization": f"Bearer {await make_token(who.nsa)}"}
    oncd = {"Authorization": f"Bearer {await make_token(who.oncd)}"}
    proposal = bad.model_dump(mode="json") | {"max_calls": 60}
    for body in (proposal | {"max_calls": 9_999}, proposal | {"max_calls": 3, "delta": 0.0173}, proposal):
        responses.append(
            ("POST policies", await client.post("/api/v1/benchmark/policies", json=body, headers=nsa))
        )
    proposed_id = responses[-1][1].json()["id"]
    comment = {"concur": False, "comment": world.CANARY_COMMENT}
    for policy_id in (proposed_id, proposed_id, policy.id):
        url = f"/api/v1/benchmark/policies/{policy_id}/consultations"
        responses.append(("POST consultations", await client.post(url, json=comment, headers=oncd)))
    url = f"/api/v1/benchmark/policies/{proposed_id}/activate"
    responses.append(("POST activate", await client.post(url, headers=nsa)))
    upload = {"file": ("pack", blob, "application/octet-stream")}
    responses.append(("POST packs", await client.post("/api/v1/benchmark/packs", files=upload, headers=nsa)))
    assert [r.status_code for w, r in responses if w.startswith("POST") and w != "POST determinations"] == [
        422,
        422,
        201,
        201,
        409,
        409,
        409,
        409,
    ]

    paths = [
        "/api/v1/benchmark/packs",
        "/api/v1/benchmark/policies",
        "/api/v1/benchmark/determinations",
        "/api/v1/benchmark/key",
        "/api/v1/models",
        f"/api/v1/models/{model_id}",
        "/benchmark",
        "/determinations",
        "/ledger",
    ]
    for _, requested in determinations:
        paths += [
            f"/api/v1/benchmark/determinations/{requested.id}",
            f"/api/v1/benchmark/determinations/{requested.id}/attestation",
        ]
    for token in (lab_token, custodian_token):
        for path in paths:
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            responses.append((path, response))
    for where, response in responses:
        assert response.status_code < 500, where
        _assert_clean(where, response.content)
    pages = [r for w, r in responses if w in ("/benchmark", "/determinations")]
    assert any(r.status_code == 200 and "covered" in r.text for r in pages)

    # Attestations, decoded.
    for _, requested in determinations:
        envelope = await benchmark.get_attestation(session, determination_id=requested.id, actor=lead)
        _assert_clean("attestation payload", base64.b64decode(envelope["payload"]))
        statement = json.loads(base64.b64decode(envelope["payload"]))
        _assert_clean("attestation", json.dumps(statement))
        assert not {"score", "calls", "items", "threshold", "p0", "delta"} & set(statement["predicate"])
        # Alpha and beta are stated (DESIGN.md §4); p0, delta and the budget are not.
        assert statement["predicate"]["error_rates"] == {"alpha": 0.05, "beta": 0.05}

    # The ledger, the job queue, logs, captured output, errors.
    ledger_rows = await session.execute(text("SELECT data FROM ledger_entries"))
    for (data,) in ledger_rows:
        _assert_clean("ledger entry", bytes(data))
    job_rows = await session.execute(text("SELECT args::text FROM procrastinate_jobs"))
    for (args,) in job_rows:
        _assert_clean("job arguments", args)
    _assert_clean("log records", caplog.text)
    _assert_clean("log records (args)", repr([(r.msg, r.args) for r in caplog.records]))
    captured = capfd.readouterr()
    _assert_clean("stdout", captured.out)
    _assert_clean("stderr", captured.err)
    assert len(errors) == 6
    for message in errors:
        _assert_clean("error message", message)
    _assert_clean("reprs", repr(policy) + repr(determinations))

    # Files on disk: only sealed (encrypted) files hold run data.
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".sealed" for p in files)
    for path in files:
        _assert_clean(str(path), path.read_bytes())
    # Positive control: the canaries did flow through the run, into the sealed Inspect log only.
    from inspect_ai.log import read_eval_log

    from forewarn.earlyaccess.benchmark.runner import open_sealed_log

    first = determinations[0][1].id
    work = tmp_path / "data" / "sealed" / "benchmark" / str(first)
    sealed_log = next(p for p in (work / "sealed-logs").iterdir() if p.name.endswith(".eval.sealed"))
    plain = tmp_path / "opened.eval"
    plain.write_bytes(open_sealed_log(work, key, str(first), sealed_log.name))
    log = read_eval_log(str(plain))
    assert log.samples and world.CANARY_ITEM in str(log.samples[0].input)
    assert world.CANARY_ANSWER in log.samples[0].output.completion  # the mock answered right
    header = json.dumps(log.eval.model_dump(mode="json")) + json.dumps(log.plan.model_dump(mode="json"))
    _assert_clean("Inspect log header", header)  # solver and scorer arguments carry nothing sealed
