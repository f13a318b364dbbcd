"""The app refuses to start with a route that could escape the access rules (fail closed)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter

from forewarn.core.jobs import Runtime
from forewarn.web import app as web_app


def test_a_route_without_a_rule_stops_the_app(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    router = APIRouter()

    @router.get("/unguarded")
    async def unguarded() -> dict[str, Any]:
        return {}

    monkeypatch.setattr(web_app, "API_ROUTERS", [*web_app.API_ROUTERS, router])
    with pytest.raises(RuntimeError, match="routes without an access rule: GET /api/v1/unguarded"):
        web_app.create_app(runtime)


def test_a_nested_router_stops_the_app(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    inner, outer = APIRouter(), APIRouter()

    @inner.get("/hidden")
    async def hidden() -> dict[str, Any]:
        return {}

    outer.include_router(inner, prefix="/nested")
    monkeypatch.setattr(web_app, "API_ROUTERS", [*web_app.API_ROUTERS, outer])
    with pytest.raises(RuntimeError, match="unsupported route in a domain router"):
        web_app.create_app(runtime)
