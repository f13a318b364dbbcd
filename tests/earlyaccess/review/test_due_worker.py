"""``review:due`` run by a real ``forewarn worker`` process: a window whose close time passes is closed by
the worker at exactly its ``closes_at``, its reviewer key is refused from then on, and each notice
(opening, 7 days and 1 day before, close) is recorded once per organisation and emailed once through
a real SMTP server (aiosmtpd) on 127.0.0.1.

The window was opened (with a frozen clock) 30 days before "now + a few seconds", so its 7-day and
1-day runs are already due when the worker starts and its close run comes a few seconds later. The
worker runs on a database of this test's own: it runs every due and periodic job it finds and
commits them, which must not reach the other tests' database.
"""

from __future__ import annotations

import asyncio
import email
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import scratch_database, worker_process
from tests.earlyaccess.gateway.upstream import FakeUpstream

from forewarn.core.clock import FrozenClock, SystemClock, set_clock, utcnow
from forewarn.core.db import Database
from forewarn.core.jobs import Runtime, enqueue
from forewarn.core.keys import DataKey, Keys, SigningKey
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.schemas import CredentialIn, NoticeKind, WindowState

from . import world as w
from .conftest import SmtpSink

pytestmark = pytest.mark.slow

#: How long after the test's set-up the window's time runs out (the worker starts in between).
LEAD_TIME = timedelta(seconds=25)


@pytest.fixture
def due_database_url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "review_due") as url:
        yield url


@pytest.fixture
async def due_runtime(runtime: Runtime, due_database_url: str) -> AsyncIterator[Runtime]:
    rt = Runtime(
        settings=runtime.settings,
        db=Database(due_database_url),
        keys=Keys(signing=SigningKey.generate(), data=DataKey(os.urandom(32))),
    )
    yield rt
    await rt.db.dispose()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def _worker(runtime: Runtime, database_url: str, smtp_port: int, data_dir: Path, log: Path) -> Any:
    return worker_process(
        database_url=database_url,
        data_dir=data_dir,
        data_key=runtime.keys.data,
        log=log,
        concurrency=2,
        env={
            "FOREWARN_SMTP_HOST": "127.0.0.1",
            "FOREWARN_SMTP_PORT": str(smtp_port),
            "FOREWARN_SMTP_STARTTLS": "false",
            "FOREWARN_SMTP_FROM": "review@forewarn.test",
        },
    )


async def _scalar(runtime: Runtime, sql: str, **params: Any) -> Any:
    async with runtime.db.transaction() as session:
        return await session.scalar(text(sql), params)


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def _wait(runtime: Runtime, sql: str, worker: Any, log: Path, seconds: float, **params: Any) -> None:
    """Wait until ``sql`` answers true (the worker must stay up meanwhile)."""
    deadline = time.monotonic() + seconds
    while not await _scalar(runtime, sql, **params):
        assert worker.poll() is None, "the worker exited:\n" + _tail(log)
        assert time.monotonic() < deadline, f"timed out waiting for: {sql}\n" + _tail(log)
        await asyncio.sleep(0.25)


async def _call(http: httpx.AsyncClient, secret: str, model: str) -> httpx.Response:
    return await http.post(
        "/gateway/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
    )


async def test_a_real_worker_closes_the_window_on_time_and_sends_each_notice_once(
    due_runtime: Runtime,
    due_database_url: str,
    smtp_sink: SmtpSink,
    upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    from forewarn.earlyaccess.gateway.proxy import close_state
    from forewarn.web.app import create_app

    runtime, key = due_runtime, due_runtime.keys.data
    opened_at = utcnow() + LEAD_TIME - timedelta(days=30)
    set_clock(FrozenClock(opened_at))
    try:
        async with runtime.db.transaction() as session:
            world = await w.build(session, key)
            await w.mark_covered(session, world.model.id)
            opened = await review.open_window(
                session, model_id=world.model.id, actor=world.lead, length_days=30
            )
            window = await review.register_credential(
                session,
                window_id=opened.id,
                data=CredentialIn.model_validate(
                    {"base_url": upstream.base_url, "upstream_model": "fake", "credential": "sk-due-CANARY"}
                ),
                actor=world.lead,
                key=key,
            )
            await review.grant_agency_access(
                session, window_id=window.id, organisation_id=world.agency, actor=world.coordinator
            )
            issued = await review.issue_reviewer_key(
                session,
                window_id=window.id,
                person_id=world.agency_reviewer.person_id,
                actor=world.coordinator,
                rate_limit_per_minute=600,
                token_budget=10_000,
            )
    finally:
        set_clock(SystemClock())
    assert window.closes_at is not None
    closes_at = window.closes_at
    secret = issued.secret.get_secret_value()
    model_label = f"{world.model.name}-{world.model.version}"

    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    log = tmp_path / "worker.log"
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=30) as http:
        # Before the close the key works.
        before = await _call(http, secret, model_label)
        assert before.status_code == 200, before.text

        worker = _worker(runtime, due_database_url, smtp_sink.port, tmp_path / "data", log)
        try:
            # The 7-day and 1-day runs were due already: their notices are emailed, the window stays open.
            await _wait(
                runtime,
                "SELECT count(*) = 2 FROM review_notices WHERE window_id = :w AND kind = 'close_1d'"
                " AND email_status = 'sent'",
                worker,
                log,
                60,
                w=window.id,
            )
            assert utcnow() < closes_at, "set-up took longer than LEAD_TIME; raise it"
            still = await _scalar(runtime, "SELECT closed_at FROM review_windows WHERE id = :w", w=window.id)
            assert still is None
            # The close run: the window closes at exactly closes_at, and its notices go out.
            await _wait(
                runtime,
                "SELECT count(*) = 2 FROM review_notices WHERE window_id = :w AND kind = 'closed'"
                " AND email_status = 'sent'",
                worker,
                log,
                (closes_at - utcnow()).total_seconds() + 60,
                w=window.id,
            )
            # Run the due job once more (as the periodic tick would): nothing is recorded or sent twice.
            async with runtime.db.transaction() as session:
                again = await enqueue(session, "review:due", window_id=str(window.id))
            await _wait(
                runtime,
                "SELECT status = 'succeeded' FROM procrastinate_jobs WHERE id = :j",
                worker,
                log,
                60,
                j=again,
            )
        finally:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()

        # After the close the key is refused.
        after = await _call(http, secret, model_label)
        assert after.status_code == 401, after.text
        assert after.json()["error"]["message"]
    await close_state(app)

    async with runtime.db.transaction() as session:
        closed = await review.get_window(session, window_id=window.id, actor=None)
        assert closed.state == WindowState.CLOSED
        assert closed.closed_at == closes_at and closed.close_reason == "time"
        # The exact-time run did it: the due job scheduled at closes_at ran and succeeded.
        status = await session.scalar(
            text(
                "SELECT status FROM procrastinate_jobs WHERE task_name = 'review:due'"
                " AND args->>'window_id' = :w AND scheduled_at = :at"
            ),
            {"w": str(window.id), "at": closes_at},
        )
        assert status == "succeeded"
        # Revoked by the close itself (not only expired): refused even at a moment before closes_at.
        (held,) = await gateway.list_keys(session, window_id=window.id)
        assert held.state == "revoked" and held.revoked_at == closes_at
        assert held.revoke_reason == "window closed: time"
        notices = await review.list_notices(session, actor=None, window_id=window.id)
    async with runtime.db.sessions() as session:
        admitted = await gateway.admit(
            session,
            key_hash=gateway.hash_secret(secret),
            now=closes_at - timedelta(seconds=1),
            model=model_label,
            reserve=10,
            endpoint="chat.completions",
            stream=False,
            request_sha256=b"\0" * 32,
        )
        assert admitted is None
        await session.rollback()
    # Each notice once per organisation (the lab, the granted agency), each emailed.
    kinds = sorted((n.kind.value, n.organisation_id) for n in notices)
    assert kinds == sorted((k.value, org) for k in NoticeKind for org in (world.lab, world.agency))
    assert {n.email_status for n in notices} == {"sent"}
    subjects: dict[str, list[list[str]]] = {}
    for envelope in smtp_sink.messages:
        message = email.message_from_bytes(envelope.content)
        subjects.setdefault(str(message["Subject"]), []).append(sorted(envelope.rcpt_tos))
    name = f"{world.model.name} {world.model.version}"
    lab_to = [world.lead.email]
    agency_to = sorted([world.coordinator.email, world.agency_reviewer.email])
    for subject in (
        f"Review window open: {name}",
        f"Review window closes in 7 days: {name}",
        f"Review window closes in 1 day: {name}",
        f"Review window closed: {name}",
    ):
        assert sorted(subjects.pop(subject)) == sorted([lab_to, agency_to]), subject
    assert subjects == {}
    # The close notice went out after the close, the others before it.
    for notice in notices:
        assert notice.emailed_at is not None
        assert (notice.emailed_at >= closes_at) is (notice.kind == NoticeKind.CLOSED), notice.kind
