"""Server-rendered pages: one Jinja2 environment over every domain's ``templates/`` folder.

Templates autoescape. A page gets the caller (``principal``), the session's CSRF token and the
navigation entries that domains register, so every form can carry its token.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from forewarn.core.errors import M, validated

PACKAGE_ROOT = Path(__file__).resolve().parent.parent

#: Messages a redirect may ask a page to show (by code, so a link cannot inject text).
FLASH: dict[str, str] = {
    "signed-out": "You are signed out.",
    "password-changed": "Your password is changed.",
    "token-revoked": "The token is revoked.",
    "org-created": "The organisation is added.",
    "person-added": "The person is added.",
    "org-switched": "You now act for another organisation.",
}

#: Entries of the top navigation (label, href, and who sees it); domains add theirs.
NAV: list[dict[str, Any]] = []


def add_nav(label: str, href: str, *, show: Callable[[Any], bool] | None = None) -> None:
    """Add a top-navigation entry. ``show`` (the page's own access rule, given the signed-in principal or
    None) hides the entry from those the page would refuse; without it everyone sees the entry."""
    if not any(item["href"] == href for item in NAV):
        NAV.append({"label": label, "href": href, "show": show})


def nav_for(principal: Any) -> list[dict[str, Any]]:
    """The navigation entries this principal (None: anonymous) may follow."""
    return [item for item in NAV if item["show"] is None or item["show"](principal)]


@lru_cache(maxsize=1)
def environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    folders = sorted(str(p) for p in PACKAGE_ROOT.glob("**/templates") if p.is_dir())
    env = Environment(
        loader=FileSystemLoader(folders),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render(request: Request, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    env = environment()

    def url_for(route: str, /, **params: Any) -> str:
        return str(request.url_for(route, **params).path)

    ctx: dict[str, Any] = {
        "request": request,
        "principal": getattr(request.state, "principal", None),
        "csrf_token": getattr(request.state, "csrf_token", None),
        "nav_extra": nav_for(getattr(request.state, "principal", None)),
        "url_for": url_for,
        "flash": FLASH.get(request.query_params.get("flash", "")),
    }
    ctx.update(context)
    html = env.get_template(name).render(ctx)
    return HTMLResponse(html, status_code=status_code)


def form_input(model: type[M], data: Any) -> M:
    """A submitted form's fields validated into ``model``; problems name the field (``form`` for the
    form as a whole)."""
    return validated(model, data, message="the form has problems", whole="form")
