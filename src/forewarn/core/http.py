"""HTTP plumbing shared by every domain's routes (FastAPI), free of any domain.

The request owns the transaction: :func:`get_session` opens one per request and commits when the
route returns without error; on any error it rolls back, so a failed request leaves no partial rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from forewarn.core.jobs import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    override = getattr(request.app.state, "session_override", None)
    if override is not None:  # tests: one outer transaction, rolled back at the test's end
        async with override() as session:
            yield session
        return
    runtime = get_runtime(request)
    async with runtime.db.transaction() as session:
        yield session


# scope="function": the transaction commits before the response is sent. With the default ("request")
# FastAPI runs the code after ``yield`` once the response has gone out, so a client following a
# redirect could read the state from before the commit, and a failed commit would follow a success.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
RuntimeDep = Annotated["Runtime", Depends(get_runtime)]


def wants_html(request: Request) -> bool:
    """Pages get pages and the API gets JSON; elsewhere the Accept header decides."""
    path = request.url.path
    if path.startswith(("/api/", "/gateway/v1/")) or path in ("/healthz", "/metrics"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "json" not in accept


def problem_body(
    status: int, title: str, detail: str, problems: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem details object."""
    body: dict[str, Any] = {"type": "about:blank", "status": status, "title": title, "detail": detail}
    if problems:
        body["problems"] = problems
    return body
