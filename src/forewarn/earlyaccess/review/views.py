"""Pages of the review programme, for the lab's safety lead, the assessment coordinator, and the
agencies and partners taking part in a window.

- ``/review``: your standing, your models (and a registration form), the windows you take part in,
  your notices; coordinators see every window.
- ``/review/agreement``: the agreement's text, sign / withdraw (safety lead), publish (programme).
- ``/review/models/{id}``: a model's card, planned release (editable), windows, and its message channel.
- ``/review/windows/{id}``: a window's state and day counter, the lab's credential form, grants, reviewer
  keys (a new key's secret is shown once, on the response to the form), and notices.

Forms work without JavaScript; a refused form re-renders the page with an error naming the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError

from forewarn.accounts import service as accounts
from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import OrgKind, Principal
from forewarn.core.errors import ForewarnError
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import add_nav, render
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.review import _pages as pages
from forewarn.earlyaccess.review import api, policy, service
from forewarn.earlyaccess.review.assessments import policy as assessment_policy
from forewarn.earlyaccess.review.schemas import (
    AgreementIn,
    CredentialIn,
    IssuedKeyOut,
    ModelIn,
    ModelUpdate,
    WindowOut,
    WindowState,
)

router = APIRouter(include_in_schema=False)
add_nav("Review", "/review", show=policy.can_read_windows)

Anyone = Annotated[Principal | None, Depends(public())]
Reader = Annotated[Principal, Depends(require(policy.can_read_windows))]
SafetyLead = Annotated[Principal, Depends(require(policy.is_safety_lead))]
Publisher = Annotated[Principal, Depends(require(policy.can_publish_agreement))]
Coordinator = Annotated[Principal, Depends(require(policy.is_coordinator))]
WindowManager = Annotated[Principal, Depends(require(policy.can_manage_window))]
ChannelUser = Annotated[Principal, Depends(require(policy.can_use_channel))]


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# --- where a window's people go next -----------------------------------------------------------------


async def _facts(session: Session, window: WindowOut) -> assessment_policy.WindowFacts:
    """What the assessment rules need about ``window`` (the same facts its assessment page uses)."""
    participants = await service.window_organisations(session, window_id=window.id)
    return assessment_policy.WindowFacts(
        lab_organisation_id=window.lab_organisation_id,
        participants=frozenset(participants) | {window.lab_organisation_id},
        state=window.state.value,
    )


async def _assessable(session: Session, actor: Principal, windows: list[WindowOut]) -> set[uuid.UUID]:
    """The windows whose assessment page ``actor`` may open (so a list links only those)."""
    if assessment_policy.is_coordinator(actor):
        return {w.id for w in windows}
    if not assessment_policy.can_use_assessments(actor):
        return set()
    return {w.id for w in windows if assessment_policy.can_see_window(actor, await _facts(session, w))}


# --- home --------------------------------------------------------------------------------------------


async def _home(
    request: Request, session: Session, actor: Principal, *, error: str | None = None, status_code: int = 200
) -> Response:
    lab = policy.is_lab_person(actor)
    status = await service.participation_status(session, actor=actor) if lab else None
    models = await service.list_models(session, actor=actor) if lab else []
    windows = await service.list_windows(session, actor=actor)
    return render(
        request,
        "review/home.html",
        status_code=status_code,
        status=status,
        agreement=await service.current_agreement(session),
        models=models,
        windows=windows,
        visible={w.id for w in windows},
        assessable=await _assessable(session, actor, windows),
        is_reviewer=assessment_policy.is_reviewer(actor),
        notices=(await service.list_notices(session, actor=actor))[:50],
        is_lab=lab,
        is_lead=policy.is_safety_lead(actor),
        is_coordinator=policy.is_coordinator(actor),
        done=pages.notice(request),
        error=error,
        form=getattr(request.state, "review_form", {}),
    )


@router.get("/review", name="review")
async def home(request: Request, session: Session, actor: Reader) -> Response:
    """Your standing in the programme, your models, your windows and notices."""
    return await _home(request, session, actor)


@router.get("/review/windows", name="review_windows")
async def windows_page(request: Request, session: Session, actor: Reader) -> Response:
    """Every window you take part in (coordinators: every window), with its day counter."""
    windows = await service.list_windows(session, actor=actor)
    return render(
        request,
        "review/windows.html",
        windows=windows,
        assessable=await _assessable(session, actor, windows),
        is_coordinator=policy.is_coordinator(actor),
    )


_MODEL_FIELDS = (
    "name",
    "version",
    "family",
    "modality",
    "planned_release",
    "access_mode",
    "endpoint_base_url",
    "endpoint_model",
    "credential",
    "card_summary",
    "card_intended_use",
    "card_capabilities",
    "card_limitations",
    "card_training_data",
    "card_evaluations",
    "card_url",
)


@router.post("/review/models", name="review_register_model")
async def register_from_page(
    request: Request, session: Session, runtime: RuntimeDep, actor: SafetyLead
) -> Response:
    """Register a model of your lab from the page."""
    form = await request.form()
    raw = {name: _text(form, name) for name in _MODEL_FIELDS}
    request.state.review_form = {k: v for k, v in raw.items() if k != "credential"}
    data = {k: v for k, v in raw.items() if v != ""}
    try:
        parsed = ModelIn.model_validate(data)
    except ValidationError as exc:
        return await _home(request, session, actor, error=pages.field_errors(exc), status_code=422)
    try:
        model = await service.register_model(session, data=parsed, actor=actor, key=runtime.keys.data)
    except ForewarnError as exc:
        return await _home(request, session, actor, error=str(exc), status_code=exc.status_code)
    return pages.done(f"/review/models/{model.id}", "registered")


# --- agreement ---------------------------------------------------------------------------------------


async def _agreement(
    request: Request,
    session: Session,
    actor: Principal | None,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    lab = actor is not None and policy.is_lab_person(actor)
    return render(
        request,
        "review/agreement.html",
        status_code=status_code,
        agreement=await service.current_agreement(session),
        versions=await service.list_agreements(session),
        status=await service.participation_status(session, actor=actor) if lab and actor else None,
        is_lead=policy.is_safety_lead(actor),
        can_publish=policy.can_publish_agreement(actor),
        can_review=policy.can_read_windows(actor),
        done=pages.notice(request),
        error=error,
    )


@router.get("/review/agreement", name="review_agreement")
async def agreement_page(request: Request, session: Session, actor: Anyone) -> Response:
    """The participation agreement (public), with sign and withdraw for a lab's safety lead."""
    return await _agreement(request, session, actor)


@router.post("/review/agreement/sign", name="review_sign")
async def sign_from_page(
    request: Request, session: Session, actor: SafetyLead, agreement_version: Annotated[str, Form()] = ""
) -> Response:
    try:
        version = int(agreement_version)
    except ValueError:
        return await _agreement(
            request, session, actor, error="agreement_version: not a number", status_code=422
        )
    try:
        await service.sign(session, agreement_version=version, actor=actor)
    except ForewarnError as exc:
        return await _agreement(request, session, actor, error=str(exc), status_code=exc.status_code)
    return pages.done("/review/agreement", "signed")


@router.post("/review/agreement/withdraw", name="review_withdraw")
async def withdraw_from_page(
    request: Request, session: Session, actor: SafetyLead, reason: Annotated[str, Form(max_length=1000)] = ""
) -> Response:
    try:
        await service.withdraw(session, actor=actor, reason=reason.strip())
    except ForewarnError as exc:
        return await _agreement(request, session, actor, error=str(exc), status_code=exc.status_code)
    return pages.done("/review/agreement", "withdrawn")


@router.post("/review/agreement/publish", name="review_publish")
async def publish_from_page(
    request: Request,
    session: Session,
    actor: Publisher,
    title: Annotated[str, Form(max_length=1000)] = "",
    body: Annotated[str, Form(max_length=300_000)] = "",
) -> Response:
    try:
        data = AgreementIn(title=title, body=body)
    except ValidationError as exc:
        return await _agreement(request, session, actor, error=pages.field_errors(exc), status_code=422)
    await service.publish_agreement(session, data=data, actor=actor)
    return pages.done("/review/agreement", "published")


# --- a model -----------------------------------------------------------------------------------------


async def _model(
    request: Request,
    session: Session,
    actor: Principal,
    model_id: uuid.UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    channel = await service.can_use_channel(session, model_id=model_id, actor=actor)
    try:
        model = await service.get_model(session, model_id=model_id, actor=actor)
    except ForewarnError:
        if not channel:
            raise
        model = await service.get_model(session, model_id=model_id, actor=None)
    own = policy.is_safety_lead(actor) and actor.organisation_id == model.organisation_id
    windows = await service.list_windows(session, actor=actor, model_id=model_id)
    return render(
        request,
        "review/model.html",
        status_code=status_code,
        model=model,
        own=own,
        lab_view=actor.organisation_id == model.organisation_id,
        windows=windows,
        assessable=await _assessable(session, actor, windows),
        live=next((w for w in windows if w.state != WindowState.CLOSED), None),
        messages=await service.list_messages(session, model_id=model_id, actor=actor) if channel else None,
        participating=await service.is_participating(session, organisation_id=model.organisation_id),
        window_days=request.app.state.runtime.settings.review_window_days,
        window_allowed=model.covered is True
        or (model.covered is None and not request.app.state.runtime.settings.review_require_covered),
        done=pages.notice(request),
        error=error,
    )


@router.get("/review/models/{model_id}", name="review_model")
async def model_page(model_id: uuid.UUID, request: Request, session: Session, actor: ChannelUser) -> Response:
    """A model: its card, planned release, windows and message channel (its lab and the agencies)."""
    return await _model(request, session, actor, model_id)


_UPDATE_FIELDS = (
    "planned_release",
    "card_summary",
    "card_intended_use",
    "card_capabilities",
    "card_limitations",
    "card_training_data",
    "card_evaluations",
    "card_url",
)


@router.post("/review/models/{model_id}", name="review_update_model")
async def update_from_page(
    model_id: uuid.UUID, request: Request, session: Session, actor: SafetyLead
) -> Response:
    """Change the model card or the planned release date (always allowed)."""
    form = await request.form()
    data: dict[str, Any] = {name: _text(form, name) for name in _UPDATE_FIELDS if name in form}
    if data.get("planned_release") == "":
        del data["planned_release"]
    try:
        parsed = ModelUpdate.model_validate(data)
    except ValidationError as exc:
        return await _model(request, session, actor, model_id, error=pages.field_errors(exc), status_code=422)
    await service.update_model(session, model_id=model_id, data=parsed, actor=actor)
    return pages.done(f"/review/models/{model_id}", "updated")


@router.post("/review/models/{model_id}/release", name="review_release")
async def release_from_page(model_id: uuid.UUID, session: Session, actor: SafetyLead) -> Response:
    await service.mark_released(session, model_id=model_id, actor=actor)
    return pages.done(f"/review/models/{model_id}", "released")


@router.post("/review/models/{model_id}/windows", name="review_open_window")
async def open_from_page(
    model_id: uuid.UUID, request: Request, session: Session, runtime: RuntimeDep, actor: SafetyLead
) -> Response:
    """Open a window for the model (the programme's length); access starts with the credential."""
    try:
        window = await service.open_window(
            session,
            model_id=model_id,
            actor=actor,
            length_days=runtime.settings.review_window_days,
            require_covered=runtime.settings.review_require_covered,
        )
    except ForewarnError as exc:
        return await _model(request, session, actor, model_id, error=str(exc), status_code=exc.status_code)
    return pages.done(f"/review/windows/{window.id}", "window-opened")


@router.post("/review/models/{model_id}/messages", name="review_post_message")
async def message_from_page(
    model_id: uuid.UUID,
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: ChannelUser,
    body: Annotated[str, Form(max_length=100_000)] = "",
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006 -- FastAPI reads the default, never mutates it
) -> Response:
    work = api.post_with_files(session, runtime, model_id=model_id, body=body, files=files, actor=actor)
    return await pages.attempt(
        work,
        then=pages.done(f"/review/models/{model_id}", "posted", anchor="messages"),
        refused=lambda exc: _model(
            request, session, actor, model_id, error=str(exc), status_code=exc.status_code
        ),
    )


@router.get("/review/models/{model_id}/attachments/{attachment_id}", name="review_attachment")
async def attachment_from_page(
    model_id: uuid.UUID, attachment_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: ChannelUser
) -> Response:
    """The same download as the API's (never rendered inline)."""
    return await api.get_attachment(model_id, attachment_id, session, runtime, actor)


# --- a window ----------------------------------------------------------------------------------------


async def _people_for_keys(session: Session, grants: list[Any]) -> list[dict[str, Any]]:
    """Who may get a key: people of agencies with a live grant, and partners' named staff."""
    out = []
    for grant in grants:
        if grant.revoked_at is not None:
            continue
        people = await accounts.list_people(session, organisation_id=grant.organisation_id, actor=None)
        for person in people:
            if not person.active:
                continue
            if grant.kind.value == "partner" and person.id not in grant.staff_person_ids:
                continue
            out.append(
                {"id": person.id, "label": f"{person.name} <{person.email}> · {grant.organisation_name}"}
            )
    return out


async def _window(
    request: Request,
    session: Session,
    actor: Principal,
    window_id: uuid.UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
    issued: IssuedKeyOut | None = None,
) -> Response:
    window = await service.get_window(session, window_id=window_id, actor=actor)
    coordinator = policy.is_coordinator(actor)
    grants = await service.list_grants(session, window_id=window_id, actor=actor)
    granted = {g.organisation_id for g in grants if g.revoked_at is None}
    agencies = (
        [
            o
            for o in await accounts.list_organisations(session, actor=None, kind=OrgKind.AGENCY)
            if o.id not in granted
        ]
        if coordinator
        else []
    )
    own = policy.is_safety_lead(actor) and actor.organisation_id == window.lab_organisation_id
    keys = await service.list_window_keys(session, window_id=window_id, actor=actor)
    holders = {}
    for k in keys:
        if k.holder_person_id not in holders:
            person = await accounts.get_person(session, person_id=k.holder_person_id)
            holders[k.holder_person_id] = person.name
    names = {g.organisation_id: g.organisation_name for g in grants}
    lab = await accounts.get_organisation(session, organisation_id=window.lab_organisation_id, actor=None)
    names[lab.id] = lab.name
    facts = await _facts(session, window)
    usage = []
    if (own or coordinator or actor.is_platform_admin) and window.access_starts_at is not None:
        usage = [
            (names.get(u.organisation_id, str(u.organisation_id)), u)
            for u in await gateway.usage_by_organisation(session, window_id=window_id)
        ]
    return render(
        request,
        "review/window.html",
        status_code=status_code,
        window=window,
        own=own,
        is_coordinator=coordinator,
        grants=grants,
        agencies=agencies,
        people=await _people_for_keys(session, grants) if coordinator else [],
        keys=keys,
        holders=holders,
        usage=usage,
        names=names,
        notices=await service.list_notices(session, actor=actor, window_id=window_id),
        # Where to go next, only for those the target page admits (no link to a refusal).
        can_assess=assessment_policy.can_see_window(actor, facts),
        can_report=assessment_policy.can_read_report(actor, facts),
        channel=await service.can_use_channel(session, model_id=window.model_id, actor=actor),
        holds_key=any(k.holder_person_id == actor.person_id for k in keys),
        lab_view=actor.organisation_id == window.lab_organisation_id,
        issued=issued,
        done=pages.notice(request),
        error=error,
    )


async def _window_refused(
    request: Request, session: Session, actor: Principal, window_id: uuid.UUID, exc: ForewarnError
) -> Response:
    """A window form the service refused: the page again with the error (a 404 stays a 404)."""
    if exc.status_code == 404:
        raise exc
    return await _window(request, session, actor, window_id, error=str(exc), status_code=exc.status_code)


async def _window_form(
    request: Request,
    session: Session,
    actor: Principal,
    window_id: uuid.UUID,
    work: Awaitable[object],
    code: str,
) -> Response:
    """A window form's service call: back to the window with the notice ``code``, or refused."""
    return await pages.attempt(
        work,
        then=pages.done(f"/review/windows/{window_id}", code),
        refused=partial(_window_refused, request, session, actor, window_id),
    )


@router.get("/review/windows/{window_id}", name="review_window")
async def window_page(window_id: uuid.UUID, request: Request, session: Session, actor: Reader) -> Response:
    """A window: state, day counter, credential, grants, keys and notices."""
    return await _window(request, session, actor, window_id)


@router.post("/review/windows/{window_id}/credential", name="review_credential")
async def credential_from_page(
    window_id: uuid.UUID, request: Request, session: Session, runtime: RuntimeDep, actor: SafetyLead
) -> Response:
    """Hand over the upstream credential (sealed by the gateway; never shown again)."""
    form = await request.form()
    raw = {name: _text(form, name) for name in ("base_url", "upstream_model", "credential")}
    try:
        data = CredentialIn.model_validate({k: v for k, v in raw.items() if v})
    except ValidationError as exc:
        return await _window(
            request, session, actor, window_id, error=pages.field_errors(exc), status_code=422
        )
    work = service.register_credential(
        session, window_id=window_id, data=data, actor=actor, key=runtime.keys.data
    )
    return await _window_form(request, session, actor, window_id, work, "credential")


@router.post("/review/windows/{window_id}/close", name="review_close")
async def close_from_page(
    window_id: uuid.UUID,
    session: Session,
    actor: WindowManager,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    await service.close_window(session, window_id=window_id, actor=actor, reason=reason.strip())
    return pages.done(f"/review/windows/{window_id}", "closed")


@router.post("/review/windows/{window_id}/grants", name="review_grant")
async def grant_from_page(
    window_id: uuid.UUID,
    request: Request,
    session: Session,
    actor: Coordinator,
    organisation_id: Annotated[str, Form()] = "",
) -> Response:
    try:
        org = uuid.UUID(organisation_id)
    except ValueError:
        return await _window(
            request, session, actor, window_id, error="organisation_id: choose an agency", status_code=422
        )
    work = service.grant_agency_access(session, window_id=window_id, organisation_id=org, actor=actor)
    return await _window_form(request, session, actor, window_id, work, "granted")


@router.post("/review/windows/{window_id}/grants/{grant_id}/revoke", name="review_revoke_grant")
async def revoke_grant_from_page(
    window_id: uuid.UUID,
    grant_id: uuid.UUID,
    request: Request,
    session: Session,
    actor: Coordinator,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if len(reason.strip()) < 3:
        return await _window(
            request, session, actor, window_id, error="reason: give a reason", status_code=422
        )
    work = service.revoke_agency_access(
        session, window_id=window_id, grant_id=grant_id, reason=reason.strip(), actor=actor
    )
    return await _window_form(request, session, actor, window_id, work, "revoked")


@router.post("/review/windows/{window_id}/keys", name="review_issue_key")
async def key_from_page(
    window_id: uuid.UUID,
    request: Request,
    session: Session,
    actor: Coordinator,
    person_id: Annotated[str, Form()] = "",
    rate_limit_per_minute: Annotated[str, Form()] = "60",
    token_budget: Annotated[str, Form()] = "1000000",  # noqa: S107 -- a token count, not a password
) -> Response:
    """Issue a reviewer key; the page answering this form is the only place its secret appears."""
    try:
        person, rate, budget = uuid.UUID(person_id), int(rate_limit_per_minute), int(token_budget)
    except ValueError:
        return await _window(
            request,
            session,
            actor,
            window_id,
            error="person_id, rate_limit_per_minute, token_budget: check them",
            status_code=422,
        )
    try:
        issued = await service.issue_reviewer_key(
            session,
            window_id=window_id,
            person_id=person,
            actor=actor,
            rate_limit_per_minute=rate,
            token_budget=budget,
        )
    except ForewarnError as exc:
        return await _window_refused(request, session, actor, window_id, exc)
    shown = IssuedKeyOut(
        id=issued.id,
        window_id=issued.window_id,
        prefix=issued.prefix,
        expires_at=issued.expires_at,
        secret=issued.secret.get_secret_value(),
    )
    response = await _window(request, session, actor, window_id, issued=shown)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/review/windows/{window_id}/keys/{key_id}/revoke", name="review_revoke_key")
async def revoke_key_from_page(
    window_id: uuid.UUID,
    key_id: uuid.UUID,
    session: Session,
    actor: Coordinator,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    await service.revoke_reviewer_key(
        session,
        window_id=window_id,
        key_id=key_id,
        reason=reason.strip() or "revoked by the coordinator",
        actor=actor,
    )
    return pages.done(f"/review/windows/{window_id}", "key-revoked")
