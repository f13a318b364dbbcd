"""The model gateway's service: upstreams, scoped keys, admission and usage records.

Invariants (gateway keys):

- A key's secret (``fwk_`` + 43 url-safe characters, 256 random bits) is returned once, by
  :func:`issue_key`; only its SHA-256 is stored. Neither it nor the upstream credential ever reaches a
  log line, an error, a response or the ledger (the ledger gets ids only).
- A key admits a call only if, at the gateway clock's ``now``: it is not revoked, ``now < expires_at``
  (its window's ``closes_at``), its window's upstream is open (``opens_at <= now < closes_at`` and not
  closed), the call names the window's model, the key's rate limit has room (GCRA, one request per
  ``60 / rate_limit_per_minute`` s with a burst of ``rate_limit_per_minute``), and
  ``tokens_used + tokens_reserved + reservation <= token_budget``.
- That check, the rate-limiter step, the token reservation and the call's usage row are ONE SQL
  statement (an ``UPDATE ... RETURNING`` on the key row, which PostgreSQL serialises per row), so the
  limits hold under any number of concurrent callers and gateway processes. A call's settlement
  (actual tokens, status, hashes) is one statement too, idempotent (it only settles a call in flight).
  The proxy may write several calls' admissions in one transaction (:func:`admit_many`: the same
  statements in order, so each sees the ones before it) and several settlements in one statement
  (:func:`settle_many`); both lock the keys they touch in id order.
- Revocation and closing take effect on the next request: nothing about a key is cached.
- The upstream credential is sealed with the programme data key; its associated data binds it to
  the window id, so a sealed credential cannot be moved to another window.
- Every admitted call has a ``gateway_calls`` row written before the upstream is called; refused calls
  of a known key are recorded too. Request and response bodies are not stored, only their SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import TextClause, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from forewarn.core.clock import utcnow
from forewarn.core.db import new_id
from forewarn.core.errors import Conflict, InvalidInput, NotFound, Problem
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.gateway.models import Call, Key, Upstream
from forewarn.earlyaccess.gateway.schemas import (
    KEY_PREFIX,
    IssuedKey,
    KeyOut,
    OrgUsage,
    UpstreamOut,
    UsageSummary,
    WindowUsage,
)
from forewarn.ledger import service as ledger

#: Characters of the secret kept as its visible prefix ("fwk_" and 8 more).
PREFIX_CHARS = 12
MAX_RATE_LIMIT = 100_000
MAX_TOKEN_BUDGET = 10**12


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None


@functools.cache
def _pyformat(sql: str) -> str:
    """``:name`` (SQLAlchemy text) to ``%(name)s`` (psycopg); the statements here have no ``::``/``%``."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)


class PreparedConnection:
    """A psycopg connection in autocommit mode that runs this module's hot-path statements as
    server-side prepared statements (a few times cheaper per call than going through SQLAlchemy)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, statement: TextClause, params: dict[str, Any]) -> _Rows:
        from psycopg.rows import namedtuple_row

        cursor = self.conn.cursor(row_factory=namedtuple_row)
        await cursor.execute(_pyformat(statement.text), params, prepare=True)
        return _Rows(await cursor.fetchall() if cursor.description is not None else [])


Executor = AsyncSession | AsyncConnection | PreparedConnection


def _aad(window_id: uuid.UUID) -> bytes:
    return b"forewarn gateway upstream credential\n" + str(window_id).encode()


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _upstream_out(row: Upstream) -> UpstreamOut:
    return UpstreamOut(
        id=row.id,
        window_id=row.window_id,
        lab_organisation_id=row.lab_organisation_id,
        model_label=row.model_label,
        base_url=row.base_url,
        upstream_model=row.upstream_model,
        has_credential=row.credential_sealed is not None,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        closed_at=row.closed_at,
        close_reason=row.close_reason,
    )


def _key_state(row: Key, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if now >= row.expires_at:
        return "expired"
    return "active"


def _key_out(row: Key, model_label: str, now: datetime) -> KeyOut:
    return KeyOut(
        id=row.id,
        window_id=row.window_id,
        model_label=model_label,
        holder_person_id=row.holder_person_id,
        holder_organisation_id=row.holder_organisation_id,
        prefix=row.prefix,
        rate_limit_per_minute=row.rate_limit_per_minute,
        token_budget=row.token_budget,
        tokens_used=row.tokens_used,
        tokens_remaining=max(row.token_budget - row.tokens_used, 0),
        issued_by=row.issued_by,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
        state=_key_state(row, now),
    )


def _check_base_url(base_url: str) -> str:
    from urllib.parse import urlsplit

    value = base_url.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise InvalidInput(
            "invalid upstream",
            problems=[Problem("base_url", "must be an http(s) URL without user name or password")],
        )
    if len(value) > 500:
        raise InvalidInput("invalid upstream", problems=[Problem("base_url", "at most 500 characters")])
    return value


def _check_text(field: str, value: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit or any(ord(c) < 32 for c in value):
        raise InvalidInput(
            "invalid upstream", problems=[Problem(field, f"1 to {limit} printable characters")]
        )
    return value


# --- upstreams -------------------------------------------------------------------------------------


async def open_upstream(
    session: AsyncSession,
    *,
    window_id: uuid.UUID,
    lab_organisation_id: uuid.UUID,
    model_label: str,
    base_url: str,
    upstream_model: str,
    credential: SecretStr | None,
    opens_at: datetime,
    closes_at: datetime,
    key: DataKey,
) -> UpstreamOut:
    """Create the window's upstream, or replace its endpoint and credential while it is open.

    On a replacement, ``credential=None`` keeps the current credential and an empty one removes it.
    """
    label = _check_text("model_label", model_label, 200)
    target_model = _check_text("upstream_model", upstream_model, 200)
    url = _check_base_url(base_url)
    if closes_at <= opens_at:
        raise InvalidInput("invalid upstream", problems=[Problem("closes_at", "must be after opens_at")])
    sealed = (
        key.seal(credential.get_secret_value().encode(), aad=_aad(window_id))
        if credential is not None and credential.get_secret_value()
        else None
    )
    row = await session.scalar(select(Upstream).where(Upstream.window_id == window_id).with_for_update())
    if row is None:
        row = Upstream(
            id=new_id(),
            window_id=window_id,
            lab_organisation_id=lab_organisation_id,
            model_label=label,
            base_url=url,
            upstream_model=target_model,
            credential_sealed=sealed,
            opens_at=opens_at,
            closes_at=closes_at,
        )
        session.add(row)
    else:
        if row.closed_at is not None:
            raise Conflict("the window's gateway upstream is closed; it cannot be changed")
        if row.lab_organisation_id != lab_organisation_id:
            raise Conflict("the window belongs to another lab")
        row.model_label = label
        row.base_url = url
        row.upstream_model = target_model
        if credential is not None:
            row.credential_sealed = sealed
        row.opens_at = opens_at
        row.closes_at = closes_at
        # Keys die with the window: they follow a changed closing time.
        await session.execute(
            update(Key)
            .where(Key.window_id == window_id, Key.revoked_at.is_(None))
            .values(expires_at=closes_at)
        )
    await session.flush()
    return _upstream_out(row)


async def get_upstream(session: AsyncSession, *, window_id: uuid.UUID) -> UpstreamOut:
    row = await session.scalar(select(Upstream).where(Upstream.window_id == window_id))
    if row is None:
        raise NotFound("this window has no gateway upstream")
    return _upstream_out(row)


async def close_upstream(session: AsyncSession, *, window_id: uuid.UUID, at: datetime, reason: str) -> int:
    """Close the window's upstream and revoke every live key of the window; return how many (idempotent)."""
    row = await session.scalar(select(Upstream).where(Upstream.window_id == window_id).with_for_update())
    if row is None:
        return 0
    if row.closed_at is None:
        row.closed_at = at
        row.close_reason = reason[:500]
    return await _revoke(session, Key.window_id == window_id, reason=reason, at=at)


# --- keys ------------------------------------------------------------------------------------------


async def issue_key(
    session: AsyncSession,
    *,
    window_id: uuid.UUID,
    holder_person_id: uuid.UUID,
    holder_organisation_id: uuid.UUID,
    issued_by_person_id: uuid.UUID | None,
    rate_limit_per_minute: int,
    token_budget: int,
) -> IssuedKey:
    """Issue a scoped key for the window; the caller has decided the holder may have one."""
    problems = []
    if not 1 <= rate_limit_per_minute <= MAX_RATE_LIMIT:
        problems.append(Problem("rate_limit_per_minute", f"between 1 and {MAX_RATE_LIMIT}"))
    if not 1 <= token_budget <= MAX_TOKEN_BUDGET:
        problems.append(Problem("token_budget", f"between 1 and {MAX_TOKEN_BUDGET}"))
    if problems:
        raise InvalidInput("invalid key", problems=problems)
    upstream = await session.scalar(select(Upstream).where(Upstream.window_id == window_id))
    now = utcnow()
    if upstream is None:
        raise Conflict("the window has no gateway upstream yet: the lab has not registered its endpoint")
    if upstream.closed_at is not None or now >= upstream.closes_at:
        raise Conflict("the window is closed: no key can be issued for it")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = Key(
        id=new_id(),
        window_id=window_id,
        holder_person_id=holder_person_id,
        holder_organisation_id=holder_organisation_id,
        prefix=secret[:PREFIX_CHARS],
        key_hash=hash_secret(secret),
        rate_limit_per_minute=rate_limit_per_minute,
        token_budget=token_budget,
        tokens_used=0,
        tokens_reserved=0,
        issued_by=issued_by_person_id,
        issued_at=now,
        expires_at=upstream.closes_at,
    )
    session.add(row)
    await session.flush()
    await ledger.append(
        session,
        type="gateway.key_issued",
        actor_organisation_id=None,
        subjects=[
            ("gateway_key", row.id),
            ("window", window_id),
            ("person", holder_person_id),
            ("organisation", holder_organisation_id),
        ],
        reason="A reviewer was issued a scoped key to the window's model",
    )
    return IssuedKey(
        id=row.id, window_id=window_id, prefix=row.prefix, expires_at=row.expires_at, secret=SecretStr(secret)
    )


async def _revoke(session: AsyncSession, condition: Any, *, reason: str, at: datetime | None = None) -> int:
    moment = at or utcnow()
    ids = list(
        (
            await session.scalars(
                update(Key)
                .where(condition, Key.revoked_at.is_(None))
                .values(revoked_at=moment, revoke_reason=reason[:500])
                .returning(Key.id)
            )
        ).all()
    )
    for key_id in ids:
        await ledger.append(
            session,
            type="gateway.key_revoked",
            actor_organisation_id=None,
            subjects=[("gateway_key", key_id)],
            reason=reason[:500] or "revoked",
        )
    return len(ids)


async def revoke_key(session: AsyncSession, *, key_id: uuid.UUID, reason: str) -> None:
    """Revoke one key (effective on its next request). Revoking a revoked key does nothing."""
    if await session.get(Key, key_id) is None:
        raise NotFound("no such key")
    await _revoke(session, Key.id == key_id, reason=reason)


async def revoke_keys(
    session: AsyncSession, *, organisation_id: uuid.UUID, reason: str, window_id: uuid.UUID | None = None
) -> int:
    """Revoke every live key held by the organisation's people (in one window, or everywhere)."""
    condition = Key.holder_organisation_id == organisation_id
    if window_id is not None:
        condition = condition & (Key.window_id == window_id)
    return await _revoke(session, condition, reason=reason)


async def list_keys(
    session: AsyncSession, *, window_id: uuid.UUID | None = None, holder_person_id: uuid.UUID | None = None
) -> list[KeyOut]:
    query = select(Key, Upstream.model_label).join(Upstream, Upstream.window_id == Key.window_id)
    if window_id is not None:
        query = query.where(Key.window_id == window_id)
    if holder_person_id is not None:
        query = query.where(Key.holder_person_id == holder_person_id)
    now = utcnow()
    rows = (await session.execute(query.order_by(Key.issued_at.desc()).limit(5000))).all()
    return [_key_out(row, label, now) for row, label in rows]


async def get_key(session: AsyncSession, *, key_id: uuid.UUID) -> KeyOut:
    found = (
        await session.execute(
            select(Key, Upstream.model_label)
            .join(Upstream, Upstream.window_id == Key.window_id)
            .where(Key.id == key_id)
        )
    ).first()
    if found is None:
        raise NotFound("no such key")
    return _key_out(found[0], found[1], utcnow())


# --- usage -----------------------------------------------------------------------------------------


async def usage_by_organisation(session: AsyncSession, *, window_id: uuid.UUID) -> list[OrgUsage]:
    errors = func.count().filter(Call.status >= 400)
    rows = (
        await session.execute(
            select(
                Call.organisation_id,
                func.count(),
                func.coalesce(func.sum(Call.prompt_tokens), 0),
                func.coalesce(func.sum(Call.completion_tokens), 0),
                errors,
                func.min(Call.started_at),
                func.max(Call.started_at),
            )
            .where(Call.window_id == window_id)
            .group_by(Call.organisation_id)
            .order_by(func.count().desc())
        )
    ).all()
    return [
        OrgUsage(
            organisation_id=r[0],
            calls=r[1],
            prompt_tokens=r[2],
            completion_tokens=r[3],
            errors=r[4],
            first_call_at=r[5],
            last_call_at=r[6],
        )
        for r in rows
    ]


async def usage_summary(session: AsyncSession, *, window_id: uuid.UUID) -> UsageSummary:
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Call.prompt_tokens), 0),
                func.coalesce(func.sum(Call.completion_tokens), 0),
                func.count().filter(Call.status >= 400),
                func.count(func.distinct(Call.organisation_id)),
                func.percentile_cont(0.5).within_group(Call.latency_ms),
                func.percentile_cont(0.99).within_group(Call.latency_ms),
            ).where(Call.window_id == window_id)
        )
    ).one()
    return UsageSummary(
        calls=row[0],
        prompt_tokens=row[1],
        completion_tokens=row[2],
        errors=row[3],
        organisations=row[4],
        p50_latency_ms=None if row[5] is None else round(float(row[5]), 2),
        p99_latency_ms=None if row[6] is None else round(float(row[6]), 2),
    )


def _window_usage_of(u: Upstream, summary: UsageSummary, organisations: list[OrgUsage]) -> WindowUsage:
    return WindowUsage(
        window_id=u.window_id,
        model_label=u.model_label,
        opens_at=u.opens_at,
        closes_at=u.closes_at,
        closed_at=u.closed_at,
        summary=summary,
        organisations=organisations,
    )


async def window_usage(session: AsyncSession, *, window_id: uuid.UUID) -> WindowUsage:
    """A window's usage: the summary and the calls, tokens and errors of each organisation."""
    u = await session.scalar(select(Upstream).where(Upstream.window_id == window_id))
    if u is None:
        raise NotFound("this window has no gateway upstream")
    return _window_usage_of(
        u,
        await usage_summary(session, window_id=window_id),
        await usage_by_organisation(session, window_id=window_id),
    )


async def lab_usage(session: AsyncSession, *, lab_organisation_id: uuid.UUID) -> list[WindowUsage]:
    """Usage of every window of the lab, newest first (the lab sees who used its model, and how much)."""
    upstreams = (
        await session.scalars(
            select(Upstream)
            .where(Upstream.lab_organisation_id == lab_organisation_id)
            .order_by(Upstream.opens_at.desc())
            .limit(200)
        )
    ).all()
    return [
        _window_usage_of(
            u,
            await usage_summary(session, window_id=u.window_id),
            await usage_by_organisation(session, window_id=u.window_id),
        )
        for u in upstreams
    ]


async def window_lab(session: AsyncSession, *, window_id: uuid.UUID) -> uuid.UUID | None:
    """The lab whose model the window's upstream serves (None when the window has no upstream)."""
    lab: uuid.UUID | None = await session.scalar(
        select(Upstream.lab_organisation_id).where(Upstream.window_id == window_id)
    )
    return lab


# --- the proxy's hot path ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Admission:
    """An admitted call: what the proxy needs to reach the upstream and to settle the call."""

    call_id: uuid.UUID
    key_id: uuid.UUID
    window_id: uuid.UUID
    person_id: uuid.UUID
    organisation_id: uuid.UUID
    model_label: str
    base_url: str
    upstream_model: str
    credential_sealed: bytes | None
    reserved: int

    def credential(self, key: DataKey) -> str | None:
        if self.credential_sealed is None:
            return None
        return key.open(self.credential_sealed, aad=_aad(self.window_id)).decode()


@dataclass(frozen=True)
class Refusal:
    """Why a call was refused: an HTTP status, an OpenAI error code and type, a message."""

    status: int
    code: str
    type: str
    message: str
    retry_after: int | None = None
    param: str | None = None


# One statement: check the key and its window, step the rate limiter, reserve the tokens and write the
# call's row. UPDATE takes the key row's lock; a concurrent UPDATE of the same row waits and then
# re-checks the WHERE clause against the newest row version (READ COMMITTED), so the limits hold.
_ADMIT = text(
    """
WITH admitted AS (
  UPDATE gateway_keys AS k
     SET tokens_reserved = k.tokens_reserved + :reserve,
         rate_tat = GREATEST(COALESCE(k.rate_tat, :now), :now)
                    + make_interval(secs => 60.0 / k.rate_limit_per_minute)
    FROM gateway_upstreams AS u
   WHERE k.key_hash = :key_hash
     AND u.window_id = k.window_id
     AND k.revoked_at IS NULL
     AND :now < k.expires_at
     AND u.closed_at IS NULL
     AND u.opens_at <= :now AND :now < u.closes_at
     AND (CAST(:model AS text) IS NULL OR u.model_label = CAST(:model AS text))
     AND GREATEST(COALESCE(k.rate_tat, :now), :now)
         <= :now + make_interval(secs => 60.0 - 60.0 / k.rate_limit_per_minute)
     AND k.tokens_used + k.tokens_reserved + :reserve <= k.token_budget
  RETURNING k.id, k.window_id, k.holder_person_id, k.holder_organisation_id,
            u.model_label, u.base_url, u.upstream_model, u.credential_sealed
), recorded AS (
  INSERT INTO gateway_calls (id, key_id, window_id, organisation_id, person_id, started_at, endpoint,
                             model, stream, reserved_tokens, prompt_tokens, completion_tokens,
                             tokens_estimated, request_sha256)
  SELECT :call_id, id, window_id, holder_organisation_id, holder_person_id, :now, :endpoint,
         model_label, :stream, :reserve, 0, 0, false, :request_sha256
    FROM admitted
)
SELECT * FROM admitted
"""
)

# One statement: settle a call in flight (idempotent: a settled call is left alone) and move its
# reservation to the key's used tokens.
_SETTLE = text(
    """
WITH settled AS (
  UPDATE gateway_calls
     SET finished_at = :now, status = :status, error_code = :error_code,
         prompt_tokens = :prompt_tokens, completion_tokens = :completion_tokens,
         tokens_estimated = :estimated, latency_ms = :latency_ms, response_sha256 = :response_sha256
   WHERE id = :call_id AND status IS NULL
  RETURNING key_id, reserved_tokens
)
UPDATE gateway_keys AS k
   SET tokens_used = k.tokens_used + :used, tokens_reserved = k.tokens_reserved - s.reserved_tokens
  FROM settled AS s
 WHERE k.id = s.key_id
"""
)

_DIAGNOSE = text(
    """
SELECT k.id, k.window_id, k.holder_person_id, k.holder_organisation_id, k.revoked_at, k.expires_at,
       k.rate_tat, k.rate_limit_per_minute, k.token_budget, k.tokens_used, k.tokens_reserved,
       u.model_label, u.opens_at, u.closes_at, u.closed_at
  FROM gateway_keys AS k JOIN gateway_upstreams AS u ON u.window_id = k.window_id
 WHERE k.key_hash = :key_hash
"""
)

_RECORD_REFUSAL = text(
    """
INSERT INTO gateway_calls (id, key_id, window_id, organisation_id, person_id, started_at, finished_at,
                           endpoint, model, stream, status, error_code, reserved_tokens, prompt_tokens,
                           completion_tokens, tokens_estimated, latency_ms, request_sha256)
VALUES (:call_id, :key_id, :window_id, :organisation_id, :person_id, :now, :now, :endpoint, :model,
        :stream, :status, :error_code, 0, 0, 0, false, :latency_ms, :request_sha256)
"""
)


def admission_params(
    *,
    key_hash: bytes,
    now: datetime,
    model: str | None,
    reserve: int,
    endpoint: str,
    stream: bool,
    request_sha256: bytes,
) -> dict[str, Any]:
    """The parameters of one admission (with a fresh call id): for :func:`admit` and :func:`admit_many`."""
    return {
        "key_hash": key_hash,
        "now": now,
        "model": model,
        "reserve": reserve,
        "call_id": new_id(),
        "endpoint": endpoint,
        "stream": stream,
        "request_sha256": request_sha256,
    }


def _admission(found: Any, params: dict[str, Any]) -> Admission | None:
    if found is None:
        return None
    return Admission(
        call_id=params["call_id"],
        key_id=found[0],
        window_id=found[1],
        person_id=found[2],
        organisation_id=found[3],
        model_label=found[4],
        base_url=found[5],
        upstream_model=found[6],
        credential_sealed=found[7],
        reserved=params["reserve"],
    )


async def admit(
    db: Executor,
    *,
    key_hash: bytes,
    now: datetime,
    model: str | None,
    reserve: int,
    endpoint: str,
    stream: bool,
    request_sha256: bytes,
) -> Admission | None:
    """Admit a call (one statement), or None when the key may not make it now; see :func:`diagnose`."""
    params = admission_params(
        key_hash=key_hash,
        now=now,
        model=model,
        reserve=reserve,
        endpoint=endpoint,
        stream=stream,
        request_sha256=request_sha256,
    )
    return _admission((await db.execute(_ADMIT, params)).first(), params)


_LOCK_KEYS = text(
    "SELECT id FROM gateway_keys WHERE key_hash = ANY(CAST(:hashes AS bytea[])) ORDER BY id FOR UPDATE"
)


async def admit_many(db: PreparedConnection, batch: list[dict[str, Any]]) -> list[Admission | None]:
    """Admissions of several calls (see :func:`admission_params`), in order, as one transaction.

    The statements are the same as :func:`admit`'s, run one after the other (so each sees the ones
    before it: the limits hold exactly as for separate calls), sent together in one pipeline and
    committed together: one round trip and one commit for the group. An error fails the whole group
    and writes nothing.
    """
    if len(batch) == 1:
        return [_admission((await db.execute(_ADMIT, batch[0])).first(), batch[0])]
    conn = db.conn
    sql = _pyformat(_ADMIT.text)
    hashes = sorted({params["key_hash"] for params in batch})
    # One Sync for the group (at the pipeline's end): PostgreSQL runs the statements in one implicit
    # transaction, committed at the Sync, rolled back whole if one fails.
    async with conn.pipeline():
        if len(hashes) > 1:
            # The group's keys are locked first, in id order, as ``settle_many`` locks them: two groups
            # (or two processes) touching the same keys cannot wait for each other in a cycle.
            await conn.execute(_pyformat(_LOCK_KEYS.text), {"hashes": hashes}, prepare=True)
        cursors = []
        for params in batch:
            cursor = conn.cursor()
            await cursor.execute(sql, params, prepare=True)
            cursors.append(cursor)
    return [
        _admission(await cursor.fetchone(), params) for cursor, params in zip(cursors, batch, strict=True)
    ]


async def settle(
    db: Executor,
    *,
    call_id: uuid.UUID,
    now: datetime,
    status: int,
    error_code: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    estimated: bool,
    latency_ms: float,
    response_sha256: bytes | None,
) -> None:
    """Settle an admitted call: its status, its actual tokens (charged to the key), its response hash."""
    await db.execute(
        _SETTLE,
        {
            "call_id": call_id,
            "now": now,
            "status": status,
            "error_code": error_code,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "used": prompt_tokens + completion_tokens,
            "estimated": estimated,
            "latency_ms": latency_ms,
            "response_sha256": response_sha256,
        },
    )


@dataclass(frozen=True)
class Settlement:
    """How an admitted call ended: what :func:`settle_many` writes to its row and charges to its key."""

    call_id: uuid.UUID
    now: datetime
    status: int
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    latency_ms: float
    response_sha256: bytes | None


# Many settlements in one statement (the proxy's group commit): each call in flight gets its row
# settled (a settled call is left alone: idempotent), and each key is charged once with the sum of
# its calls' tokens and released from the sum of their reservations. The keys are locked in id order
# first, so two such statements from two gateway processes cannot deadlock on each other's keys.
_SETTLE_MANY = text(
    """
WITH given AS (
  SELECT * FROM unnest(CAST(:call_ids AS uuid[]), CAST(:nows AS timestamptz[]), CAST(:statuses AS int[]),
                       CAST(:error_codes AS text[]), CAST(:prompt_tokens AS bigint[]),
                       CAST(:completion_tokens AS bigint[]), CAST(:estimated AS boolean[]),
                       CAST(:latencies AS double precision[]), CAST(:response_sha256s AS bytea[]))
         AS g(call_id, now, status, error_code, prompt_tokens, completion_tokens, estimated, latency_ms,
              response_sha256)
), settled AS (
  UPDATE gateway_calls AS c
     SET finished_at = g.now, status = g.status, error_code = g.error_code,
         prompt_tokens = g.prompt_tokens, completion_tokens = g.completion_tokens,
         tokens_estimated = g.estimated, latency_ms = g.latency_ms, response_sha256 = g.response_sha256
    FROM given AS g
   WHERE c.id = g.call_id AND c.status IS NULL
  RETURNING c.key_id, c.reserved_tokens, g.prompt_tokens + g.completion_tokens AS used
), per_key AS (
  SELECT key_id, sum(used) AS used, sum(reserved_tokens) AS reserved FROM settled GROUP BY key_id
), locked AS MATERIALIZED (
  SELECT k.id FROM gateway_keys AS k WHERE k.id IN (SELECT key_id FROM per_key) ORDER BY k.id FOR UPDATE
)
UPDATE gateway_keys AS k
   SET tokens_used = k.tokens_used + p.used, tokens_reserved = k.tokens_reserved - p.reserved
  FROM per_key AS p, locked AS l
 WHERE k.id = p.key_id AND l.id = k.id
"""
)


async def settle_many(db: Executor, items: list[Settlement]) -> None:
    """Settle admitted calls in one statement (see :func:`settle`); an empty list does nothing."""
    if not items:
        return
    await db.execute(
        _SETTLE_MANY,
        {
            "call_ids": [i.call_id for i in items],
            "nows": [i.now for i in items],
            "statuses": [i.status for i in items],
            "error_codes": [i.error_code for i in items],
            "prompt_tokens": [i.prompt_tokens for i in items],
            "completion_tokens": [i.completion_tokens for i in items],
            "estimated": [i.estimated for i in items],
            "latencies": [i.latency_ms for i in items],
            "response_sha256s": [i.response_sha256 for i in items],
        },
    )


def refusal_for(row: Any, *, now: datetime, model: str | None, reserve: int) -> Refusal | None:
    """Why a known key may not make the call now (pure; same order of checks as the admission)."""
    if row.revoked_at is not None:
        return Refusal(401, "key_revoked", "invalid_request_error", "this key has been revoked")
    if now >= row.expires_at or row.closed_at is not None or now >= row.closes_at:
        return Refusal(
            401, "key_expired", "invalid_request_error", "this key has expired: its window is closed"
        )
    if now < row.opens_at:
        return Refusal(403, "window_not_open", "permission_error", "the review window is not open yet")
    if model is not None and model != row.model_label:
        return Refusal(
            404,
            "model_not_found",
            "invalid_request_error",
            f"this key gives access to the model {row.model_label!r} only",
            param="model",
        )
    interval = 60.0 / row.rate_limit_per_minute
    tat = max(row.rate_tat or now, now)
    wait = (tat - now).total_seconds() - (60.0 - interval)
    if wait > 0:
        return Refusal(
            429,
            "rate_limit_exceeded",
            "rate_limit_error",
            f"rate limit of {row.rate_limit_per_minute} requests per minute reached; retry later",
            retry_after=max(1, math.ceil(wait)),
        )
    if row.tokens_used + row.tokens_reserved + reserve > row.token_budget:
        return Refusal(
            429,
            "insufficient_quota",
            "insufficient_quota",
            f"this request needs up to {reserve} tokens and the key's budget has "
            f"{max(row.token_budget - row.tokens_used - row.tokens_reserved, 0)} left",
        )
    return None


async def diagnose(
    db: Executor,
    *,
    key_hash: bytes,
    now: datetime,
    model: str | None,
    reserve: int,
    endpoint: str,
    stream: bool,
    request_sha256: bytes,
    malformed: Refusal | None = None,
) -> tuple[bool, Refusal | None]:
    """After a refused admission: (key known?, why refused). Records the refusal of a known key.

    ``malformed`` is the refusal of a request the proxy could not read; a dead key is still told it is
    dead first. A ``None`` reason for a known key means the state changed since the admission (e.g. a
    reservation was released): the caller tries again.
    """
    row = (await db.execute(_DIAGNOSE, {"key_hash": key_hash})).first()
    if row is None:
        return False, None
    reason = refusal_for(row, now=now, model=model, reserve=reserve)
    if malformed is not None and (reason is None or reason.status not in (401, 403)):
        reason = malformed
    if reason is None:
        return True, None
    await db.execute(
        _RECORD_REFUSAL,
        {
            "call_id": new_id(),
            "key_id": row.id,
            "window_id": row.window_id,
            "organisation_id": row.holder_organisation_id,
            "person_id": row.holder_person_id,
            "now": now,
            "endpoint": endpoint,
            "model": (model or row.model_label)[:200],
            "stream": stream,
            "status": reason.status,
            "error_code": reason.code,
            "latency_ms": 0.0,
            "request_sha256": request_sha256,
        },
    )
    return True, reason


async def release_stale_calls(session: AsyncSession, *, older_than: timedelta) -> int:
    """Settle calls left in flight by a crashed process (status 500, ``gateway_lost``; no tokens)."""
    cutoff = utcnow() - older_than
    ids = list(
        (
            await session.scalars(
                select(Call.id).where(Call.status.is_(None), Call.started_at < cutoff).limit(10_000)
            )
        ).all()
    )
    for call_id in ids:
        await settle(
            session,
            call_id=call_id,
            now=utcnow(),
            status=500,
            error_code="gateway_lost",
            prompt_tokens=0,
            completion_tokens=0,
            estimated=True,
            latency_ms=0.0,
            response_sha256=None,
        )
    return len(ids)
