"""Group commit of admissions and settlements (``proxy.GroupWriter``), and the proxy's fast path."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import func, select
from tests.earlyaccess.gateway import world
from tests.earlyaccess.gateway.test_proxy import CHAT, assert_openai_error, auth, calls_of, chat_body, setup
from tests.earlyaccess.gateway.upstream import FakeUpstream

from forewarn.core.clock import utcnow
from forewarn.core.db import libpq_url
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.gateway import proxy
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.gateway.models import Call, Key

# --- the writer alone (no database: a stand-in pool and write function) ----------------------------


class _Pool:
    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[object]:
        await asyncio.sleep(0)  # a round trip's worth of waiting
        yield object()


class _Recorder:
    """A write function: records each group, fails every group that holds ``poison``."""

    def __init__(self, poison: int | None = None, delay: float = 0.0) -> None:
        self.groups: list[list[int]] = []
        self.poison = poison
        self.delay = delay

    async def __call__(self, _db: Any, items: list[int]) -> list[int]:
        self.groups.append(list(items))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.poison in items:
            raise ValueError("poisoned")
        return [i * 10 for i in items]


def _writer(write: _Recorder, **kwargs: Any) -> proxy.GroupWriter[int, int]:
    return proxy.GroupWriter(_Pool(), write, name="test-writer", **kwargs)  # type: ignore[arg-type]


async def test_items_that_queue_up_meanwhile_go_out_together() -> None:
    write = _Recorder(delay=0.01)
    writer = _writer(write)
    first = asyncio.ensure_future(writer.submit(1))
    await asyncio.sleep(0.001)  # the first write is in flight: the next ones queue up behind it
    rest = await asyncio.gather(*[writer.submit(i) for i in range(2, 8)])
    assert await first == 10 and rest == [20, 30, 40, 50, 60, 70]
    assert write.groups == [[1], [2, 3, 4, 5, 6, 7]]
    await writer.drain()


async def test_a_failed_group_is_written_again_item_by_item_and_fails_only_its_own_caller() -> None:
    write = _Recorder(poison=4)
    writer = _writer(write)
    results = await asyncio.gather(*[writer.submit(i) for i in range(1, 7)], return_exceptions=True)
    assert results[:3] == [10, 20, 30] and results[4:] == [50, 60]
    assert isinstance(results[3], ValueError)
    assert write.groups == [[1, 2, 3, 4, 5, 6], [1], [2], [3], [4], [5], [6]]


async def test_a_cancelled_caller_does_not_stop_its_write_and_its_result_goes_to_orphan() -> None:
    write = _Recorder(delay=0.02)
    orphans: list[tuple[int, int]] = []
    writer = _writer(write, orphan=lambda item, result: orphans.append((item, result)))
    waiting = asyncio.ensure_future(writer.submit(5))
    await asyncio.sleep(0.005)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await writer.drain()
    assert write.groups == [[5]]
    assert orphans == [(5, 50)]


async def test_a_writer_stopped_mid_write_fails_its_waiting_callers_instead_of_hanging() -> None:
    write = _Recorder(delay=10)
    writer = _writer(write)
    waiting = [asyncio.ensure_future(writer.submit(i)) for i in range(3)]
    await asyncio.sleep(0.01)
    assert writer._writer is not None
    writer._writer.cancel()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert writer._writer is None


# --- through the app, on the database --------------------------------------------------------------


async def test_grouped_admissions_and_settlements_keep_limits_and_records(
    committed: Runtime,
    fake_upstream: FakeUpstream,
    gw_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admit_groups: list[int] = []
    settle_groups: list[int] = []
    real_admit, real_settle = gateway.admit_many, gateway.settle_many

    async def admit_many(db: Any, batch: list[dict[str, Any]]) -> Any:
        admit_groups.append(len(batch))
        return await real_admit(db, batch)

    async def settle_many(db: Any, items: list[gateway.Settlement]) -> None:
        settle_groups.append(len(items))
        await real_settle(db, items)

    monkeypatch.setattr(gateway, "admit_many", admit_many)
    monkeypatch.setattr(gateway, "settle_many", settle_many)
    _, who = await setup(committed, fake_upstream, rate_limit_per_minute=25)
    responses = await asyncio.gather(
        *[gw_client.post(CHAT, json=chat_body(max_tokens=2), headers=auth(who.secret)) for _ in range(40)]
    )
    # The rate limit is exact although admissions were written in groups.
    assert Counter(r.status_code for r in responses) == {200: 25, 429: 15}
    assert max(admit_groups) > 1 and max(settle_groups) > 1, (admit_groups, settle_groups)
    assert sum(settle_groups) == 25
    calls = await calls_of(committed, who.key_id)
    assert Counter(c.status for c in calls) == {200: 25, 429: 15}
    assert all(c.finished_at is not None for c in calls)
    charged = sum(r.json()["usage"]["total_tokens"] for r in responses if r.status_code == 200)
    async with committed.db.transaction() as s:
        key = await gateway.get_key(s, key_id=who.key_id)
    assert key.tokens_used == charged == sum(c.prompt_tokens + c.completion_tokens for c in calls)
    # every answer names its own call
    ids = {r.headers["x-forewarn-call-id"] for r in responses if r.status_code == 200}
    assert ids == {str(c.id) for c in calls if c.status == 200}


async def test_a_settlement_that_cannot_be_written_withholds_the_answer(
    committed: Runtime,
    fake_upstream: FakeUpstream,
    gw_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(db: Any, items: list[gateway.Settlement]) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(gateway, "settle_many", broken)
    _, who = await setup(committed, fake_upstream)
    before = len(fake_upstream.seen)
    responses = await asyncio.gather(
        *[gw_client.post(CHAT, json=chat_body(max_tokens=2), headers=auth(who.secret)) for _ in range(3)]
    )
    assert len(fake_upstream.seen) == before + 3  # the model answered ...
    for response in responses:  # ... but no caller gets an answer whose record is not written
        assert response.status_code == 500
        assert "pong" not in response.text
    async with committed.db.transaction() as s:
        in_flight = await s.scalar(
            select(func.count()).select_from(Call).where(Call.key_id == who.key_id, Call.status.is_(None))
        )
    assert in_flight == 3  # left for release_stale_calls, which settles them as gateway_lost


# --- the fast path ---------------------------------------------------------------------------------


async def test_the_fast_path_keeps_request_ids_metrics_and_the_route_table(
    committed: Runtime, fake_upstream: FakeUpstream, gw_app: Any, gw_client: httpx.AsyncClient
) -> None:
    from forewarn.web.app import route_table
    from forewarn.web.middleware import REQUESTS

    served = {(m, p) for m, p, _ in route_table(gw_app)}
    assert ("POST", "/gateway/v1/chat/completions") in served and ("GET", "/gateway/v1/models") in served
    _, who = await setup(committed, fake_upstream)

    def count(status: str) -> float:
        value = REQUESTS.labels("POST", "/gateway/v1/chat/completions", status)._value.get()
        return float(value)

    before = count("200")
    sane = await gw_client.post(
        CHAT, json=chat_body(), headers={**auth(who.secret), "x-request-id": "caller-chosen-1234"}
    )
    assert sane.status_code == 200 and sane.headers["x-request-id"] == "caller-chosen-1234"
    odd = await gw_client.post(CHAT, json=chat_body(), headers={**auth(who.secret), "x-request-id": "a b"})
    assert odd.status_code == 200 and len(odd.headers["x-request-id"]) == 32
    assert odd.headers["x-request-id"] != sane.headers["x-request-id"]
    assert count("200") == before + 2
    # the app's body limit, before the key is looked at, in OpenAI's shape
    big = await gw_client.post(
        CHAT, content=b"x" * (committed.settings.max_body_bytes + 1), headers=auth(who.secret)
    )
    assert_openai_error(big, 413, "request_too_large")
    assert "x-request-id" in big.headers
    # other methods on a hot path are left to the routes: OpenAI's 404 for an unknown endpoint
    assert_openai_error(
        await gw_client.get(CHAT, headers=auth(who.secret)), 404, "unknown_url"
    )


# --- the grouped statements, on the database ---------------------------------------------------------


async def test_admit_many_runs_each_admission_in_order_and_commits_or_fails_whole(
    committed: Runtime, fake_upstream: FakeUpstream
) -> None:
    async with committed.db.transaction() as s:
        win = await world.window(s, committed.keys.data, fake_upstream.base_url)
        a = await world.holder(s, win, rate_limit_per_minute=2)  # a burst of two
        b = await world.holder(s, win)
    now = utcnow()

    def params(who: world.Holder, reserve: int = 10) -> dict[str, Any]:
        return gateway.admission_params(
            key_hash=gateway.hash_secret(who.secret),
            now=now,
            model=world.LABEL,
            reserve=reserve,
            endpoint="chat.completions",
            stream=False,
            request_sha256=hashlib.sha256(b"{}").digest(),
        )

    async with await psycopg.AsyncConnection.connect(libpq_url(committed.db.url), autocommit=True) as conn:
        db = gateway.PreparedConnection(conn)
        got = await gateway.admit_many(db, [params(a), params(b), params(a), params(a)])
        # each admission saw the ones before it: a's third call in the group is over its burst
        assert [x is not None for x in got] == [True, True, True, False]
        assert got[0] and got[2] and got[1]
        assert got[0].key_id == got[2].key_id == a.key_id and got[1].key_id == b.key_id
        # a group with a failing statement (a negative reservation breaks a check) writes nothing
        with pytest.raises(psycopg.errors.CheckViolation):
            await gateway.admit_many(db, [params(b), params(b, reserve=-(10**9))])
        # settle the three admitted calls in one statement: each key charged once with its calls' sum
        await gateway.settle_many(
            db,
            [
                gateway.Settlement(
                    call_id=x.call_id,
                    now=utcnow(),
                    status=200,
                    error_code=None,
                    prompt_tokens=3,
                    completion_tokens=4,
                    estimated=False,
                    latency_ms=1.0,
                    response_sha256=None,
                )
                for x in got
                if x is not None
            ],
        )
    assert [c.status for c in await calls_of(committed, a.key_id)] == [200, 200]
    assert [c.status for c in await calls_of(committed, b.key_id)] == [200]  # not the failed group's
    async with committed.db.transaction() as s:
        key_a = await gateway.get_key(s, key_id=a.key_id)
        key_b = await gateway.get_key(s, key_id=b.key_id)
    assert (key_a.tokens_used, key_b.tokens_used) == (14, 7)
    async with committed.db.transaction() as s:
        reserved = await s.scalar(
            select(func.sum(Key.tokens_reserved)).where(Key.id.in_([a.key_id, b.key_id]))
        )
    assert reserved == 0
