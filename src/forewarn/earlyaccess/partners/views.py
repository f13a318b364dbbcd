"""HTML pages of partner governance: partners apply and request, panel members vote, labs see who
has access, everyone reads the rules and the statistics.

Pages work without JavaScript: every action is a form post that redirects back (303). A recused
member's page shows why, and no ballot form.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from forewarn.accounts import service as accounts
from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import OrgKind, Principal
from forewarn.core.errors import InvalidInput, Problem
from forewarn.core.http import Session
from forewarn.core.pages import FLASH, add_nav, form_input, render
from forewarn.earlyaccess.partners import policy, service
from forewarn.earlyaccess.partners.rules import rules as current_rules
from forewarn.earlyaccess.partners.schemas import (
    AppealIn,
    ApplicationIn,
    BallotIn,
    ChecklistItem,
    ConflictIn,
    Control,
    PartnerCategory,
    RelationshipKind,
    RequestIn,
    StatusIn,
    VettingIn,
)

router = APIRouter(include_in_schema=False)

Anyone = Annotated[Principal | None, Depends(public())]
SignedIn = Annotated[Principal, Depends(require(policy.partners_signed_in))]
PartnerAdmin = Annotated[Principal, Depends(require(policy.is_partner_admin))]
Vetter = Annotated[Principal, Depends(require(policy.is_vetter))]
Member = Annotated[Principal, Depends(require(policy.is_panel_member))]
LabLead = Annotated[Principal, Depends(require(policy.is_lab_lead))]
Requester = Annotated[Principal, Depends(require(policy.can_request))]
Appellant = Annotated[Principal, Depends(require(policy.can_appeal))]
Redactor = Annotated[Principal, Depends(require(policy.can_redact))]

add_nav("Partners", "/partners")
FLASH.update(
    {
        "partners-applied": "Your application is filed. An agency will vet it.",
        "partners-vetting-recorded": "The vetting is recorded and logged.",
        "partners-status-changed": "The partner's status is changed and logged.",
        "partners-requested": "Your request is filed; the standing panel decides under the published rules.",
        "partners-conflict-declared": "Your conflict is recorded; you are recused from this round.",
        "partners-voted": "Your ballot is recorded.",
        "partners-appealed": "The appeal is filed; a panel with no member of the first decides.",
        "partners-redacted": "The rationale is redacted; the redaction is logged.",
        "partners-competitor-declared": "The competitor is recorded; its members recuse on your requests.",
    }
)


def _back(path: str, flash: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?flash={flash}", status_code=303)


async def _form(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    form = await request.form()
    single = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}
    multi: dict[str, list[str]] = {}
    for k, v in form.multi_items():
        if isinstance(v, str):
            multi.setdefault(k, []).append(v)
    return single, multi


@router.get("/partners", name="partners_home")
async def home(request: Request, session: Session, actor: Anyone) -> Response:
    mine = None
    if actor is not None and actor.organisation_id is not None and actor.org_kind == OrgKind.PARTNER:
        mine = await service.partner_of(session, organisation_id=actor.organisation_id)
    signed = actor is not None and policy.partners_signed_in(actor)
    return render(
        request,
        "partners/home.html",
        mine=mine,
        partner_admin=policy.is_partner_admin(actor),
        vetter=policy.is_vetter(actor),
        member=policy.is_panel_member(actor),
        lab_lead=policy.is_lab_lead(actor),
        can_request=policy.can_request(actor),
        queue=await service.queue(session, actor=actor) if actor and policy.is_panel_member(actor) else [],
        partners=await service.list_partners(session, actor=actor)
        if actor and policy.sees_all(actor)
        else [],
        requests=await service.list_requests(session, actor=actor) if signed and actor else [],
    )


@router.get("/partners/rules", name="partners_rules")
async def rules_page(request: Request, _: Anyone) -> Response:
    return render(request, "partners/rules.html", documents=service.list_rules())


@router.get("/partners/statistics", name="partners_statistics")
async def statistics_page(request: Request, session: Session, _: Anyone) -> Response:
    return render(
        request,
        "partners/statistics.html",
        stats=await service.statistics_(session),
        check=await service.check(session),
    )


@router.get("/partners/apply", name="partners_apply")
async def apply_form(request: Request, session: Session, actor: PartnerAdmin) -> Response:
    if actor.organisation_id is None:
        raise InvalidInput("act for your partner organisation first")
    people = await accounts.list_people(session, organisation_id=actor.organisation_id, actor=None)
    labs = await accounts.list_organisations(session, actor=None, kind=OrgKind.LAB)
    return render(
        request,
        "partners/apply.html",
        people=people,
        labs=labs,
        categories=list(PartnerCategory),
        controls=list(Control),
        kinds=list(RelationshipKind),
    )


@router.post("/partners/apply")
async def apply(request: Request, session: Session, actor: PartnerAdmin) -> Response:
    f, m = await _form(request)
    attestations = [
        {"control": c.value, "statement": f.get(f"statement_{c.value}", "")}
        for c in Control
        if f.get(f"attest_{c.value}") == "yes"
    ]
    relationships = [
        {"lab_organisation_id": k[4:], "kind": v}
        for k, v in f.items()
        if k.startswith("rel_") and v in {r.value for r in RelationshipKind}
    ]
    data = form_input(
        ApplicationIn,
        {
            "category": f.get("category", ""),
            "capabilities": f.get("capabilities", ""),
            "attestations": attestations,
            "staff_emails": m.get("staff", []),
            "relationships": relationships,
        },
    )
    partner = await service.apply(session, data=data, actor=actor)
    return _back(f"/partners/registry/{partner.id}", "partners-applied")


@router.get("/partners/registry/{partner_id}", name="partners_partner")
async def partner_page(
    request: Request, partner_id: uuid.UUID, session: Session, actor: SignedIn
) -> Response:
    partner = await service.get_partner(session, partner_id=partner_id, actor=actor)
    return render(
        request,
        "partners/partner.html",
        partner=partner,
        history=await service.versions(session, partner_id=partner_id, actor=actor),
        vetter=policy.is_vetter(actor),
        checklist=list(ChecklistItem),
    )


@router.post("/partners/registry/{partner_id}/{action}")
async def partner_action(
    request: Request, partner_id: uuid.UUID, action: str, session: Session, actor: Vetter
) -> Response:
    f, _ = await _form(request)
    here = f"/partners/registry/{partner_id}"
    if action == "vetting":
        data = form_input(
            VettingIn,
            {
                "checklist": {i.value: f.get(f"check_{i.value}") == "yes" for i in ChecklistItem},
                "reason": f.get("reason", ""),
            },
        )
        await service.vet(session, partner_id=partner_id, data=data, actor=actor)
        return _back(here, "partners-vetting-recorded")
    if action == "status":
        data_s = form_input(StatusIn, {"status": f.get("status", ""), "reason": f.get("reason", "")})
        await service.change_status(session, partner_id=partner_id, data=data_s, actor=actor)
        return _back(here, "partners-status-changed")
    raise InvalidInput("unknown action", problems=[Problem("action", action[:40])])


@router.get("/partners/requests/new", name="partners_new_request")
async def request_form(request: Request, session: Session, actor: Requester) -> Response:
    partner = None
    if actor.organisation_id is not None and policy.is_partner_admin(actor):
        partner = await service.partner_of(session, organisation_id=actor.organisation_id)
    names: dict[uuid.UUID, str] = {}
    windows = []
    for window in await service.open_windows(session):
        if window.lab_organisation_id not in names:
            names[window.lab_organisation_id] = (
                await accounts.get_organisation(
                    session, organisation_id=window.lab_organisation_id, actor=None
                )
            ).name
        windows.append({"window": window, "lab": names[window.lab_organisation_id]})
    partners = (
        [p for p in await service.list_partners(session, actor=None) if p.status.value == "vetted"]
        if policy.is_coordinator(actor)
        else []
    )
    return render(request, "partners/request_new.html", partner=partner, windows=windows, partners=partners)


@router.post("/partners/requests")
async def create_request(request: Request, session: Session, actor: Requester) -> Response:
    f, m = await _form(request)
    data = form_input(
        RequestIn,
        {
            "window_id": f.get("window_id", ""),
            "workstream": f.get("workstream", ""),
            "justification": f.get("justification", ""),
            "staff_emails": m.get("staff") or None,
            "partner_organisation_id": f.get("partner_organisation_id") or None,
        },
    )
    out = await service.request_access(session, data=data, actor=actor)
    return _back(f"/partners/requests/{out.id}", "partners-requested")


@router.get("/partners/requests/{request_id}", name="partners_request")
async def request_page(
    request: Request, request_id: uuid.UUID, session: Session, actor: SignedIn
) -> Response:
    req = await service.get_request(session, request_id=request_id, actor=actor)
    my_seat = None
    open_round = next((r for r in req.rounds if r.decided_at is None and r.opened_at is not None), None)
    if open_round is not None and policy.is_panel_member(actor):
        my_seat = next((s for s in open_round.seats if s.person_id == actor.person_id), None)
    mine = (
        "partner"
        if policy.is_partner_admin(actor) and actor.organisation_id == req.organisation_id
        else "lab"
        if policy.is_lab_lead(actor) and actor.organisation_id == req.lab_organisation_id
        else None
    )
    return render(
        request,
        "partners/request.html",
        req=req,
        open_round=open_round,
        my_seat=my_seat,
        can_appeal=mine is not None and mine == req.appealable_by,
        can_redact=policy.can_redact(actor),
        min_chars=current_rules(req.rounds[0].rules_version).deny_rationale_min_chars if req.rounds else 20,
    )


@router.post("/partners/rounds/{round_id}/{action}")
async def round_action(
    request: Request, round_id: uuid.UUID, action: str, session: Session, actor: Member
) -> Response:
    f, _ = await _form(request)
    if action == "conflict":
        out = await service.declare_conflict(
            session,
            round_id=round_id,
            data=form_input(ConflictIn, {"reason": f.get("reason", "")}),
            actor=actor,
        )
        return _back(f"/partners/requests/{out.id}", "partners-conflict-declared")
    if action == "ballot":
        data = form_input(BallotIn, {"vote": f.get("vote", ""), "rationale": f.get("rationale", "")})
        out = await service.cast_ballot(session, round_id=round_id, data=data, actor=actor)
        return _back(f"/partners/requests/{out.id}", "partners-voted")
    raise InvalidInput("unknown action", problems=[Problem("action", action[:40])])


@router.post("/partners/requests/{request_id}/appeal")
async def appeal(request: Request, request_id: uuid.UUID, session: Session, actor: Appellant) -> Response:
    f, _ = await _form(request)
    await service.appeal(
        session,
        request_id=request_id,
        data=form_input(AppealIn, {"grounds": f.get("grounds", "")}),
        actor=actor,
    )
    return _back(f"/partners/requests/{request_id}", "partners-appealed")


@router.post("/partners/ballots/{ballot_id}/redact")
async def redact(request: Request, ballot_id: uuid.UUID, session: Session, actor: Redactor) -> Response:
    f, _ = await _form(request)
    await service.redact_rationale(session, ballot_id=ballot_id, reason=f.get("reason", ""), actor=actor)
    back = f.get("back", "/partners")
    return _back(back if back.startswith("/partners/") else "/partners", "partners-redacted")


@router.get("/partners/access", name="partners_access")
async def access_page(request: Request, session: Session, actor: LabLead) -> Response:
    if actor.organisation_id is None:
        raise InvalidInput("act for your lab first")
    competitors = await service.list_competitors(session, actor=actor)
    orgs = [
        o
        for o in await accounts.list_organisations(session, actor=None)
        if o.kind in (OrgKind.LAB, OrgKind.PARTNER) and o.id != actor.organisation_id
    ]
    return render(
        request,
        "partners/access.html",
        access=await service.lab_access(session, actor=actor),
        competitors=competitors,
        organisations=orgs,
    )


@router.post("/partners/competitors")
async def declare_competitor(request: Request, session: Session, actor: LabLead) -> Response:
    f, _ = await _form(request)
    try:
        org_id = uuid.UUID(f.get("organisation_id", ""))
    except ValueError:
        raise InvalidInput(
            "choose an organisation", problems=[Problem("organisation_id", "not chosen")]
        ) from None
    await service.declare_competitor(session, organisation_id=org_id, actor=actor)
    return _back("/partners/access", "partners-competitor-declared")
