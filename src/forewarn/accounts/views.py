"""HTML pages of accounts: sign-in and out, organisations and people, API tokens, password."""

from __future__ import annotations

import secrets
import time
import uuid
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from forewarn.accounts import policy, service
from forewarn.accounts.http import SESSION_COOKIE, public, require
from forewarn.accounts.schemas import (
    ROLES_BY_KIND,
    OrganisationIn,
    OrgKind,
    PersonIn,
    Principal,
    Role,
    TokenIn,
)
from forewarn.core.errors import Conflict, ForewarnError, InvalidInput
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import render

if TYPE_CHECKING:
    from forewarn.core.jobs import Runtime


router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "fw_login_csrf"
SignedIn = Annotated[Principal, Depends(require(policy.signed_in))]
Anyone = Annotated[Principal | None, Depends(public())]

_attempts: dict[str, deque[float]] = defaultdict(deque)


def _rate_limited(key: str, per_minute: int) -> bool:
    now = time.monotonic()
    window = _attempts[key]
    while window and now - window[0] > 60:
        window.popleft()
    if len(window) >= per_minute:
        return True
    window.append(now)
    return False


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request, mode: str) -> bool:
    if mode == "always":
        return True
    if mode == "never":
        return False
    return request.url.scheme == "https"


def _set_session_cookie(response: Response, request: Request, runtime: Runtime, cookie: str) -> None:
    """The session cookie: HTTP-only, same-site lax, secure as configured, for the session's lifetime."""
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=_secure(request, runtime.settings.cookie_secure),
        max_age=runtime.settings.session_hours * 3600,
    )


def _problem_text(exc: ValidationError | ForewarnError) -> str:
    if isinstance(exc, ForewarnError):
        return str(exc)
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "form"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


@router.get("/login", name="login")
async def login_page(request: Request, runtime: RuntimeDep, _: Anyone, next: str = "/") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "accounts/login.html", login_csrf=token, next=_safe_next(next))
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request, runtime.settings.cookie_secure),
        max_age=3600,
    )
    return response


@router.post("/login")
async def login(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    _: Anyone,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie_token or not secrets.compare_digest(cookie_token, csrf_token):
        return render(
            request,
            "accounts/login.html",
            status_code=403,
            error="The form expired; please try again.",
            login_csrf=cookie_token or secrets.token_urlsafe(24),
            email=email,
            next=_safe_next(next),
        )
    client = request.client.host if request.client else "unknown"
    if _rate_limited(f"{client}|{email.lower()}", runtime.settings.login_attempts_per_minute):
        return render(
            request,
            "accounts/login.html",
            status_code=429,
            error="Too many attempts; wait a minute.",
            login_csrf=cookie_token,
            email=email,
            next=_safe_next(next),
        )
    try:
        person_id = await service.authenticate_password(session, email=email, password=password)
    except InvalidInput as exc:
        return render(
            request,
            "accounts/login.html",
            status_code=401,
            error=exc.message,
            login_csrf=cookie_token,
            email=email,
            next=_safe_next(next),
        )
    orgs = await service.organisations_of(session, person_id=person_id)
    cookie, _csrf = await service.start_session(
        session,
        person_id=person_id,
        organisation_id=orgs[0].id if orgs else None,
        hours=runtime.settings.session_hours,
    )
    target = _safe_next(next)
    must_change = await service.must_change_password(session, person_id=person_id)
    response = RedirectResponse("/account/password" if must_change else target, status_code=303)
    _set_session_cookie(response, request, runtime, cookie)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, session: Session, _: SignedIn) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await service.end_session(session, cookie=cookie)
    response = RedirectResponse("/?flash=signed-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/session/organisation")
async def switch_organisation(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: SignedIn,
    organisation_id: Annotated[uuid.UUID, Form()],
) -> Response:
    orgs = await service.organisations_of(session, person_id=actor.person_id)
    if organisation_id not in {o.id for o in orgs}:
        raise InvalidInput("you are not a member of that organisation")
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await service.end_session(session, cookie=old)
    cookie, _csrf = await service.start_session(
        session,
        person_id=actor.person_id,
        organisation_id=organisation_id,
        hours=runtime.settings.session_hours,
    )
    response = RedirectResponse("/?flash=org-switched", status_code=303)
    _set_session_cookie(response, request, runtime, cookie)
    return response


@router.get("/admin/organisations", name="admin_organisations")
async def organisations_page(
    request: Request,
    session: Session,
    actor: Annotated[Principal, Depends(require(policy.can_manage_people_somewhere))],
) -> Response:
    orgs = await service.list_organisations(session, actor=actor)
    return render(request, "accounts/admin_orgs.html", orgs=orgs, kinds=list(OrgKind))


@router.post("/admin/organisations")
async def organisations_create(
    request: Request,
    session: Session,
    actor: Annotated[Principal, Depends(require(policy.can_manage_organisations))],
    name: Annotated[str, Form(max_length=200)],
    kind: Annotated[str, Form(max_length=20)],
    code: Annotated[str, Form(max_length=20)] = "",
    sector: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    try:
        data = OrganisationIn(name=name, kind=kind, code=code or None, sector=sector or None)
        org = await service.create_organisation(session, data=data, actor=actor)
    except (ValidationError, InvalidInput, Conflict) as exc:
        orgs = await service.list_organisations(session, actor=actor)
        return render(
            request,
            "accounts/admin_orgs.html",
            status_code=422,
            orgs=orgs,
            kinds=list(OrgKind),
            error=_problem_text(exc),
        )
    return RedirectResponse(f"/admin/organisations/{org.id}?flash=org-created", status_code=303)


@router.get("/admin/organisations/{organisation_id}", name="admin_organisation")
async def organisation_page(
    request: Request, organisation_id: uuid.UUID, session: Session, actor: SignedIn, error: str | None = None
) -> Response:
    org = await service.get_organisation(session, organisation_id=organisation_id, actor=actor)
    people = await service.list_people(session, organisation_id=organisation_id, actor=actor)
    return render(
        request,
        "accounts/admin_org.html",
        org=org,
        people=people,
        can_manage=policy.can_manage_people(actor, organisation_id),
        roles=sorted(ROLES_BY_KIND[org.kind], key=lambda r: r.value),
        error=error,
    )


@router.post("/admin/organisations/{organisation_id}/people")
async def organisation_add_person(
    request: Request,
    organisation_id: uuid.UUID,
    session: Session,
    actor: Annotated[Principal, Depends(require(policy.can_manage_people_somewhere))],
    name: Annotated[str, Form(max_length=200)],
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        data = PersonIn(
            name=name,
            email=email,
            password=password or None,
            organisation_id=organisation_id,
            roles=roles or [Role.MEMBER.value],
        )
        await service.create_person(session, data=data, actor=actor)
    except (ValidationError, InvalidInput) as exc:
        org = await service.get_organisation(session, organisation_id=organisation_id, actor=actor)
        people = await service.list_people(session, organisation_id=organisation_id, actor=actor)
        return render(
            request,
            "accounts/admin_org.html",
            status_code=422,
            org=org,
            people=people,
            can_manage=policy.can_manage_people(actor, organisation_id),
            roles=sorted(ROLES_BY_KIND[org.kind], key=lambda r: r.value),
            error=_problem_text(exc),
        )
    return RedirectResponse(f"/admin/organisations/{organisation_id}?flash=person-added", status_code=303)


@router.get("/account/tokens", name="tokens")
async def tokens_page(request: Request, session: Session, actor: SignedIn) -> Response:
    tokens = await service.list_tokens(session, person_id=actor.person_id)
    return render(request, "accounts/tokens.html", tokens=tokens, created=None)


@router.post("/account/tokens")
async def tokens_create(
    request: Request,
    session: Session,
    actor: Annotated[Principal, Depends(require(policy.can_use_tokens))],
    name: Annotated[str, Form(max_length=100)],
    days: Annotated[int, Form(ge=1, le=366)] = 90,
) -> Response:
    if actor.organisation_id is None:  # can_use_tokens already refuses this; kept for the type checker
        raise InvalidInput("choose an organisation to act for first")
    created = await service.create_token(
        session,
        data=TokenIn(name=name, days=days),
        person_id=actor.person_id,
        organisation_id=actor.organisation_id,
        actor=actor,
    )
    tokens = await service.list_tokens(session, person_id=actor.person_id)
    response = render(request, "accounts/tokens.html", status_code=201, tokens=tokens, created=created)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/account/tokens/{token_id}/revoke")
async def tokens_revoke(token_id: uuid.UUID, session: Session, actor: SignedIn) -> Response:
    await service.revoke_token(session, token_id=token_id, actor=actor)
    return RedirectResponse("/account/tokens?flash=token-revoked", status_code=303)


@router.get("/account/password", name="password")
async def password_page(request: Request, actor: SignedIn) -> Response:
    return render(request, "accounts/password.html")


@router.post("/account/password")
async def password_change(
    request: Request,
    session: Session,
    actor: SignedIn,
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    try:
        await service.set_password(session, person_id=actor.person_id, password=password)
    except InvalidInput as exc:
        return render(request, "accounts/password.html", status_code=422, error=str(exc))
    return RedirectResponse("/?flash=password-changed", status_code=303)
