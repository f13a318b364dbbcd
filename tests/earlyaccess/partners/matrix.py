"""Partners' part of the access matrix (tests/web/test_access_matrix.py): expectations per route for
the shared personas, the objects the routes need, and request bodies (state reset before each call so
every allowed persona meets the same state)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.partners import world
from tests.web.personas import PERSONAS

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.partners import service
from forewarn.earlyaccess.partners.schemas import (
    AppealIn,
    ApplicationIn,
    PanelIn,
    PanelKind,
    RequestIn,
    Vote,
)

PREFIX = "/api/v1/partners"

ALL = set(PERSONAS)
SIGNED_IN = ALL - {"anonymous"}
PROGRAMME = {"platform_admin", "coordinator"}

EXPECTED: dict[tuple[str, str], set[str]] = {
    # Public: the rules, the statistics and the consistency check.
    ("GET", f"{PREFIX}/rules"): ALL,
    ("GET", f"{PREFIX}/statistics"): ALL,
    ("GET", f"{PREFIX}/check"): ALL,
    # Lists are filtered by the service (own partner, own lab, or the programme's side).
    ("GET", f"{PREFIX}/partners"): SIGNED_IN,
    ("GET", f"{PREFIX}/requests"): SIGNED_IN,
    # A partner organisation's admin applies and amends (no such persona here: see test_api.py).
    ("POST", f"{PREFIX}/partners"): set(),
    ("PUT", f"{PREFIX}/partners/{{partner_id}}/application"): set(),
    ("GET", f"{PREFIX}/partners/{{partner_id}}"): PROGRAMME,
    ("GET", f"{PREFIX}/partners/{{partner_id}}/versions"): PROGRAMME,
    ("POST", f"{PREFIX}/partners/{{partner_id}}/vetting"): PROGRAMME,
    ("POST", f"{PREFIX}/partners/{{partner_id}}/status"): PROGRAMME,
    ("GET", f"{PREFIX}/competitors"): {"lab_safety"},
    ("POST", f"{PREFIX}/competitors"): {"lab_safety"},
    ("GET", f"{PREFIX}/panels"): PROGRAMME,
    ("POST", f"{PREFIX}/panels"): {"platform_admin"},
    ("POST", f"{PREFIX}/panels/{{panel_id}}/members"): {"platform_admin"},
    # An agency coordinator may request on a partner's behalf.
    ("POST", f"{PREFIX}/requests"): {"coordinator"},
    # A request: its partner, its lab, and the programme.
    ("GET", f"{PREFIX}/requests/{{request_id}}"): PROGRAMME | {"lab_admin", "lab_safety"},
    ("POST", f"{PREFIX}/requests/{{request_id}}/appeal"): {"lab_safety"},
    # Panel members only (no shared persona sits on a panel: see test_api.py).
    ("GET", f"{PREFIX}/queue"): set(),
    ("POST", f"{PREFIX}/rounds/{{round_id}}/conflict"): set(),
    ("POST", f"{PREFIX}/rounds/{{round_id}}/ballot"): set(),
    ("POST", f"{PREFIX}/rounds/{{round_id}}/panel"): {"platform_admin"},
    ("POST", f"{PREFIX}/ballots/{{ballot_id}}/redaction"): {"platform_admin"},
    ("GET", f"{PREFIX}/access"): {"lab_safety"},
}


async def _partner(
    session: AsyncSession, *, vetted: bool, coordinator: Principal
) -> tuple[uuid.UUID, uuid.UUID, Principal, list[Principal]]:
    """(partner id, organisation id, its admin, its staff)."""
    org = await world.org(session, OrgKind.PARTNER)
    admin = await world.person(session, org, [Role.ADMIN])
    staff = [await world.person(session, org, [Role.REVIEWER])]
    partner = await service.apply(
        session,
        data=ApplicationIn.model_validate(
            {
                "category": "security_firm",
                "capabilities": "Red-teaming of language models for the programme.",
                "attestations": [{"control": "soc2_type2", "statement": "SOC 2 Type II, 2026."}],
                "staff_emails": [s.email for s in staff],
            }
        ),
        actor=admin,
    )
    if vetted:
        await service.vet(session, partner_id=partner.id, data=world.ALL_PASS, actor=coordinator)
    return partner.id, org, admin, staff


async def setup(
    session: AsyncSession, key: DataKey, *, people: dict[str, Principal]
) -> dict[str, dict[str, Any]]:
    coordinator, lab_safety = people["coordinator"], people["lab_safety"]
    window = await world.open_window(session, key, lab_safety, coordinator)
    members = [
        await world.person(session, await world.org(session, OrgKind.AGENCY), [Role.PANEL_MEMBER]),
        await world.person(session, await world.org(session, OrgKind.AGENCY), [Role.PANEL_MEMBER]),
        await world.person(session, await world.org(session, OrgKind.LAB), [Role.PANEL_MEMBER]),
        await world.person(session, await world.org(session, OrgKind.PARTNER), [Role.PANEL_MEMBER]),
    ]
    standing = await service.create_panel(
        session,
        data=PanelIn(name=f"Matrix standing {uuid.uuid4().hex[:6]}", kind=PanelKind.STANDING),
        actor=None,
    )
    for m in members:
        await service.add_member(session, panel_id=standing.id, email=m.email, actor=None)

    # An approved request (read, appealed by the lab, a ballot redacted).
    read_id, _, read_admin, _ = await _partner(session, vetted=True, coordinator=coordinator)
    approved = await service.request_access(
        session,
        data=RequestIn(
            window_id=window.id, workstream="Uplift", justification="The uplift suite for this model."
        ),
        actor=read_admin,
    )
    out = await world.vote_all(session, approved.rounds[0].id, members, [Vote.APPROVE] * 4)
    ballot_id = next(s.ballot.id for s in out.rounds[0].seats if s.ballot is not None)
    # A denial appealed while no disjoint panel exists: the appeal awaits a panel.
    _, _, denied_admin, _ = await _partner(session, vetted=True, coordinator=coordinator)
    denied = await service.request_access(
        session,
        data=RequestIn(
            window_id=window.id, workstream="Jailbreaks", justification="The jailbreak suite, again."
        ),
        actor=denied_admin,
    )
    await world.vote_all(session, denied.rounds[0].id, members, [Vote.DENY] * 4)
    appealed = await service.appeal(
        session,
        request_id=denied.id,
        data=AppealIn(grounds="We ask another panel to look at the staff list."),
        actor=denied_admin,
    )
    appeal_panel = await service.create_panel(
        session,
        data=PanelIn(name=f"Matrix appeals {uuid.uuid4().hex[:6]}", kind=PanelKind.APPEAL),
        actor=None,
    )
    for _ in range(2):
        for kind in (OrgKind.AGENCY, OrgKind.LAB):
            fresh = await world.person(session, await world.org(session, kind), [Role.PANEL_MEMBER])
            await service.add_member(session, panel_id=appeal_panel.id, email=fresh.email, actor=None)
    empty = await service.create_panel(
        session, data=PanelIn(name=f"Matrix empty {uuid.uuid4().hex[:6]}", kind=PanelKind.APPEAL), actor=None
    )
    newcomer = await world.person(session, await world.org(session, OrgKind.AGENCY), [Role.PANEL_MEMBER])
    to_vet, _, _, _ = await _partner(session, vetted=False, coordinator=coordinator)
    to_suspend, _, _, _ = await _partner(session, vetted=True, coordinator=coordinator)
    _, behalf_org, _, _ = await _partner(session, vetted=True, coordinator=coordinator)
    competitor = await world.org(session, OrgKind.LAB)

    out_params: dict[str, dict[str, Any]] = {}
    for method, template in EXPECTED:
        p: dict[str, Any] = {
            "partner_id": str(read_id),
            "request_id": str(approved.id),
            "round_id": str(approved.rounds[0].id),
            "panel_id": str(empty.id),
            "ballot_id": str(ballot_id),
        }
        if template.endswith("/vetting"):
            p["partner_id"] = str(to_vet)
        elif template.endswith("/status"):
            p["partner_id"] = str(to_suspend)
        elif template.endswith("/rounds/{round_id}/panel"):
            p["round_id"] = str(appealed.rounds[1].id)
            p["_body"] = {"panel_id": str(appeal_panel.id)}
        elif template.endswith("/panels/{panel_id}/members"):
            p["_body"] = {"email": newcomer.email}
            p["_reset"] = (
                "DELETE FROM partners_panel_members WHERE panel_id = :a",
                {"a": empty.id},
            )
        elif template == f"{PREFIX}/requests" and method == "POST":
            p["_body"] = {
                "window_id": str(window.id),
                "workstream": "On behalf",
                "justification": "Requested by the coordinator on the partner's behalf.",
                "partner_organisation_id": str(behalf_org),
            }
        elif template == f"{PREFIX}/competitors" and method == "POST":
            p["_body"] = {"organisation_id": str(competitor)}
            p["_reset"] = (
                "DELETE FROM partners_lab_competitors WHERE competitor_organisation_id = :a",
                {"a": competitor},
            )
        if template.endswith("/vetting"):
            p["_reset"] = ("UPDATE partners_partners SET status = 'applied' WHERE id = :a", {"a": to_vet})
        if template.endswith("/status"):
            p["_reset"] = ("UPDATE partners_partners SET status = 'vetted' WHERE id = :a", {"a": to_suspend})
        out_params[template] = p
    return out_params


async def request_kwargs(
    session: AsyncSession, method: str, template: str, params: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    if method not in ("POST", "PUT"):
        return {}
    here = params.get(template, {})
    if "_reset" in here:
        sql, args = here["_reset"]
        await session.execute(text(sql), args)
    if "_body" in here:
        return {"json": here["_body"]}
    bodies: dict[str, Any] = {
        "/vetting": world.ALL_PASS.model_dump(mode="json"),
        "/status": {"status": "suspended", "reason": "Suspended while an incident is reviewed."},
        "/appeal": {"grounds": "The partner's staff include a former employee of ours."},
        "/redaction": {"reason": "The rationale names a member of staff."},
        "/conflict": {"reason": "I advised this partner last year."},
        "/ballot": {"vote": "approve"},
        f"{PREFIX}/panels": {"name": f"Panel {uuid.uuid4().hex[:8]}", "kind": "appeal"},
    }
    for suffix, body in bodies.items():
        if template.endswith(suffix):
            return {"json": body}
    if template.endswith("/application") or template == f"{PREFIX}/partners":
        return {
            "json": {
                "category": "other",
                "capabilities": "Capabilities of an applicant here.",
                "attestations": [{"control": "iso_27001", "statement": "Certified in 2026."}],
                "staff_emails": ["nobody@example.org"],
            }
        }
    return {"json": {}}
