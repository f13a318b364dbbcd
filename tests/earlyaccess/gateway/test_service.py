"""The gateway service: upstreams, sealed credentials, keys, revocation, usage; pure request checks."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.gateway import world

from forewarn.accounts.schemas import OrgKind, Role
from forewarn.core.errors import Conflict, InvalidInput, NotFound
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.gateway import proxy
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.gateway.models import Key, Upstream
from forewarn.earlyaccess.gateway.schemas import KEY_PREFIX

BASE = "http://127.0.0.1:9/v1"


async def test_the_credential_is_sealed_and_bound_to_its_window(
    session: AsyncSession, runtime: Runtime
) -> None:
    key = runtime.keys.data
    one = await world.window(session, key, BASE)
    two = await world.window(session, key, BASE)
    rows = {r.window_id: r for r in (await session.scalars(select(Upstream))).all()}
    sealed = rows[one.window_id].credential_sealed
    assert sealed is not None and world.UPSTREAM_SECRET.encode() not in sealed
    admission = gateway.Admission(
        call_id=uuid.uuid4(),
        key_id=uuid.uuid4(),
        window_id=one.window_id,
        person_id=uuid.uuid4(),
        organisation_id=uuid.uuid4(),
        model_label="m",
        base_url=BASE,
        upstream_model="m",
        credential_sealed=sealed,
        reserved=0,
    )
    assert admission.credential(key) == world.UPSTREAM_SECRET
    moved = gateway.Admission(**{**admission.__dict__, "window_id": two.window_id})
    with pytest.raises(InvalidInput):
        moved.credential(key)  # a sealed credential does not open for another window
    out = await gateway.get_upstream(session, window_id=one.window_id)
    assert out.has_credential and world.UPSTREAM_SECRET not in out.model_dump_json()


async def test_open_upstream_checks_its_input_and_replaces_while_open(
    session: AsyncSession, runtime: Runtime
) -> None:
    key = runtime.keys.data
    win = await world.window(session, key, BASE)
    now = datetime.now(UTC)
    common = {
        "window_id": win.window_id,
        "lab_organisation_id": win.lab_id,
        "model_label": "m",
        "upstream_model": "u",
        "credential": None,
        "key": key,
    }
    with pytest.raises(InvalidInput) as bad_url:
        await gateway.open_upstream(
            session,
            base_url="http://user:pw@example.org/v1",
            opens_at=now,
            closes_at=now + timedelta(days=1),
            **common,
        )
    assert bad_url.value.problems[0].field == "base_url"
    with pytest.raises(InvalidInput) as bad_dates:
        await gateway.open_upstream(session, base_url=BASE, opens_at=now, closes_at=now, **common)
    assert bad_dates.value.problems[0].field == "closes_at"
    holder = await world.holder(session, win)
    later = win.closes_at + timedelta(days=2)
    replaced = await gateway.open_upstream(
        session, base_url="https://models.example.org/v1/", opens_at=win.opens_at, closes_at=later, **common
    )
    assert replaced.base_url == "https://models.example.org/v1" and replaced.has_credential  # kept
    removed = await gateway.open_upstream(
        session,
        base_url=BASE,
        opens_at=win.opens_at,
        closes_at=later,
        **(common | {"credential": SecretStr("")}),
    )
    assert not removed.has_credential
    # Keys follow the window's closing time.
    assert (await gateway.get_key(session, key_id=holder.key_id)).expires_at == later
    await gateway.close_upstream(session, window_id=win.window_id, at=now, reason="released")
    with pytest.raises(Conflict):
        await gateway.open_upstream(session, base_url=BASE, opens_at=now, closes_at=later, **common)


async def test_issue_key_stores_only_a_hash_and_logs_ids_only(
    session: AsyncSession, runtime: Runtime
) -> None:
    win = await world.window(session, runtime.keys.data, BASE)
    holder = await world.holder(session, win, rate_limit_per_minute=30, token_budget=5000)
    assert holder.secret.startswith(KEY_PREFIX) and len(holder.secret) >= 40
    row = await session.get(Key, holder.key_id)
    assert row is not None
    assert row.key_hash == gateway.hash_secret(holder.secret) and holder.secret.startswith(row.prefix)
    # Neither the secret nor the upstream credential is anywhere in the database in clear, nor in the log.
    for table in ("gateway_keys", "gateway_upstreams", "ledger_entries"):
        query = text(f"SELECT * FROM {table}")  # noqa: S608 -- names from the fixed tuple above
        dump = json.dumps([list(map(str, r)) for r in (await session.execute(query)).all()])
        assert holder.secret not in dump and holder.secret[len(row.prefix) :] not in dump
        assert world.UPSTREAM_SECRET not in dump
    out = await gateway.get_key(session, key_id=holder.key_id)
    assert (out.state, out.tokens_remaining, out.rate_limit_per_minute) == ("active", 5000, 30)
    assert holder.secret not in out.model_dump_json()


async def test_issue_key_refuses_without_an_open_upstream(session: AsyncSession, runtime: Runtime) -> None:
    org = await world.org(session, OrgKind.AGENCY, code=f"A{uuid.uuid4().hex[:6].upper()}")
    person = await world.person(session, org, [Role.REVIEWER])
    args = {
        "holder_person_id": person.person_id,
        "holder_organisation_id": org,
        "issued_by_person_id": None,
        "rate_limit_per_minute": 10,
        "token_budget": 100,
    }
    with pytest.raises(Conflict):
        await gateway.issue_key(session, window_id=uuid.uuid4(), **args)
    win = await world.window(session, runtime.keys.data, BASE)
    with pytest.raises(InvalidInput) as bad:
        await gateway.issue_key(session, window_id=win.window_id, **(args | {"rate_limit_per_minute": 0}))
    assert bad.value.problems[0].field == "rate_limit_per_minute"
    await gateway.close_upstream(session, window_id=win.window_id, at=datetime.now(UTC), reason="closed")
    with pytest.raises(Conflict):
        await gateway.issue_key(session, window_id=win.window_id, **args)


async def test_revoke_keys_by_organisation_and_window(session: AsyncSession, runtime: Runtime) -> None:
    one = await world.window(session, runtime.keys.data, BASE)
    two = await world.window(session, runtime.keys.data, BASE)
    partner = await world.org(session, OrgKind.PARTNER)
    a = await world.holder(session, one, organisation_id=partner)
    b = await world.holder(session, two, organisation_id=partner)
    c = await world.holder(session, one)
    assert (
        await gateway.revoke_keys(session, organisation_id=partner, reason="panel", window_id=one.window_id)
        == 1
    )
    assert await gateway.revoke_keys(session, organisation_id=partner, reason="panel") == 1
    assert await gateway.revoke_keys(session, organisation_id=partner, reason="again") == 0
    states = {k.id: k.state for k in await gateway.list_keys(session, window_id=one.window_id)}
    assert states == {a.key_id: "revoked", c.key_id: "active"}
    (mine,) = await gateway.list_keys(session, holder_person_id=b.person_id)
    assert mine.state == "revoked" and mine.revoke_reason == "panel"
    with pytest.raises(NotFound):
        await gateway.revoke_key(session, key_id=uuid.uuid4(), reason="x")


async def test_usage_of_an_empty_window(session: AsyncSession, runtime: Runtime) -> None:
    win = await world.window(session, runtime.keys.data, BASE)
    summary = await gateway.usage_summary(session, window_id=win.window_id)
    assert (summary.calls, summary.organisations, summary.p99_latency_ms) == (0, 0, None)
    assert await gateway.usage_by_organisation(session, window_id=win.window_id) == []
    (usage,) = await gateway.lab_usage(session, lab_organisation_id=win.lab_id)
    assert usage.window_id == win.window_id and usage.organisations == []


async def test_stale_calls_are_released(session: AsyncSession, runtime: Runtime) -> None:
    win = await world.window(session, runtime.keys.data, BASE)
    holder = await world.holder(session, win, token_budget=1000)
    admitted = await gateway.admit(
        session,
        key_hash=gateway.hash_secret(holder.secret),
        now=datetime.now(UTC) - timedelta(hours=2),
        model=world.LABEL,
        reserve=600,
        endpoint="chat.completions",
        stream=False,
        request_sha256=b"\0" * 32,
    )
    assert admitted is not None
    row = await session.get(Key, holder.key_id)
    assert row is not None
    await session.refresh(row)
    assert row.tokens_reserved == 600
    assert await gateway.release_stale_calls(session, older_than=timedelta(hours=1)) >= 1
    await session.refresh(row)
    assert (row.tokens_reserved, row.tokens_used) == (0, 0)


def test_parse_request_reserves_prompt_and_answer(runtime: Runtime) -> None:
    settings = runtime.settings
    raw = json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10, "n": 2}
    ).encode()
    parsed = proxy.parse_request(raw, endpoint="chat.completions", settings=settings)
    assert isinstance(parsed, proxy.Parsed)
    assert parsed.reserve == -(-len(raw) // 2) + 20 and not parsed.stream
    streamed = proxy.parse_request(
        json.dumps({"model": "m", "prompt": "x", "stream": True}).encode(),
        endpoint="completions",
        settings=settings,
    )
    assert isinstance(streamed, proxy.Parsed)
    assert streamed.body["max_tokens"] == settings.gateway_default_max_tokens
    assert streamed.body["stream_options"] == {"include_usage": True} and not streamed.include_usage
    refused = proxy.parse_request(b'{"model": "m", "prompt": 5}', endpoint="completions", settings=settings)
    assert isinstance(refused, gateway.Refusal) and refused.param == "prompt"


def test_stream_meter_splits_events_across_chunks_and_crlf() -> None:
    meter = proxy.StreamMeter(include_usage=False)
    content = b'data: {"choices": [{"delta": {"content": "a"}}], "usage": null}\r\n\r\n'
    usage = b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}\r\n\r\n'
    stream = content + content + usage + b"data: [DONE]\r\n\r\n"
    out = b"".join(meter.feed(stream[i : i + 7]) for i in range(0, len(stream), 7)) + meter.flush()
    assert out.count(b"data: ") == 3 and b'"usage": {' not in out and out.endswith(b"data: [DONE]\n\n")
    assert meter.usage == (3, 1) and meter.content_events == 2


def test_refusals_in_order() -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)

    class Row:
        revoked_at = None
        expires_at = now + timedelta(days=1)
        closed_at = None
        closes_at = now + timedelta(days=1)
        opens_at = now - timedelta(days=1)
        model_label = "m"
        rate_limit_per_minute = 60
        rate_tat = now + timedelta(seconds=59, milliseconds=500)
        tokens_used = 90
        tokens_reserved = 0
        token_budget = 100

    row = Row()
    limited = gateway.refusal_for(row, now=now, model="m", reserve=1)
    assert limited is not None and limited.code == "rate_limit_exceeded" and limited.retry_after == 1
    row.rate_tat = now
    assert gateway.refusal_for(row, now=now, model="m", reserve=10) is None
    broke = gateway.refusal_for(row, now=now, model="m", reserve=11)
    assert broke is not None and broke.code == "insufficient_quota"
    wrong = gateway.refusal_for(row, now=now, model="x", reserve=1)
    assert wrong is not None and wrong.status == 404
    row.expires_at = now
    expired = gateway.refusal_for(row, now=now, model="m", reserve=1)
    assert expired is not None and expired.code == "key_expired"
