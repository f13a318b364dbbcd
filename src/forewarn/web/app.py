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
from forewarn.core.jobs import Runtime
from forewarn.web import errors, views
from forewarn.web.middleware import RequestContext

log = logging.getLogger("forewarn.web")

API_PREFIX = "/api/v1"

#: (router, prefix) of every domain: API routers under /api/v1, pages at the root.
API_ROUTERS = [accounts_api.router]
PAGE_ROUTERS = [accounts_views.router, views.router]


def _has_rule(dependant: Any) -> bool:
    for dep in dependant.dependencies:
        if rule_of(dep.call) is not None or _has_rule(dep):
            return True
    return False


def check_routes(app: FastAPI) -> None:
    """Fail closed: refuse to build an app with a route that has no access rule."""
    missing = [
        f"{sorted(r.methods)} {r.path}"
        for r in app.routes
        if isinstance(r, APIRoute) and not _has_rule(r.dependant)
    ]
    if missing:
        raise RuntimeError("routes without an access rule: " + ", ".join(missing))


def create_app(runtime: Runtime, *, run_worker: bool = False) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = None
        if run_worker:
            from forewarn.core.db import libpq_url
            from forewarn.core.jobs import build_app, run_worker as worker

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
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    for router in PAGE_ROUTERS:
        app.include_router(router)
    from pathlib import Path

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    errors.install(app)
    check_routes(app)
    app.add_middleware(
        RequestContext,  # type: ignore[arg-type]
        max_body=runtime.settings.max_body_bytes,
        max_upload=runtime.settings.max_upload_bytes,
    )
    return app
