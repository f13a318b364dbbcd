"""Notices end to end in the database: fan-out (idempotent, prioritised, immediate or digest), email
through a real SMTP server, signed webhooks to a real receiver (signature checked, retry after a
failure, de-duplication by webhook-id), the retry policy, and matching handing the work up by name."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.matching.conftest import Operators, cyclonedx, osv, publish

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.distribution import jobs, service
from forewarn.clearinghouse.distribution.delivery import (
    DeliveryFailed,
    FakeMailer,
    FakeWebhookSender,
    HttpxWebhookSender,
    SmtpMailer,
    WebhookCall,
)
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.inventory.records import SubscriberIn
from forewarn.clearinghouse.matching import jobs as matching_jobs
from forewarn.clearinghouse.matching import service as matching
from forewarn.core import mail
from forewarn.core.clock import utcnow
from forewarn.core.jobs import Runtime
from forewarn.core.settings import Settings

from .conftest import Receiver, SmtpSink

BASE = "https://clearinghouse.example"


def _context(session: AsyncSession, settings: Settings | None = None, runtime: Runtime | None = None) -> Any:
    @contextlib.asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        yield session

    return SimpleNamespace(
        additional_context={
            "runtime": SimpleNamespace(
                db=SimpleNamespace(transaction=transaction),
                settings=settings or Settings(),
                keys=runtime.keys if runtime else None,
            )
        }
    )


async def _subscribe(
    session: AsyncSession,
    actor: Principal,
    *,
    email: str | None = None,
    webhook: str | None = None,
    **prefs: Any,
) -> None:
    await inventory.put_subscriber(
        session,
        data=SubscriberIn.model_validate(
            {"sector": "healthcare", "subsector": "rural_hospital", "size": "small", "email": email}
            | ({"webhook_url": webhook} if webhook else {})
            | prefs
        ),
        actor=actor,
    )


async def _matched(
    session: AsyncSession, ops: Operators, package: str, *, rating: str | None = None, kev: bool = False
) -> str:
    """Publish an advisory for *package*, upload the hospital's SBOM running it, record the matches."""
    _, advisory_id = await publish(session, ops, osv(package))
    await inventory.upload_sbom(
        session, asset_name=f"PACS {package}", raw=cyclonedx((package, "1.2.0")), actor=ops.hospital
    )
    assert await matching.match_advisory(session, advisory_id=advisory_id) == 1
    # Severity and KEV come from scoring and the KEV catalogue upstream; set here directly.
    await session.execute(
        text("UPDATE ch_matches SET severity_rating = :r, known_exploited = :k WHERE advisory_id = :a"),
        {"r": rating, "k": kev, "a": advisory_id},
    )
    return advisory_id


async def _deliveries(session: AsyncSession, notice_ids: list[uuid.UUID]) -> list[Any]:
    rows = await session.execute(
        text(
            "SELECT id, channel, webhook_id, attempts, last_error, delivered_at FROM ch_dist_deliveries"
            " WHERE notice_id = ANY(:n) ORDER BY channel"
        ),
        {"n": notice_ids},
    )
    return list(rows.mappings())


async def _jobs(session: AsyncSession, task: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        text("SELECT args FROM procrastinate_jobs WHERE task_name = :t ORDER BY id"), {"t": task}
    )
    return [r[0] for r in rows]


async def test_fan_out_is_idempotent_plain_and_immediate_for_known_exploited(
    session: AsyncSession, operators: Operators
) -> None:
    await _subscribe(
        session, operators.hospital, email="it@hospital.example", webhook="https://h.example/hook"
    )
    advisory_id = await _matched(session, operators, "tarlib", rating="HIGH", kev=True)
    (notice_id,) = await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
    assert await service.fan_out(session, advisory_id=advisory_id, base_url=BASE) == []  # run twice
    notice = (
        (await session.execute(text("SELECT * FROM ch_dist_notices WHERE id = :i"), {"i": notice_id}))
        .mappings()
        .one()
    )
    assert notice["immediate"] and notice["priority"] == 1  # known exploited, high
    assert "You run tarlib 1.2.0 on asset PACS tarlib. Update to 1.4.2." in notice["body"]
    assert "Why it matters: Extracting a crafted archive" in notice["body"]
    assert "Attackers are exploiting this now" in notice["body"]
    assert notice["subject"].startswith("[Known exploited] ")
    deliveries = await _deliveries(session, [notice_id])
    assert [d["channel"] for d in deliveries] == ["email", "webhook"]
    # The first attempts go out in batch jobs: each delivery in exactly one batch.
    batched = [i for j in await _jobs(session, "distribution:deliver_batch") for i in j["delivery_ids"]]
    mine = {str(d["id"]) for d in deliveries}
    assert sorted(i for i in batched if i in mine) == sorted(mine)


async def test_revision_without_remediation_change_does_not_notify_again(
    session: AsyncSession, operators: Operators
) -> None:
    await _subscribe(session, operators.hospital, email="it@hospital.example")
    advisory_id = await _matched(session, operators, "gzlib")
    assert len(await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)) == 1
    assert await matching.match_advisory(session, advisory_id=advisory_id) == 0
    assert await service.fan_out(session, advisory_id=advisory_id, base_url=BASE) == []
    # A re-alert (the remediation changed) moves alerted_at: a new notice.
    await session.execute(
        text("UPDATE ch_matches SET alerted_at = alerted_at + interval '1 hour' WHERE advisory_id = :a"),
        {"a": advisory_id},
    )
    assert len(await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)) == 1


async def test_others_wait_for_a_digest_grouped_most_urgent_first(
    session: AsyncSession, operators: Operators
) -> None:
    await _subscribe(
        session, operators.hospital, email="it@hospital.example", webhook="https://h.example/hook"
    )
    low = await _matched(session, operators, "lowlib", rating="LOW")
    high = await _matched(session, operators, "highlib", rating="HIGH")
    for advisory_id in (low, high):
        (notice_id,) = await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
        assert await _deliveries(session, [notice_id]) == []  # waits for the digest
    (digest_id,) = await service.send_digests(session)
    assert await service.send_digests(session) == []  # nothing left, and the period has not passed
    body = (
        await session.execute(text("SELECT body FROM ch_dist_notices WHERE id = :i"), {"i": digest_id})
    ).scalar_one()
    assert body.startswith("Your clearinghouse digest: 2 advisories")
    assert body.index(high) < body.index(low)
    assert [d["channel"] for d in await _deliveries(session, [digest_id])] == ["email", "webhook"]
    # A later notice waits for the next period, then goes in the next digest.
    later = await _matched(session, operators, "laterlib", rating="MEDIUM")
    await service.fan_out(session, advisory_id=later, base_url=BASE)
    assert await service.send_digests(session) == []
    (second,) = await service.send_digests(session, now=utcnow() + timedelta(days=1, minutes=1))
    assert second != digest_id


async def test_email_through_a_real_smtp_server_once(
    session: AsyncSession, operators: Operators, runtime: Runtime, smtp: SmtpSink
) -> None:
    await _subscribe(session, operators.hospital, email="it@hospital.example")
    advisory_id = await _matched(session, operators, "mailib", rating="CRITICAL")
    (notice_id,) = await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
    (delivery,) = await _deliveries(session, [notice_id])
    relay = mail.SmtpMailer(host="127.0.0.1", port=smtp.port, sender="notices@ch.example", starttls=False)
    mailer = SmtpMailer(relay)
    webhooks = FakeWebhookSender()
    for _ in range(2):  # the second run finds it delivered and sends nothing
        outcome = await service.deliver(
            session, delivery_id=delivery["id"], mailer=mailer, webhooks=webhooks, key=runtime.keys.data
        )
        assert outcome.delivered and outcome.attempts == 1
    (message,) = smtp.messages
    assert message.rcpt_tos == ["it@hospital.example"]
    raw = message.content.decode()
    assert "Subject: [Critical] " in raw
    assert f"Message-ID: <{delivery['webhook_id']}@forewarn>" in raw
    assert "You run mailib 1.2.0 on asset PACS mailib." in raw


async def test_signed_webhook_retried_after_failure_and_deduplicated(
    session: AsyncSession, operators: Operators, runtime: Runtime, receiver: Receiver
) -> None:
    await _subscribe(session, operators.hospital, webhook=receiver.url)
    secret = await service.set_webhook_secret(
        session, organisation_id=operators.hospital.organisation_id, key=runtime.keys.data
    )  # type: ignore[arg-type]
    receiver.secret = secret
    stored = (await session.execute(text("SELECT sealed FROM ch_dist_webhook_secrets"))).scalars().all()
    assert all(secret.encode() not in s for s in stored)  # sealed, never stored in clear
    advisory_id = await _matched(session, operators, "hooklib", kev=True)
    (notice_id,) = await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
    (delivery,) = await _deliveries(session, [notice_id])
    sender, mailer = HttpxWebhookSender(timeout=5, allow_insecure=True, allow_private=True), FakeMailer()
    receiver.fail = 1
    first = await service.deliver(
        session, delivery_id=delivery["id"], mailer=mailer, webhooks=sender, key=runtime.keys.data
    )
    assert not first.delivered and first.error == "webhook receiver answered HTTP 503"
    (row,) = await _deliveries(session, [notice_id])
    assert row["attempts"] == 1 and row["delivered_at"] is None and secret not in (row["last_error"] or "")
    second = await service.deliver(
        session, delivery_id=delivery["id"], mailer=mailer, webhooks=sender, key=runtime.keys.data
    )
    assert second.delivered and second.attempts == 2
    (payload,) = receiver.accepted.values()
    assert list(receiver.accepted) == [delivery["webhook_id"]]
    assert payload["type"] == "notice.created" and payload["data"]["advisory_id"] == advisory_id
    assert "You run hooklib 1.2.0" in payload["data"]["text"]
    # A crash after sending and before recording makes the worker send again: same id, seen once.
    call = WebhookCall(
        url=receiver.url,
        webhook_id=delivery["webhook_id"],
        payload='{"type": "notice.created"}',
        secret=secret,
        timestamp=utcnow(),
    )
    await sender.send(call)
    assert receiver.duplicates == 1 and len(receiver.accepted) == 1
    # A wrong secret is rejected by the receiver, and the failure is a safe message.
    with pytest.raises(DeliveryFailed, match="HTTP 401"):
        await sender.send(WebhookCall(**{**call.__dict__, "secret": "whsec_" + "A" * 44}))
    assert receiver.rejected == 1


async def test_deliver_job_records_the_attempt_then_raises_for_retry(
    session: AsyncSession, operators: Operators, runtime: Runtime
) -> None:
    await _subscribe(session, operators.hospital, email="it@hospital.example")
    advisory_id = await _matched(session, operators, "jobslib", rating="CRITICAL")
    (notice_id,) = await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
    (delivery,) = await _deliveries(session, [notice_id])
    context = _context(session, Settings(smtp_host=None), runtime)  # email unconfigured: fails closed
    with pytest.raises(DeliveryFailed, match="not configured"):
        await jobs.deliver.func(context, delivery_id=str(delivery["id"]))
    (row,) = await _deliveries(session, [notice_id])
    assert row["attempts"] == 1 and row["last_error"] == "email is not configured (FOREWARN_SMTP_HOST)"


def test_backoff_is_exponential_and_bounded() -> None:
    strategy = jobs._Backoff()
    settings = Settings()

    def decision(exc: BaseException, attempts: int) -> Any:
        return strategy.get_retry_decision(exception=exc, job=SimpleNamespace(attempts=attempts))  # type: ignore[arg-type]

    waits = [decision(DeliveryFailed("x"), n).retry_at for n in range(3)]
    assert all(w is not None for w in waits)
    assert waits[0] < waits[1] < waits[2]
    assert decision(RuntimeError("bug"), 0) is None
    assert decision(DeliveryFailed("x"), settings.notice_delivery_max_attempts - 1) is None


async def test_matching_hands_new_matches_to_the_fan_out(session: AsyncSession, operators: Operators) -> None:
    _, advisory_id = await publish(session, operators, osv("handlib"))
    await inventory.upload_sbom(
        session, asset_name="EHR", raw=cyclonedx(("handlib", "1.2.0")), actor=operators.hospital
    )
    assert await matching_jobs.match_advisory.func(_context(session), advisory_id=advisory_id) == 1
    assert {"advisory_id": advisory_id} in await _jobs(session, "distribution:fan_out")
    before = len(await _jobs(session, "distribution:fan_out"))
    assert await matching_jobs.match_advisory.func(_context(session), advisory_id=advisory_id) == 0
    assert len(await _jobs(session, "distribution:fan_out")) == before  # nothing new: no notice
    created = await jobs.fan_out.func(_context(session, Settings(base_url=BASE)), advisory_id=advisory_id)
    assert created == 0  # no subscriber profile: nobody to tell


async def test_batch_records_each_delivery_and_gives_a_failed_one_its_own_retry(
    session: AsyncSession, operators: Operators, runtime: Runtime, receiver: Receiver
) -> None:
    await _subscribe(session, operators.hospital, email="it@hospital.example", webhook=receiver.url)
    receiver.secret = await service.set_webhook_secret(
        session, organisation_id=operators.hospital.organisation_id, key=runtime.keys.data
    )  # type: ignore[arg-type]
    advisory_id = await _matched(session, operators, "batchlib", kev=True)
    (notice_id,) = await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
    email, webhook = await _deliveries(session, [notice_id])
    (job,) = [
        j for j in await _jobs(session, "distribution:deliver_batch") if str(email["id"]) in j["delivery_ids"]
    ]
    assert sorted(job["delivery_ids"]) == sorted([str(email["id"]), str(webhook["id"])])
    sender = HttpxWebhookSender(timeout=5, allow_insecure=True, allow_private=True)
    mailer = FakeMailer(fail=1)  # the email fails its first attempt, the webhook goes through
    before = utcnow()
    outcome = await service.deliver_batch(
        session,
        delivery_ids=[uuid.UUID(i) for i in job["delivery_ids"]],
        mailer=mailer,
        webhooks=sender,
        key=runtime.keys.data,
        max_attempts=8,
        retry_base_seconds=4,
        retry_max_seconds=3600,
    )
    assert outcome.delivered == 1 and outcome.failed == [(email["id"], 4)] and outcome.skipped == 0
    email_row, webhook_row = await _deliveries(session, [notice_id])
    assert (email_row["attempts"], email_row["delivered_at"]) == (1, None)
    assert email_row["last_error"] == "fake mailer failure"
    assert webhook_row["attempts"] == 1 and webhook_row["delivered_at"] is not None
    assert list(receiver.accepted) == [webhook["webhook_id"]]  # its own stable id
    # The failed one has its own retry job, after its backoff, counting the batch's attempt.
    (retry,) = (
        await session.execute(
            text(
                "SELECT args, scheduled_at FROM procrastinate_jobs"
                " WHERE task_name = 'distribution:deliver' AND args->>'delivery_id' = :d"
            ),
            {"d": str(email["id"])},
        )
    ).all()
    assert retry[0] == {"delivery_id": str(email["id"]), "prior_attempts": 1}
    assert retry[1] >= before + timedelta(seconds=4)
    # The batch run again (a worker killed after recording) sends nothing: both were attempted.
    again = await service.deliver_batch(
        session,
        delivery_ids=[uuid.UUID(i) for i in job["delivery_ids"]],
        mailer=mailer,
        webhooks=sender,
        key=runtime.keys.data,
        max_attempts=8,
        retry_base_seconds=4,
        retry_max_seconds=3600,
    )
    assert (again.delivered, again.failed, again.skipped) == (0, [], 2)
    assert receiver.requests == 1 and mailer.sent == []
    # The retry job makes the second attempt; the delivery is then delivered, not sent again.
    second = await service.deliver(
        session, delivery_id=email["id"], mailer=mailer, webhooks=sender, key=runtime.keys.data
    )
    assert second.delivered and second.attempts == 2
    email_row, _ = await _deliveries(session, [notice_id])
    assert email_row["attempts"] == 2 and email_row["delivered_at"] is not None
    assert [m.message_id for m in mailer.sent] == [email["webhook_id"]]


def test_backoff_counts_the_batch_attempt() -> None:
    strategy = jobs._Backoff()
    settings = Settings()

    def decision(attempts: int, prior: int) -> Any:
        job = SimpleNamespace(attempts=attempts, task_kwargs={"delivery_id": "x", "prior_attempts": prior})
        return strategy.get_retry_decision(exception=DeliveryFailed("x"), job=job)  # type: ignore[arg-type]

    # The same wait as a delivery retried by one job only: the batch's attempt is the first.
    alone = strategy.get_retry_decision(exception=DeliveryFailed("x"), job=SimpleNamespace(attempts=1))  # type: ignore[arg-type]
    assert alone is not None and alone.retry_at is not None
    assert abs(decision(0, 1).retry_at - alone.retry_at) < timedelta(seconds=2)
    assert decision(settings.notice_delivery_max_attempts - 2, 1) is None
    assert service.retry_delay(3, max_attempts=8, base_seconds=4, max_seconds=30) == 30
    assert service.retry_delay(8, max_attempts=8, base_seconds=4, max_seconds=30) is None
