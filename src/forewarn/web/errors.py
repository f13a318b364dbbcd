"""One error handler: domain errors to HTTP status codes, as problem+json for the API, pages for people."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from forewarn.core.errors import ForewarnError
from forewarn.core.http import problem_body, wants_html
from forewarn.core.logs import request_id
from forewarn.core.pages import render

log = logging.getLogger("forewarn.errors")

_TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}


def _respond(
    request: Request, status: int, detail: str, problems: list[dict[str, Any]] | None = None
) -> Response:
    title = _TITLES.get(status, "Error")
    if wants_html(request):
        if status == 401 and request.method == "GET":
            from urllib.parse import quote

            from fastapi.responses import RedirectResponse

            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return render(
            request,
            "error.html",
            status_code=status,
            status=status,
            title=title,
            detail=detail,
            problems=problems or [],
        )
    body = problem_body(status, title, detail, problems)
    rid = request_id.get() or getattr(request.state, "request_id", None)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if rid:
        body["request_id"] = rid
        headers["X-Request-ID"] = rid
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where, rest = parts[0], parts[1:]
        return (".".join(rest) or where) if where == "body" else f"{where}.{'.'.join(rest)}"
    return ".".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(ForewarnError)
    async def domain_error(request: Request, exc: ForewarnError) -> Response:
        problems = [{"field": p.field, "message": p.message} for p in exc.problems]
        return _respond(request, exc.status_code, exc.message, problems)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            message = str(err.get("msg", "invalid"))
            if err.get("type") == "json_invalid":
                message = "the body is not valid JSON: " + str(err.get("ctx", {}).get("error", message))
            problems.append({"field": _field(err.get("loc", ())), "message": message})
        fields = ", ".join(sorted({p["field"] for p in problems})) or "request"
        return _respond(request, 422, f"invalid input in: {fields}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is nothing at {request.url.path}"
        return _respond(request, exc.status_code, detail)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return _respond(
            request, 500, "something went wrong on our side; the request id identifies it in our logs"
        )
