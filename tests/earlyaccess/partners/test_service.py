"""Partner governance through its service, against the real review and gateway services."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.partners import world
from tests.earlyaccess.partners.world import DENY_WHY, World, vote_all

from forewarn.accounts.schemas import Role
from forewarn.core.clock import FrozenClock
from forewarn.core.errors import Conflict, Forbidden, InvalidInput
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.partners import service
from forewarn.earlyaccess.partners.models import Ballot, Round
from forewarn.earlyaccess.partners.schemas import (
    AppealIn,
    BallotIn,
    ChecklistItem,
    ConflictIn,
    Outcome,
    PartnerStatus,
    StatusIn,
    VettingIn,
    Vote,
)
from forewarn.earlyaccess.review import service as review
from forewarn.ledger.models import LedgerEntry

APPROVE4 = [Vote.APPROVE] * 4


@pytest.fixture
async def w(session: AsyncSession, runtime: Runtime) -> World:
    return await world.build(session, runtime.keys.data)


async def _types(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(LedgerEntry.type).order_by(LedgerEntry.index)))


async def test_apply_vet_and_versions(session: AsyncSession, w: World) -> None:
    partner = await service.apply(session, data=world.application_in(w), actor=w.partner_admin)
    assert partner.status is PartnerStatus.APPLIED and partner.version == 1
    assert {s.email for s in partner.application.staff} == {s.email for s in w.staff}
    with pytest.raises(Conflict):
        await service.apply(session, data=world.application_in(w), actor=w.partner_admin)
    with pytest.raises(Forbidden):
        await service.vet(session, partner_id=partner.id, data=world.ALL_PASS, actor=w.partner_admin)
    failing = VettingIn(
        checklist=dict.fromkeys(ChecklistItem, True) | {ChecklistItem.SANCTIONS_CHECKED: False},
        reason="Sanctions screening is still open.",
    )
    partner = await service.vet(session, partner_id=partner.id, data=failing, actor=w.coordinator)
    assert partner.status is PartnerStatus.APPLIED
    amended = await service.amend(
        session,
        partner_id=partner.id,
        data=world.application_in(w, category="research_institute"),
        actor=w.partner_admin,
    )
    assert amended.category.value == "research_institute"
    partner = await service.vet(session, partner_id=partner.id, data=world.ALL_PASS, actor=w.coordinator)
    assert partner.status is PartnerStatus.VETTED
    history = await service.versions(session, partner_id=partner.id, actor=w.coordinator)
    assert [(v.version, v.event) for v in history] == [
        (1, "applied"),
        (2, "vetting_failed"),
        (3, "amended"),
        (4, "vetted"),
    ]
    assert history[0].category.value == "security_firm"  # old versions keep what they said
    types = await _types(session)
    assert types.count("partners.applied") == 2 and types.count("partners.vetted") == 2


async def test_staff_must_belong_to_the_partner(session: AsyncSession, w: World) -> None:
    with pytest.raises(InvalidInput) as raised:
        await service.apply(
            session, data=world.application_in(w, staff_emails=[w.lab_lead.email]), actor=w.partner_admin
        )
    assert raised.value.problems[0].field == "staff_emails.0"


async def test_approval_grants_access_and_a_key_can_be_issued(session: AsyncSession, w: World) -> None:
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    first = req.rounds[0]
    assert req.state == "pending" and len(first.seats) == 4 and not any(s.recused for s in first.seats)
    # Three votes do not settle it (industry could still end without quorum) ...
    out = await vote_all(session, first.id, [*w.gov, w.ind[0]], APPROVE4[:3])
    assert out.state == "pending" and out.rounds[0].outcome is None
    # ... the fourth does.
    out = await vote_all(session, first.id, [w.ind[1]], [Vote.APPROVE])
    assert out.state == "approved" and out.rounds[0].outcome is Outcome.APPROVED
    assert out.granted_ref == f"partners-round:{first.id}"
    grants = await review.list_grants(session, window_id=w.window.id, actor=None)
    assert [(g.organisation_id, g.decision_ref) for g in grants] == [(w.partner, out.granted_ref)]
    key = await review.issue_reviewer_key(
        session,
        window_id=w.window.id,
        person_id=w.staff[0].person_id,
        actor=w.coordinator,
        rate_limit_per_minute=60,
        token_budget=10_000,
    )
    assert (
        key.secret.get_secret_value().startswith("fwk_") if hasattr(key.secret, "get_secret_value") else True
    )
    with pytest.raises(Conflict):
        await vote_all(session, first.id, [w.gov[0]], [Vote.DENY])
    types = await _types(session)
    for t in ("partners.access_requested", "partners.ballot_cast", "partners.decided"):
        assert t in types
    assert types.count("partners.ballot_cast") == 4


async def test_a_competitor_member_is_recused_and_cannot_vote(session: AsyncSession, w: World) -> None:
    # A third industry member keeps quorum possible once one is recused.
    third = await world.person(session, await world.org(session, world.OrgKind.PARTNER), [Role.PANEL_MEMBER])
    await service.add_member(session, panel_id=w.standing_id, email=third.email, actor=w.admin)
    await service.declare_competitor(session, organisation_id=w.ind[0].organisation_id, actor=w.lab_lead)  # type: ignore[arg-type]
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    seat = next(s for s in req.rounds[0].seats if s.person_id == w.ind[0].person_id)
    assert seat.recused and [c.source for c in seat.conflicts] == ["competitor"]
    with pytest.raises(Forbidden, match="recused"):
        await service.cast_ballot(
            session, round_id=req.rounds[0].id, data=BallotIn(vote=Vote.APPROVE), actor=w.ind[0]
        )
    assert await session.scalar(select(Ballot.id).where(Ballot.round_id == req.rounds[0].id)) is None
    # The others decide without them.
    out = await vote_all(session, req.rounds[0].id, [*w.gov, w.ind[1], third], APPROVE4)
    assert out.state == "approved"
    assert "partners.recused" in await _types(session)


async def test_a_partner_declared_competitor_and_the_requester_are_flagged(
    session: AsyncSession, w: World
) -> None:
    # The member's own organisation (a partner) declared itself a competitor of the lab.
    other = await service.apply(
        session,
        data=world.application_in(
            w,
            staff_emails=[w.ind[1].email],
            relationships=[{"lab_organisation_id": str(w.lab), "kind": "competitor"}],
        ),
        actor=await world.person(session, w.ind[1].organisation_id, [Role.ADMIN]),  # type: ignore[arg-type]
    )
    assert other.application.relationships[0].kind.value == "competitor"
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    seat = next(s for s in req.rounds[0].seats if s.person_id == w.ind[1].person_id)
    assert seat.recused and seat.conflicts[0].source == "competitor"
    # Industry can no longer reach quorum (one seat left): the round lapses at once, no decision.
    assert req.state == "lapsed" and req.rounds[0].appeal_until is None


async def test_self_declared_conflict_and_deny_needs_reasons(session: AsyncSession, w: World) -> None:
    third = await world.person(session, w.gov[0].organisation_id, [Role.PANEL_MEMBER])  # type: ignore[arg-type]
    await service.add_member(session, panel_id=w.standing_id, email=third.email, actor=w.admin)
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    rid = req.rounds[0].id
    out = await service.declare_conflict(
        session, round_id=rid, data=ConflictIn(reason="I advised this partner last year."), actor=third
    )
    seat = next(s for s in out.rounds[0].seats if s.person_id == third.person_id)
    assert seat.recused and seat.conflicts[0].source == "declared"
    with pytest.raises(InvalidInput) as raised:
        await service.cast_ballot(
            session, round_id=rid, data=BallotIn(vote=Vote.DENY, rationale="no"), actor=w.gov[0]
        )
    assert raised.value.problems[0].field == "rationale"
    await vote_all(session, rid, [w.gov[0]], [Vote.APPROVE])
    with pytest.raises(Conflict, match="before voting"):
        await service.declare_conflict(
            session, round_id=rid, data=ConflictIn(reason="Remembered a conflict late."), actor=w.gov[0]
        )


async def test_appeal_of_a_denial_goes_to_a_disjoint_panel(session: AsyncSession, w: World) -> None:
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    out = await vote_all(
        session, req.rounds[0].id, [*w.gov, *w.ind], [Vote.DENY, Vote.DENY, Vote.APPROVE, Vote.APPROVE]
    )
    assert out.state == "denied" and out.appealable_by == "partner"
    assert out.rounds[0].seats[0].ballot is not None  # decided: ballots are shown to the parties
    with pytest.raises(Conflict):  # the lab appeals approvals, not denials
        await service.appeal(
            session, request_id=req.id, data=AppealIn(grounds="The lab disagrees with x."), actor=w.lab_lead
        )
    out = await service.appeal(
        session,
        request_id=req.id,
        data=AppealIn(grounds="Our staff screening was completed on 1 Nov."),
        actor=w.partner_admin,
    )
    second = out.rounds[1]
    assert second.panel_id == w.appeal_id and second.appellant == "partner"
    first_people = {s.person_id for s in out.rounds[0].seats}
    assert first_people.isdisjoint({s.person_id for s in second.seats})
    assert second.rules_version == out.rounds[0].rules_version
    # A member of the first panel has no seat in the appeal.
    with pytest.raises(Forbidden, match="no seat"):
        await service.cast_ballot(
            session, round_id=second.id, data=BallotIn(vote=Vote.APPROVE), actor=w.gov[0]
        )
    out = await vote_all(session, second.id, [*w.appeal_gov, *w.appeal_ind], APPROVE4)
    assert out.state == "approved" and out.granted_ref == f"partners-round:{second.id}"
    assert out.appealable_by is None
    with pytest.raises(Conflict, match="final"):
        await service.appeal(
            session,
            request_id=req.id,
            data=AppealIn(grounds="Another appeal after the final one."),
            actor=w.lab_lead,
        )
    assert "partners.appealed" in await _types(session)
    stats = await service.statistics_(session)
    assert stats.appeals.filed == 1 and stats.appeals.overturned == 1 and stats.appeals.by_partner == 1


async def test_lab_appeal_overturning_an_approval_withdraws_access(session: AsyncSession, w: World) -> None:
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    await vote_all(session, req.rounds[0].id, [*w.gov, *w.ind], APPROVE4)
    out = await service.appeal(
        session,
        request_id=req.id,
        data=AppealIn(grounds="The partner's staff include a former employee."),
        actor=w.lab_lead,
    )
    assert out.state == "approved"  # the first decision stands while the appeal runs
    out = await vote_all(session, out.rounds[1].id, [*w.appeal_gov, *w.appeal_ind], [Vote.DENY] * 4)
    assert out.state == "denied" and out.granted_ref is None
    grants = await review.list_grants(session, window_id=w.window.id, actor=None)
    assert all(g.revoked_at is not None for g in grants)


async def test_an_appeal_without_a_disjoint_panel_waits_for_one(session: AsyncSession, w: World) -> None:
    from forewarn.earlyaccess.partners.schemas import PanelIn, PanelKind

    # The appeal panel shares a member with the standing panel: not eligible.
    await service.add_member(session, panel_id=w.appeal_id, email=w.gov[0].email, actor=w.admin)
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    await vote_all(session, req.rounds[0].id, [*w.gov, *w.ind], [Vote.DENY] * 4)
    out = await service.appeal(
        session,
        request_id=req.id,
        data=AppealIn(grounds="We ask a different panel to look again."),
        actor=w.partner_admin,
    )
    assert out.rounds[1].panel_id is None and out.rounds[1].opened_at is None
    with pytest.raises(Conflict):
        await service.assign_panel(session, round_id=out.rounds[1].id, panel_id=w.standing_id, actor=w.admin)
    fresh = await service.create_panel(
        session, data=PanelIn(name="Appeals B", kind=PanelKind.APPEAL), actor=w.admin
    )
    for p in [*w.appeal_gov, *w.appeal_ind]:
        await service.add_member(session, panel_id=fresh.id, email=p.email, actor=w.admin)
    out = await service.assign_panel(session, round_id=out.rounds[1].id, panel_id=fresh.id, actor=w.admin)
    assert out.rounds[1].panel_id == fresh.id and len(out.rounds[1].seats) == 4


async def test_deadline_without_quorum_lapses(session: AsyncSession, w: World, clock: FrozenClock) -> None:
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    await vote_all(session, req.rounds[0].id, [*w.gov, w.ind[0]], APPROVE4[:3])
    assert await service.settle_due(session) == 0
    clock.advance(timedelta(days=7, seconds=1))
    assert await service.settle_due(session) == 1
    out = await service.get_request(session, request_id=req.id, actor=w.partner_admin)
    assert out.state == "lapsed" and out.rounds[0].tally is not None
    assert out.appealable_by is None
    # A lapsed request may be made again.
    again = await world.request(session, w)
    assert again.id != req.id
    assert (await service.check(session)).ok


async def test_suspension_revokes_keys_and_the_gateway_refuses(
    session: AsyncSession, w: World, client: httpx.AsyncClient
) -> None:
    partner_id = await world.vetted_partner(session, w)
    req = await world.request(session, w)
    await vote_all(session, req.rounds[0].id, [*w.gov, *w.ind], APPROVE4)
    issued = await review.issue_reviewer_key(
        session,
        window_id=w.window.id,
        person_id=w.staff[0].person_id,
        actor=w.coordinator,
        rate_limit_per_minute=60,
        token_budget=10_000,
    )
    secret = issued.secret.get_secret_value()
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/gateway/v1/models", headers=headers)).status_code == 200
    await service.change_status(
        session,
        partner_id=partner_id,
        data=StatusIn(status=PartnerStatus.SUSPENDED, reason="Security incident under review."),
        actor=w.coordinator,
    )
    assert (await client.get("/gateway/v1/models", headers=headers)).status_code == 401
    keys = await gateway.list_keys(session, window_id=w.window.id)
    assert keys and all(k.state == "revoked" for k in keys)
    with pytest.raises(Conflict):  # a suspended partner cannot request
        await world.request(session, w)
    await service.change_status(
        session,
        partner_id=partner_id,
        data=StatusIn(status=PartnerStatus.REVOKED, reason="Revoked after the review."),
        actor=w.coordinator,
    )
    with pytest.raises(Conflict):  # revoked is final
        await service.change_status(
            session,
            partner_id=partner_id,
            data=StatusIn(status=PartnerStatus.VETTED, reason="Reinstating after revocation."),
            actor=w.coordinator,
        )
    assert "partners.status_changed" in await _types(session)


async def test_consistency_check_detects_tampering(session: AsyncSession, w: World) -> None:
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    await vote_all(
        session, req.rounds[0].id, [*w.gov, *w.ind], [Vote.DENY, Vote.APPROVE, Vote.APPROVE, Vote.APPROVE]
    )
    good = await service.check(session)
    assert good.ok and good.rounds_checked >= 1 and good.ballots_checked >= 4
    rid = req.rounds[0].id
    # Someone with database access flips the recorded outcome.
    await session.execute(update(Round).where(Round.id == rid).values(outcome="approved"))
    bad = await service.check(session)
    assert not bad.ok and any(m.round_id == rid and "recorded outcome" in m.problem for m in bad.mismatches)
    await session.execute(update(Round).where(Round.id == rid).values(outcome="denied"))
    # ... or edits a rationale after the fact.
    await session.execute(
        update(Ballot)
        .where(Ballot.round_id == rid, Ballot.vote == "deny")
        .values(rationale=DENY_WHY + " (edited)")
    )
    bad = await service.check(session)
    assert any("commitment" in m.problem for m in bad.mismatches)


async def test_redaction_is_recorded_and_logged(session: AsyncSession, w: World) -> None:
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    out = await vote_all(
        session, req.rounds[0].id, [*w.gov, *w.ind], [Vote.DENY, Vote.APPROVE, Vote.APPROVE, Vote.APPROVE]
    )
    ballot = next(s.ballot for s in out.rounds[0].seats if s.ballot and s.ballot.vote is Vote.DENY)
    assert ballot is not None and ballot.rationale == DENY_WHY
    with pytest.raises(Forbidden):
        await service.redact_rationale(
            session, ballot_id=ballot.id, reason="Names a staff member.", actor=w.coordinator
        )
    await service.redact_rationale(
        session, ballot_id=ballot.id, reason="Names a staff member.", actor=w.admin
    )
    out = await service.get_request(session, request_id=req.id, actor=w.lab_lead)
    redacted = next(s.ballot for s in out.rounds[0].seats if s.ballot and s.ballot.id == ballot.id)
    assert (
        redacted is not None
        and redacted.rationale is None
        and redacted.redaction_reason == "Names a staff member."
    )
    assert redacted.rationale_commitment == ballot.rationale_commitment
    assert (await service.check(session)).ok
    entry = (
        await session.execute(
            text(
                "SELECT data FROM ledger_entries WHERE type = 'partners.rationale_redacted'"
                " ORDER BY index DESC LIMIT 1"
            )
        )
    ).scalar_one()
    assert ballot.rationale_commitment.encode() in bytes(entry)
    # Rationale text never reaches the log (only its commitment).
    all_data = b"".join(bytes(d) for d in await session.scalars(select(LedgerEntry.data)))
    assert DENY_WHY.encode() not in all_data


async def test_statistics_by_category_and_lab(session: AsyncSession, w: World) -> None:
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    await vote_all(session, req.rounds[0].id, [*w.gov, *w.ind], APPROVE4)
    stats = await service.statistics_(session)
    cat = next(r for r in stats.by_category if r.group == "security_firm")
    assert cat.decided >= 1 and cat.approved >= 1 and cat.approval_rate is not None
    lab = next(r for r in stats.by_lab if r.group == req.lab_name)
    assert lab.requests == 1 and lab.approved == 1 and lab.approval_rate == 1.0
    assert lab.median_days_to_decision is not None and lab.median_days_to_decision < 1


async def test_reading_is_scoped(session: AsyncSession, w: World) -> None:
    from forewarn.core.errors import NotFound

    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    for reader in (w.partner_admin, w.lab_lead, w.gov[0], w.coordinator):
        assert (await service.get_request(session, request_id=req.id, actor=reader)).id == req.id
    with pytest.raises(NotFound):
        await service.get_request(session, request_id=req.id, actor=w.rival_lead)
    # A panel member without a seat on it does not read it either.
    with pytest.raises(NotFound):
        await service.get_request(session, request_id=req.id, actor=w.appeal_gov[0])
    assert await service.list_requests(session, actor=w.appeal_gov[0]) == []
    assert [r.id for r in await service.list_requests(session, actor=w.gov[0])] == [req.id]
    assert await service.list_requests(session, actor=w.rival_lead) == []
    # Before the decision nobody sees how others voted.
    out = await vote_all(session, req.rounds[0].id, [w.gov[0]], [Vote.APPROVE])
    assert all(s.ballot is None for s in out.rounds[0].seats) and any(s.voted for s in out.rounds[0].seats)
    access = await service.lab_access(session, actor=w.lab_lead)
    assert [a.request_id for a in access] == [req.id]


async def test_check_compares_with_the_published_log(
    session: AsyncSession, w: World, runtime: Runtime
) -> None:
    from forewarn.earlyaccess.partners.models import AccessRequest
    from forewarn.ledger import service as ledger

    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    await vote_all(
        session, req.rounds[0].id, [*w.gov, *w.ind], [Vote.DENY, Vote.APPROVE, Vote.APPROVE, Vote.APPROVE]
    )
    await ledger.issue_checkpoint(session, signer=await ledger.log_signer(session, runtime))
    good = await service.check(session)
    assert good.ok and good.log_entries_compared >= 5
    # A consistent forgery in the database (the deny becomes an approve, the outcome follows): the
    # re-count agrees with it, the published log does not.
    rid = req.rounds[0].id
    await session.execute(
        update(Ballot).where(Ballot.round_id == rid, Ballot.vote == "deny").values(vote="approve")
    )
    await session.execute(update(Round).where(Round.id == rid).values(outcome="approved"))
    await session.execute(update(AccessRequest).where(AccessRequest.id == req.id).values(state="approved"))
    bad = await service.check(session)
    problems = [m.problem for m in bad.mismatches]
    assert not bad.ok
    assert any("differs from its transparency-log entry" in p for p in problems)
    assert any("transparency log's 'denied'" in p for p in problems)


def test_the_deadline_job_is_registered() -> None:
    from forewarn.core.jobs import _task_registry

    assert service.SETTLE_TASK in _task_registry().tasks


async def test_a_lapsed_appeal_leaves_the_first_decision(
    session: AsyncSession, w: World, clock: FrozenClock
) -> None:
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    await vote_all(session, req.rounds[0].id, [*w.gov, *w.ind], [Vote.DENY] * 4)
    out = await service.appeal(
        session,
        request_id=req.id,
        data=AppealIn(grounds="We ask for a second look, please."),
        actor=w.partner_admin,
    )
    assert out.state == "pending"
    await vote_all(session, out.rounds[1].id, [w.appeal_gov[0]], [Vote.APPROVE])
    clock.advance(timedelta(days=8))
    out = await service.get_request(session, request_id=req.id, actor=w.partner_admin)
    assert out.rounds[1].outcome is Outcome.LAPSED and out.state == "denied" and out.granted_ref is None
    assert (await service.check(session)).ok
    stats = await service.statistics_(session)
    assert stats.appeals.lapsed == 1
