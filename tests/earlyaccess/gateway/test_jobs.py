"""The periodic job that settles calls a dead gateway process left in flight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from tests.earlyaccess.gateway import world
from tests.earlyaccess.gateway.test_proxy import calls_of

from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.gateway import jobs
from forewarn.earlyaccess.gateway import service as gateway


async def test_release_stale_calls_job(committed: Runtime) -> None:
    async with committed.db.transaction() as s:
        win = await world.window(s, committed.keys.data, "http://127.0.0.1:9/v1")
        who = await world.holder(s, win, token_budget=10_000)
        # (the older one first: the rate limiter's clock only moves forward)
        stale = await gateway.admit(
            s,
            key_hash=gateway.hash_secret(who.secret),
            now=datetime.now(UTC) - timedelta(hours=1),
            model=None,
            reserve=1000,
            endpoint="models",
            stream=False,
            request_sha256=b"\0" * 32,
        )
        fresh = await gateway.admit(
            s,
            key_hash=gateway.hash_secret(who.secret),
            now=datetime.now(UTC),
            model=None,
            reserve=10,
            endpoint="models",
            stream=False,
            request_sha256=b"\0" * 32,
        )
    assert fresh is not None and stale is not None
    context = SimpleNamespace(additional_context={"runtime": committed})
    assert await jobs.release_stale_calls.func(context, timestamp=0) >= 1
    statuses = {c.id: (c.status, c.error_code) for c in await calls_of(committed, who.key_id)}
    assert statuses == {fresh.call_id: (None, None), stale.call_id: (500, "gateway_lost")}
    async with committed.db.transaction() as s:
        key = await gateway.get_key(s, key_id=who.key_id)
    assert key.tokens_used == 0  # the stale reservation went back; the fresh one is still held
