"""Who is calling: principals from bearer tokens or session cookies, and the ``require`` guard.

Invariants:
- Every API and page route carries exactly one :func:`require` rule; the app refuses to start
  otherwise (see ``forewarn.web.app``), so a new route without a rule cannot ship.
- A state-changing request authenticated by cookie must carry the session's CSRF token (form field
  ``csrf_token`` or header ``X-CSRF-Token``); a bearer token needs none.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from forewarn.accounts import service
from forewarn.accounts.policy import Rule, anyone
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import Forbidden, Unauthenticated
from forewarn.core.http import Session

SESSION_COOKIE = "fw_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _csrf_from(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


async def current_principal(request: Request, session: Session) -> Principal | None:
    """The caller, or None for anonymous. Cached on the request."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal: Principal | None = None
    request.state.csrf_token = None
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise Unauthenticated("use 'Authorization: Bearer <token>'")
        principal = await service.resolve_token(session, token=value.strip())
        if principal is None:
            raise Unauthenticated("the token is unknown, expired or revoked")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            found = await service.resolve_session(session, cookie=cookie)
            if found is not None:
                principal, csrf = found
                request.state.csrf_token = csrf
                if request.method not in SAFE_METHODS:
                    sent = await _csrf_from(request)
                    if not sent or not hmac.compare_digest(sent, csrf):
                        raise Forbidden("missing or wrong CSRF token; reload the page and try again")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal | None, Depends(current_principal)]


def require(rule: Rule) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets a signed-in caller through only when ``rule`` allows them."""

    async def guard(principal: CurrentPrincipal) -> Principal:
        if principal is None:
            raise Unauthenticated("sign in first")
        if not rule(principal):
            raise Forbidden("your role does not allow this")
        return principal

    guard.__forewarn_rule__ = rule  # type: ignore[attr-defined]
    guard.__name__ = f"require_{rule.__name__}"
    return guard


def public() -> Callable[..., Awaitable[Principal | None]]:
    """The rule of public routes: anyone, signed in or not (the caller is passed on if known)."""

    async def guard(principal: CurrentPrincipal) -> Principal | None:
        return principal

    guard.__forewarn_rule__ = anyone  # type: ignore[attr-defined]
    guard.__name__ = "public"
    return guard


def rule_of(dependency: object) -> Rule | None:
    rule: Rule | None = getattr(dependency, "__forewarn_rule__", None)
    return rule
