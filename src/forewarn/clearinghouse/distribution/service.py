"""Notices: fan-out of an advisory's matches, digests, and delivery attempts (CONVENTIONS §3).

Invariants:

- :func:`fan_out` creates at most one notice per (organisation, advisory, alert): the notice's
  ``key`` (organisation, advisory, latest ``alerted_at`` of its matches) is unique and inserted with
  ``ON CONFLICT DO NOTHING``, so a run repeated (a job retried, a worker killed and restarted)
  creates nothing twice; a new match or a re-alert (CSAF 2.0 §9.1.17: the remediation changed)
  moves ``alerted_at`` and so yields a new notice, a revision that changes nothing does not;
- a fan-out may be written in pages (:func:`write_notices`), each page's notices, deliveries and
  delivery jobs by one statement: a page is committed whole or not at all, and a page written again
  finds its keys taken and writes nothing;
- only open, acknowledged or in-progress matches are notified: fixed, not affected and risk-accepted
  ones are not;
- an immediate notice gets one delivery per channel the subscriber set, each enqueued as a job in
  the same transaction; others wait for :func:`send_digests`;
- :func:`deliver` records every attempt (attempts, last error, delivered_at) and never sends a
  delivered notice again; it holds the delivery row locked while sending, so two workers never send
  one delivery at once; the error recorded is the sender's safe message, never a secret;
- :func:`deliver_batch` makes the first attempt of several deliveries in one job and one
  transaction, under the same rules: each delivery keeps its own record and webhook id, only
  deliveries never attempted are sent (locked in id order while sending), and each one that fails
  gets its own ``distribution:deliver`` job after its backoff;
- webhook secrets are sealed with the data key; :func:`set_webhook_secret` returns the secret once.

Reads matching's ``ch_matches`` and inventory's ``ch_assets`` / ``ch_subscribers`` by table name, as
cross-domain foreign keys do (matching reads ``ch_components`` the same way): the fan-out of a
popular advisory is a set-based read, not one service call per match.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.distribution import policy
from forewarn.clearinghouse.distribution import text as notice_text
from forewarn.clearinghouse.distribution.delivery import (
    DeliveryFailed,
    Email,
    Mailer,
    WebhookCall,
    WebhookSender,
)
from forewarn.clearinghouse.distribution.models import Delivery, Notice, WebhookSecret
from forewarn.clearinghouse.distribution.records import DeliveryOut, NoticeOut, Unacknowledged
from forewarn.clearinghouse.distribution.urls import UnsafeUrl, UrlPolicy, resolve_checked
from forewarn.core.clock import utcnow
from forewarn.core.errors import Forbidden, InvalidInput, NotFound, Problem
from forewarn.core.jobs import enqueue
from forewarn.core.keys import DataKey

__all__ = [
    "BatchOutcome",
    "DeliveryOutcome",
    "FanOutPlan",
    "affected_organisations",
    "check_webhook_url",
    "deliver",
    "deliver_batch",
    "fan_out",
    "list_notices",
    "plan_fan_out",
    "retry_delay",
    "rotate_webhook_secret",
    "send_digests",
    "set_webhook_secret",
    "unacknowledged_critical",
    "write_notices",
]

_NOTIFIED = ("open", "acknowledged", "in_progress")
_RATING_RANK = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}
_DIGEST_PERIOD = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}

_AFFECTED = text(
    "SELECT m.organisation_id, a.name AS asset, m.component_name, m.ecosystem, m.package, m.version,"
    " m.fixed, m.remediation, m.summary, m.severity_rating, m.known_exploited, m.alerted_at,"
    " s.immediate_critical, s.immediate_known_exploited, s.email, s.webhook_url"
    " FROM ch_matches m JOIN ch_assets a ON a.id = m.asset_id"
    " JOIN ch_subscribers s ON s.organisation_id = m.organisation_id"
    " WHERE m.advisory_id = :advisory AND m.status IN ('open', 'acknowledged', 'in_progress')"
    " ORDER BY m.organisation_id, a.name, m.component_name, m.version"
)
# The same, for some of the organisations only (a page of a fan-out).
_AFFECTED_PAGE = text(
    _AFFECTED.text.replace(" ORDER BY", " AND m.organisation_id = ANY(CAST(:orgs AS uuid[])) ORDER BY")
)
_AFFECTED_ORGANISATIONS = text(
    "SELECT DISTINCT m.organisation_id FROM ch_matches m"
    " JOIN ch_subscribers s ON s.organisation_id = m.organisation_id"
    " WHERE m.advisory_id = :advisory AND m.status IN ('open', 'acknowledged', 'in_progress')"
    " ORDER BY m.organisation_id"
)
_CHANNELS = text("SELECT email, webhook_url, digest FROM ch_subscribers WHERE organisation_id = :org")


def _priority(*, known_exploited: bool, rating: str | None) -> int:
    """Known exploited first, then severity (lower is more urgent)."""
    return (0 if known_exploited else 10) + _RATING_RANK.get((rating or "").upper(), 4)


def _component(name: str, package: str) -> str:
    # Component names may carry "@version" (as matching shows them); a bare "@scope/pkg" keeps its name.
    return name.rsplit("@", 1)[0] or package


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _webhook_id(notice_id: uuid.UUID, channel: str) -> str:
    # Stable across attempts: derived from the notice and channel, never from the attempt.
    return "msg_" + hashlib.sha256(f"{notice_id}:{channel}".encode()).hexdigest()[:32]


async def _details(session: AsyncSession, advisory_id: str) -> str | None:
    from forewarn.clearinghouse.advisories import service as advisories

    try:
        record = await advisories.public_osv(session, advisory_id=advisory_id)
    except NotFound:
        return None
    details = record.get("details")
    return str(details)[:2000] if details else None


async def _deliveries(
    session: AsyncSession,
    notice: Notice | tuple[uuid.UUID, int],
    *,
    email: str | None,
    webhook_url: str | None,
) -> list[uuid.UUID]:
    """One delivery per channel the subscriber set, each enqueued with the notice's priority."""
    notice_id, priority = (notice.id, notice.priority) if isinstance(notice, Notice) else notice
    ids: list[uuid.UUID] = []
    for channel, target in (("email", email), ("webhook", webhook_url)):
        if not target:
            continue
        row = await session.execute(
            insert(Delivery)
            .values(
                id=uuid.uuid4(),
                notice_id=notice_id,
                channel=channel,
                webhook_id=_webhook_id(notice_id, channel),
                attempts=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(constraint="uq_ch_dist_deliveries_channel")
            .returning(Delivery.id)
        )
        delivery_id = row.scalar_one_or_none()
        if delivery_id is None:
            continue
        await enqueue(
            session,
            "distribution:deliver",
            queueing_lock=f"deliver:{delivery_id}",
            priority=100 - priority,
            delivery_id=str(delivery_id),
        )
        ids.append(delivery_id)
    return ids


# One page of a fan-out in one statement: the notices (from one JSON parameter: a driver builds it in
# C, where ten arrays of 10³ elements each cost it milliseconds of Python), the deliveries of those
# actually inserted (an earlier run's keep their key: ON CONFLICT skips them, and so their
# deliveries), each with its stable webhook id (as ``_webhook_id``), and one
# ``distribution:deliver_batch`` job per :batch deliveries of one priority. Returns the ids of the
# notices inserted. The statement is atomic: a page is written whole or not at all.
_WRITE_PAGE = text(
    "WITH src AS ("
    "  SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id uuid, organisation_id uuid, key text,"
    "  priority int, known_exploited boolean, severity_rating text, immediate boolean, subject text,"
    "  body text, email boolean, webhook boolean)"
    "), notices AS ("
    "  INSERT INTO ch_dist_notices (id, organisation_id, kind, advisory_id, key, priority, known_exploited,"
    "  severity_rating, immediate, subject, body, digest_id, created_at)"
    "  SELECT id, organisation_id, 'notice', :advisory, key, priority, known_exploited, severity_rating,"
    "  immediate, subject, body, NULL, :now FROM src"
    "  ON CONFLICT ON CONSTRAINT uq_ch_dist_notices_key DO NOTHING RETURNING id"
    "), wanted AS ("
    "  SELECT src.id AS notice_id, src.priority, c.channel FROM notices JOIN src ON src.id = notices.id"
    "  CROSS JOIN LATERAL (VALUES ('email', src.email), ('webhook', src.webhook)) AS c(channel, wanted)"
    "  WHERE src.immediate AND c.wanted"
    "), deliveries AS ("
    "  INSERT INTO ch_dist_deliveries (id, notice_id, channel, webhook_id, attempts, created_at)"
    "  SELECT gen_random_uuid(), notice_id, channel, 'msg_' || left(encode(sha256(convert_to("
    "  notice_id::text || ':' || channel, 'UTF8')), 'hex'), 32), 0, :now FROM wanted"
    "  ON CONFLICT DO NOTHING RETURNING id, notice_id, channel"
    "), numbered AS ("
    "  SELECT d.id, w.priority, row_number() OVER (PARTITION BY w.priority ORDER BY d.id) - 1 AS n"
    "  FROM deliveries d JOIN wanted w ON w.notice_id = d.notice_id AND w.channel = d.channel"
    "), batches AS ("
    "  SELECT priority, array_agg(id::text ORDER BY id) AS ids FROM numbered"
    "  GROUP BY priority, n / CAST(:batch AS int)"
    ")"
    " SELECT (SELECT array_agg(id) FROM notices),"
    " procrastinate_defer_jobs_v1(ARRAY(SELECT ROW('default', 'distribution:deliver_batch', 100 - b.priority,"
    " NULL, 'deliver-batch:' || b.ids[1], jsonb_build_object('delivery_ids', to_jsonb(b.ids)), NULL)"
    "::procrastinate_job_to_defer_v1 FROM batches b ORDER BY b.priority, b.ids[1]))"
)

#: Deliveries per ``distribution:deliver_batch`` job. Each keeps its own row, webhook id and retries;
#: the batch shares one job's queue overhead and one transaction's round trips (at 50, those cost a
#: fan-out to 10⁵ a third of its time). Not larger: a worker killed mid-batch sends the batch's
#: unrecorded deliveries again (receivers de-duplicate them by webhook id).
DELIVERY_BATCH_SIZE = 200


@dataclass(frozen=True)
class FanOutPlan:
    """What one advisory's fan-out reads once: its open matches grouped by organisation (in
    organisation order) and the advisory's details. :func:`write_notices` turns a page of it into
    notices, deliveries and delivery jobs."""

    advisory_id: str
    base_url: str
    details: str | None
    #: One list of match rows per affected organisation.
    groups: list[list[Any]]


async def affected_organisations(session: AsyncSession, *, advisory_id: str) -> list[uuid.UUID]:
    """The subscriber organisations the advisory's open matches affect, in id order."""
    return list((await session.scalars(_AFFECTED_ORGANISATIONS, {"advisory": advisory_id})).all())


async def plan_fan_out(
    session: AsyncSession,
    *,
    advisory_id: str,
    base_url: str,
    organisations: list[uuid.UUID] | None = None,
) -> FanOutPlan:
    """Read the advisory's open matches and their subscribers (one statement), of *organisations*
    only when given. Writes nothing."""
    if organisations is None:
        result = await session.execute(_AFFECTED, {"advisory": advisory_id})
    else:
        result = await session.execute(
            _AFFECTED_PAGE, {"advisory": advisory_id, "orgs": [str(o) for o in organisations]}
        )
    rows = result.mappings().all()
    by_org: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for r in rows:
        by_org[r["organisation_id"]].append(r)
    details = await _details(session, advisory_id) if by_org else None
    return FanOutPlan(advisory_id, base_url, details, list(by_org.values()))


async def write_notices(
    session: AsyncSession,
    *,
    plan: FanOutPlan,
    start: int = 0,
    stop: int | None = None,
    batch_size: int = DELIVERY_BATCH_SIZE,
) -> list[uuid.UUID]:
    """The notices of ``plan.groups[start:stop]``, their deliveries and the jobs of their first
    attempts (``distribution:deliver_batch``, up to *batch_size* deliveries each), all written by one
    statement; returns the ids of the notices created (none for those an earlier run created).

    A page committed alone is whole: its notices, deliveries and jobs, or nothing. So a fan-out
    written page by page and interrupted (a worker killed) is finished by running it again: the
    pages already committed find their keys taken and write nothing."""
    advisory_id = plan.advisory_id
    advisory_url = f"{plan.base_url.rstrip('/')}/advisories/{advisory_id}"
    now = utcnow()
    notices: list[dict[str, Any]] = []
    for matches in plan.groups[start:stop]:
        first = matches[0]
        org = first["organisation_id"]
        kev = any(m["known_exploited"] for m in matches)
        rating = first["severity_rating"]
        # ``alerted_at`` moves only when a match is new or re-alerted (CSAF §9.1.17), so its latest
        # value names this alert: a status change or a later run finds the same key.
        key = _key("notice", str(org), advisory_id, max(m["alerted_at"] for m in matches).isoformat())
        immediate = (kev and first["immediate_known_exploited"]) or (
            (rating or "").upper() == "CRITICAL" and first["immediate_critical"]
        )
        affected = [
            notice_text.Affected(
                asset=m["asset"],
                component=_component(m["component_name"], m["package"]),
                version=m["version"],
                fixed=tuple(m["fixed"] or ()),
            )
            for m in matches
        ]
        notices.append(
            {
                "id": str(uuid.uuid4()),
                "organisation_id": str(org),
                "key": key,
                "priority": _priority(known_exploited=kev, rating=rating),
                "known_exploited": kev,
                "severity_rating": rating,
                "immediate": immediate,
                "subject": notice_text.subject(
                    advisory_id=advisory_id, summary=first["summary"], known_exploited=kev, rating=rating
                ),
                "body": notice_text.notice_body(
                    advisory_id=advisory_id,
                    summary=first["summary"],
                    details=plan.details,
                    known_exploited=kev,
                    rating=rating,
                    affected=affected,
                    advisory_url=advisory_url,
                ),
                # The channels of an immediate notice's deliveries (the others wait for a digest).
                "email": bool(first["email"]),
                "webhook": bool(first["webhook_url"]),
            }
        )
    if not notices:
        return []
    row = (
        await session.execute(
            _WRITE_PAGE,
            {"rows": json.dumps(notices), "advisory": advisory_id, "now": now, "batch": batch_size},
        )
    ).one()
    created: list[uuid.UUID] = list(row[0] or [])
    return created


async def fan_out(
    session: AsyncSession, *, advisory_id: str, base_url: str, batch_size: int = DELIVERY_BATCH_SIZE
) -> list[uuid.UUID]:
    """One notice per subscriber organisation the advisory's open matches affect, all in the
    caller's transaction; returns the ids of the notices created by this run (none when run again).

    Set-based (:func:`plan_fan_out`, :func:`write_notices`): a fan-out to 10⁵ subscribers is a few
    round trips, not four per subscriber. The ``distribution:fan_out`` job writes the same in pages,
    each committed with its delivery jobs, so that delivery starts while the fan-out goes on."""
    plan = await plan_fan_out(session, advisory_id=advisory_id, base_url=base_url)
    return await write_notices(session, plan=plan, batch_size=batch_size)


async def send_digests(session: AsyncSession, *, now: datetime | None = None) -> list[uuid.UUID]:
    """Gather each organisation's waiting notices into one digest notice (most urgent first) when its
    digest period has passed; returns the digests created. Idempotent: a digest's key is the set of
    notices it carries, and a notice is carried by one digest only."""
    now = now or utcnow()
    waiting = list(
        await session.scalars(
            select(Notice)
            .where(Notice.kind == "notice", Notice.immediate.is_(False), Notice.digest_id.is_(None))
            .order_by(Notice.organisation_id, Notice.priority, Notice.created_at)
            .with_for_update(skip_locked=True)
        )
    )
    by_org: dict[uuid.UUID, list[Notice]] = defaultdict(list)
    for n in waiting:
        by_org[n.organisation_id].append(n)
    created: list[uuid.UUID] = []
    for org, notices in by_org.items():
        prefs = (await session.execute(_CHANNELS, {"org": org})).mappings().one_or_none()
        if prefs is None:
            continue
        period = _DIGEST_PERIOD.get(prefs["digest"], timedelta(days=1))
        last = await session.scalar(
            select(Notice.created_at)
            .where(Notice.organisation_id == org, Notice.kind == "digest")
            .order_by(Notice.created_at.desc())
            .limit(1)
        )
        if last is not None and now - last < period:
            continue
        digest = Notice(
            id=uuid.uuid4(),
            organisation_id=org,
            kind="digest",
            advisory_id=None,
            key=_key("digest", str(org), sorted(str(n.id) for n in notices)),
            priority=min(n.priority for n in notices),
            known_exploited=any(n.known_exploited for n in notices),
            severity_rating=None,
            immediate=False,
            subject=f"Clearinghouse digest: {len(notices)} advisories affect what you run",
            body=notice_text.digest_body([(n.subject, n.body) for n in notices]),
            created_at=now,
        )
        session.add(digest)
        await session.flush()
        for n in notices:
            n.digest_id = digest.id
        await session.flush()
        await _deliveries(session, digest, email=prefs["email"], webhook_url=prefs["webhook_url"])
        created.append(digest.id)
    return created


def _aad(organisation_id: uuid.UUID) -> bytes:
    return f"ch_dist_webhook_secrets:{organisation_id}".encode()


async def set_webhook_secret(session: AsyncSession, *, organisation_id: uuid.UUID, key: DataKey) -> str:
    """Create (or rotate) the organisation's webhook signing secret; returns it, once."""
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    sealed = key.seal(secret.encode(), aad=_aad(organisation_id))
    await session.execute(
        insert(WebhookSecret)
        .values(organisation_id=organisation_id, sealed=sealed, created_at=utcnow())
        .on_conflict_do_update(
            index_elements=["organisation_id"], set_={"sealed": sealed, "created_at": utcnow()}
        )
    )
    return secret


async def _webhook_secret(session: AsyncSession, organisation_id: uuid.UUID, key: DataKey) -> str | None:
    row = await session.get(WebhookSecret, organisation_id)
    return None if row is None else key.open(row.sealed, aad=_aad(organisation_id)).decode()


async def rotate_webhook_secret(session: AsyncSession, *, actor: Principal, key: DataKey) -> str:
    """Set (or rotate) the caller's own organisation's webhook secret; returns it, once."""
    org = actor.organisation_id
    if org is None or not policy.can_manage_notices(actor, org):
        raise Forbidden("only an operator organisation's contacts set its webhook secret")
    return await set_webhook_secret(session, organisation_id=org, key=key)


async def list_notices(session: AsyncSession, *, actor: Principal, limit: int = 50) -> list[NoticeOut]:
    """The caller's own organisation's most recent notices, each with its delivery per channel."""
    org = actor.organisation_id
    if org is None or not policy.can_manage_notices(actor, org):
        raise Forbidden("only an operator organisation's contacts read its notices")
    notices = list(
        await session.scalars(
            select(Notice)
            .where(Notice.organisation_id == org)
            .order_by(Notice.created_at.desc(), Notice.priority)
            .limit(limit)
        )
    )
    by_notice: dict[uuid.UUID, list[DeliveryOut]] = defaultdict(list)
    if notices:
        for d in await session.scalars(
            select(Delivery).where(Delivery.notice_id.in_([n.id for n in notices])).order_by(Delivery.channel)
        ):
            by_notice[d.notice_id].append(
                DeliveryOut(
                    channel=d.channel,
                    attempts=d.attempts,
                    delivered_at=d.delivered_at,
                    last_attempt_at=d.last_attempt_at,
                    last_error=d.last_error,
                )
            )
    return [
        NoticeOut(
            id=n.id,
            kind=n.kind,
            advisory_id=n.advisory_id,
            subject=n.subject,
            priority=n.priority,
            known_exploited=n.known_exploited,
            severity_rating=n.severity_rating,
            immediate=n.immediate,
            created_at=n.created_at,
            deliveries=by_notice.get(n.id, []),
        )
        for n in notices
    ]


async def check_webhook_url(url: str | None, *, allow_insecure: bool, allow_private: bool) -> None:
    """The SSRF guard when a subscriber saves a webhook URL: :class:`InvalidInput` (422) naming the
    ``webhook_url`` field when it is not https or its host is (or resolves to) a non-public address.
    An address literal is checked without any lookup; a name is resolved (and checked again at every
    delivery, so a later DNS change does not get past it)."""
    if not url:
        return
    try:
        await resolve_checked(url, UrlPolicy(allow_insecure=allow_insecure, allow_private=allow_private))
    except UnsafeUrl as exc:
        raise InvalidInput(
            "the webhook URL is not allowed", problems=[Problem("webhook_url", exc.message)]
        ) from None


@dataclass(frozen=True)
class DeliveryOutcome:
    delivered: bool
    attempts: int
    error: str | None


def retry_delay(attempts: int, *, max_attempts: int, base_seconds: int, max_seconds: int) -> int | None:
    """Seconds to wait before the next attempt of a delivery attempted *attempts* times (exponential,
    bounded), or ``None`` when it has had all its attempts."""
    if attempts >= max_attempts:
        return None
    return int(min(base_seconds**attempts, max_seconds))


@dataclass(frozen=True)
class _Attempt:
    """What one attempt at one delivery sends (the secret already opened, kept in memory only)."""

    channel: str
    webhook_id: str
    notice_id: uuid.UUID
    kind: str
    advisory_id: str | None
    priority: int
    known_exploited: bool
    severity_rating: str | None
    subject: str
    body: str
    created_at: datetime
    email: str | None
    webhook_url: str | None
    secret: str | None


async def _send(attempt: _Attempt, *, mailer: Mailer, webhooks: WebhookSender) -> str | None:
    """Send one attempt; returns ``None`` when accepted, else the sender's safe message."""
    try:
        if attempt.channel == "email":
            if not attempt.email:
                raise DeliveryFailed("the subscriber has no email address")
            await mailer.send(
                Email(
                    to=attempt.email,
                    subject=attempt.subject,
                    body=attempt.body,
                    message_id=attempt.webhook_id,
                )
            )
        else:
            if not attempt.webhook_url or attempt.secret is None:
                raise DeliveryFailed("the subscriber has no webhook URL or no webhook secret")
            payload = json.dumps(
                {
                    "type": "notice.digest" if attempt.kind == "digest" else "notice.created",
                    "timestamp": attempt.created_at.isoformat(),
                    "data": {
                        "notice_id": str(attempt.notice_id),
                        "advisory_id": attempt.advisory_id,
                        "priority": attempt.priority,
                        "known_exploited": attempt.known_exploited,
                        "severity": attempt.severity_rating,
                        "subject": attempt.subject,
                        "text": attempt.body,
                    },
                },
                sort_keys=True,
            )
            # The real clock: receivers reject timestamps outside their tolerance window.
            await webhooks.send(
                WebhookCall(
                    url=attempt.webhook_url,
                    webhook_id=attempt.webhook_id,
                    payload=payload,
                    secret=attempt.secret,
                    timestamp=datetime.now(UTC),
                )
            )
    except DeliveryFailed as exc:
        return str(exc)[:500]
    return None


async def deliver(
    session: AsyncSession,
    *,
    delivery_id: uuid.UUID,
    mailer: Mailer,
    webhooks: WebhookSender,
    key: DataKey,
) -> DeliveryOutcome:
    """One attempt at one delivery; records it. A delivered one is not sent again.

    The caller commits the outcome whether or not the attempt failed (the job does, then raises so
    procrastinate retries with backoff). A crash between sending and committing makes the next
    attempt send again, with the same webhook id / Message-ID: receivers de-duplicate on it.
    """
    row = await session.get(Delivery, delivery_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    if row.delivered_at is not None:
        return DeliveryOutcome(True, row.attempts, None)
    notice = await session.get_one(Notice, row.notice_id)
    prefs = (await session.execute(_CHANNELS, {"org": notice.organisation_id})).mappings().one_or_none()
    row.attempts += 1
    row.last_attempt_at = utcnow()
    secret = (
        await _webhook_secret(session, notice.organisation_id, key) if row.channel == "webhook" else None
    )
    error = await _send(
        _Attempt(
            channel=row.channel,
            webhook_id=row.webhook_id,
            notice_id=notice.id,
            kind=notice.kind,
            advisory_id=notice.advisory_id,
            priority=notice.priority,
            known_exploited=notice.known_exploited,
            severity_rating=notice.severity_rating,
            subject=notice.subject,
            body=notice.body,
            created_at=notice.created_at,
            email=prefs["email"] if prefs else None,
            webhook_url=prefs["webhook_url"] if prefs else None,
            secret=secret,
        ),
        mailer=mailer,
        webhooks=webhooks,
    )
    if error is None:
        row.delivered_at = utcnow()
        row.last_error = None
    else:
        row.last_error = error
    await session.flush()
    return DeliveryOutcome(error is None, row.attempts, error)


# The batch's deliveries not yet attempted, locked in id order (two runs of one batch never send at
# once, and never deadlock); a delivery attempted before belongs to its own retry job.
_BATCH = text(
    "SELECT d.id, d.channel, d.webhook_id, n.id AS notice_id, n.organisation_id, n.kind, n.advisory_id,"
    " n.priority, n.known_exploited, n.severity_rating, n.subject, n.body, n.created_at,"
    " s.email, s.webhook_url, w.sealed"
    " FROM ch_dist_deliveries d JOIN ch_dist_notices n ON n.id = d.notice_id"
    " LEFT JOIN ch_subscribers s ON s.organisation_id = n.organisation_id"
    " LEFT JOIN ch_dist_webhook_secrets w ON w.organisation_id = n.organisation_id AND d.channel = 'webhook'"
    " WHERE d.id = ANY(CAST(:ids AS uuid[])) AND d.delivered_at IS NULL AND d.attempts = 0"
    " ORDER BY d.id FOR UPDATE OF d"
)
_RECORD = text(
    "UPDATE ch_dist_deliveries d SET attempts = d.attempts + 1, last_attempt_at = :now,"
    " delivered_at = CASE WHEN u.error IS NULL THEN CAST(:now AS timestamptz) END, last_error = u.error"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:errors AS text[])) AS u(id, error) WHERE d.id = u.id"
)


@dataclass(frozen=True)
class BatchOutcome:
    delivered: int
    #: Deliveries that failed this attempt, each with the seconds until its own retry (``None``:
    #: no attempt left).
    failed: list[tuple[uuid.UUID, int | None]]
    #: Deliveries of the batch skipped: already delivered or attempted before (their own job owns them).
    skipped: int


async def deliver_batch(
    session: AsyncSession,
    *,
    delivery_ids: list[uuid.UUID],
    mailer: Mailer,
    webhooks: WebhookSender,
    key: DataKey,
    max_attempts: int,
    retry_base_seconds: int,
    retry_max_seconds: int,
    parallel: int = 8,
) -> BatchOutcome:
    """The first attempt at each of several deliveries, sent *parallel* at a time; records them all.

    Every delivery keeps its own record (attempts, last error, delivered_at) and webhook id; one that
    fails gets its own ``distribution:deliver`` job, scheduled after its backoff, in this transaction.
    Only deliveries never attempted are sent: run again (a worker killed mid-batch), the batch sends
    what was not recorded, with the same webhook ids, and nothing already recorded.
    """
    rows = (
        (await session.execute(_BATCH, {"ids": [str(i) for i in delivery_ids]})).mappings().all()
    )
    attempts = [
        _Attempt(
            channel=r["channel"],
            webhook_id=r["webhook_id"],
            notice_id=r["notice_id"],
            kind=r["kind"],
            advisory_id=r["advisory_id"],
            priority=r["priority"],
            known_exploited=r["known_exploited"],
            severity_rating=r["severity_rating"],
            subject=r["subject"],
            body=r["body"],
            created_at=r["created_at"],
            email=r["email"],
            webhook_url=r["webhook_url"],
            secret=None
            if r["sealed"] is None
            else key.open(r["sealed"], aad=_aad(r["organisation_id"])).decode(),
        )
        for r in rows
    ]
    # *parallel* senders taking the next attempt in turn (not one task per attempt behind a gate).
    errors: list[str | None] = [None] * len(attempts)
    turns = iter(range(len(attempts)))

    async def sender() -> None:
        for i in turns:
            errors[i] = await _send(attempts[i], mailer=mailer, webhooks=webhooks)

    await asyncio.gather(*(sender() for _ in range(min(max(1, parallel), len(attempts)))))
    ids = [r["id"] for r in rows]
    if ids:
        await session.execute(
            _RECORD, {"now": utcnow(), "ids": [str(i) for i in ids], "errors": list(errors)}
        )
    failed: list[tuple[uuid.UUID, int | None]] = []
    for delivery_id, attempt, error in zip(ids, attempts, errors, strict=True):
        if error is None:
            continue
        wait = retry_delay(
            1, max_attempts=max_attempts, base_seconds=retry_base_seconds, max_seconds=retry_max_seconds
        )
        failed.append((delivery_id, wait))
        if wait is not None:
            await enqueue(
                session,
                "distribution:deliver",
                queueing_lock=f"deliver:{delivery_id}",
                scheduled_at=utcnow() + timedelta(seconds=wait),
                priority=100 - attempt.priority,
                delivery_id=str(delivery_id),
                prior_attempts=1,
            )
    return BatchOutcome(
        delivered=sum(e is None for e in errors), failed=failed, skipped=len(delivery_ids) - len(ids)
    )


# Critical or known-exploited notices older than the cut-off whose organisation has not moved any
# match of the advisory past "open". Reads ``organisations``, ``ch_subscribers`` and ``ch_matches`` by
# table name, as the fan-out does.
_UNACKNOWLEDGED = text(
    "SELECT n.organisation_id, o.name, COALESCE(s.sector, 'unregistered') AS sector, n.advisory_id,"
    " n.subject, n.known_exploited, n.severity_rating, n.created_at,"
    " (SELECT count(*) FROM ch_matches m WHERE m.organisation_id = n.organisation_id"
    "   AND m.advisory_id = n.advisory_id AND m.status = 'open') AS open_matches,"
    " EXISTS (SELECT 1 FROM ch_dist_deliveries d WHERE d.notice_id = n.id AND d.delivered_at IS NOT NULL)"
    "   AS delivered"
    " FROM ch_dist_notices n JOIN organisations o ON o.id = n.organisation_id"
    " LEFT JOIN ch_subscribers s ON s.organisation_id = n.organisation_id"
    " WHERE n.kind = 'notice' AND (n.known_exploited OR upper(n.severity_rating) = 'CRITICAL')"
    " AND n.created_at < :cutoff"
    " AND EXISTS (SELECT 1 FROM ch_matches m WHERE m.organisation_id = n.organisation_id"
    "   AND m.advisory_id = n.advisory_id AND m.status = 'open')"
    " AND NOT EXISTS (SELECT 1 FROM ch_matches m WHERE m.organisation_id = n.organisation_id"
    "   AND m.advisory_id = n.advisory_id AND m.status <> 'open')"
    " ORDER BY n.created_at, o.name LIMIT :limit"
)


async def unacknowledged_critical(
    session: AsyncSession,
    *,
    actor: Principal,
    older_than: timedelta = timedelta(hours=24),
    now: datetime | None = None,
    limit: int = 500,
) -> list[Unacknowledged]:
    """Operators that have not acknowledged a critical or known-exploited notice sent more than
    *older_than* ago (oldest first): no match of the advisory has left ``open`` (acknowledged, in
    progress, fixed, not affected and risk accepted all count as an answer). Analysts only."""
    if not policy.is_analyst(actor):
        raise Forbidden("only clearinghouse analysts see which operators have not acknowledged a notice")
    now = now or utcnow()
    rows = (await session.execute(_UNACKNOWLEDGED, {"cutoff": now - older_than, "limit": limit})).all()
    return [
        Unacknowledged(
            organisation_id=r[0],
            organisation=r[1],
            sector=r[2],
            advisory_id=r[3],
            subject=r[4],
            known_exploited=r[5],
            severity_rating=r[6],
            notified_at=r[7],
            hours_waiting=round((now - r[7]).total_seconds() / 3600, 1),
            open_matches=int(r[8]),
            delivered=bool(r[9]),
        )
        for r in rows
    ]
