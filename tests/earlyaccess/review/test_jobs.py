"""The review jobs: a window closes itself at exactly ``closes_at`` through the job (with an injected
clock), the exact-time runs are scheduled when access starts, and notices are emailed once through a
real SMTP server on 127.0.0.1."""

from __future__ import annotations

import email
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.benchmark.world import runtime_in

from forewarn.core.clock import FrozenClock, SystemClock, set_clock
from forewarn.core.jobs import Runtime, _task_registry
from forewarn.earlyaccess.review import jobs
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.schemas import WindowState

from . import world as w
from .conftest import SmtpSink

START = datetime(2026, 5, 4, 13, 30, 15, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(START)
    set_clock(frozen)
    try:
        yield frozen
    finally:
        set_clock(SystemClock())


def test_tasks_are_registered_with_a_periodic_tick() -> None:
    app = _task_registry()
    assert {"review:tick", "review:due"} <= set(app.tasks)
    periodic = [t.task.name for t in app.periodic_registry.periodic_tasks.values()]
    assert "review:tick" in periodic


async def test_window_closes_itself_at_exactly_closes_at(
    session: AsyncSession, runtime: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    world = await w.build(session, runtime.keys.data)
    window = await w.open_for_access(session, runtime.keys.data, world, length_days=30)
    closes_at = START + timedelta(days=30)
    # Access start scheduled exact-time runs of the due job: 7 days, 1 day before, and at the close.
    scheduled = list(
        await session.scalars(
            text(
                "SELECT scheduled_at FROM procrastinate_jobs WHERE task_name = 'review:due'"
                " AND args->>'window_id' = :id AND scheduled_at IS NOT NULL ORDER BY scheduled_at"
            ),
            {"id": str(window.id)},
        )
    )
    assert scheduled == [closes_at - timedelta(days=7), closes_at - timedelta(days=1), closes_at]
    rt = runtime_in(session, runtime, tmp_path, smtp_host=None)
    clock.set(closes_at - timedelta(microseconds=1))
    assert (await jobs.run_due_now(rt)).closed == []
    assert (await review.get_window(session, window_id=window.id, actor=None)).state == WindowState.OPEN
    clock.set(closes_at)
    assert (await jobs.run_due_now(rt)).closed == [window.id]
    closed = await review.get_window(session, window_id=window.id, actor=None)
    assert (
        closed.state == WindowState.CLOSED and closed.closed_at == closes_at and closed.close_reason == "time"
    )
    # Run late and twice: nothing changes.
    clock.set(closes_at + timedelta(hours=5))
    assert (await jobs.run_due_now(rt)).closed == []
    assert (await review.get_window(session, window_id=window.id, actor=None)).closed_at == closes_at


async def test_notices_are_emailed_once_over_smtp(
    session: AsyncSession, runtime: Runtime, clock: FrozenClock, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    world = await w.build(session, runtime.keys.data)
    window = await w.open_for_access(session, runtime.keys.data, world, length_days=30)
    await review.grant_agency_access(
        session, window_id=window.id, organisation_id=world.agency, actor=world.coordinator
    )
    rt = runtime_in(
        session,
        runtime,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp_sink.port,
        smtp_starttls=False,
        smtp_from="review@forewarn.test",
    )
    closes_at = START + timedelta(days=30)
    for moment in (
        START,
        closes_at - timedelta(days=7),
        closes_at - timedelta(days=7),
        closes_at - timedelta(days=1),
        closes_at - timedelta(hours=2),
        closes_at,
        closes_at + timedelta(minutes=1),
    ):
        clock.set(moment)
        await jobs.run_due_now(rt)
    subjects: dict[str, list[set[str]]] = {}
    for envelope in smtp_sink.messages:
        message = email.message_from_bytes(envelope.content)
        subjects.setdefault(str(message["Subject"]), []).append(set(envelope.rcpt_tos))
    model = f"{world.model.name} {world.model.version}"
    lab_to, agency_to = {world.lead.email}, {world.coordinator.email, world.agency_reviewer.email}
    # Each notice once per organisation: the lab's safety lead, the agency's coordinator and reviewer.
    for subject in (
        f"Review window open: {model}",
        f"Review window closes in 7 days: {model}",
        f"Review window closes in 1 day: {model}",
        f"Review window closed: {model}",
    ):
        assert sorted(map(sorted, subjects.pop(subject))) == sorted([sorted(lab_to), sorted(agency_to)]), (
            subject
        )
    assert subjects == {}
    notices = await review.list_notices(session, actor=world.coordinator, window_id=window.id)
    assert len(notices) == 8 and {n.email_status for n in notices} == {"sent"}
    assert all(uuid.UUID(str(n.id)) for n in notices)
