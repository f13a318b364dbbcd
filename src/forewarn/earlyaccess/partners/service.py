"""Trusted-partner governance: registry, vetting, access requests, panels, ballots, appeals, effects.

Invariants (issue 8; the rules themselves are in :mod:`.rules`):

- access to a model in its window is granted to a partner only here, by a round's *computed*
  outcome (``rules.decide``), through ``review.service.grant_partner_access``; nothing else in the
  programme grants a partner access, and no route lets anyone enter an outcome;
- a round's seats (members, constituency, conflicts) are fixed when it opens; a member is recused
  when any conflict is flagged (their organisation is the lab, a declared competitor of the lab, or
  the requesting partner) or declared; a recused member's ballot is refused, never stored;
- a deny ballot carries a written rationale; every ballot's rationale is committed to the
  transparency log by a salted hash, and the text may be removed later only by a recorded,
  reasoned redaction that is itself logged;
- an appeal is decided by a panel sharing no member with the first round, under the first round's
  rules version; its decision is final;
- a partner that is suspended or revoked loses every grant and gateway key at once, in the same
  transaction (``review.service.revoke_partner_access``);
- the partner record is versioned: every change appends a full snapshot to ``partners_versions``;
- every step is a transparency-log entry carrying ids, outcomes, rule versions and hashes: never a
  rationale's or an application's text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrgKind, PersonOut, Principal, Role
from forewarn.core.clock import utcnow
from forewarn.core.errors import (
    Conflict,
    Forbidden,
    ForewarnError,
    InvalidInput,
    NotFound,
    Problem,
    forbid_unless,
)
from forewarn.core.jobs import enqueue
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.partners import policy
from forewarn.earlyaccess.partners import rules as decision_rules
from forewarn.earlyaccess.partners.models import (
    AccessRequest,
    Ballot,
    LabCompetitor,
    Panel,
    PanelMember,
    Partner,
    PartnerVersion,
    Round,
    Seat,
)
from forewarn.earlyaccess.partners.schemas import (
    AccessOut,
    AppealIn,
    AppealStats,
    ApplicationIn,
    ApplicationOut,
    Attestation,
    BallotIn,
    BallotOut,
    ChecklistItem,
    CheckOut,
    CompetitorOut,
    ConflictIn,
    ConflictOut,
    Constituency,
    Mismatch,
    Outcome,
    PanelIn,
    PanelKind,
    PanelMemberOut,
    PanelOut,
    PartnerCategory,
    PartnerOut,
    PartnerStatus,
    PartnerVersionOut,
    QueueItem,
    RelationshipKind,
    RelationshipOut,
    RequestIn,
    RequestOut,
    RoundOut,
    RulesOut,
    SeatOut,
    StaffOut,
    StatisticsOut,
    StatRow,
    StatusIn,
    VettingIn,
    Vote,
)
from forewarn.earlyaccess.review import service as review
from forewarn.ledger import service as ledger
from forewarn.ledger.schemas import EntryFilter

SETTLE_TASK = "partners:settle_round"
DECISION_REF = "partners-round:"

#: Allowed status changes (``revoked`` is final).
TRANSITIONS: dict[PartnerStatus, set[PartnerStatus]] = {
    PartnerStatus.APPLIED: {PartnerStatus.REVOKED},
    PartnerStatus.VETTED: {PartnerStatus.SUSPENDED, PartnerStatus.REVOKED},
    PartnerStatus.SUSPENDED: {PartnerStatus.VETTED, PartnerStatus.REVOKED},
    PartnerStatus.REVOKED: set(),
}


def _org_of(actor: Principal) -> uuid.UUID:
    if actor.organisation_id is None:
        raise Forbidden("act for an organisation first")
    return actor.organisation_id


async def _log(
    session: AsyncSession,
    type_: str,
    *,
    actor: Principal | None,
    subjects: Iterable[tuple[str, object]],
    reason: str,
    sealed: dict[str, str] | None = None,
) -> None:
    await ledger.append(
        session,
        type=type_,
        actor_organisation_id=actor.organisation_id if actor else None,
        subjects=list(subjects),
        reason=reason,
        sealed_hashes=sealed,
    )


class _Names:
    """Organisation and person names, read once per call."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.orgs: dict[uuid.UUID, tuple[str, str]] = {}
        self.people: dict[uuid.UUID, PersonOut] = {}

    async def org(self, organisation_id: uuid.UUID) -> str:
        return (await self.org_full(organisation_id))[0]

    async def org_full(self, organisation_id: uuid.UUID) -> tuple[str, str]:
        if organisation_id not in self.orgs:
            org = await accounts.get_organisation(self.session, organisation_id=organisation_id, actor=None)
            self.orgs[organisation_id] = (org.name, org.kind.value)
        return self.orgs[organisation_id]

    async def person(self, person_id: uuid.UUID) -> PersonOut:
        if person_id not in self.people:
            self.people[person_id] = await accounts.get_person(self.session, person_id=person_id)
        return self.people[person_id]

    async def staff(self, ids: Iterable[uuid.UUID]) -> list[StaffOut]:
        out = []
        for pid in ids:
            person = await self.person(pid)
            out.append(StaffOut(person_id=pid, name=person.name, email=person.email))
        return out


# --------------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------------


def list_rules() -> list[RulesOut]:
    return [
        RulesOut(
            version=d.version,
            digest=d.digest,
            current=d.version == decision_rules.CURRENT_VERSION,
            document=d.document(),
        )
        for d in sorted(decision_rules.RULES.values(), key=lambda d: d.version, reverse=True)
    ]


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------


async def _staff_ids(
    session: AsyncSession, organisation_id: uuid.UUID, emails: Sequence[str]
) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    problems: list[Problem] = []
    for n, email in enumerate(emails):
        try:
            person = await accounts.find_person(session, email=email)
        except NotFound:
            problems.append(Problem(f"staff_emails.{n}", "no such person"))
            continue
        if not any(m.organisation_id == organisation_id for m in person.memberships):
            problems.append(Problem(f"staff_emails.{n}", "not a person of the partner organisation"))
            continue
        ids.append(person.id)
    if problems:
        raise InvalidInput("the staff list has problems", problems=problems)
    return ids


async def _application_doc(
    session: AsyncSession, organisation_id: uuid.UUID, data: ApplicationIn
) -> dict[str, Any]:
    problems = []
    for n, rel in enumerate(data.relationships):
        try:
            org = await accounts.get_organisation(
                session, organisation_id=rel.lab_organisation_id, actor=None
            )
        except NotFound:
            problems.append(Problem(f"relationships.{n}.lab_organisation_id", "no such organisation"))
            continue
        if org.kind != OrgKind.LAB:
            problems.append(Problem(f"relationships.{n}.lab_organisation_id", "not a lab"))
    if problems:
        raise InvalidInput("the relationships have problems", problems=problems)
    return {
        "category": data.category.value,
        "capabilities": data.capabilities,
        "attestations": [a.model_dump(mode="json") for a in data.attestations],
        "staff": [str(i) for i in await _staff_ids(session, organisation_id, data.staff_emails)],
        "relationships": [r.model_dump(mode="json") for r in data.relationships],
    }


def _digest(doc: Any) -> str:
    import json

    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


async def _version(
    session: AsyncSession, partner: Partner, *, event: str, reason: str, actor: Principal | None
) -> None:
    session.add(
        PartnerVersion(
            partner_id=partner.id,
            version=partner.version,
            event=event,
            status=partner.status,
            reason=reason,
            category=partner.category,
            application=partner.application,
            checklist=partner.checklist,
            actor_person_id=actor.person_id if actor else None,
            actor_organisation_id=actor.organisation_id if actor else None,
        )
    )
    await session.flush()


async def _partner_out(session: AsyncSession, row: Partner, names: _Names | None = None) -> PartnerOut:
    names = names or _Names(session)
    app = row.application
    relationships = [
        RelationshipOut(
            lab_organisation_id=uuid.UUID(r["lab_organisation_id"]),
            lab_name=await names.org(uuid.UUID(r["lab_organisation_id"])),
            kind=RelationshipKind(r["kind"]),
            note=r.get("note", ""),
        )
        for r in app.get("relationships", [])
    ]
    return PartnerOut(
        id=row.id,
        organisation_id=row.organisation_id,
        organisation_name=await names.org(row.organisation_id),
        category=PartnerCategory(row.category),
        status=PartnerStatus(row.status),
        status_reason=row.status_reason,
        version=row.version,
        application=ApplicationOut(
            category=app["category"],
            capabilities=app["capabilities"],
            attestations=[Attestation.model_validate(a) for a in app["attestations"]],
            staff=await names.staff(uuid.UUID(s) for s in app["staff"]),
            relationships=relationships,
        ),
        checklist=row.checklist,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def apply(session: AsyncSession, *, data: ApplicationIn, actor: Principal) -> PartnerOut:
    """A partner organisation applies to be a trusted partner (once; amend afterwards)."""
    forbid_unless(
        policy.is_partner_admin(actor), "your role does not allow you to apply for a partner organisation"
    )
    org_id = _org_of(actor)
    if await session.scalar(select(Partner.id).where(Partner.organisation_id == org_id)) is not None:
        raise Conflict("your organisation has applied already; amend its application instead")
    doc = await _application_doc(session, org_id, data)
    now = utcnow()
    row = Partner(
        organisation_id=org_id,
        category=data.category.value,
        status=PartnerStatus.APPLIED.value,
        status_reason="",
        application=doc,
        checklist=None,
        version=1,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    await _version(session, row, event="applied", reason="application filed", actor=actor)
    await _log(
        session,
        "partners.applied",
        actor=actor,
        subjects=[("partner", row.id), ("organisation", org_id)],
        reason=f"applied as {data.category.value}; {len(doc['staff'])} staff; "
        f"{len(doc['relationships'])} declared relationships with labs",
        sealed={"application": _digest(doc)},
    )
    return await _partner_out(session, row)


async def _partner_row(session: AsyncSession, partner_id: uuid.UUID, actor: Principal | None) -> Partner:
    row = await session.get(Partner, partner_id)
    if row is None or (actor is not None and not policy.can_read_partner(actor, row.organisation_id)):
        raise NotFound("no such partner")
    return row


async def amend(
    session: AsyncSession, *, partner_id: uuid.UUID, data: ApplicationIn, actor: Principal
) -> PartnerOut:
    """Amend an application that is not yet vetted (a new version)."""
    row = await _partner_row(session, partner_id, actor)
    forbid_unless(
        policy.is_partner_admin(actor) and actor.organisation_id == row.organisation_id,
        "your role does not allow you to amend it",
    )
    if row.status != PartnerStatus.APPLIED.value:
        raise Conflict("only an application awaiting vetting can be amended")
    row.application = await _application_doc(session, row.organisation_id, data)
    row.category = data.category.value
    row.version += 1
    row.updated_at = utcnow()
    await _version(session, row, event="amended", reason="application amended", actor=actor)
    await _log(
        session,
        "partners.applied",
        actor=actor,
        subjects=[("partner", row.id), ("organisation", row.organisation_id)],
        reason=f"application amended (version {row.version})",
        sealed={"application": _digest(row.application)},
    )
    return await _partner_out(session, row)


async def get_partner(session: AsyncSession, *, partner_id: uuid.UUID, actor: Principal | None) -> PartnerOut:
    return await _partner_out(session, await _partner_row(session, partner_id, actor))


async def partner_of(session: AsyncSession, *, organisation_id: uuid.UUID) -> PartnerOut | None:
    row = await session.scalar(select(Partner).where(Partner.organisation_id == organisation_id))
    return await _partner_out(session, row) if row is not None else None


async def list_partners(session: AsyncSession, *, actor: Principal | None) -> list[PartnerOut]:
    query = select(Partner).order_by(Partner.created_at.desc())
    if actor is not None and not policy.sees_all(actor):
        if actor.organisation_id is None:
            return []
        query = query.where(Partner.organisation_id == actor.organisation_id)
    names = _Names(session)
    return [await _partner_out(session, r, names) for r in await session.scalars(query.limit(1000))]


async def versions(
    session: AsyncSession, *, partner_id: uuid.UUID, actor: Principal | None
) -> list[PartnerVersionOut]:
    await _partner_row(session, partner_id, actor)
    rows = await session.scalars(
        select(PartnerVersion).where(PartnerVersion.partner_id == partner_id).order_by(PartnerVersion.version)
    )
    return [
        PartnerVersionOut(
            version=r.version,
            event=r.event,
            status=PartnerStatus(r.status),
            reason=r.reason,
            category=PartnerCategory(r.category),
            application=r.application,
            checklist=r.checklist,
            actor_organisation_id=r.actor_organisation_id,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def vet(
    session: AsyncSession, *, partner_id: uuid.UUID, data: VettingIn, actor: Principal
) -> PartnerOut:
    """An agency completes the vetting checklist: every item passed → ``vetted``; otherwise it stays."""
    forbid_unless(policy.is_vetter(actor), "your role does not allow you to vet partners")
    row = await _partner_row(session, partner_id, actor)
    if row.status != PartnerStatus.APPLIED.value:
        raise Conflict(f"the partner is {row.status}; only an application is vetted")
    passed = all(data.checklist.get(item, False) for item in ChecklistItem)
    row.checklist = {k.value: v for k, v in data.checklist.items()}
    row.version += 1
    row.updated_at = utcnow()
    row.status_reason = data.reason
    if passed:
        row.status = PartnerStatus.VETTED.value
    await _version(
        session, row, event="vetted" if passed else "vetting_failed", reason=data.reason, actor=actor
    )
    failed = [k.value for k, v in data.checklist.items() if not v]
    await _log(
        session,
        "partners.vetted",
        actor=actor,
        subjects=[("partner", row.id), ("organisation", row.organisation_id)],
        reason=(
            "vetted: every checklist item passed; "
            if passed
            else "not vetted: failed " + ", ".join(failed) + "; "
        )
        + data.reason,
    )
    return await _partner_out(session, row)


async def change_status(
    session: AsyncSession, *, partner_id: uuid.UUID, data: StatusIn, actor: Principal
) -> PartnerOut:
    """Suspend, revoke or reinstate a partner; suspension and revocation kill its access at once."""
    forbid_unless(policy.is_vetter(actor), "your role does not allow you to change a partner's status")
    row = await _partner_row(session, partner_id, actor)
    current = PartnerStatus(row.status)
    if data.status not in TRANSITIONS[current]:
        raise Conflict(
            f"a {current.value} partner cannot become {data.status.value}",
            problems=[
                Problem(
                    "status", f"allowed: {', '.join(sorted(s.value for s in TRANSITIONS[current])) or 'none'}"
                )
            ],
        )
    row.status = data.status.value
    row.status_reason = data.reason
    row.version += 1
    row.updated_at = utcnow()
    await _version(session, row, event="status_changed", reason=data.reason, actor=actor)
    revoked = 0
    if data.status in (PartnerStatus.SUSPENDED, PartnerStatus.REVOKED):
        revoked = await review.revoke_partner_access(
            session, organisation_id=row.organisation_id, reason=f"partner {data.status.value}: {data.reason}"
        )
        await session.execute(
            update(AccessRequest)
            .where(AccessRequest.partner_id == row.id, AccessRequest.granted_ref.is_not(None))
            .values(granted_ref=None)
        )
    await _log(
        session,
        "partners.status_changed",
        actor=actor,
        subjects=[("partner", row.id), ("organisation", row.organisation_id)],
        reason=f"{current.value} -> {data.status.value}: {data.reason}"
        + (f" ({revoked} grants revoked)" if revoked else ""),
    )
    return await _partner_out(session, row)


# --------------------------------------------------------------------------------------------------
# Lab competitors
# --------------------------------------------------------------------------------------------------


async def declare_competitor(
    session: AsyncSession, *, organisation_id: uuid.UUID, actor: Principal
) -> CompetitorOut:
    forbid_unless(policy.is_lab_lead(actor), "your role does not allow you to declare your lab's competitors")
    lab = _org_of(actor)
    if organisation_id == lab:
        raise InvalidInput(
            "a lab is not its own competitor", problems=[Problem("organisation_id", "your own lab")]
        )
    try:
        name = (await accounts.get_organisation(session, organisation_id=organisation_id, actor=None)).name
    except NotFound:
        raise InvalidInput("no such organisation", problems=[Problem("organisation_id", "unknown")]) from None
    row = LabCompetitor(
        lab_organisation_id=lab,
        competitor_organisation_id=organisation_id,
        declared_by_person_id=actor.person_id,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise Conflict("already declared") from None
    await _log(
        session,
        "partners.conflict_declared",
        actor=actor,
        subjects=[("organisation", lab), ("organisation", organisation_id)],
        reason="a lab declared a competitor: its panel members recuse on the lab's requests",
    )
    return CompetitorOut(
        lab_organisation_id=lab,
        organisation_id=organisation_id,
        organisation_name=name,
        created_at=row.created_at,
    )


async def list_competitors(session: AsyncSession, *, actor: Principal) -> list[CompetitorOut]:
    forbid_unless(policy.is_lab_lead(actor), "your role does not allow you to read your lab's competitors")
    lab = _org_of(actor)
    names = _Names(session)
    rows = await session.scalars(select(LabCompetitor).where(LabCompetitor.lab_organisation_id == lab))
    return [
        CompetitorOut(
            lab_organisation_id=lab,
            organisation_id=r.competitor_organisation_id,
            organisation_name=await names.org(r.competitor_organisation_id),
            created_at=r.created_at,
        )
        for r in rows
    ]


async def competitors_of(session: AsyncSession, *, lab_organisation_id: uuid.UUID) -> set[uuid.UUID]:
    """The lab's declared competitors and every partner that declared itself a competitor of the lab."""
    found = set(
        await session.scalars(
            select(LabCompetitor.competitor_organisation_id).where(
                LabCompetitor.lab_organisation_id == lab_organisation_id
            )
        )
    )
    for org_id, app in (await session.execute(select(Partner.organisation_id, Partner.application))).all():
        for rel in app.get("relationships", []):
            if rel.get("kind") == RelationshipKind.COMPETITOR.value and rel.get("lab_organisation_id") == str(
                lab_organisation_id
            ):
                found.add(org_id)
    return found


# --------------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------------


def _constituency(kind: str) -> Constituency:
    if kind == OrgKind.AGENCY.value:
        return Constituency.GOVERNMENT
    if kind in (OrgKind.LAB.value, OrgKind.PARTNER.value):
        return Constituency.INDUSTRY
    raise InvalidInput(
        "panel members come from agencies, labs or partners",
        problems=[Problem("email", "wrong kind of organisation")],
    )


async def _panel_out(session: AsyncSession, panel: Panel, names: _Names) -> PanelOut:
    members = await session.scalars(
        select(PanelMember).where(PanelMember.panel_id == panel.id).order_by(PanelMember.created_at)
    )
    return PanelOut(
        id=panel.id,
        name=panel.name,
        kind=PanelKind(panel.kind),
        active=panel.active,
        members=[
            PanelMemberOut(
                person_id=m.person_id,
                name=(await names.person(m.person_id)).name,
                organisation_id=m.organisation_id,
                organisation_name=await names.org(m.organisation_id),
                constituency=Constituency(m.constituency),
                active=m.active,
            )
            for m in members
        ],
    )


async def create_panel(session: AsyncSession, *, data: PanelIn, actor: Principal | None) -> PanelOut:
    if actor is not None:
        forbid_unless(policy.can_manage_panels(actor), "your role does not allow you to form panels")
    panel = Panel(name=data.name, kind=data.kind.value, active=True)
    try:
        async with session.begin_nested():
            session.add(panel)
            await session.flush()
    except IntegrityError:
        raise Conflict("a panel with this name exists", problems=[Problem("name", "taken")]) from None
    return await _panel_out(session, panel, _Names(session))


async def add_member(
    session: AsyncSession, *, panel_id: uuid.UUID, email: str, actor: Principal | None
) -> PanelOut:
    """Seat a person holding ``panel_member`` in their organisation; constituency follows its kind."""
    if actor is not None:
        forbid_unless(policy.can_manage_panels(actor), "your role does not allow you to form panels")
    panel = await session.get(Panel, panel_id)
    if panel is None:
        raise NotFound("no such panel")
    try:
        person = await accounts.find_person(session, email=email)
    except NotFound:
        raise InvalidInput("no such person", problems=[Problem("email", "unknown")]) from None
    membership = next((m for m in person.memberships if m.role == Role.PANEL_MEMBER), None)
    if membership is None:
        raise InvalidInput(
            "this person holds no panel_member role", problems=[Problem("email", "not a panel member")]
        )
    org = await accounts.get_organisation(session, organisation_id=membership.organisation_id, actor=None)
    member = PanelMember(
        panel_id=panel.id,
        person_id=person.id,
        organisation_id=org.id,
        constituency=_constituency(org.kind.value).value,
        active=True,
    )
    try:
        async with session.begin_nested():
            session.add(member)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            "already a member of this panel", problems=[Problem("email", "already seated")]
        ) from None
    return await _panel_out(session, panel, _Names(session))


async def list_panels(session: AsyncSession) -> list[PanelOut]:
    names = _Names(session)
    panels = await session.scalars(select(Panel).order_by(Panel.kind.desc(), Panel.created_at))
    return [await _panel_out(session, p, names) for p in panels]


async def find_panel(session: AsyncSession, *, name: str) -> PanelOut | None:
    panel = await session.scalar(select(Panel).where(Panel.name == name))
    return await _panel_out(session, panel, _Names(session)) if panel else None


# --------------------------------------------------------------------------------------------------
# Requests and rounds
# --------------------------------------------------------------------------------------------------


async def _open_round(
    session: AsyncSession, req: AccessRequest, rnd: Round, panel: Panel, *, actor: Principal | None
) -> None:
    """Seat the panel's active members, flag conflicts (recusal), start the clock."""
    doc = decision_rules.rules(rnd.rules_version)
    now = utcnow()
    rnd.panel_id = panel.id
    rnd.opened_at = now
    rnd.deadline_at = now + timedelta(days=doc.decision_days)
    competitors = await competitors_of(session, lab_organisation_id=req.lab_organisation_id)
    members = list(
        await session.scalars(
            select(PanelMember).where(PanelMember.panel_id == panel.id, PanelMember.active.is_(True))
        )
    )
    seats = []
    for m in members:
        flags = []
        stamp = now.isoformat()
        if m.organisation_id == req.lab_organisation_id:
            flags.append({"source": "lab", "reason": "the member's organisation is the lab", "at": stamp})
        if m.organisation_id in competitors:
            flags.append(
                {
                    "source": "competitor",
                    "reason": "the member's organisation is a declared competitor of the lab",
                    "at": stamp,
                }
            )
        if m.organisation_id == req.organisation_id:
            flags.append(
                {
                    "source": "requester",
                    "reason": "the member's organisation is the requesting partner",
                    "at": stamp,
                }
            )
        seat = Seat(
            round_id=rnd.id,
            person_id=m.person_id,
            organisation_id=m.organisation_id,
            constituency=m.constituency,
            conflicts=flags,
            recused=bool(flags),
        )
        session.add(seat)
        seats.append(seat)
    await session.flush()
    await _log(
        session,
        "partners.access_requested" if rnd.number == 1 else "partners.appealed",
        actor=actor,
        subjects=[
            ("request", req.id),
            ("round", rnd.id),
            ("panel", panel.id),
            ("organisation", req.organisation_id),
        ],
        reason=f"round {rnd.number} opened before panel {panel.name!r} ({len(seats)} seats); "
        f"rules v{doc.version} {doc.digest}; deadline {rnd.deadline_at:%Y-%m-%dT%H:%MZ}"
        + (f"; appeal by the {rnd.appellant}" if rnd.appellant else ""),
        sealed={"grounds": _digest(rnd.grounds)} if rnd.grounds else None,
    )
    for seat in seats:
        if seat.recused:
            await _log(
                session,
                "partners.recused",
                actor=None,
                subjects=[("round", rnd.id), ("person", seat.person_id)],
                reason="recused automatically: " + ", ".join(f["source"] for f in seat.conflicts),
            )
    await enqueue(session, SETTLE_TASK, scheduled_at=rnd.deadline_at, round_id=str(rnd.id))
    await _settle(session, rnd)


async def request_access(session: AsyncSession, *, data: RequestIn, actor: Principal) -> RequestOut:
    """A vetted partner (or an agency on its behalf) asks for access to a window; round 1 opens."""
    forbid_unless(policy.can_request(actor), "your role does not allow you to request access for a partner")
    if policy.is_partner_admin(actor):
        partner_org = _org_of(actor)
        if data.partner_organisation_id not in (None, partner_org):
            raise Forbidden("a partner requests for itself only")
    else:
        if data.partner_organisation_id is None:
            raise InvalidInput(
                "name the partner", problems=[Problem("partner_organisation_id", "required for an agency")]
            )
        partner_org = data.partner_organisation_id
    # The partner row lock serialises concurrent requests of one partner (one live request a window).
    partner = await session.scalar(
        select(Partner).where(Partner.organisation_id == partner_org).with_for_update()
    )
    if partner is None or partner.status != PartnerStatus.VETTED.value:
        raise Conflict(
            "only a vetted partner may request access",
            problems=[Problem("partner_organisation_id", "not vetted")],
        )
    try:
        window = await review.get_window(session, window_id=data.window_id, actor=None)
    except NotFound:
        raise InvalidInput("no such window", problems=[Problem("window_id", "unknown")]) from None
    if window.state == "closed":
        raise Conflict("the window is closed", problems=[Problem("window_id", "closed")])
    if window.lab_organisation_id == partner_org:
        raise Conflict("a lab does not request access to its own model")
    busy = await session.scalar(
        select(AccessRequest.id).where(
            AccessRequest.partner_id == partner.id,
            AccessRequest.window_id == data.window_id,
            # A lapsed request, or an approval whose grant a suspension withdrew, may be made again.
            AccessRequest.state.in_(["pending", "denied"])
            | ((AccessRequest.state == "approved") & AccessRequest.granted_ref.is_not(None)),
        )
    )
    if busy is not None:
        raise Conflict("this partner already has a pending or decided request for the window")
    staff_all = [uuid.UUID(s) for s in partner.application["staff"]]
    if data.staff_emails:
        staff = await _staff_ids(session, partner_org, data.staff_emails)
        outside = [n for n, s in enumerate(staff) if s not in staff_all]
        if outside:
            raise InvalidInput(
                "staff must come from the vetted application",
                problems=[Problem(f"staff_emails.{n}", "not in the application") for n in outside],
            )
    else:
        staff = staff_all
    panel = await session.scalar(
        select(Panel)
        .where(Panel.kind == PanelKind.STANDING.value, Panel.active.is_(True))
        .order_by(Panel.created_at.desc())
    )
    if panel is None:
        raise Conflict("the programme has no standing panel yet")
    req = AccessRequest(
        partner_id=partner.id,
        organisation_id=partner_org,
        window_id=data.window_id,
        lab_organisation_id=window.lab_organisation_id,
        workstream=data.workstream,
        workstream_id=data.workstream_id,
        justification=data.justification,
        staff_person_ids=staff,
        requested_by_person_id=actor.person_id,
        requested_by_organisation_id=actor.organisation_id,
        state="pending",
    )
    session.add(req)
    await session.flush()
    doc = decision_rules.rules()
    rnd = Round(request_id=req.id, number=1, rules_version=doc.version, rules_digest=doc.digest)
    session.add(rnd)
    await session.flush()
    await _open_round(session, req, rnd, panel, actor=actor)
    return await get_request(session, request_id=req.id, actor=actor)


async def _seats(session: AsyncSession, round_id: uuid.UUID) -> list[Seat]:
    return list(
        await session.scalars(
            select(Seat).where(Seat.round_id == round_id).order_by(Seat.constituency, Seat.created_at)
        )
    )


async def _ballots(session: AsyncSession, round_id: uuid.UUID) -> list[Ballot]:
    return list(await session.scalars(select(Ballot).where(Ballot.round_id == round_id)))


def _compute(
    doc: decision_rules.RulesDocument,
    seats: Sequence[Any],
    ballots: Sequence[Any],
    *,
    deadline_passed: bool,
) -> decision_rules.Result:
    """Seats and ballots: ORM rows or plain result rows with the same column names."""
    by_seat = {s.id: str(s.person_id) for s in seats}
    return decision_rules.decide(
        doc,
        [decision_rules.Seat(str(s.person_id), Constituency(s.constituency), s.recused) for s in seats],
        {by_seat[b.seat_id]: Vote(b.vote) for b in ballots if b.seat_id in by_seat},
        deadline_passed=deadline_passed,
    )


async def _settle(session: AsyncSession, rnd: Round) -> Outcome | None:
    """Record the round's outcome if the published rules settle it now; apply its effect."""
    if rnd.decided_at is not None or rnd.opened_at is None or rnd.deadline_at is None:
        return Outcome(rnd.outcome) if rnd.outcome else None
    now = utcnow()
    doc = decision_rules.rules(rnd.rules_version)
    result = _compute(
        doc,
        await _seats(session, rnd.id),
        await _ballots(session, rnd.id),
        deadline_passed=now >= rnd.deadline_at,
    )
    if not result.settled or result.outcome is None:
        return None
    rnd.outcome = result.outcome.value
    rnd.tally = result.as_dict()
    rnd.decided_at = now
    if rnd.number == 1 and result.outcome is not Outcome.LAPSED:
        rnd.appeal_until = now + timedelta(days=doc.appeal_days)
    req = await session.get(AccessRequest, rnd.request_id)
    if req is None:  # pragma: no cover - foreign keys keep it
        raise NotFound("a request is missing")
    # The effective outcome: a lapsed appeal leaves the first decision standing.
    if rnd.number == 1 or result.outcome is not Outcome.LAPSED:
        req.state = result.outcome.value
    else:
        first = await session.scalar(select(Round).where(Round.request_id == req.id, Round.number == 1))
        req.state = first.outcome if first is not None and first.outcome else req.state
    effect = await _apply_effect(session, req, rnd)
    tallies = result.tallies
    await _log(
        session,
        "partners.decided",
        actor=None,
        subjects=[("request", req.id), ("round", rnd.id), ("organisation", req.organisation_id)],
        reason=f"round {rnd.number}: {result.outcome.value} under rules v{doc.version} {doc.digest}; "
        + "; ".join(f"{c.value} {t.approve}-{t.deny}-{t.abstain}" for c, t in sorted(tallies.items()))
        + (" (final)" if rnd.number == 2 else "")
        + (f"; {effect}" if effect else ""),
    )
    return result.outcome


async def _apply_effect(session: AsyncSession, req: AccessRequest, rnd: Round) -> str:
    """Grant access on an effective approval; withdraw it when an appeal overturns one."""
    ref = f"{DECISION_REF}{rnd.id}"
    if req.state == Outcome.APPROVED.value and req.granted_ref is None:
        partner = await session.get(Partner, req.partner_id)
        if partner is None or partner.status != PartnerStatus.VETTED.value:
            return "not in effect: the partner is no longer vetted"
        try:
            async with session.begin_nested():
                await review.grant_partner_access(
                    session,
                    window_id=req.window_id,
                    organisation_id=req.organisation_id,
                    staff_person_ids=list(req.staff_person_ids),
                    decision_ref=ref,
                )
        except ForewarnError as exc:
            return f"not in effect: {exc.message}"
        req.granted_ref = ref
        return "access granted"
    if req.state != Outcome.APPROVED.value and req.granted_ref is not None:
        await review.revoke_partner_access(
            session,
            organisation_id=req.organisation_id,
            window_id=req.window_id,
            reason=f"appeal decided against access ({ref})",
        )
        req.granted_ref = None
        return "access withdrawn"
    return ""


async def settle_round(session: AsyncSession, *, round_id: uuid.UUID) -> str | None:
    """The deadline job (and the CLI): settle a round whose deadline passed. Idempotent."""
    rnd = await session.get(Round, round_id, with_for_update=True)
    if rnd is None:
        return None
    outcome = await _settle(session, rnd)
    return outcome.value if outcome else None


async def settle_due(session: AsyncSession) -> int:
    """Settle every open round whose deadline has passed; returns how many were decided."""
    due = await session.scalars(
        select(Round.id).where(
            Round.decided_at.is_(None), Round.deadline_at.is_not(None), Round.deadline_at <= utcnow()
        )
    )
    done = 0
    for round_id in list(due):
        if await settle_round(session, round_id=round_id):
            done += 1
    return done


async def _round_for_member(
    session: AsyncSession, round_id: uuid.UUID, actor: Principal
) -> tuple[Round, Seat]:
    forbid_unless(policy.is_panel_member(actor), "your role does not allow you to sit on panels")
    rnd = await session.get(Round, round_id, with_for_update=True)
    if rnd is None:
        raise NotFound("no such round")
    seat = await session.scalar(
        select(Seat).where(Seat.round_id == round_id, Seat.person_id == actor.person_id)
    )
    if seat is None:
        raise Forbidden("you have no seat in this round")
    if rnd.decided_at is None and rnd.deadline_at is not None and utcnow() >= rnd.deadline_at:
        await _settle(session, rnd)
    if rnd.decided_at is not None:
        raise Conflict("the round is decided")
    return rnd, seat


async def declare_conflict(
    session: AsyncSession, *, round_id: uuid.UUID, data: ConflictIn, actor: Principal
) -> RequestOut:
    """A member declares a conflict of their own: recused from the round at once."""
    rnd, seat = await _round_for_member(session, round_id, actor)
    if await session.scalar(select(Ballot.id).where(Ballot.seat_id == seat.id)) is not None:
        raise Conflict("you have voted in this round; a conflict must be declared before voting")
    seat.conflicts = [
        *seat.conflicts,
        {"source": "declared", "reason": data.reason, "at": utcnow().isoformat()},
    ]
    was = seat.recused
    seat.recused = True
    await session.flush()
    await _log(
        session,
        "partners.conflict_declared",
        actor=actor,
        subjects=[("round", rnd.id), ("person", actor.person_id)],
        reason="a panel member declared a conflict",
        sealed={"reason": _digest(data.reason)},
    )
    if not was:
        await _log(
            session,
            "partners.recused",
            actor=actor,
            subjects=[("round", rnd.id), ("person", actor.person_id)],
            reason="recused on a declared conflict",
        )
    await _settle(session, rnd)
    return await get_request(session, request_id=rnd.request_id, actor=actor)


async def cast_ballot(
    session: AsyncSession, *, round_id: uuid.UUID, data: BallotIn, actor: Principal
) -> RequestOut:
    """Vote in a round: refused to recused members, after a vote, and for a deny without reasons."""
    rnd, seat = await _round_for_member(session, round_id, actor)
    if seat.recused:
        raise Forbidden(
            "you are recused from this round (conflict: "
            + ", ".join(f["source"] for f in seat.conflicts)
            + ") and cannot vote"
        )
    doc = decision_rules.rules(rnd.rules_version)
    problem = decision_rules.ballot_problem(doc, data.vote, data.rationale)
    if problem:
        raise InvalidInput("the ballot is incomplete", problems=[Problem("rationale", problem)])
    rationale = data.rationale.strip()
    commitment, salt = ledger.commitment(rationale.encode())
    ballot = Ballot(
        seat_id=seat.id,
        round_id=rnd.id,
        vote=data.vote.value,
        rationale=rationale or None,
        rationale_commitment=commitment,
        rationale_salt=salt,
    )
    try:
        async with session.begin_nested():
            session.add(ballot)
            await session.flush()
    except IntegrityError:
        raise Conflict("you have voted in this round; a ballot is final") from None
    await _log(
        session,
        "partners.ballot_cast",
        actor=actor,
        subjects=[("round", rnd.id), ("person", actor.person_id), ("ballot", ballot.id)],
        reason=f"{seat.constituency} member voted {data.vote.value}",
        sealed={"rationale": commitment},
    )
    await _settle(session, rnd)
    return await get_request(session, request_id=rnd.request_id, actor=actor)


async def appeal(
    session: AsyncSession, *, request_id: uuid.UUID, data: AppealIn, actor: Principal
) -> RequestOut:
    """The partner appeals a denial, or the lab an approval, within the period; a disjoint panel decides."""
    req = await _request_row(session, request_id, actor)
    rounds = await _rounds(session, req.id)
    who = _appealable_by(req, rounds, utcnow())
    mine = (
        "partner"
        if policy.is_partner_admin(actor) and actor.organisation_id == req.organisation_id
        else "lab"
        if policy.is_lab_lead(actor) and actor.organisation_id == req.lab_organisation_id
        else None
    )
    if mine is None:
        raise Forbidden("only the requesting partner or the lab may appeal")
    if who != mine:
        first = rounds[0]
        if len(rounds) > 1:
            raise Conflict("the decision was appealed already; the second decision is final")
        if first.decided_at is None:
            raise Conflict("the request is not decided yet")
        if first.outcome == Outcome.LAPSED.value:
            raise Conflict("a lapsed request is not a decision; request access again")
        if first.appeal_until is not None and utcnow() > first.appeal_until:
            raise Conflict("the appeal period has ended")
        raise Conflict("the partner appeals a denial; the lab appeals an approval")
    first = rounds[0]
    rnd = Round(
        request_id=req.id,
        number=2,
        rules_version=first.rules_version,
        rules_digest=first.rules_digest,
        appellant=mine,
        appellant_organisation_id=actor.organisation_id,
        grounds=data.grounds,
    )
    try:
        async with session.begin_nested():
            session.add(rnd)
            await session.flush()
    except IntegrityError:
        raise Conflict("the decision was appealed already; the second decision is final") from None
    req.state = "pending" if req.state == Outcome.DENIED.value else req.state
    panel = await _disjoint_panel(session, first.id)
    if panel is None:
        await _log(
            session,
            "partners.appealed",
            actor=actor,
            subjects=[("request", req.id), ("round", rnd.id), ("organisation", actor.organisation_id)],
            reason=f"appeal by the {mine}; awaiting a panel with no member of the first",
            sealed={"grounds": _digest(data.grounds)},
        )
    else:
        await _open_round(session, req, rnd, panel, actor=actor)
    return await get_request(session, request_id=req.id, actor=actor)


async def _disjoint_panel(
    session: AsyncSession, first_round_id: uuid.UUID, panel_id: uuid.UUID | None = None
) -> Panel | None:
    first_people = {
        str(p) for p in await session.scalars(select(Seat.person_id).where(Seat.round_id == first_round_id))
    }
    query = select(Panel).where(Panel.active.is_(True)).order_by(Panel.kind, Panel.created_at)
    if panel_id is not None:
        query = query.where(Panel.id == panel_id)
    else:
        query = query.where(Panel.kind == PanelKind.APPEAL.value)
    for panel in await session.scalars(query):
        members = [
            str(p)
            for p in await session.scalars(
                select(PanelMember.person_id).where(
                    PanelMember.panel_id == panel.id, PanelMember.active.is_(True)
                )
            )
        ]
        if members and decision_rules.disjoint(first_people, members):
            return panel
    return None


async def assign_panel(
    session: AsyncSession, *, round_id: uuid.UUID, panel_id: uuid.UUID, actor: Principal | None
) -> RequestOut:
    """Give an appeal awaiting a panel one that shares no member with the first round."""
    if actor is not None:
        forbid_unless(policy.can_manage_panels(actor), "your role does not allow you to assign panels")
    rnd = await session.get(Round, round_id, with_for_update=True)
    if rnd is None or rnd.number != 2:
        raise NotFound("no such appeal round")
    if rnd.panel_id is not None:
        raise Conflict("this appeal has its panel")
    first = await session.scalar(select(Round).where(Round.request_id == rnd.request_id, Round.number == 1))
    if first is None:  # pragma: no cover
        raise NotFound("the first round is missing")
    panel = await _disjoint_panel(session, first.id, panel_id)
    if panel is None:
        raise Conflict(
            "that panel shares a member with the first round, or has no members",
            problems=[Problem("panel_id", "not disjoint from the first panel")],
        )
    req = await session.get(AccessRequest, rnd.request_id)
    if req is None:  # pragma: no cover - foreign keys keep it
        raise NotFound("a request is missing")
    await _open_round(session, req, rnd, panel, actor=actor)
    return await get_request(session, request_id=req.id, actor=actor)


async def redact_rationale(
    session: AsyncSession, *, ballot_id: uuid.UUID, reason: str, actor: Principal | None
) -> None:
    """Remove a ballot's rationale text, with a reason; the commitment stays and the act is logged."""
    if actor is not None:
        forbid_unless(policy.can_redact(actor), "your role does not allow you to redact rationales")
    if len(reason.strip()) < 10:
        raise InvalidInput("give a reason", problems=[Problem("reason", "at least 10 characters")])
    ballot = await session.get(Ballot, ballot_id, with_for_update=True)
    if ballot is None:
        raise NotFound("no such ballot")
    if ballot.redacted_at is not None:
        raise Conflict("already redacted")
    ballot.rationale = None
    ballot.redacted_at = utcnow()
    ballot.redaction_reason = reason.strip()
    ballot.redacted_by_person_id = actor.person_id if actor else None
    await _log(
        session,
        "partners.rationale_redacted",
        actor=actor,
        subjects=[("ballot", ballot.id), ("round", ballot.round_id)],
        reason=f"rationale redacted: {reason.strip()}",
        sealed={"rationale": ballot.rationale_commitment},
    )


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def _seated(person_id: uuid.UUID) -> Any:
    """Ids of the requests where a person holds a seat in some round."""
    return select(Round.request_id).join(Seat, Seat.round_id == Round.id).where(Seat.person_id == person_id)


async def _request_row(
    session: AsyncSession, request_id: uuid.UUID, actor: Principal | None
) -> AccessRequest:
    """A request the actor may read: its partner, its lab, coordinators and administrators, and the
    panel members seated on it (not every panel member: an industry member learns nothing about other
    labs' windows from requests they do not sit on)."""
    req = await session.get(AccessRequest, request_id)
    if req is None or (
        actor is not None
        and not policy.can_read_request(
            actor, partner_org=req.organisation_id, lab_org=req.lab_organisation_id
        )
    ):
        raise NotFound("no such request")
    if (
        actor is not None
        and not policy.is_vetter(actor)
        and actor.organisation_id not in (req.organisation_id, req.lab_organisation_id)
        and req.id not in set(await session.scalars(_seated(actor.person_id)))
    ):
        raise NotFound("no such request")
    return req


async def _rounds(session: AsyncSession, request_id: uuid.UUID) -> list[Round]:
    return list(
        await session.scalars(select(Round).where(Round.request_id == request_id).order_by(Round.number))
    )


def _appealable_by(req: AccessRequest, rounds: Sequence[Round], now: datetime) -> str | None:
    if len(rounds) != 1:
        return None
    first = rounds[0]
    if first.decided_at is None or first.appeal_until is None or now > first.appeal_until:
        return None
    if first.outcome == Outcome.DENIED.value:
        return "partner"
    if first.outcome == Outcome.APPROVED.value:
        return "lab"
    return None


async def _round_out(session: AsyncSession, rnd: Round, names: _Names, *, show_ballots: bool) -> RoundOut:
    seats = await _seats(session, rnd.id)
    ballots = {b.seat_id: b for b in await _ballots(session, rnd.id)}
    panel = await session.get(Panel, rnd.panel_id) if rnd.panel_id else None
    out_seats = []
    for s in seats:
        b = ballots.get(s.id)
        out_seats.append(
            SeatOut(
                person_id=s.person_id,
                name=(await names.person(s.person_id)).name,
                organisation_id=s.organisation_id,
                organisation_name=await names.org(s.organisation_id),
                constituency=Constituency(s.constituency),
                recused=s.recused,
                conflicts=[ConflictOut.model_validate(c) for c in s.conflicts],
                voted=b is not None,
                ballot=BallotOut(
                    id=b.id,
                    vote=Vote(b.vote),
                    rationale=b.rationale,
                    rationale_commitment=b.rationale_commitment,
                    cast_at=b.created_at,
                    redacted_at=b.redacted_at,
                    redaction_reason=b.redaction_reason,
                )
                if b is not None and show_ballots and rnd.decided_at is not None
                else None,
            )
        )
    return RoundOut(
        id=rnd.id,
        number=rnd.number,
        panel_id=rnd.panel_id,
        panel_name=panel.name if panel else None,
        rules_version=rnd.rules_version,
        rules_digest=rnd.rules_digest,
        opened_at=rnd.opened_at,
        deadline_at=rnd.deadline_at,
        decided_at=rnd.decided_at,
        outcome=Outcome(rnd.outcome) if rnd.outcome else None,
        tally=rnd.tally,
        appeal_until=rnd.appeal_until,
        appellant=rnd.appellant,
        grounds=rnd.grounds,
        seats=out_seats,
    )


async def get_request(session: AsyncSession, *, request_id: uuid.UUID, actor: Principal | None) -> RequestOut:
    req = await _request_row(session, request_id, actor)
    rounds = await _rounds(session, req.id)
    for rnd in rounds:  # a deadline that passed is settled on the next read, too
        if rnd.decided_at is None and rnd.deadline_at is not None and utcnow() >= rnd.deadline_at:
            await _settle(session, rnd)
    names = _Names(session)
    show = actor is None or policy.can_read_rationales(
        actor, partner_org=req.organisation_id, lab_org=req.lab_organisation_id
    )
    return RequestOut(
        id=req.id,
        partner_id=req.partner_id,
        organisation_id=req.organisation_id,
        organisation_name=await names.org(req.organisation_id),
        window_id=req.window_id,
        lab_organisation_id=req.lab_organisation_id,
        lab_name=await names.org(req.lab_organisation_id),
        workstream=req.workstream,
        workstream_id=req.workstream_id,
        justification=req.justification,
        staff=await names.staff(req.staff_person_ids),
        state=req.state,
        granted_ref=req.granted_ref,
        created_at=req.created_at,
        rounds=[await _round_out(session, r, names, show_ballots=show) for r in rounds],
        appealable_by=_appealable_by(req, rounds, utcnow()),
    )


async def list_requests(session: AsyncSession, *, actor: Principal | None) -> list[RequestOut]:
    query = select(AccessRequest.id).order_by(AccessRequest.created_at.desc())
    if actor is not None and not policy.is_vetter(actor):
        if actor.organisation_id is None:
            return []
        query = query.where(
            (AccessRequest.organisation_id == actor.organisation_id)
            | (AccessRequest.lab_organisation_id == actor.organisation_id)
            | AccessRequest.id.in_(_seated(actor.person_id))
        )
    return [
        await get_request(session, request_id=i, actor=actor)
        for i in list(await session.scalars(query.limit(500)))
    ]


async def queue(session: AsyncSession, *, actor: Principal) -> list[QueueItem]:
    """Open rounds where the member has a seat (recused ones shown as such, without a ballot)."""
    forbid_unless(policy.is_panel_member(actor), "your role does not allow you to sit on panels")
    rows = (
        await session.execute(
            select(Round, Seat, AccessRequest)
            .join(Seat, Seat.round_id == Round.id)
            .join(AccessRequest, AccessRequest.id == Round.request_id)
            .where(Seat.person_id == actor.person_id, Round.decided_at.is_(None))
            .order_by(Round.deadline_at)
        )
    ).all()
    names = _Names(session)
    out = []
    for rnd, seat, req in rows:
        if rnd.deadline_at is not None and utcnow() >= rnd.deadline_at:
            await _settle(session, rnd)
            continue
        voted = await session.scalar(select(Ballot.id).where(Ballot.seat_id == seat.id)) is not None
        out.append(
            QueueItem(
                round_id=rnd.id,
                request_id=req.id,
                number=rnd.number,
                partner_name=await names.org(req.organisation_id),
                lab_name=await names.org(req.lab_organisation_id),
                workstream=req.workstream,
                deadline_at=rnd.deadline_at,
                recused=seat.recused,
                voted=voted,
            )
        )
    return out


async def lab_access(session: AsyncSession, *, actor: Principal) -> list[AccessOut]:
    """For a lab: every partner request on its windows, what was decided, and the keys held."""
    forbid_unless(policy.is_lab_lead(actor), "your role does not allow you to read your lab's access list")
    lab = _org_of(actor)
    reqs = await session.scalars(
        select(AccessRequest)
        .where(AccessRequest.lab_organisation_id == lab)
        .order_by(AccessRequest.created_at.desc())
    )
    names = _Names(session)
    out = []
    for req in reqs:
        rounds = await _rounds(session, req.id)
        decided = [r for r in rounds if r.decided_at is not None]
        keys = [
            k.model_dump(
                mode="json",
                include={"prefix", "holder_person_id", "state", "issued_at", "expires_at", "revoked_at"},
            )
            for k in await gateway.list_keys(session, window_id=req.window_id)
            if k.holder_organisation_id == req.organisation_id
        ]
        for k in keys:
            k["holder"] = (await names.person(uuid.UUID(k["holder_person_id"]))).name
        out.append(
            AccessOut(
                request_id=req.id,
                window_id=req.window_id,
                partner_name=await names.org(req.organisation_id),
                workstream=req.workstream,
                state=req.state,
                decision_ref=req.granted_ref,
                decided_at=decided[-1].decided_at if decided else None,
                staff=await names.staff(req.staff_person_ids),
                keys=keys,
            )
        )
    return out


async def open_windows(session: AsyncSession) -> list[Any]:
    """Windows a partner may request access to (not closed)."""
    return [w for w in await review.list_windows(session, actor=None) if w.state != "closed"]


# --------------------------------------------------------------------------------------------------
# Statistics and the consistency check
# --------------------------------------------------------------------------------------------------


def _row(group: str, items: list[tuple[str | None, float | None]], requests: int) -> StatRow:
    decided = [o for o, _ in items if o is not None]
    approved = sum(1 for o in decided if o == Outcome.APPROVED.value)
    denied = sum(1 for o in decided if o == Outcome.DENIED.value)
    lapsed = sum(1 for o in decided if o == Outcome.LAPSED.value)
    days = [d for o, d in items if o is not None and d is not None]
    return StatRow(
        group=group,
        requests=requests,
        decided=len(decided),
        approved=approved,
        denied=denied,
        lapsed=lapsed,
        approval_rate=round(approved / (approved + denied), 4) if approved + denied else None,
        median_days_to_decision=round(statistics.median(days), 2) if days else None,
    )


async def statistics_(session: AsyncSession) -> StatisticsOut:
    """Public: first decisions by partner category and by lab, time to decision, appeals and results."""
    rows = (
        await session.execute(
            select(AccessRequest, Partner.category).join(Partner, Partner.id == AccessRequest.partner_id)
        )
    ).all()
    rounds: dict[uuid.UUID, list[Round]] = defaultdict(list)
    for rnd in await session.scalars(select(Round).order_by(Round.number)):
        rounds[rnd.request_id].append(rnd)
    names = _Names(session)
    by_cat: dict[str, list[tuple[str | None, float | None]]] = defaultdict(list)
    by_lab: dict[str, list[tuple[str | None, float | None]]] = defaultdict(list)
    appeals = {
        "filed": 0,
        "by_partner": 0,
        "by_lab": 0,
        "overturned": 0,
        "upheld": 0,
        "lapsed": 0,
        "pending": 0,
    }
    for req, category in rows:
        rs = rounds.get(req.id, [])
        first = rs[0] if rs else None
        outcome = first.outcome if first and first.decided_at else None
        days = (
            (first.decided_at - first.opened_at).total_seconds() / 86400
            if first and first.decided_at and first.opened_at
            else None
        )
        by_cat[category].append((outcome, days))
        by_lab[await names.org(req.lab_organisation_id)].append((outcome, days))
        if len(rs) > 1:
            second = rs[1]
            appeals["filed"] += 1
            appeals["by_partner" if second.appellant == "partner" else "by_lab"] += 1
            if second.decided_at is None:
                appeals["pending"] += 1
            elif second.outcome == Outcome.LAPSED.value:
                appeals["lapsed"] += 1
            elif second.outcome == (first.outcome if first else None):
                appeals["upheld"] += 1
            else:
                appeals["overturned"] += 1
    return StatisticsOut(
        by_category=[_row(k, v, len(v)) for k, v in sorted(by_cat.items())],
        by_lab=[_row(k, v, len(v)) for k, v in sorted(by_lab.items())],
        appeals=AppealStats(**appeals),
        rules_version=decision_rules.CURRENT_VERSION,
    )


_DECIDED = re.compile(r"^round (\d): (approved|denied|lapsed) under rules v(\d+) ")


async def _published(session: AsyncSession, type_: str) -> list[Any]:
    """Every published (checkpointed) log entry of a type, oldest pages last."""
    out: list[Any] = []
    before: int | None = None
    while True:
        page = await ledger.search(session, where=EntryFilter(type=type_), before=before, limit=200)
        out.extend(page.entries)
        if page.older is None:
            return out
        before = page.older


async def _logged(session: AsyncSession) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, int]]]:
    """From the published log: ballot id → (vote, rationale commitment); round id → (outcome, rules)."""
    ballots: dict[str, tuple[str, str]] = {}
    for entry in await _published(session, "partners.ballot_cast"):
        ids = {s.type: s.id for s in entry.subjects}
        if "ballot" in ids:
            ballots[ids["ballot"]] = (
                entry.reason.rsplit(" ", 1)[-1],
                entry.sealed_hashes.get("rationale", ""),
            )
    decided: dict[str, tuple[str, int]] = {}
    for entry in await _published(session, "partners.decided"):
        ids = {s.type: s.id for s in entry.subjects}
        found = _DECIDED.match(entry.reason)
        if "round" in ids and found:
            decided[ids["round"]] = (found.group(2), int(found.group(3)))
    return ballots, decided


async def check(session: AsyncSession) -> CheckOut:
    """Re-apply the rules version recorded with every decided round to its ballots; report mismatches.

    Also: the recorded rules digest matches the published document; no recused member's ballot is
    stored; every deny carries a rationale (or a recorded redaction); every unredacted rationale
    opens its logged commitment; each request's state follows from its rounds.
    """
    mismatches: list[Mismatch] = []
    rounds_checked = 0
    ballots_checked = 0
    logged_ballots, logged_rounds = await _logged(session)
    compared = 0
    # Everything is read in four queries (no query per round), so the check scales with the data.
    # Plain rows, not ORM objects: building objects would cost more than the re-count itself.
    seats_of: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for seat in await session.execute(
        select(Seat.id, Seat.round_id, Seat.person_id, Seat.constituency, Seat.recused)
    ):
        seats_of[seat.round_id].append(seat)
    ballots_of: dict[uuid.UUID, list[Any]] = defaultdict(list)
    all_ballots = list(
        await session.execute(
            select(
                Ballot.id,
                Ballot.round_id,
                Ballot.seat_id,
                Ballot.vote,
                Ballot.rationale,
                Ballot.rationale_commitment,
                Ballot.rationale_salt,
                Ballot.redacted_at,
                Ballot.created_at,
            )
        )
    )
    for b in all_ballots:
        ballots_of[b.round_id].append(b)
    rows = (await session.execute(select(AccessRequest.id, AccessRequest.state))).all()
    states: dict[uuid.UUID, str] = dict(rows)
    for b in all_ballots:
        seen = logged_ballots.get(str(b.id))
        if seen is None:
            continue
        compared += 1
        if seen != (b.vote, b.rationale_commitment):
            mismatches.append(
                Mismatch(
                    round_id=b.round_id, problem=f"ballot {b.id} differs from its transparency-log entry"
                )
            )
    rounds_by_request: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for rnd in await session.execute(
        select(
            Round.id,
            Round.request_id,
            Round.number,
            Round.rules_version,
            Round.rules_digest,
            Round.deadline_at,
            Round.decided_at,
            Round.outcome,
        ).order_by(Round.number)
    ):
        rounds_by_request[rnd.request_id].append(rnd)
        if rnd.decided_at is None:
            continue
        rounds_checked += 1
        doc = decision_rules.RULES.get(rnd.rules_version)
        if doc is None:
            mismatches.append(Mismatch(round_id=rnd.id, problem=f"unknown rules version {rnd.rules_version}"))
            continue
        if doc.digest != rnd.rules_digest:
            mismatches.append(
                Mismatch(round_id=rnd.id, problem="recorded rules digest differs from the published document")
            )
        seats = seats_of[rnd.id]
        ballots = [b for b in ballots_of[rnd.id] if b.created_at <= rnd.decided_at]
        ballots_checked += len(ballots)
        recused = {s.id for s in seats if s.recused}
        for b in ballots:
            if b.seat_id in recused:
                mismatches.append(Mismatch(round_id=rnd.id, problem=f"ballot {b.id} is of a recused member"))
            if b.rationale is not None:
                opened = (
                    "sha256:" + hmac.new(b.rationale_salt, b.rationale.encode(), hashlib.sha256).hexdigest()
                )
                if not hmac.compare_digest(opened, b.rationale_commitment):
                    mismatches.append(
                        Mismatch(
                            round_id=rnd.id, problem=f"ballot {b.id}: rationale does not open its commitment"
                        )
                    )
            elif b.vote == Vote.DENY.value and b.redacted_at is None:
                mismatches.append(
                    Mismatch(round_id=rnd.id, problem=f"ballot {b.id}: a deny without a rationale")
                )
        logged = logged_rounds.get(str(rnd.id))
        if logged is not None:
            compared += 1
            if logged != (rnd.outcome, rnd.rules_version):
                mismatches.append(
                    Mismatch(
                        round_id=rnd.id,
                        problem=f"recorded outcome {rnd.outcome!r} (rules v{rnd.rules_version}) differs "
                        f"from the transparency log's {logged[0]!r} (rules v{logged[1]})",
                    )
                )
        deadline_passed = rnd.deadline_at is not None and rnd.decided_at >= rnd.deadline_at
        result = _compute(doc, seats, ballots, deadline_passed=deadline_passed)
        if not result.settled or result.outcome is None or result.outcome.value != rnd.outcome:
            mismatches.append(
                Mismatch(
                    round_id=rnd.id,
                    problem=f"recorded outcome {rnd.outcome!r}, the rules give "
                    f"{result.outcome.value if result.outcome else 'no decision yet'!r}",
                )
            )
    for request_id, rs in rounds_by_request.items():
        state = states.get(request_id)
        if state is None:  # pragma: no cover - foreign keys keep it
            continue
        decided = [r for r in rs if r.decided_at is not None and r.outcome is not None]
        expected = "pending"
        for r in decided:
            if r.number == 1 or r.outcome != Outcome.LAPSED.value:
                expected = r.outcome or "pending"
        if len(rs) == 2 and rs[1].decided_at is None and rs[0].outcome == Outcome.DENIED.value:
            expected = "pending"
        if state != expected:
            mismatches.append(
                Mismatch(round_id=rs[-1].id, problem=f"request state {state!r}, its rounds give {expected!r}")
            )
    return CheckOut(
        rounds_checked=rounds_checked,
        ballots_checked=ballots_checked,
        log_entries_compared=compared,
        mismatches=mismatches,
        ok=not mismatches,
    )
