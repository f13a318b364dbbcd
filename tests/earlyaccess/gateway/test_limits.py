"""Rate limits, token budgets and usage records under concurrent use (asyncio.gather of many calls)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from tests.earlyaccess.gateway import world
from tests.earlyaccess.gateway.test_proxy import CHAT, auth, calls_of, chat_body, setup
from tests.earlyaccess.gateway.upstream import PROMPT_TOKENS, FakeUpstream

from forewarn.core.clock import FrozenClock
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.gateway.models import Call


async def test_rate_limit_holds_under_concurrency(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    frozen_clock.set(datetime.now(UTC))
    _, who = await setup(committed, fake_upstream, rate_limit_per_minute=10)
    responses = await asyncio.gather(
        *[gw_client.post(CHAT, json=chat_body(max_tokens=1), headers=auth(who.secret)) for _ in range(30)]
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 10, 429: 20}
    refused = [r for r in responses if r.status_code == 429]
    assert {r.json()["error"]["code"] for r in refused} == {"rate_limit_exceeded"}
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    # One request per 6 s comes back (10 per minute): after 6 s exactly one more is admitted.
    frozen_clock.advance(timedelta(seconds=6))
    again = await asyncio.gather(
        *[gw_client.post(CHAT, json=chat_body(max_tokens=1), headers=auth(who.secret)) for _ in range(5)]
    )
    assert Counter(r.status_code for r in again) == {200: 1, 429: 4}
    # Every call, admitted or refused, is recorded.
    assert Counter(c.status for c in await calls_of(committed, who.key_id)) == {200: 11, 429: 24}


async def test_token_budget_holds_under_concurrency(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    budget = 1_000
    _, who = await setup(committed, fake_upstream, token_budget=budget)
    body = chat_body(max_tokens=5)
    reserve = -(-len(json.dumps(body).encode()) // 2) + 5
    responses = await asyncio.gather(
        *[gw_client.post(CHAT, json=body, headers=auth(who.secret)) for _ in range(60)]
    )
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert ok and refused
    assert {r.status_code for r in refused} == {429}
    assert {r.json()["error"]["code"] for r in refused} == {"insufficient_quota"}
    charged = sum(r.json()["usage"]["total_tokens"] for r in ok)
    async with committed.db.transaction() as s:
        key = await gateway.get_key(s, key_id=who.key_id)
    assert key.tokens_used == charged <= budget
    # Nothing stays reserved once the calls are settled.
    async with committed.db.transaction() as s:
        in_flight = await s.scalar(
            select(func.count()).select_from(Call).where(Call.key_id == who.key_id, Call.status.is_(None))
        )
    assert in_flight == 0
    # Alone, the key spends its budget until one more reservation does not fit, and no further.
    for _ in range(100):
        late = await gw_client.post(CHAT, json=body, headers=auth(who.secret))
        if late.status_code != 200:
            break
    assert late.status_code == 429 and late.json()["error"]["code"] == "insufficient_quota"
    async with committed.db.transaction() as s:
        key = await gateway.get_key(s, key_id=who.key_id)
    assert key.tokens_used <= budget < key.tokens_used + reserve


async def test_usage_records_reconcile_under_load(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    async with committed.db.transaction() as s:
        win = await world.window(s, committed.keys.data, fake_upstream.base_url)
        holders = [await world.holder(s, win) for _ in range(4)]
        # one more organisation with a tiny rate limit: some of its calls are refused
        holders.append(await world.holder(s, win, rate_limit_per_minute=3))

    async def one(i: int) -> tuple[int, int, int, int]:
        who = holders[i % len(holders)]
        if i % 3 == 0:
            body = chat_body(max_tokens=4, stream=True, stream_options={"include_usage": True})
            async with gw_client.stream("POST", CHAT, json=body, headers=auth(who.secret)) as r:
                raw = (await r.aread()).decode()
                usage: dict[str, Any] = {}
                for event in raw.split("\n\n"):
                    if event.startswith("data: {") and '"usage": {' in event:
                        usage = json.loads(event[6:])["usage"]
                return (
                    i % len(holders),
                    r.status_code,
                    usage.get("prompt_tokens", 0),
                    usage.get("completion_tokens", 0),
                )
        r = await gw_client.post(CHAT, json=chat_body(max_tokens=3), headers=auth(who.secret))
        usage = r.json().get("usage", {}) if r.status_code == 200 else {}
        return (
            i % len(holders),
            r.status_code,
            usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0),
        )

    seen = await asyncio.gather(*[one(i) for i in range(150)])
    async with committed.db.transaction() as s:
        by_org = {
            u.organisation_id: u for u in await gateway.usage_by_organisation(s, window_id=win.window_id)
        }
        summary = await gateway.usage_summary(s, window_id=win.window_id)
    for index, who in enumerate(holders):
        mine = [x for x in seen if x[0] == index]
        calls = await calls_of(committed, who.key_id)
        assert Counter(c.status for c in calls) == Counter(x[1] for x in mine)
        assert all(c.finished_at is not None for c in calls)
        usage = by_org[who.organisation_id]
        assert usage.calls == len(mine)
        assert usage.prompt_tokens == sum(x[2] for x in mine)
        assert usage.completion_tokens == sum(x[3] for x in mine)
        assert usage.errors == sum(1 for x in mine if x[1] >= 400)
    assert summary.calls == 150 and summary.organisations == len(holders)
    assert (
        summary.prompt_tokens
        == sum(x[2] for x in seen)
        == PROMPT_TOKENS * sum(1 for x in seen if x[1] == 200)
    )
    assert summary.errors == sum(1 for x in seen if x[1] >= 400) > 0
    assert summary.p50_latency_ms is not None and summary.p99_latency_ms is not None
