"""The proxy against a real HTTP fake upstream on 127.0.0.1, through the whole app (ASGI, in-process)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.earlyaccess.gateway import world
from tests.earlyaccess.gateway.upstream import ANSWER_TOKENS, PROMPT_TOKENS, FakeUpstream

from forewarn.core.clock import FrozenClock
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.gateway.models import Call

CHAT = "/gateway/v1/chat/completions"


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def chat_body(model: str = world.LABEL, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "ping"}], **extra}


async def setup(
    rt: Runtime, up: FakeUpstream, *, upstream_model: str = "fake", **key: Any
) -> tuple[world.Window, world.Holder]:
    async with rt.db.transaction() as s:
        win = await world.window(s, rt.keys.data, up.base_url, upstream_model=upstream_model)
        return win, await world.holder(s, win, **key)


async def calls_of(rt: Runtime, key_id: uuid.UUID) -> list[Call]:
    async with rt.db.transaction() as s:
        return list(
            (await s.scalars(select(Call).where(Call.key_id == key_id).order_by(Call.started_at))).all()
        )


def assert_openai_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body["error"])


async def test_chat_completion_passes_through_and_is_recorded(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    win, who = await setup(committed, fake_upstream)
    sent = json.dumps(chat_body(max_tokens=3)).encode()
    response = await gw_client.post(
        CHAT, content=sent, headers=auth(who.secret) | {"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["choices"][0]["message"]["content"].startswith("pong")
    # The upstream got the upstream model and credential, never the reviewer's key.
    seen = fake_upstream.seen[-1]
    assert seen.body is not None and seen.body["model"] == "fake"
    assert seen.headers["authorization"] == f"Bearer {world.UPSTREAM_SECRET}"
    assert who.secret not in json.dumps(seen.headers)
    (call,) = await calls_of(committed, who.key_id)
    assert str(call.id) == response.headers["x-forewarn-call-id"]
    assert (call.status, call.endpoint, call.model, call.stream) == (
        200,
        "chat.completions",
        world.LABEL,
        False,
    )
    assert (call.prompt_tokens, call.completion_tokens, call.tokens_estimated) == (PROMPT_TOKENS, 3, False)
    assert call.organisation_id == who.organisation_id and call.person_id == who.person_id
    assert call.window_id == win.window_id
    assert call.request_sha256 == hashlib.sha256(sent).digest()
    assert call.response_sha256 == hashlib.sha256(response.content).digest()
    assert call.latency_ms is not None and call.latency_ms > 0
    async with committed.db.transaction() as s:
        key = await gateway.get_key(s, key_id=who.key_id)
    assert key.tokens_used == PROMPT_TOKENS + 3
    assert key.tokens_remaining == 10_000_000 - PROMPT_TOKENS - 3


async def test_completions_and_default_max_tokens(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    _, who = await setup(committed, fake_upstream)
    response = await gw_client.post(
        "/gateway/v1/completions", json={"model": world.LABEL, "prompt": "Once"}, headers=auth(who.secret)
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["text"].startswith("pong")
    # No max_tokens given: the gateway sets its default (what the budget reserved).
    body = fake_upstream.seen[-1].body
    assert body is not None and body["max_tokens"] == committed.settings.gateway_default_max_tokens


async def test_models_lists_only_the_windows_model(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    _, who = await setup(committed, fake_upstream)
    listed = await gw_client.get("/gateway/v1/models", headers=auth(who.secret))
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["data"]] == [world.LABEL]
    one = await gw_client.get(f"/gateway/v1/models/{world.LABEL}", headers=auth(who.secret))
    assert one.json()["id"] == world.LABEL
    assert_openai_error(
        await gw_client.get("/gateway/v1/models/other", headers=auth(who.secret)), 404, "model_not_found"
    )
    assert [c.status for c in await calls_of(committed, who.key_id)] == [200, 200, 404]


async def test_streaming_passes_chunks_and_counts_usage(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    _, who = await setup(committed, fake_upstream)
    async with gw_client.stream("POST", CHAT, json=chat_body(stream=True), headers=auth(who.secret)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    events = [e for e in raw.decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert len(payloads) == ANSWER_TOKENS
    # The caller did not ask for usage: the usage chunk the gateway asked for is not passed on.
    assert all(p["choices"] for p in payloads)
    assert fake_upstream.seen[-1].body is not None
    assert fake_upstream.seen[-1].body["stream_options"] == {"include_usage": True}
    (call,) = await calls_of(committed, who.key_id)
    assert (call.status, call.stream, call.prompt_tokens, call.completion_tokens) == (
        200,
        True,
        PROMPT_TOKENS,
        ANSWER_TOKENS,
    )
    assert call.response_sha256 == hashlib.sha256(raw).digest()


async def test_streaming_with_usage_asked_and_without_upstream_usage(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    _, who = await setup(committed, fake_upstream)
    body = chat_body(stream=True, stream_options={"include_usage": True})
    async with gw_client.stream("POST", CHAT, json=body, headers=auth(who.secret)) as r:
        raw = await r.aread()
    assert b'"choices": [], "usage"' in raw
    _, quiet = await setup(committed, fake_upstream, upstream_model="fake-no-usage")
    async with gw_client.stream("POST", CHAT, json=chat_body(stream=True), headers=auth(quiet.secret)) as r:
        await r.aread()
    (call,) = await calls_of(committed, quiet.key_id)
    # No usage from the upstream: estimated (one token per content chunk; prompt bytes / 4).
    assert call.tokens_estimated and call.completion_tokens == ANSWER_TOKENS and call.prompt_tokens > 0


async def test_bad_keys_are_refused_in_openai_shape(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer fwk_" + "x" * 43},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        {"Authorization": "Bearer fw_an-ordinary-api-token"},
    ):
        response = await gw_client.post(CHAT, json=chat_body(), headers=headers)
        assert_openai_error(response, 401, "invalid_api_key")
        listed = await gw_client.get("/gateway/v1/models", headers=headers)
        assert_openai_error(listed, 401, "invalid_api_key")


async def test_wrong_model_is_404(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    _, who = await setup(committed, fake_upstream)
    error = assert_openai_error(
        await gw_client.post(CHAT, json=chat_body("gpt-4o"), headers=auth(who.secret)), 404, "model_not_found"
    )
    assert error["param"] == "model"


@pytest.mark.parametrize(
    ("content", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), 400, "model"),
        (json.dumps({"model": world.LABEL, "messages": []}).encode(), 400, "messages"),
        (json.dumps({"model": world.LABEL, "messages": [{}], "max_tokens": -1}).encode(), 400, "max_tokens"),
        (json.dumps({"model": world.LABEL, "messages": [{}], "stream": "yes"}).encode(), 400, "stream"),
        (json.dumps({"model": world.LABEL, "messages": [{}], "n": 99}).encode(), 400, "n"),
    ],
)
async def test_malformed_bodies_get_openai_errors(
    committed: Runtime,
    fake_upstream: FakeUpstream,
    gw_client: httpx.AsyncClient,
    content: bytes,
    status: int,
    param: str | None,
) -> None:
    _, who = await setup(committed, fake_upstream)
    before = len(fake_upstream.seen)
    response = await gw_client.post(
        CHAT, content=content, headers=auth(who.secret) | {"content-type": "application/json"}
    )
    error = assert_openai_error(response, status, "invalid_request_body")
    assert error["param"] == param
    assert len(fake_upstream.seen) == before  # never reached the model
    (call,) = await calls_of(committed, who.key_id)
    assert call.status == status


async def test_oversized_bodies_are_413(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient, gw_app: Any
) -> None:
    _, who = await setup(committed, fake_upstream)
    limit = committed.settings.gateway_max_body_bytes
    big = json.dumps(chat_body(padding="x" * limit)).encode()
    response = await gw_client.post(CHAT, content=big, headers=auth(who.secret))
    assert_openai_error(response, 413, "request_too_large")
    # Below the app's own limit but above a smaller gateway limit: refused by the gateway, recorded.
    gw_app.state.runtime = gw_app.state.runtime.__class__(
        settings=committed.settings.model_copy(update={"gateway_max_body_bytes": 1000}),
        db=committed.db,
        keys=committed.keys,
    )
    response = await gw_client.post(CHAT, json=chat_body(padding="x" * 2000), headers=auth(who.secret))
    assert_openai_error(response, 413, "invalid_request_body")
    assert [c.status for c in await calls_of(committed, who.key_id)] == [413]


async def test_unknown_gateway_paths_are_openai_404(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    _, who = await setup(committed, fake_upstream)
    response = await gw_client.post("/gateway/v1/embeddings", json={}, headers=auth(who.secret))
    assert_openai_error(response, 404, "unknown_url")


async def test_upstream_500_is_502_without_the_credential(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    _, who = await setup(committed, fake_upstream, upstream_model="fake-500")
    response = await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret))
    assert_openai_error(response, 502, "upstream_error")
    assert world.UPSTREAM_SECRET not in response.text
    async with gw_client.stream("POST", CHAT, json=chat_body(stream=True), headers=auth(who.secret)) as r:
        text = (await r.aread()).decode()
        assert r.status_code == 502
    assert world.UPSTREAM_SECRET not in text
    calls = await calls_of(committed, who.key_id)
    assert [c.status for c in calls] == [502, 502]
    # Failed calls charge nothing: the reservation is released.
    async with committed.db.transaction() as s:
        key = await gateway.get_key(s, key_id=who.key_id)
    assert key.tokens_used == 0


async def test_upstream_hang_is_504_within_the_timeout(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    timeout = committed.settings.gateway_upstream_timeout_seconds
    _, who = await setup(committed, fake_upstream, upstream_model="fake-hang")
    started = time.monotonic()
    response = await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret))
    assert_openai_error(response, 504, "upstream_timeout")
    assert time.monotonic() - started < timeout + 2
    started = time.monotonic()
    async with gw_client.stream("POST", CHAT, json=chat_body(stream=True), headers=auth(who.secret)) as r:
        assert r.status_code == 504
    assert time.monotonic() - started < timeout + 2
    # A stream that stalls after two chunks ends with an error event within the timeout.
    _, stalled = await setup(committed, fake_upstream, upstream_model="fake-stall")
    started = time.monotonic()
    async with gw_client.stream("POST", CHAT, json=chat_body(stream=True), headers=auth(stalled.secret)) as r:
        raw = (await r.aread()).decode()
    assert time.monotonic() - started < timeout + 2
    assert raw.count("pong") == 2 and '"code": "upstream_timeout"' in raw
    assert [c.status for c in await calls_of(committed, who.key_id)] == [504, 504]
    (call,) = await calls_of(committed, stalled.key_id)
    assert (call.status, call.error_code) == (504, "upstream_timeout")


async def test_unreachable_upstream_is_502(committed: Runtime, gw_client: httpx.AsyncClient) -> None:
    async with committed.db.transaction() as s:
        win = await world.window(s, committed.keys.data, "http://127.0.0.1:9/v1")
        who = await world.holder(s, win)
    response = await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret))
    assert_openai_error(response, 502, "upstream_unreachable")


async def test_key_expiry_is_exact(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    opens = datetime(2026, 3, 1, tzinfo=UTC)
    closes = opens + timedelta(days=30)
    frozen_clock.set(opens + timedelta(days=1))
    async with committed.db.transaction() as s:
        win = await world.window(
            s, committed.keys.data, fake_upstream.base_url, opens_at=opens, closes_at=closes
        )
        who = await world.holder(s, win)
    frozen_clock.set(closes - timedelta(seconds=1))
    assert (await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret))).status_code == 200
    frozen_clock.set(closes)
    assert_openai_error(
        await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret)), 401, "key_expired"
    )
    frozen_clock.set(closes + timedelta(seconds=1))
    assert_openai_error(
        await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret)), 401, "key_expired"
    )
    # Before the window opens, the key does not work either.
    frozen_clock.set(opens - timedelta(seconds=1))
    assert_openai_error(
        await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret)), 403, "window_not_open"
    )
    # (recorded at the gateway clock's times, so sorted by status here)
    assert sorted(c.status for c in await calls_of(committed, who.key_id)) == [200, 401, 401, 403]


async def test_revocation_and_close_act_on_the_next_request(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    win, who = await setup(committed, fake_upstream)
    async with committed.db.transaction() as s:
        other = await world.holder(s, win)
    assert (await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret))).status_code == 200
    async with committed.db.transaction() as s:
        await gateway.revoke_key(s, key_id=who.key_id, reason="left the team")
    assert_openai_error(
        await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret)), 401, "key_revoked"
    )
    assert (await gw_client.get("/gateway/v1/models", headers=auth(other.secret))).status_code == 200
    async with committed.db.transaction() as s:
        assert (
            await gateway.close_upstream(s, window_id=win.window_id, at=datetime.now(UTC), reason="withdrawn")
            == 1
        )
        assert (
            await gateway.close_upstream(s, window_id=win.window_id, at=datetime.now(UTC), reason="again")
            == 0
        )
    assert_openai_error(
        await gw_client.get("/gateway/v1/models", headers=auth(other.secret)), 401, "key_revoked"
    )


async def test_a_credential_sealed_under_another_key_is_502_and_settled(
    committed: Runtime, fake_upstream: FakeUpstream, gw_client: httpx.AsyncClient
) -> None:
    import os

    from forewarn.core.keys import DataKey

    async with committed.db.transaction() as s:
        win = await world.window(s, DataKey(os.urandom(32)), fake_upstream.base_url)
        who = await world.holder(s, win)
    before = len(fake_upstream.seen)
    assert_openai_error(
        await gw_client.post(CHAT, json=chat_body(), headers=auth(who.secret)), 502, "upstream_auth"
    )
    assert len(fake_upstream.seen) == before
    (call,) = await calls_of(committed, who.key_id)
    assert call.status == 502
    async with committed.db.transaction() as s:
        assert (await gateway.get_key(s, key_id=who.key_id)).tokens_used == 0


def test_long_lived_objects_are_frozen_once_per_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full garbage collections (130-240 ms over a started app) were the p99 at concurrency 16: the
    objects alive after startup, and after the first call's lazy set-up, are moved out of their reach."""
    import gc

    from forewarn.earlyaccess.gateway import proxy

    monkeypatch.setattr(proxy, "_frozen", set())
    # Frozen objects may still be freed by other threads at any moment, so the freeze count is only
    # compared for growth; "does nothing the second time" is counted on gc.freeze itself.
    calls: list[int] = []
    real_freeze = gc.freeze

    def counting_freeze() -> None:
        calls.append(1)
        real_freeze()

    monkeypatch.setattr(gc, "freeze", counting_freeze)
    before = gc.get_freeze_count()
    try:
        assert proxy.freeze_long_lived("startup") is True
        after_startup = gc.get_freeze_count()
        assert after_startup > before and len(calls) == 1
        assert proxy.freeze_long_lived("startup") is False  # once per process
        assert len(calls) == 1
        objects = [[] for _ in range(50)]  # created after startup: not frozen yet
        assert proxy.freeze_long_lived("first-call") is True
        assert len(calls) == 2 and gc.get_freeze_count() >= after_startup
        assert objects and proxy.freeze_long_lived("first-call") is False
        assert len(calls) == 2
    finally:
        gc.unfreeze()
