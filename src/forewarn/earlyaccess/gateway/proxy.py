"""The OpenAI-compatible proxy: ``/gateway/v1/models``, ``/chat/completions``, ``/completions``.

Invariants:

- The only credential is a gateway key (``Authorization: Bearer fwk_...``). The routes carry the
  fail-closed rule ``policy.gateway_key_only`` (no person passes it), and the key is checked by one
  SQL statement per call (``service.admit``) that also steps the rate limiter, reserves the tokens and
  writes the call's row. Nothing about a key is cached, so revocation and expiry act on the next call.
- The caller's headers never reach the upstream (the gateway key stays here); the upstream credential
  is opened in memory per call and never reaches a log, an error or a response: upstream error text
  is cut short and scrubbed of it.
- Every admitted call is settled exactly once (status, tokens, latency, SHA-256 of the request body
  and of the bytes the caller received), also when the upstream fails, times out, or the caller goes
  away mid-stream; the settlement is shielded from cancellation. A non-streamed answer is settled
  before it is sent, so a caller never sees an answer whose record is not written.
- Under concurrent load the admissions and the settlements are written in groups (``GroupWriter``:
  admissions as the same per-call statements, in order, in one transaction; settlements as one
  statement for the group, ``service.settle_many``); a caller goes on only once
  the group carrying its own admission / settlement has committed, so the limits, "admitted before
  the upstream is called" and "settled before the answer is sent" hold as for single writes. A
  settlement that cannot be written fails its call (500, the answer is withheld).
- The hot routes are served by ``FastPath`` in front of the framework; they stay registered as routes
  (so the fail-closed access-rule check sees them) and both ways reach the same handlers.
- Every refusal and failure answers in OpenAI's error shape
  ``{"error": {"message", "type", "param", "code"}}`` with the matching HTTP status, and never hangs:
  the upstream has a connect timeout and a response / between-chunks timeout (settings), and a
  non-streamed call a total one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import itertools
import json
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

import aiohttp
import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from forewarn.core.clock import utcnow
from forewarn.core.errors import ForewarnError
from forewarn.core.logs import request_id
from forewarn.earlyaccess.gateway import policy, service
from forewarn.earlyaccess.gateway.schemas import KEY_PREFIX
from forewarn.earlyaccess.gateway.service import Admission, Executor, Refusal

if TYPE_CHECKING:
    from fastapi import FastAPI
    from psycopg_pool import AsyncConnectionPool

    from forewarn.core.jobs import Runtime
    from forewarn.core.settings import Settings

T = TypeVar("T")
R = TypeVar("R")

MAX_N = 16
MAX_REQUESTED_TOKENS = 10_000_000
#: Upstream error text echoed to the caller is cut to this many characters.
MAX_ECHO = 300
#: A caller's ``X-Request-ID`` is echoed when it looks like this (as the app's request middleware does).
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


# --- state: one upstream client and one database pool per app ------------------------------------


@dataclass
class GatewayState:
    http: aiohttp.ClientSession
    pool: AsyncConnectionPool[Any]
    opened: bool = False
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)
    admissions: GroupWriter[dict[str, Any], Admission | None] | None = None
    settlements: GroupWriter[service.Settlement, None] | None = None


def _new_state(runtime: Runtime) -> GatewayState:
    from psycopg_pool import AsyncConnectionPool

    from forewarn.core.db import libpq_url

    s = runtime.settings
    # aiohttp, not httpx, for the upstream: on this hot path its per-call cost is about a tenth of
    # httpx's (bench/gateway.py; measured 0.1 ms against 1.3 ms per call on loopback).
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=s.gateway_max_connections, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(
            total=None,
            connect=s.gateway_upstream_connect_timeout_seconds,
            sock_read=s.gateway_upstream_timeout_seconds,
        ),
        auto_decompress=True,
        trust_env=False,
    )
    # The hot path runs single statements, each its own transaction (autocommit): the reservation must
    # be visible to concurrent calls before the upstream is called, and a record durable before the
    # answer is sent. Plain psycopg with prepared statements (no ORM layer, no pre-ping round trip).
    # The commit mode is a setting (``gateway_synchronous_commit``): off by default, so a call does
    # not wait for two disk flushes; the limits do not depend on it (visibility is at commit anyway).
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        libpq_url(runtime.db.url),
        # Enough connections for a burst of concurrent callers from the start: opening one starts a
        # server process, and a pool that grows one connection at a time under a burst would make
        # the burst's first callers wait for it (not measured apart from the GC change; see docs).
        min_size=16,
        max_size=40,
        max_idle=300,
        kwargs={"autocommit": True, "options": f"-c synchronous_commit={s.gateway_synchronous_commit}"},
        open=False,
        name="forewarn-gateway",
    )
    return GatewayState(http=http, pool=pool)


def _state(app: FastAPI) -> GatewayState:
    state: GatewayState | None = getattr(app.state, "gateway", None)
    if state is None:
        state = _new_state(app.state.runtime)
        app.state.gateway = state
    return state


async def close_state(app: Any) -> None:
    state: GatewayState | None = getattr(app.state, "gateway", None)
    if state is not None:
        app.state.gateway = None
        if _orphans:  # abandoned admissions being settled
            await asyncio.gather(*_orphans, return_exceptions=True)
        for writer in (state.admissions, state.settlements):
            if writer is not None:
                await writer.drain()
        await state.http.close()
        if state.opened:
            await state.pool.close()


class GroupWriter(Generic[T, R]):
    """Group commit: one writer task, one round trip for every item that queued up meanwhile.

    A caller submits its item (an admission, a settlement) and waits until the write that carries it
    has committed, so "admitted before the upstream is called" and "settled before the answer is sent"
    hold as before. While one write is in flight, the items that arrive meanwhile queue up and go out
    together in the next (``service.admit_many``: the same statements in one pipeline and one
    transaction; ``service.settle_many``: one ``UPDATE ... FROM unnest(...)``). Under concurrent load
    that is one round trip, one commit and one wake-up of the database for several calls instead of
    one each; a lone call goes out at once, as before. The write runs in a task of its own, so a
    caller cancelled while it waits does not stop its item from being written (``orphan`` is then
    called with the item's result: an admission nobody will use is settled as abandoned). If a grouped
    write fails (e.g. a deadlock with another gateway process), each of its items is written again
    alone, so one failure fails only its own caller.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        write: Callable[[service.PreparedConnection, list[T]], Awaitable[list[R]]],
        *,
        name: str,
        orphan: Callable[[T, R], None] | None = None,
    ) -> None:
        self._pool = pool
        self._write_group = write
        self._name = name
        self._orphan = orphan
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue the item and wait until it is written; its result (raises what the write raised)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, done))
        if self._writer is None:
            self._writer = loop.create_task(self._write(), name=self._name)
        try:
            # shield: a cancelled caller stops waiting; the write goes on
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            if self._orphan is not None:
                orphan = self._orphan

                def written(f: asyncio.Future[R]) -> None:
                    if not f.cancelled() and f.exception() is None:
                        orphan(item, f.result())

                done.add_done_callback(written)
            raise

    async def drain(self) -> None:
        """Wait for the items already queued (at shutdown)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._execute([item for item, _ in batch])
                except Exception:  # every item is written again alone just below
                    for item, done in batch:
                        try:
                            (result,) = await self._execute([item])
                        except Exception as exc:  # handed to the caller that waits
                            _fail(done, exc)
                        else:
                            _succeed(done, result)
                else:
                    for (_, done), result in zip(batch, results, strict=True):
                        _succeed(done, result)
                batch = []
        except BaseException as exc:  # cancelled (the loop is shutting down): nobody may wait forever
            failure = exc if isinstance(exc, Exception) else RuntimeError("the gateway's writer stopped")
            for _, done in batch + self._pending:
                _fail(done, failure)
            self._pending = []
            raise
        finally:
            self._writer = None

    async def _execute(self, items: list[T]) -> list[R]:
        async with self._pool.connection() as conn:
            return await self._write_group(service.PreparedConnection(conn), items)


def _succeed(done: asyncio.Future[R], result: R) -> None:
    if not done.done():
        done.set_result(result)


def _fail(done: asyncio.Future[R], error: Exception) -> None:
    if not done.done():
        done.set_exception(error)


async def _settle_group(db: service.PreparedConnection, items: list[service.Settlement]) -> list[None]:
    await service.settle_many(db, items)
    return [None] * len(items)


_frozen: set[str] = set()


def freeze_long_lived(stage: Literal["startup", "first-call"]) -> bool:
    """Move the objects alive after startup (modules, routes, models: ~200k) out of the collector's reach.

    Python's full (generation 2) collection walks every tracked object; in a started forewarn process
    that took 130-240 ms on the 2-core bench machine, a few times a minute under load, stalling every
    call in flight: it was the gateway's p99 at concurrency 16 (bench/gateway.py). Objects that live
    as long as the process never become garbage, so ``gc.freeze()`` keeps them out of later
    collections. Two stages, each once per process: ``startup`` (collect, then freeze) and
    ``first-call`` (what the first call initialised lazily: the pool, imports, caches). The collector
    keeps running for everything created afterwards. True if this call froze.
    """
    if stage in _frozen:
        return False
    _frozen.add(stage)
    if stage == "startup":
        gc.collect()
    gc.freeze()
    return True


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    freeze_long_lived("startup")
    try:
        yield
    finally:
        await close_state(app)


async def _opened(app: FastAPI) -> GatewayState:
    state = _state(app)
    if not state.opened:
        async with state.opening:
            if not state.opened:
                await state.pool.open()
                state.admissions = GroupWriter(
                    state.pool,
                    service.admit_many,
                    name="forewarn-gateway-admissions",
                    orphan=lambda _, admission: _orphaned(app, admission),
                )
                state.settlements = GroupWriter(
                    state.pool, _settle_group, name="forewarn-gateway-settlements"
                )
                state.opened = True
                freeze_long_lived("first-call")
    return state


@contextlib.asynccontextmanager
async def _db(app: FastAPI) -> AsyncIterator[Executor]:
    override = getattr(app.state, "session_override", None)
    if override is not None:  # tests: the test's transaction, rolled back at its end
        async with override() as session:
            yield session
        return
    state = await _opened(app)
    async with state.pool.connection() as conn:
        yield service.PreparedConnection(conn)


# --- errors in OpenAI's shape ----------------------------------------------------------------------


def openai_error(
    status: int,
    message: str,
    *,
    type: str,
    code: str | None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _refused(reason: Refusal) -> JSONResponse:
    headers = {"Retry-After": str(reason.retry_after)} if reason.retry_after else None
    return openai_error(
        reason.status, reason.message, type=reason.type, code=reason.code, param=reason.param, headers=headers
    )


_NO_KEY = Refusal(
    401,
    "invalid_api_key",
    "invalid_request_error",
    "a gateway key is required: 'Authorization: Bearer fwk_...'; the key is unknown or malformed",
)


def _bad(message: str, param: str | None = None, status: int = 400) -> Refusal:
    return Refusal(status, "invalid_request_body", "invalid_request_error", message, param=param)


# --- the rule and the key ----------------------------------------------------------------------------


def key_hash_of(authorization: str) -> bytes | None:
    """The SHA-256 of the ``fwk_`` key in an ``Authorization: Bearer`` header value, or None."""
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith(KEY_PREFIX) or not 16 <= len(value) <= 128:
        return None
    return service.hash_secret(value)


def key_auth() -> Callable[[Request], Awaitable[bytes | None]]:
    """The proxy's guard: the SHA-256 of a well-formed ``fwk_`` bearer key, or None (answered 401)."""

    async def guard(request: Request) -> bytes | None:
        return key_hash_of(request.headers.get("authorization", ""))

    guard.__forewarn_rule__ = policy.gateway_key_only  # type: ignore[attr-defined]
    guard.__name__ = "require_gateway_key"
    return guard


KeyHash = Annotated[bytes | None, Depends(key_auth())]

router = APIRouter(prefix="/gateway/v1", tags=["gateway"], include_in_schema=False, lifespan=_lifespan)


# --- request parsing ---------------------------------------------------------------------------------


@dataclass
class Parsed:
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    reserve: int


def _positive_int(body: dict[str, Any], name: str, upper: int) -> int | Refusal | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
        return _bad(f"'{name}' must be an integer from 1 to {upper}", name)
    return value


def parse_request(raw: bytes, *, endpoint: str, settings: Settings) -> Parsed | Refusal:
    """Check a chat or completions body; compute the tokens to reserve (pure)."""
    if len(raw) > settings.gateway_max_body_bytes:
        return _bad(
            f"the request body is larger than the gateway's limit of {settings.gateway_max_body_bytes} bytes",
            status=413,
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return _bad(f"the body is not valid JSON: {str(exc)[:120]}")
    if not isinstance(body, dict):
        return _bad("the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > 200:
        return _bad("'model' is required: the model name your key gives access to", "model")
    if endpoint == "chat.completions":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return _bad("'messages' must be a non-empty array of message objects", "messages")
    else:
        prompt = body.get("prompt")
        if not isinstance(prompt, str | list) or (isinstance(prompt, list) and not prompt):
            return _bad("'prompt' must be a string or a non-empty array", "prompt")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        return _bad("'stream' must be true or false", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        return _bad("'stream_options' must be an object", "stream_options")
    include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
    n = _positive_int(body, "n", MAX_N)
    if isinstance(n, Refusal):
        return n
    limits = [
        _positive_int(body, name, MAX_REQUESTED_TOKENS) for name in ("max_tokens", "max_completion_tokens")
    ]
    for limit in limits:
        if isinstance(limit, Refusal):
            return limit
    given = [x for x in limits if isinstance(x, int)]
    if given:
        max_tokens = max(given)
    else:
        # Unbounded answers would make the budget meaningless: the gateway sets the bound it reserves.
        max_tokens = settings.gateway_default_max_tokens
        body["max_tokens"] = max_tokens
    # A prompt has at most as many tokens as half its request's bytes for the tokenizers in use
    # (about four bytes per token in English text); settlement charges what the upstream reports.
    reserve = math.ceil(len(raw) / 2) + max_tokens * (n or 1)
    if stream:
        body["stream_options"] = {**(options or {}), "include_usage": True}
    return Parsed(body=body, model=model, stream=stream, include_usage=include_usage, reserve=reserve)


# --- admission ---------------------------------------------------------------------------------------


#: The budget was held by calls in flight at each try; they may release it: the caller retries.
_BUDGET_IN_FLIGHT = Refusal(
    429,
    "insufficient_quota",
    "insufficient_quota",
    "the key's remaining token budget is held by its calls in flight; retry shortly",
    retry_after=1,
)


async def _admit_once(app: FastAPI, *, now: datetime, **args: Any) -> Admission | None:
    if getattr(app.state, "session_override", None) is None:
        writer = (await _opened(app)).admissions
        if writer is not None:
            return await writer.submit(service.admission_params(now=now, **args))
    async with _db(app) as db:
        return await service.admit(db, now=now, **args)


async def _admit(
    app: FastAPI,
    *,
    key_hash: bytes,
    model: str | None,
    reserve: int,
    endpoint: str,
    stream: bool,
    request_sha256: bytes,
) -> Admission | Refusal:
    args: dict[str, Any] = {
        "key_hash": key_hash,
        "model": model,
        "reserve": reserve,
        "endpoint": endpoint,
        "stream": stream,
        "request_sha256": request_sha256,
    }
    for attempt in range(4):
        now = utcnow()
        admitted = await _admit_once(app, now=now, **args)
        if admitted is not None:
            return admitted
        # Refused: read why (and record it). No reason means a reservation was released meanwhile.
        last = attempt == 3
        async with _db(app) as db:
            known, reason = await service.diagnose(
                db, now=now, malformed=_BUDGET_IN_FLIGHT if last else None, **args
            )
        if not known:
            return _NO_KEY
        if reason is not None:
            return reason
    return _BUDGET_IN_FLIGHT


# --- usage metering --------------------------------------------------------------------------------


def _usage(payload: Any) -> tuple[int, int] | None:
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int) or prompt < 0 or completion < 0:
        return None
    return prompt, completion


@dataclass
class StreamMeter:
    """Splits an upstream SSE stream into events, reads the usage chunk, counts content events.

    When the caller did not ask for usage, the usage-only chunk the gateway asked for is dropped, so
    the caller gets the stream it would get from the upstream directly.
    """

    include_usage: bool
    usage: tuple[int, int] | None = None
    content_events: int = 0
    _buffer: bytes = b""
    digest: Any = field(default_factory=hashlib.sha256)

    def feed(self, chunk: bytes) -> bytes:
        self._buffer += chunk
        if b"\r" in self._buffer:  # on the whole buffer: a CRLF may be split across two chunks
            self._buffer = self._buffer.replace(b"\r\n", b"\n")
        out = []
        while (end := self._buffer.find(b"\n\n")) >= 0:
            event, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
            if self._keep(event):
                out.append(event)
        data = b"".join(out)
        self.digest.update(data)
        return data

    def flush(self) -> bytes:
        data, self._buffer = self._buffer, b""
        self.digest.update(data)
        return data

    def _keep(self, event: bytes) -> bool:
        payload = b"".join(line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:"))
        if not payload or payload == b"[DONE]":
            return True
        usage_only = False
        if b'"usage"' in payload:
            try:
                parsed = json.loads(payload)
            except ValueError:
                parsed = None
            found = _usage(parsed)
            if found is not None:
                self.usage = found
                usage_only = isinstance(parsed, dict) and not parsed.get("choices")
        if usage_only:
            return self.include_usage
        self.content_events += 1
        return True


def _scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    return text[:MAX_ECHO]


def _upstream_refusal(status: int, raw: bytes, secret: str | None) -> Refusal:
    """Map an upstream error response to the caller's error (never echoing the credential)."""
    detail = ""
    try:
        payload = json.loads(raw)
        error = payload.get("error") if isinstance(payload, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str):
            detail = _scrub(message, secret)
    except ValueError:
        pass
    suffix = f": {detail}" if detail else ""
    if status in (400, 404, 409, 413, 422):
        return Refusal(
            status,
            "upstream_rejected",
            "invalid_request_error",
            f"the model server refused the request{suffix}",
        )
    if status == 429:
        return Refusal(
            429, "upstream_rate_limited", "rate_limit_error", "the model server is rate limiting; retry later"
        )
    if status in (401, 403):
        return Refusal(
            502, "upstream_auth", "upstream_error", "the model server refused the programme's credential"
        )
    return Refusal(502, "upstream_error", "upstream_error", f"the model server failed (HTTP {status})")


_TIMEOUT = Refusal(504, "upstream_timeout", "upstream_error", "the model server did not answer in time")


def _unreachable(exc: Exception) -> Refusal:
    return Refusal(
        502,
        "upstream_unreachable",
        "upstream_error",
        f"the model server is unreachable ({type(exc).__name__})",
    )


# --- the routes --------------------------------------------------------------------------------------


async def _settle(
    app: FastAPI,
    admission: Admission,
    *,
    started: float,
    status: int,
    error_code: str | None,
    usage: tuple[int, int] | None,
    estimate: tuple[int, int],
    response_sha256: bytes | None,
) -> None:
    prompt, completion = usage if usage is not None else estimate
    item = service.Settlement(
        call_id=admission.call_id,
        now=utcnow(),
        status=status,
        error_code=error_code,
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimated=usage is None,
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
        response_sha256=response_sha256,
    )
    if getattr(app.state, "session_override", None) is None:
        queue = (await _opened(app)).settlements
        if queue is not None:
            await queue.submit(item)
            return
    async with _db(app) as db:
        await service.settle(db, **vars(item))


_orphans: set[asyncio.Task[None]] = set()


def _orphaned(app: FastAPI, admission: Admission | None) -> None:
    """An admission was written after its caller had gone (cancelled while it waited): settle it as 499."""
    if admission is None:
        return
    task = asyncio.get_running_loop().create_task(_settle_abandoned(app, admission, time.perf_counter()))
    _orphans.add(task)
    task.add_done_callback(_orphans.discard)


async def _settle_abandoned(app: FastAPI, admission: Admission, started: float) -> None:
    """Settle a call whose caller went away (or was cancelled) as 499, shielded from the cancellation."""
    with anyio.CancelScope(shield=True):
        await _settle(
            app,
            admission,
            started=started,
            status=499,
            error_code="client_closed",
            usage=None,
            estimate=(0, 0),
            response_sha256=None,
        )


def _call_headers(admission: Admission) -> dict[str, str]:
    return {"x-forewarn-call-id": str(admission.call_id)}


async def _proxy(
    app: FastAPI, body: Callable[[], Awaitable[bytes]], key_hash: bytes | None, endpoint: str, path: str
) -> Response:
    started = time.perf_counter()
    if key_hash is None:
        return _refused(_NO_KEY)
    runtime: Runtime = app.state.runtime
    settings = runtime.settings
    raw = await body()
    request_sha256 = hashlib.sha256(raw).digest()
    parsed = parse_request(raw, endpoint=endpoint, settings=settings)
    if isinstance(parsed, Refusal):
        async with _db(app) as db:
            known, reason = await service.diagnose(
                db,
                key_hash=key_hash,
                now=utcnow(),
                model=None,
                reserve=0,
                endpoint=endpoint,
                stream=False,
                request_sha256=request_sha256,
                malformed=parsed,
            )
        return _refused(reason if known and reason is not None else _NO_KEY)
    admitted = await _admit(
        app,
        key_hash=key_hash,
        model=parsed.model,
        reserve=parsed.reserve,
        endpoint=endpoint,
        stream=parsed.stream,
        request_sha256=request_sha256,
    )
    if isinstance(admitted, Refusal):
        return _refused(admitted)
    admission = admitted
    try:
        secret = admission.credential(runtime.keys.data)
    except ForewarnError:  # sealed under another data key, or tampered with: the lab must re-register it
        failure = Refusal(
            502, "upstream_auth", "upstream_error", "the programme cannot open the window's model credential"
        )
        await _settle(
            app,
            admission,
            started=started,
            status=failure.status,
            error_code=failure.code,
            usage=(0, 0),
            estimate=(0, 0),
            response_sha256=None,
        )
        return _refused(failure)
    parsed.body["model"] = admission.upstream_model
    headers = {"content-type": "application/json", "accept-encoding": "identity"}
    if secret:
        headers["authorization"] = f"Bearer {secret}"
    upstream_request = Upstream(f"{admission.base_url}/{path}", json.dumps(parsed.body).encode(), headers)
    estimate_prompt = math.ceil(len(raw) / 4)
    if parsed.stream:
        return await _stream(app, admission, upstream_request, parsed, started, estimate_prompt, secret)
    return await _whole(app, admission, upstream_request, started, estimate_prompt, secret, settings)


@dataclass(frozen=True)
class Upstream:
    url: str
    body: bytes
    headers: dict[str, str]


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


async def _whole(
    app: FastAPI,
    admission: Admission,
    upstream_request: Upstream,
    started: float,
    estimate_prompt: int,
    secret: str | None,
    settings: Settings,
) -> Response:
    http = _state(app).http
    refusal: Refusal | None = None
    body: bytes | None = None
    status = 502
    content_type = "application/json"
    try:
        async with asyncio.timeout(settings.gateway_upstream_timeout_seconds):
            async with http.post(
                upstream_request.url, data=upstream_request.body, headers=upstream_request.headers
            ) as response:
                status = response.status
                content_type = response.headers.get("content-type", content_type)
                body = await _read_limited(response, settings.gateway_max_response_bytes)
    except TimeoutError:
        refusal = _TIMEOUT
    except aiohttp.ClientError as exc:
        refusal = _unreachable(exc)
    except BaseException:
        await _settle_abandoned(app, admission, started)
        raise
    if refusal is None and body is None:
        refusal = Refusal(
            502, "upstream_too_large", "upstream_error", "the model server's answer is too large"
        )
    if refusal is None and body is not None and not 200 <= status < 300:
        refusal = _upstream_refusal(status, body, secret)
    if refusal is not None or body is None:
        refusal = refusal or _TIMEOUT
        await _settle(
            app,
            admission,
            started=started,
            status=refusal.status,
            error_code=refusal.code,
            usage=(0, 0),
            estimate=(0, 0),
            response_sha256=None,
        )
        response_out = _refused(refusal)
        response_out.headers.update(_call_headers(admission))
        return response_out
    usage = None
    if b'"usage"' in body:
        with contextlib.suppress(ValueError):
            usage = _usage(json.loads(body))
    await _settle(
        app,
        admission,
        started=started,
        status=status,
        error_code=None,
        usage=usage,
        estimate=(estimate_prompt, math.ceil(len(body) / 4)),
        response_sha256=hashlib.sha256(body).digest(),
    )
    return Response(body, status_code=status, media_type=content_type, headers=_call_headers(admission))


def _sse_error(refusal: Refusal) -> bytes:
    body = {"error": {"message": refusal.message, "type": refusal.type, "param": None, "code": refusal.code}}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def _stream(
    app: FastAPI,
    admission: Admission,
    upstream_request: Upstream,
    parsed: Parsed,
    started: float,
    estimate_prompt: int,
    secret: str | None,
) -> Response:
    http = _state(app).http
    try:
        response = await http.post(
            upstream_request.url, data=upstream_request.body, headers=upstream_request.headers
        )
    except TimeoutError:
        refusal: Refusal | None = _TIMEOUT
    except aiohttp.ClientError as exc:
        refusal = _unreachable(exc)
    except BaseException:
        await _settle_abandoned(app, admission, started)
        raise
    else:
        refusal = None
    if refusal is None and not 200 <= response.status < 300:
        try:
            raw = await _read_limited(response, 65_536)
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        finally:
            response.release()
        refusal = _upstream_refusal(response.status, raw or b"", secret)
    if refusal is not None:
        await _settle(
            app,
            admission,
            started=started,
            status=refusal.status,
            error_code=refusal.code,
            usage=(0, 0),
            estimate=(0, 0),
            response_sha256=None,
        )
        out = _refused(refusal)
        out.headers.update(_call_headers(admission))
        return out
    meter = StreamMeter(include_usage=parsed.include_usage)

    async def events() -> AsyncIterator[bytes]:
        status, code = 200, None
        try:
            async for chunk in response.content.iter_any():
                data = meter.feed(chunk)
                if data:
                    yield data
            tail = meter.flush()
            if tail:
                yield tail
        except TimeoutError:
            status, code = 504, "upstream_timeout"
            error = _sse_error(_TIMEOUT)
            meter.digest.update(error)
            yield error
        except aiohttp.ClientError as exc:
            failure = _unreachable(exc)
            status, code = failure.status, failure.code
            error = _sse_error(failure)
            meter.digest.update(error)
            yield error
        except BaseException:
            status, code = 499, "client_closed"
            raise
        finally:
            with anyio.CancelScope(shield=True):
                # A stream read to its end gives its connection back to the pool; a broken one is shut.
                if status == 200:
                    response.release()
                else:
                    response.close()
                await _settle(
                    app,
                    admission,
                    started=started,
                    status=status,
                    error_code=code,
                    usage=meter.usage,
                    estimate=(estimate_prompt, meter.content_events),
                    response_sha256=meter.digest.digest(),
                )

    return StreamingResponse(
        events(),
        status_code=200,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", **_call_headers(admission)},
    )


@router.post("/chat/completions", name="gateway_chat_completions")
async def chat_completions(request: Request, key_hash: KeyHash) -> Response:
    """OpenAI chat completions through the window's upstream (``stream: true`` supported)."""
    return await _proxy(request.app, request.body, key_hash, "chat.completions", "chat/completions")


@router.post("/completions", name="gateway_completions")
async def completions(request: Request, key_hash: KeyHash) -> Response:
    """OpenAI (legacy) completions through the window's upstream (``stream: true`` supported)."""
    return await _proxy(request.app, request.body, key_hash, "completions", "completions")


async def _models(app: FastAPI, key_hash: bytes | None, model: str | None) -> Response:
    started = time.perf_counter()
    if key_hash is None:
        return _refused(_NO_KEY)
    request_sha256 = hashlib.sha256(b"").digest()
    admitted = await _admit(
        app,
        key_hash=key_hash,
        model=model,
        reserve=0,
        endpoint="models",
        stream=False,
        request_sha256=request_sha256,
    )
    if isinstance(admitted, Refusal):
        return _refused(admitted)
    entry = {
        "id": admitted.model_label,
        "object": "model",
        "created": 0,
        "owned_by": "forewarn-gateway",
    }
    body = json.dumps(entry if model is not None else {"object": "list", "data": [entry]}).encode()
    await _settle(
        app,
        admitted,
        started=started,
        status=200,
        error_code=None,
        usage=(0, 0),
        estimate=(0, 0),
        response_sha256=hashlib.sha256(body).digest(),
    )
    return Response(body, media_type="application/json", headers=_call_headers(admitted))


@router.get("/models", name="gateway_models")
async def models(request: Request, key_hash: KeyHash) -> Response:
    """The one model the key gives access to."""
    return await _models(request.app, key_hash, None)


@router.get("/models/{model:path}", name="gateway_model")
async def model(request: Request, key_hash: KeyHash, model: str) -> Response:
    """The model, if it is the one the key gives access to (404 otherwise)."""
    return await _models(request.app, key_hash, model)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], name="gateway_unknown")
async def unknown(request: Request, key_hash: KeyHash, rest: str) -> Response:
    """Anything else under the gateway: OpenAI's 'not found' (the gateway serves three endpoints)."""
    if key_hash is None:
        return _refused(_NO_KEY)
    return openai_error(
        404,
        f"the gateway serves /models, /chat/completions and /completions; not /{rest[:100]}",
        type="invalid_request_error",
        code="unknown_url",
    )


# --- the fast path: the hot routes served in front of the framework ----------------------------------

PREFIX = "/gateway/v1/"
_CHAT = PREFIX + "chat/completions"
_COMPLETIONS = PREFIX + "completions"
_MODELS = PREFIX + "models"
_RID_PREFIX = os.urandom(8).hex()
_rid_counter = itertools.count(1)
log = logging.getLogger("forewarn.http")


def _route_of(method: str, path: str) -> str | None:
    """The route template of a hot gateway route (as FastAPI names it), or None for anything else."""
    if method == "POST":
        if path == _CHAT:
            return "/gateway/v1/chat/completions"
        if path == _COMPLETIONS:
            return "/gateway/v1/completions"
    elif method == "GET":
        if path == _MODELS:
            return "/gateway/v1/models"
        if path.startswith(_MODELS + "/"):
            return "/gateway/v1/models/{model:path}"
    return None


class _TooLarge(Exception):
    pass


class _CallerGone(Exception):
    pass


class FastPath:
    """ASGI middleware (the outermost one): serves the gateway's hot routes without routing or DI.

    ``POST /gateway/v1/chat/completions``, ``POST /gateway/v1/completions``, ``GET /gateway/v1/models``
    and ``GET /gateway/v1/models/{model}`` are dispatched here, straight to the same handlers the
    routes above call; everything else (other paths and methods under ``/gateway/v1/`` too) goes on to
    the app. FastAPI's route matching (~30 routers tried in turn), its dependency system and the
    general request middleware cost more CPU per call than the gateway's own work (profiled with
    py-spy under ``bench/gateway.py``; see docs/gateway.md). The routes stay registered, so the
    fail-closed access-rule check and the route table still see them, and a deployment without this
    middleware serves the same answers. What the general middleware does is done here too, cheaply:
    the request id (``X-Request-ID``: the caller's when sane, else a fresh one), the app's body-size
    limit (413 in OpenAI's shape), the access log line and the Prometheus metrics.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, requests: Any, latency: Any) -> None:
        self.app = app
        self.max_body = max_body
        self._requests = requests
        self._latency = latency
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route_of(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        authorization = ""
        incoming = ""
        declared: bytes | None = None
        for raw_name, value in scope["headers"]:
            name = raw_name.lower()
            if name == b"authorization":
                authorization = authorization or value.decode("latin-1")
            elif name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        rid = incoming if _SANE_ID.match(incoming) else f"{_RID_PREFIX}{next(_rid_counter):016x}"
        token = request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        try:
            response: Response | None
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
                response = self._too_large()
            else:
                response = await self._answer(scope, receive, route, authorization)
            if response is None:  # the caller went away before its request was read: no one to answer
                status = 499
                return
            status = response.status_code
            response.raw_headers.append((b"x-request-id", rid.encode()))
            await response(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - started
            self._observe(scope["method"], route, status, elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round(elapsed * 1000, 1),
                },
            )
            request_id.reset(token)

    async def _answer(
        self, scope: Scope, receive: Receive, route: str, authorization: str
    ) -> Response | None:
        app: FastAPI = scope["app"]
        key_hash = key_hash_of(authorization)
        if scope["method"] == "GET":
            model = scope["path"][len(_MODELS) + 1 :] if route.endswith("{model:path}") else None
            return await _models(app, key_hash, model)
        limit = self.max_body

        async def body() -> bytes:
            parts: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":  # http.disconnect
                    raise _CallerGone
                chunk: bytes = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _TooLarge
                parts.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(parts)

        endpoint, path = (
            ("chat.completions", "chat/completions") if route.endswith("chat/completions") else
            ("completions", "completions")
        )
        try:
            return await _proxy(app, body, key_hash, endpoint, path)
        except _TooLarge:
            return self._too_large()
        except _CallerGone:
            return None

    def _too_large(self) -> Response:
        return openai_error(
            413,
            f"the request body is larger than the limit of {self.max_body} bytes",
            type="invalid_request_error",
            code="request_too_large",
        )

    def _observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self._requests.labels(method, route, str(status)),
                self._latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
