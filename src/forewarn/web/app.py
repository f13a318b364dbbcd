"""The app factory: one process serves the JSON API, the pages and (optionally) a job worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from forewarn.accounts import api as accounts_api
from forewarn.accounts import views as accounts_views
from forewarn.accounts.http import rule_of
from forewarn.clearinghouse.advisories import api as advisories_api
from forewarn.clearinghouse.advisories import views as advisories_views
from forewarn.clearinghouse.feed import api as feed_api
from forewarn.clearinghouse.feed import views as feed_views
from forewarn.clearinghouse.inventory import api as inventory_api
from forewarn.clearinghouse.matching import api as matching_api
from forewarn.clearinghouse.matching import views as matching_views
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.benchmark import api as benchmark_api
from forewarn.earlyaccess.benchmark import views as benchmark_views
from forewarn.earlyaccess.gateway import api as gateway_api
from forewarn.earlyaccess.gateway import proxy as gateway_proxy
from forewarn.earlyaccess.gateway import views as gateway_views
from forewarn.earlyaccess.partners import api as partners_api
from forewarn.earlyaccess.partners import views as partners_views
from forewarn.earlyaccess.review import api as review_api
from forewarn.earlyaccess.review import views as review_views
from forewarn.earlyaccess.review.assessments import api as assessments_api
from forewarn.earlyaccess.review.assessments import views as assessments_views
from forewarn.grants import api as grants_api
from forewarn.grants import views as grants_views
from forewarn.ledger import api as ledger_api
from forewarn.ledger import views as ledger_views
from forewarn.web import errors, views
from forewarn.web.middleware import LATENCY, REQUESTS, RequestContext
from forewarn.workforce import api as workforce_api
from forewarn.workforce import views as workforce_views

log = logging.getLogger("forewarn.web")

API_PREFIX = "/api/v1"

#: (router, prefix) of every domain: API routers under /api/v1, pages at the root.
API_ROUTERS = [
    accounts_api.router,
    ledger_api.router,
    advisories_api.router,
    inventory_api.router,
    matching_api.router,
    feed_api.router,
    benchmark_api.router,
    review_api.router,
    assessments_api.router,
    gateway_api.router,
    partners_api.router,
    grants_api.router,
    workforce_api.router,
]
PAGE_ROUTERS = [
    assessments_views.router,
    gateway_proxy.router,
    gateway_views.router,
    accounts_views.router,
    ledger_views.router,
    advisories_views.router,
    matching_views.router,
    feed_views.router,
    benchmark_views.router,
    review_views.router,
    partners_views.router,
    grants_views.router,
    workforce_views.router,
    views.router,
]


def _has_rule(dependant: Any) -> bool:
    return any(rule_of(dep.call) is not None or _has_rule(dep) for dep in dependant.dependencies)


def route_table(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """Every (method, full path, route) the app serves from the domains' routers."""
    table: list[tuple[str, str, APIRoute]] = app.state.route_table
    return table


def check_routes(app: FastAPI) -> None:
    """Fail closed: refuse to build an app with a route that has no access rule."""
    missing = sorted({f"{m} {p}" for m, p, r in route_table(app) if not _has_rule(r.dependant)})
    if missing:
        raise RuntimeError("routes without an access rule: " + ", ".join(missing))


def create_app(runtime: Runtime, *, run_worker: bool = False) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = None
        if run_worker:
            from forewarn.core.db import libpq_url
            from forewarn.core.jobs import build_app
            from forewarn.core.jobs import run_worker as worker

            jobs_app = build_app(libpq_url(runtime.db.url))
            task = asyncio.create_task(
                worker(jobs_app, runtime, concurrency=runtime.settings.worker_concurrency),
                name="forewarn-worker",
            )
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.db.dispose()

    app = FastAPI(
        title="forewarn",
        version="1",
        summary="Voluntary pre-release review of frontier AI models and the AI-cybersecurity clearinghouse.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.route_table = []
    for prefix, routers in ((API_PREFIX, API_ROUTERS), ("", PAGE_ROUTERS)):
        for router in routers:
            app.include_router(router, prefix=prefix)
            for route in router.routes:
                if not isinstance(route, APIRoute):
                    # A nested router or a plain Starlette route would escape the access-rule check
                    # below (fail closed): domains add their routes to their router directly.
                    raise RuntimeError(f"unsupported route in a domain router: {route!r}")
                app.state.route_table.extend(
                    (method, prefix + route.path, route) for method in sorted(route.methods or ())
                )
    from pathlib import Path

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    errors.install(app)
    check_routes(app)
    app.add_middleware(
        RequestContext,
        max_body=runtime.settings.max_body_bytes,
        max_upload=runtime.settings.max_upload_bytes,
    )
    # Outermost: the model gateway's hot routes skip routing, DI and the general middleware (see proxy).
    app.add_middleware(
        gateway_proxy.FastPath, max_body=runtime.settings.max_body_bytes, requests=REQUESTS, latency=LATENCY
    )
    return app
