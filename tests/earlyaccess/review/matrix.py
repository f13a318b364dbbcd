"""The review programme's rows of the access matrix (tests/web/test_access_matrix.py): who may call each
``/api/v1/review`` route, the objects the routes act on, and their request bodies.

Every route gets its own objects where a call changes state (a window to close, a model to release, a
grant and a key to revoke), so the order the matrix calls routes in does not matter. Withdrawal closes
every window of the caller's lab: it is called for ``lab_safety`` by the safety lead of a lab of its own
(``leaving_lead``, see STAND_INS in the access matrix), which takes part with a window of its own.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tests.web.personas import PERSONAS

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrganisationIn, OrgKind, Principal
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.schemas import AgreementIn, AttachmentIn, CredentialIn

from . import world as w

PREFIX = "/api/v1/review/"

EVERYONE = set(PERSONAS)
#: Signed in for a lab, an agency or a partner (operators, vendors and grantees are not in the programme).
READERS = {
    "platform_admin",
    "lab_admin",
    "lab_safety",
    "nsa_custodian",
    "partner_reviewer",
    "analyst",
    "grants_officer",
    "hiring_officer",
    "coordinator",
}
#: Who sees the matrix window: the programme, the lab, the granted agency (NSA) and the granted partner.
IN_WINDOW = {"platform_admin", "coordinator", "lab_admin", "lab_safety", "nsa_custodian", "partner_reviewer"}
#: The model's channel: its lab and the agencies (the coordinator; NSA, granted on a window of it).
CHANNEL = {"lab_admin", "lab_safety", "coordinator", "nsa_custodian"}

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/review/agreements"): EVERYONE,
    ("GET", "/api/v1/review/agreements/current"): EVERYONE,
    ("POST", "/api/v1/review/agreements"): {"platform_admin", "coordinator"},
    ("GET", "/api/v1/review/participation"): {"lab_admin", "lab_safety"},
    ("POST", "/api/v1/review/participation"): {"lab_safety"},
    ("POST", "/api/v1/review/participation/withdraw"): {"lab_safety"},
    ("PATCH", "/api/v1/review/models/{model_id}"): {"lab_safety"},
    ("POST", "/api/v1/review/models/{model_id}/release"): {"lab_safety"},
    ("GET", "/api/v1/review/models/{model_id}/messages"): CHANNEL,
    ("POST", "/api/v1/review/models/{model_id}/messages"): CHANNEL,
    ("GET", "/api/v1/review/models/{model_id}/attachments/{attachment_id}"): CHANNEL,
    ("GET", "/api/v1/review/windows"): READERS,
    ("POST", "/api/v1/review/windows"): {"lab_safety"},
    ("GET", "/api/v1/review/windows/{window_id}"): IN_WINDOW,
    ("POST", "/api/v1/review/windows/{window_id}/credential"): {"lab_safety"},
    ("POST", "/api/v1/review/windows/{window_id}/close"): {"lab_safety", "coordinator"},
    ("GET", "/api/v1/review/windows/{window_id}/grants"): IN_WINDOW,
    ("POST", "/api/v1/review/windows/{window_id}/grants"): {"coordinator"},
    ("POST", "/api/v1/review/windows/{window_id}/grants/{grant_id}/revoke"): {"coordinator"},
    ("GET", "/api/v1/review/windows/{window_id}/keys"): IN_WINDOW,
    ("POST", "/api/v1/review/windows/{window_id}/keys"): {"coordinator"},
    ("POST", "/api/v1/review/windows/{window_id}/keys/{key_id}/revoke"): {"coordinator"},
    ("GET", "/api/v1/review/windows/{window_id}/notices"): IN_WINDOW,
    ("GET", "/api/v1/review/notices"): READERS,
}

WITHDRAW = ("POST", "/api/v1/review/participation/withdraw")

_UPSTREAM = CredentialIn.model_validate({"base_url": "http://127.0.0.1:9/v1", "credential": "sk-matrix"})


async def _agency(session: AsyncSession, name: str) -> uuid.UUID:
    code = f"RV{uuid.uuid4().hex[:8].upper()}"
    org = await accounts.create_organisation(
        session, data=OrganisationIn(name=f"{name} {code}", kind=OrgKind.AGENCY, code=code), actor=None
    )
    return org.id


async def _open(session: AsyncSession, key: DataKey, lead: Principal) -> tuple[uuid.UUID, uuid.UUID]:
    model = await w.register(session, key, lead)
    await w.mark_covered(session, model.id)
    window = await review.open_window(session, model_id=model.id, actor=lead, length_days=30)
    await review.register_credential(session, window_id=window.id, data=_UPSTREAM, actor=lead, key=key)
    return model.id, window.id


async def setup(
    session: AsyncSession,
    key: DataKey,
    *,
    lab_safety: Principal,
    coordinator: Principal,
    nsa_custodian: Principal,
    partner_reviewer: Principal,
    leaving_lead: Principal,
) -> dict[str, Any]:
    """The matrix's review objects; returns per-route path parameters (and what the bodies need)."""
    assert lab_safety.organisation_id and nsa_custodian.organisation_id and partner_reviewer.organisation_id
    await review.publish_agreement(
        session, data=AgreementIn(title="Matrix", body=w.AGREEMENT_TEXT), actor=coordinator
    )
    await _participate(session, lab_safety)
    model_id, window_id = await _open(session, key, lab_safety)
    await review.grant_agency_access(
        session, window_id=window_id, organisation_id=nsa_custodian.organisation_id, actor=coordinator
    )
    await review.grant_partner_access(
        session,
        window_id=window_id,
        organisation_id=partner_reviewer.organisation_id,
        staff_person_ids=[partner_reviewer.person_id],
        decision_ref="MATRIX-1",
    )
    revokee = await review.grant_agency_access(
        session,
        window_id=window_id,
        organisation_id=await _agency(session, "Revoked agency"),
        actor=coordinator,
    )
    doomed = await review.issue_reviewer_key(
        session,
        window_id=window_id,
        person_id=nsa_custodian.person_id,
        actor=coordinator,
        rate_limit_per_minute=60,
        token_budget=1000,
    )
    _, closing_window = await _open(session, key, lab_safety)
    await _participate(session, leaving_lead)
    await _open(session, key, leaving_lead)
    released = await w.register(session, key, lab_safety)
    to_open = await w.register(session, key, lab_safety)
    await w.mark_covered(session, to_open.id)
    message = await review.post_message(
        session,
        model_id=model_id,
        body="Matrix message",
        attachments=[AttachmentIn(filename="m.txt", content_type="text/plain", data=b"matrix")],
        actor=lab_safety,
        key=key,
    )
    model = {"model_id": str(model_id)}
    window = {"window_id": str(window_id)}
    params: dict[str, Any] = {
        "/api/v1/review/models/{model_id}": model,
        "/api/v1/review/models/{model_id}/release": {"model_id": str(released.id)},
        "/api/v1/review/models/{model_id}/messages": model,
        "/api/v1/review/models/{model_id}/attachments/{attachment_id}": model
        | {"attachment_id": str(message.attachments[0].id)},
        "/api/v1/review/windows/{window_id}": window,
        "/api/v1/review/windows/{window_id}/credential": window,
        "/api/v1/review/windows/{window_id}/close": {"window_id": str(closing_window)},
        "/api/v1/review/windows/{window_id}/grants": window,
        "/api/v1/review/windows/{window_id}/grants/{grant_id}/revoke": window | {"grant_id": str(revokee.id)},
        "/api/v1/review/windows/{window_id}/keys": window,
        "/api/v1/review/windows/{window_id}/keys/{key_id}/revoke": window | {"key_id": str(doomed.id)},
        "/api/v1/review/windows/{window_id}/notices": window,
    }
    params["_"] = {
        "lead": lab_safety,
        "leaving_lead": leaving_lead,
        "open_model": str(to_open.id),
        "grant_to": str(await _agency(session, "Granted agency")),
        "key_holder": str(nsa_custodian.person_id),
    }
    return params


async def _participate(session: AsyncSession, lead: Principal) -> None:
    assert lead.organisation_id is not None
    if not await review.is_participating(session, organisation_id=lead.organisation_id):
        current = await review.current_agreement(session)
        assert current is not None
        await review.sign(session, agreement_version=current.version, actor=lead)


async def request_kwargs(
    session: AsyncSession, method: str, template: str, params: dict[str, Any]
) -> dict[str, Any]:
    """The request arguments of one review route, after putting the state it needs in place."""
    extra = params["_"]
    lead: Principal = extra["lead"]
    assert lead.organisation_id is not None
    if (method, template) == ("POST", "/api/v1/review/participation"):
        status = await review.participation_status(session, actor=lead)
        current = await review.current_agreement(session)
        assert current is not None
        if status.current is not None and status.current.agreement_version == current.version:
            # Already signed: publish a newer version for the lab to sign (its windows stay open).
            current = await review.publish_agreement(
                session, data=AgreementIn(title="Matrix, next", body=w.AGREEMENT_TEXT), actor=None
            )
        return {"json": {"agreement_version": current.version}}
    if (method, template) == WITHDRAW:
        await _participate(session, extra["leaving_lead"])
        return {"json": {"reason": "matrix"}}
    if (method, template) == ("POST", "/api/v1/review/windows"):
        await _participate(session, lead)
        for window in await review.list_windows(session, actor=None, model_id=uuid.UUID(extra["open_model"])):
            if window.state.value != "closed":
                await review.close_window(session, window_id=window.id, actor=None)
        return {"json": {"model_id": extra["open_model"]}}
    if (method, template) == ("POST", "/api/v1/review/models/{model_id}/messages"):
        return {"data": {"body": "Matrix reply"}, "files": {"files": ("r.txt", b"reply", "text/plain")}}
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/v1/review/agreements"): {"title": "Matrix agreement", "body": w.AGREEMENT_TEXT},
        ("PATCH", "/api/v1/review/models/{model_id}"): {"planned_release": "2026-01-01"},
        ("POST", "/api/v1/review/models/{model_id}/release"): {},
        ("POST", "/api/v1/review/windows/{window_id}/credential"): {
            "base_url": "http://127.0.0.1:9/v1",
            "credential": "sk-matrix-2",
        },
        ("POST", "/api/v1/review/windows/{window_id}/close"): {"reason": "matrix"},
        ("POST", "/api/v1/review/windows/{window_id}/grants"): {"organisation_id": extra["grant_to"]},
        ("POST", "/api/v1/review/windows/{window_id}/grants/{grant_id}/revoke"): {"reason": "matrix"},
        ("POST", "/api/v1/review/windows/{window_id}/keys"): {"person_id": extra["key_holder"]},
        ("POST", "/api/v1/review/windows/{window_id}/keys/{key_id}/revoke"): {"reason": "matrix"},
    }
    if method == "GET":
        return {}
    return {"json": bodies[(method, template)]}
