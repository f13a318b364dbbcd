"""Notices: fan-out of an advisory's matches, digests, and delivery attempts (CONVENTIONS §3).

Invariants:

- :func:`fan_out` creates at most one notice per (organisation, advisory, alert): the notice's
  ``key`` (organisation, advisory, latest ``alerted_at`` of its matches) is unique and inserted with
  ``ON CONFLICT DO NOTHING``, so a run repeated (a job retried, a worker killed and restarted)
  creates nothing twice; a new match or a re-alert (CSAF 2.0 §9.1.17: the remediation changed)
  moves ``alerted_at`` and so yields a new notice, a revision that changes nothing does not;
- only open, acknowledged or in-progress matches are notified: fixed, not affected and risk-accepted
  ones are not;
- an immediate notice gets one delivery per channel the subscriber set, each enqueued as a job in
  the same transaction; others wait for :func:`send_digests`;
- :func:`deliver` records every attempt (attempts, last error, delivered_at) and never sends a
  delivered notice again; it holds the delivery row locked while sending, so two workers never send
  one delivery at once; the error recorded is the sender's safe message, never a secret;
- webhook secrets are sealed with the data key; :func:`set_webhook_secret` returns the secret once.

Reads matching's ``ch_matches`` and inventory's ``ch_assets`` / ``ch_subscribers`` by table name, as
cross-domain foreign keys do (matching reads ``ch_components`` the same way): the fan-out of a
popular advisory is a set-based read, not one service call per match.
"""

from __future__ import annotations

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
from forewarn.clearinghouse.distribution.records import DeliveryOut, NoticeOut
from forewarn.clearinghouse.distribution.urls import UnsafeUrl, UrlPolicy, resolve_checked
from forewarn.core.clock import utcnow
from forewarn.core.errors import Forbidden, InvalidInput, NotFound, Problem
from forewarn.core.jobs import enqueue
from forewarn.core.keys import DataKey

__all__ = [
    "DeliveryOutcome",
    "check_webhook_url",
    "deliver",
    "fan_out",
    "list_notices",
    "rotate_webhook_secret",
    "send_digests",
    "set_webhook_secret",
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
    session: AsyncSession, notice: Notice, *, email: str | None, webhook_url: str | None
) -> list[uuid.UUID]:
    """One delivery per channel the subscriber set, each enqueued with the notice's priority."""
    ids: list[uuid.UUID] = []
    for channel, target in (("email", email), ("webhook", webhook_url)):
        if not target:
            continue
        row = await session.execute(
            insert(Delivery)
            .values(
                id=uuid.uuid4(),
                notice_id=notice.id,
                channel=channel,
                webhook_id=_webhook_id(notice.id, channel),
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
            priority=100 - notice.priority,
            delivery_id=str(delivery_id),
        )
        ids.append(delivery_id)
    return ids


async def fan_out(session: AsyncSession, *, advisory_id: str, base_url: str) -> list[uuid.UUID]:
    """One notice per subscriber organisation the advisory's open matches affect; returns the ids
    of the notices created by this run (none when run again)."""
    rows = (await session.execute(_AFFECTED, {"advisory": advisory_id})).mappings().all()
    by_org: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for r in rows:
        by_org[r["organisation_id"]].append(r)
    if not by_org:
        return []
    details = await _details(session, advisory_id)
    created: list[uuid.UUID] = []
    for org, matches in by_org.items():
        first = matches[0]
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
        values = {
            "id": uuid.uuid4(),
            "organisation_id": org,
            "kind": "notice",
            "advisory_id": advisory_id,
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
                details=details,
                known_exploited=kev,
                rating=rating,
                affected=affected,
                advisory_url=f"{base_url.rstrip('/')}/advisories/{advisory_id}",
            ),
            "created_at": utcnow(),
        }
        inserted = await session.execute(
            insert(Notice)
            .values(**values)
            .on_conflict_do_nothing(constraint="uq_ch_dist_notices_key")
            .returning(Notice.id)
        )
        notice_id = inserted.scalar_one_or_none()
        if notice_id is None:
            continue  # already created by an earlier run
        created.append(notice_id)
        if immediate:
            notice = await session.get_one(Notice, notice_id)
            await _deliveries(session, notice, email=first["email"], webhook_url=first["webhook_url"])
    return created


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
    error: str | None = None
    try:
        if row.channel == "email":
            to = prefs["email"] if prefs else None
            if not to:
                raise DeliveryFailed("the subscriber has no email address")
            await mailer.send(
                Email(to=to, subject=notice.subject, body=notice.body, message_id=row.webhook_id)
            )
        else:
            url = prefs["webhook_url"] if prefs else None
            secret = await _webhook_secret(session, notice.organisation_id, key)
            if not url or secret is None:
                raise DeliveryFailed("the subscriber has no webhook URL or no webhook secret")
            payload = json.dumps(
                {
                    "type": "notice.digest" if notice.kind == "digest" else "notice.created",
                    "timestamp": notice.created_at.isoformat(),
                    "data": {
                        "notice_id": str(notice.id),
                        "advisory_id": notice.advisory_id,
                        "priority": notice.priority,
                        "known_exploited": notice.known_exploited,
                        "severity": notice.severity_rating,
                        "subject": notice.subject,
                        "text": notice.body,
                    },
                },
                sort_keys=True,
            )
            # The real clock: receivers reject timestamps outside their tolerance window.
            await webhooks.send(
                WebhookCall(
                    url=url,
                    webhook_id=row.webhook_id,
                    payload=payload,
                    secret=secret,
                    timestamp=datetime.now(UTC),
                )
            )
    except DeliveryFailed as exc:
        error = str(exc)[:500]
    if error is None:
        row.delivered_at = utcnow()
        row.last_error = None
    else:
        row.last_error = error
    await session.flush()
    return DeliveryOutcome(error is None, row.attempts, error)
