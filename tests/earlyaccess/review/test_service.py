"""The review programme's service: participation, the no-gate rule, windows, withdrawal at every stage,
grants and reviewer keys, notices, and the message channel."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.core.clock import FrozenClock, set_clock, utcnow
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.schemas import (
    AgreementIn,
    AttachmentIn,
    CredentialIn,
    ModelUpdate,
    NoticeKind,
    WindowState,
)
from forewarn.ledger.models import LedgerEntry

from . import world as w


async def _types(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(LedgerEntry.type).order_by(LedgerEntry.index)))


async def _key_admitted(session: AsyncSession, secret: str, now: datetime) -> bool:
    """Ask the gateway's own admission statement whether the key may make a call at ``now``."""
    async with session.begin_nested() as nested:
        admitted = await gateway.admit(
            session,
            key_hash=gateway.hash_secret(secret),
            now=now,
            model=None,
            reserve=1,
            endpoint="chat",
            stream=False,
            request_sha256=hashlib.sha256(b"x").digest(),
        )
        await nested.rollback()
    return admitted is not None


async def test_agreement_versions_sign_supersede_and_withdraw(
    session: AsyncSession, runtime: Runtime
) -> None:
    world = await w.build(session, runtime.keys.data)
    status = await review.participation_status(session, actor=world.lead)
    assert status.participating and status.current is not None
    version = status.current.agreement_version
    with pytest.raises(Conflict):
        await review.sign(session, agreement_version=version, actor=world.lead)
    with pytest.raises(Forbidden):
        await review.sign(session, agreement_version=version, actor=world.lab_member)
    with pytest.raises(Forbidden):
        await review.publish_agreement(
            session, data=AgreementIn(title="Not mine", body=w.AGREEMENT_TEXT), actor=world.lead
        )
    newer = await review.publish_agreement(
        session,
        data=AgreementIn(title="Agreement v2", body=w.AGREEMENT_TEXT + " Second."),
        actor=world.coordinator,
    )
    assert newer.version == version + 1 and newer.body_sha256.startswith("sha256:")
    with pytest.raises(InvalidInput) as old:
        await review.sign(session, agreement_version=version, actor=world.lead)
    assert old.value.problems[0].field == "agreement_version"
    await review.sign(session, agreement_version=newer.version, actor=world.lead)
    status = await review.participation_status(session, actor=world.lead)
    assert status.current is not None and status.current.agreement_version == newer.version
    assert [p.end_reason for p in status.history] == [None, "superseded"]
    out = await review.withdraw(session, actor=world.lead, reason="testing")
    assert out.windows_closed == 0
    assert not await review.is_participating(session, organisation_id=world.lab)
    with pytest.raises(Conflict):
        await review.withdraw(session, actor=world.lead)
    types = await _types(session)
    for expected in ("review.agreement_published", "review.agreement_signed", "review.withdrawn"):
        assert expected in types


async def test_no_gate_release_dates_move_at_will_and_nothing_depends_on_an_outcome(
    session: AsyncSession, runtime: Runtime
) -> None:
    """R1: the planned release date is information only. It moves forwards, backwards and into the past,
    before and during a window, with any determination (or none), and the lab can release at will."""
    world = await w.build(session, runtime.keys.data)
    model_id = world.model.id
    dates = [date(2027, 1, 1), date(2020, 1, 1), utcnow().date(), date(2030, 12, 31)]
    for covered in (None, True, False):
        if covered is not None:
            await review.record_determination(
                session, model_id=model_id, determination_id=uuid.uuid4(), covered=covered
            )
        for d in dates:
            out = await review.update_model(
                session, model_id=model_id, data=ModelUpdate(planned_release=d), actor=world.lead
            )
            assert out.planned_release == d and out.covered is covered
    # A not-covered model gets no window (windows are for covered models)…
    with pytest.raises(Conflict):
        await review.open_window(session, model_id=model_id, actor=world.lead, length_days=30)
    # …and a covered one during its open window still moves its date and releases at will.
    await review.record_determination(session, model_id=model_id, determination_id=uuid.uuid4(), covered=True)
    window = await w.open_for_access(session, runtime.keys.data, world)
    assert window.state == WindowState.OPEN
    moved = await review.update_model(
        session,
        model_id=model_id,
        data=ModelUpdate(planned_release=utcnow().date() + timedelta(days=1)),
        actor=world.lead,
    )
    assert moved.planned_release == utcnow().date() + timedelta(days=1)
    released = await review.mark_released(session, model_id=model_id, actor=world.lead)
    assert released.released_at is not None
    closed = await review.get_window(session, window_id=window.id, actor=world.lead)
    assert closed.state == WindowState.CLOSED and closed.close_reason == "released"
    # Releasing again is harmless; the date still moves after release.
    await review.mark_released(session, model_id=model_id, actor=world.lead)
    await review.update_model(
        session, model_id=model_id, data=ModelUpdate(planned_release=date(2019, 5, 5)), actor=world.lead
    )
    # Nobody but the lab's safety lead changes it; the programme cannot touch the date at all.
    with pytest.raises(Forbidden):
        await review.update_model(
            session,
            model_id=model_id,
            data=ModelUpdate(planned_release=date(2031, 1, 1)),
            actor=world.lab_member,
        )
    with pytest.raises(NotFound):
        await review.update_model(
            session,
            model_id=model_id,
            data=ModelUpdate(planned_release=date(2031, 1, 1)),
            actor=world.coordinator,
        )
    assert "review.model_updated" in await _types(session)


async def test_window_lifecycle_day_counter_and_access(session: AsyncSession, runtime: Runtime) -> None:
    world = await w.build(session, runtime.keys.data)
    await w.mark_covered(session, world.model.id)
    window = await review.open_window(session, model_id=world.model.id, actor=world.lead, length_days=30)
    assert window.state == WindowState.AWAITING_CREDENTIAL and window.day is None
    with pytest.raises(Conflict):
        await review.open_window(session, model_id=world.model.id, actor=world.lead, length_days=30)
    with pytest.raises(NotFound):
        await review.get_window(session, window_id=window.id, actor=world.other_lead)
    with pytest.raises(NotFound):
        await review.get_window(session, window_id=window.id, actor=world.partner_staff)
    assert (await review.get_window(session, window_id=window.id, actor=world.coordinator)).id == window.id
    # A bad endpoint is refused with the field named; nothing starts.
    with pytest.raises(ValidationError) as bad:
        CredentialIn.model_validate({"base_url": "file:///etc/passwd"})
    assert "base_url" in str(bad.value)
    started = await review.register_credential(
        session,
        window_id=window.id,
        data=CredentialIn.model_validate({"credential": "sk-x"}),
        actor=world.lead,
        key=runtime.keys.data,
    )
    assert started.state == WindowState.OPEN and started.day == 1 and started.days_left == 30
    assert started.closes_at is not None and started.access_starts_at is not None
    assert started.closes_at - started.access_starts_at == timedelta(days=30)
    upstream = await gateway.get_upstream(session, window_id=window.id)
    assert upstream.closes_at == started.closes_at and upstream.has_credential
    # Replacing the credential keeps the times.
    again = await review.register_credential(
        session,
        window_id=window.id,
        data=CredentialIn.model_validate({"credential": "sk-y"}),
        actor=world.lead,
        key=runtime.keys.data,
    )
    assert again.closes_at == started.closes_at
    clock = FrozenClock(started.access_starts_at + timedelta(days=9, hours=3))
    set_clock(clock)
    try:
        mid = await review.get_window(session, window_id=window.id, actor=world.lead)
        assert mid.day == 10 and mid.days_left == 21
    finally:
        from forewarn.core.clock import SystemClock

        set_clock(SystemClock())
    assert set(await review.window_organisations(session, window_id=window.id)) == {world.lab}
    assert await review.can_take_part(session, window_id=window.id, actor=world.coordinator)
    assert not await review.can_take_part(session, window_id=window.id, actor=world.agency_reviewer)
    await review.grant_agency_access(
        session, window_id=window.id, organisation_id=world.agency, actor=world.coordinator
    )
    assert await review.can_take_part(session, window_id=window.id, actor=world.agency_reviewer)
    assert [x.id for x in await review.list_windows(session, actor=world.agency_reviewer)] == [window.id]
    assert await review.list_windows(session, actor=world.other_lead) == []


async def test_grants_and_keys_follow_the_rules(session: AsyncSession, runtime: Runtime) -> None:
    world = await w.build(session, runtime.keys.data)
    window = await w.open_for_access(session, runtime.keys.data, world)
    with pytest.raises(Forbidden):
        await review.grant_agency_access(
            session, window_id=window.id, organisation_id=world.agency, actor=world.lead
        )
    with pytest.raises(InvalidInput):  # the coordinator grants agencies only
        await review.grant_agency_access(
            session, window_id=window.id, organisation_id=world.partner, actor=world.coordinator
        )
    await review.grant_agency_access(
        session, window_id=window.id, organisation_id=world.agency, actor=world.coordinator
    )
    with pytest.raises(Conflict):
        await review.grant_agency_access(
            session, window_id=window.id, organisation_id=world.agency, actor=world.coordinator
        )
    # No grant: no key.
    with pytest.raises(Forbidden):
        await review.issue_reviewer_key(
            session,
            window_id=window.id,
            person_id=world.second_reviewer.person_id,
            actor=world.coordinator,
            rate_limit_per_minute=60,
            token_budget=1000,
        )
    key = await review.issue_reviewer_key(
        session,
        window_id=window.id,
        person_id=world.agency_reviewer.person_id,
        actor=world.coordinator,
        rate_limit_per_minute=60,
        token_budget=1000,
    )
    assert key.secret.get_secret_value().startswith("fwk_") and key.expires_at == window.closes_at
    # A partner through a panel decision: only its named staff get keys.
    grant = await review.grant_partner_access(
        session,
        window_id=window.id,
        organisation_id=world.partner,
        staff_person_ids=[world.partner_staff.person_id],
        decision_ref="PD-2026-0001",
    )
    assert grant.kind == "partner" and grant.staff_person_ids == [world.partner_staff.person_id]
    with pytest.raises(Forbidden):
        await review.issue_reviewer_key(
            session,
            window_id=window.id,
            person_id=world.partner_other.person_id,
            actor=world.coordinator,
            rate_limit_per_minute=60,
            token_budget=1000,
        )
    partner_key = await review.issue_reviewer_key(
        session,
        window_id=window.id,
        person_id=world.partner_staff.person_id,
        actor=world.coordinator,
        rate_limit_per_minute=60,
        token_budget=1000,
    )
    assert await review.window_organisations(session, window_id=window.id) == {
        world.lab,
        world.agency,
        world.partner,
    }
    now = utcnow()
    assert await _key_admitted(session, partner_key.secret.get_secret_value(), now)
    assert (
        await review.revoke_partner_access(session, organisation_id=world.partner, reason="panel reversed")
        == 1
    )
    assert not await _key_admitted(session, partner_key.secret.get_secret_value(), utcnow())
    assert await _key_admitted(session, key.secret.get_secret_value(), utcnow())
    assert world.partner not in await review.window_organisations(session, window_id=window.id)
    # Coordinator revokes the agency grant: its keys die.
    grants = await review.list_grants(session, window_id=window.id, actor=world.coordinator)
    agency_grant = next(g for g in grants if g.organisation_id == world.agency)
    await review.revoke_agency_access(
        session, window_id=window.id, grant_id=agency_grant.id, reason="done", actor=world.coordinator
    )
    assert not await _key_admitted(session, key.secret.get_secret_value(), utcnow())
    types = await _types(session)
    assert "review.access_granted" in types and "review.access_revoked" in types


@pytest.mark.parametrize("stage", ["before_window", "awaiting_credential", "open_with_keys"])
async def test_withdrawal_at_every_stage(session: AsyncSession, runtime: Runtime, stage: str) -> None:
    world = await w.build(session, runtime.keys.data)
    secrets: list[str] = []
    window_id = None
    if stage == "awaiting_credential":
        await w.mark_covered(session, world.model.id)
        window_id = (
            await review.open_window(session, model_id=world.model.id, actor=world.lead, length_days=30)
        ).id
    if stage == "open_with_keys":
        window = await w.open_for_access(session, runtime.keys.data, world)
        window_id = window.id
        await review.grant_agency_access(
            session, window_id=window.id, organisation_id=world.agency, actor=world.coordinator
        )
        await review.grant_partner_access(
            session,
            window_id=window.id,
            organisation_id=world.partner,
            staff_person_ids=[world.partner_staff.person_id],
            decision_ref="PD-1",
        )
        for holder in (world.agency_reviewer, world.partner_staff):
            issued = await review.issue_reviewer_key(
                session,
                window_id=window.id,
                person_id=holder.person_id,
                actor=world.coordinator,
                rate_limit_per_minute=60,
                token_budget=1000,
            )
            secrets.append(issued.secret.get_secret_value())
        assert all([await _key_admitted(session, s, utcnow()) for s in secrets])
    out = await review.withdraw(session, actor=world.lead, reason="changed our plans")
    assert out.windows_closed == (0 if window_id is None else 1)
    assert out.keys_revoked == len(secrets)
    assert not await review.is_participating(session, organisation_id=world.lab)
    if window_id is not None:
        closed = await review.get_window(session, window_id=window_id, actor=world.lead)
        assert closed.state == WindowState.CLOSED and closed.close_reason == "withdrawn"
    for secret in secrets:
        assert not await _key_admitted(session, secret, utcnow())
    if stage == "open_with_keys":
        assert window_id is not None
        assert all(k.state == "revoked" for k in await gateway.list_keys(session, window_id=window_id))
        with pytest.raises(Conflict):  # no new key after withdrawal
            await review.issue_reviewer_key(
                session,
                window_id=window_id,
                person_id=world.agency_reviewer.person_id,
                actor=world.coordinator,
                rate_limit_per_minute=60,
                token_budget=1000,
            )
    # Withdrawn: no new window until the lab signs again (even for a covered model).
    await w.mark_covered(session, world.model.id)
    with pytest.raises(Conflict, match="sign the participation agreement"):
        await review.open_window(session, model_id=world.model.id, actor=world.lead, length_days=30)


async def test_messages_only_between_the_lab_and_the_agencies(
    session: AsyncSession, runtime: Runtime
) -> None:
    world = await w.build(session, runtime.keys.data)
    key = runtime.keys.data
    secret_text = b"CANARY-ATTACHMENT-" + uuid.uuid4().hex.encode()
    posted = await review.post_message(
        session,
        model_id=world.model.id,
        body="What do you expect in the report?",
        attachments=[AttachmentIn(filename="../../plan.txt", content_type="text/plain", data=secret_text)],
        actor=world.lead,
        key=key,
    )
    assert posted.side == "lab" and posted.attachments[0].filename == "plan.txt"
    reply = await review.post_message(
        session,
        model_id=world.model.id,
        body="Findings by severity and area.",
        attachments=[],
        actor=world.coordinator,
        key=key,
    )
    assert reply.side == "agency"
    for outsider in (world.other_lead, world.partner_staff, world.agency_reviewer):
        with pytest.raises(NotFound):
            await review.list_messages(session, model_id=world.model.id, actor=outsider)
        with pytest.raises(NotFound):
            await review.post_message(
                session, model_id=world.model.id, body="hi", attachments=[], actor=outsider, key=key
            )
        with pytest.raises(NotFound):
            await review.get_attachment(
                session,
                model_id=world.model.id,
                attachment_id=posted.attachments[0].id,
                actor=outsider,
                key=key,
            )
    for side in (world.lead, world.lab_member, world.coordinator):
        listed = await review.list_messages(session, model_id=world.model.id, actor=side)
        assert [m.id for m in listed] == [posted.id, reply.id]
        meta, data = await review.get_attachment(
            session, model_id=world.model.id, attachment_id=posted.attachments[0].id, actor=side, key=key
        )
        assert data == secret_text and meta.sha256 == hashlib.sha256(secret_text).hexdigest()
    # At rest the attachment is ciphertext: the plaintext is nowhere in the row.
    raw = await session.scalar(
        text("SELECT blob_sealed FROM review_message_attachments WHERE id = :id"),
        {"id": posted.attachments[0].id},
    )
    assert raw is not None and secret_text not in bytes(raw)
    # An agency granted on a window of the model joins the agency side.
    window = await w.open_for_access(session, key, world)
    await review.grant_agency_access(
        session, window_id=window.id, organisation_id=world.agency, actor=world.coordinator
    )
    assert len(await review.list_messages(session, model_id=world.model.id, actor=world.agency_reviewer)) == 2
    with pytest.raises(InvalidInput):
        await review.post_message(
            session, model_id=world.model.id, body="   ", attachments=[], actor=world.lead, key=key
        )


async def test_close_is_exact_and_notices_are_sent_once(session: AsyncSession, runtime: Runtime) -> None:
    world = await w.build(session, runtime.keys.data)
    start = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    clock = FrozenClock(start)
    set_clock(clock)
    try:
        window = await w.open_for_access(session, runtime.keys.data, world)
        await review.grant_agency_access(
            session, window_id=window.id, organisation_id=world.agency, actor=world.coordinator
        )
        issued = await review.issue_reviewer_key(
            session,
            window_id=window.id,
            person_id=world.agency_reviewer.person_id,
            actor=world.coordinator,
            rate_limit_per_minute=60,
            token_budget=1000,
        )
        closes_at = start + timedelta(days=30)
        assert window.closes_at == closes_at
        kinds = lambda notices: sorted((n.kind.value, n.organisation_id == world.lab) for n in notices)  # noqa: E731
        opened = await review.list_notices(session, actor=world.coordinator, window_id=window.id)
        assert kinds(opened) == [("opened", False), ("opened", True)]
        for moment, expected in (
            (closes_at - timedelta(days=7, seconds=1), set()),
            (closes_at - timedelta(days=7), {"close_7d"}),
            (closes_at - timedelta(days=1, seconds=1), {"close_7d"}),
            (closes_at - timedelta(days=1), {"close_7d", "close_1d"}),
            (closes_at - timedelta(seconds=1), {"close_7d", "close_1d"}),
        ):
            clock.set(moment)
            for _ in range(2):  # run twice: nothing is recorded twice
                report = await review.run_due(session, now=moment, mailer=None)
                assert report.closed == []
            got = {n.kind.value for n in await review.list_notices(session, actor=world.lead)} - {"opened"}
            assert got == expected, moment
            assert (
                await review.get_window(session, window_id=window.id, actor=world.lead)
            ).state == WindowState.OPEN
        assert await _key_admitted(
            session, issued.secret.get_secret_value(), closes_at - timedelta(seconds=1)
        )
        clock.set(closes_at)
        report = await review.run_due(session, now=closes_at, mailer=None)
        assert report.closed == [window.id]
        assert (await review.run_due(session, now=closes_at, mailer=None)).closed == []
        closed = await review.get_window(session, window_id=window.id, actor=world.lead)
        assert (
            closed.state == WindowState.CLOSED
            and closed.closed_at == closes_at
            and closed.close_reason == "time"
        )
        assert not await _key_admitted(session, issued.secret.get_secret_value(), closes_at)
        (key_row,) = await gateway.list_keys(session, window_id=window.id)
        assert key_row.revoked_at == closes_at
        notices = await review.list_notices(session, actor=world.coordinator, window_id=window.id)
        assert sorted(n.kind.value for n in notices) == sorted(
            [k for k in ("opened", "close_7d", "close_1d", "closed") for _ in (0, 1)]
        )
        # No SMTP relay configured: each is marked so, not retried forever.
        assert {n.email_status for n in notices} == {"not_configured"}
        assert {n.kind for n in await review.list_notices(session, actor=world.agency_reviewer)} == set(
            NoticeKind
        )
    finally:
        from forewarn.core.clock import SystemClock

        set_clock(SystemClock())
