"""Real clients through the gateway on a real port: the ``openai`` package, an Inspect eval, and (with
the optional ``llm`` group) the llama.cpp server with Gemma 3 270M as the upstream."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import select
from tests.conftest import LLAMA_MODEL
from tests.earlyaccess.gateway import world
from tests.earlyaccess.gateway.conftest import ThreadServer
from tests.earlyaccess.gateway.test_proxy import calls_of
from tests.earlyaccess.gateway.upstream import ANSWER_TOKENS, PROMPT_TOKENS, FakeUpstream

from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.gateway.models import Call


async def test_openai_client_through_the_gateway(
    committed: Runtime, fake_upstream: FakeUpstream, live_gateway: ThreadServer
) -> None:
    async with committed.db.transaction() as s:
        win = await world.window(s, committed.keys.data, fake_upstream.base_url)
        who = await world.holder(s, win, rate_limit_per_minute=8)
    client = openai.AsyncOpenAI(base_url=f"{live_gateway.url}/gateway/v1", api_key=who.secret, max_retries=0)
    models = await client.models.list()
    assert [m.id for m in models.data] == [world.LABEL]
    reply = await client.chat.completions.create(
        model=world.LABEL, messages=[{"role": "user", "content": "ping"}], max_tokens=4
    )
    assert reply.choices[0].message.content == "pong " * 4
    assert reply.usage is not None and reply.usage.prompt_tokens == PROMPT_TOKENS
    text = await client.completions.create(model=world.LABEL, prompt="Once", max_tokens=2)
    assert text.choices[0].text == "pong " * 2
    stream = await client.chat.completions.create(
        model=world.LABEL,
        messages=[{"role": "user", "content": "ping"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    async for chunk in stream:
        pieces.extend(c.delta.content or "" for c in chunk.choices)
        usage = chunk.usage or usage
    assert "".join(pieces) == "pong " * ANSWER_TOKENS
    assert usage is not None and usage.completion_tokens == ANSWER_TOKENS
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    # The key's rate limit (8 per minute) is reached: the client sees OpenAI's rate-limit error.
    limited = None
    for _ in range(8):
        try:
            await client.models.list()
        except openai.RateLimitError as exc:
            limited = exc
            break
    assert limited is not None and limited.status_code == 429
    async with committed.db.transaction() as s:
        await gateway.revoke_key(s, key_id=who.key_id, reason="test")
    with pytest.raises(openai.AuthenticationError):
        await client.models.list()
    statuses = [c.status for c in await calls_of(committed, who.key_id)]
    assert statuses.count(200) == 8 and statuses[-1] == 401 and 429 in statuses and 404 in statuses


async def test_an_inspect_eval_through_the_gateway(
    committed: Runtime,
    fake_upstream: FakeUpstream,
    live_gateway: ThreadServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from inspect_ai import Task, eval_async
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    async with committed.db.transaction() as s:
        win = await world.window(s, committed.keys.data, fake_upstream.base_url)
        who = await world.holder(s, win)
    monkeypatch.setenv("GATEWAY_BASE_URL", f"{live_gateway.url}/gateway/v1")
    monkeypatch.setenv("GATEWAY_API_KEY", who.secret)
    monkeypatch.setenv("INSPECT_DISPLAY", "none")
    task = Task(
        dataset=[Sample(input="Say pong.", target="pong"), Sample(input="Again.", target="pong")],
        solver=generate(),
        scorer=includes(),
    )
    (log,) = await eval_async(
        task,
        model=f"openai-api/gateway/{world.LABEL}",
        log_dir=str(tmp_path),
        max_tokens=3,
    )
    assert log.status == "success", log.error
    assert log.results is not None and log.results.scores[0].metrics["accuracy"].value == 1.0
    calls = await calls_of(committed, who.key_id)
    assert [c.status for c in calls] == [200, 200]
    assert all(c.completion_tokens == 3 and c.endpoint == "chat.completions" for c in calls)


# --- a real model upstream ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_real_model_through_the_gateway(
    committed: Runtime, llama_server: str, live_gateway: ThreadServer
) -> None:
    async with committed.db.transaction() as s:
        win = await world.window(s, committed.keys.data, llama_server, upstream_model=LLAMA_MODEL)
        who = await world.holder(s, win)
    client = openai.AsyncOpenAI(base_url=f"{live_gateway.url}/gateway/v1", api_key=who.secret, max_retries=0)
    reply = await client.chat.completions.create(
        model=world.LABEL, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8
    )
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 8
    text = await client.completions.create(model=world.LABEL, prompt="The sky is", max_tokens=6)
    assert text.choices[0].text is not None
    stream = await client.chat.completions.create(
        model=world.LABEL,
        messages=[{"role": "user", "content": "Count to three."}],
        max_tokens=8,
        stream=True,
    )
    pieces = [c.delta.content or "" async for chunk in stream for c in chunk.choices]
    assert len(pieces) >= 1
    async with committed.db.transaction() as s:
        calls = list(
            (await s.scalars(select(Call).where(Call.key_id == who.key_id).order_by(Call.started_at))).all()
        )
    assert [c.status for c in calls] == [200, 200, 200]
    assert (calls[0].prompt_tokens, calls[0].completion_tokens) == (
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
    )
    assert calls[2].stream and calls[2].completion_tokens > 0


async def test_a_caller_hanging_up_mid_stream_is_recorded(
    committed: Runtime, fake_upstream: FakeUpstream, live_gateway: ThreadServer
) -> None:
    import asyncio

    async with committed.db.transaction() as s:
        win = await world.window(s, committed.keys.data, fake_upstream.base_url, upstream_model="fake-stall")
        who = await world.holder(s, win, token_budget=100_000)
    body = {"model": world.LABEL, "messages": [{"role": "user", "content": "x"}], "stream": True}
    async with (
        httpx.AsyncClient(base_url=live_gateway.url, timeout=10) as client,
        client.stream(
            "POST",
            "/gateway/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {who.secret}"},
        ) as response,
    ):
        assert response.status_code == 200
        seen = b""
        async for chunk in response.aiter_raw():
            seen += chunk
            if seen.count(b"pong") >= 2:
                break  # the upstream now stalls; the caller leaves
    for _ in range(100):
        (call,) = await calls_of(committed, who.key_id)
        if call.status is not None:
            break
        await asyncio.sleep(0.1)
    assert (call.status, call.error_code) == (499, "client_closed")
    async with committed.db.transaction() as s:
        key = await gateway.get_key(s, key_id=who.key_id)
    # The reservation is released; the two chunks the caller got are charged (estimated: no usage).
    assert call.tokens_estimated and call.completion_tokens == 2 and key.tokens_used == call.prompt_tokens + 2
