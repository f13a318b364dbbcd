"""ASGI middleware: request ids, body-size limits, access logs and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forewarn.core.http import problem_body
from forewarn.core.logs import request_id

log = logging.getLogger("forewarn.http")

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "forewarn_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "forewarn_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=REGISTRY
)

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

#: Path prefixes that take uploads (SBOMs, advisories, packs) and get the larger upload limit.
UPLOAD_PREFIXES: list[str] = [
    # clearinghouse intake: advisory documents (CSAF of large vendors), scanner and garak reports
    "/api/v1/clearinghouse/reports",
    "/api/v1/clearinghouse/validate",
    "/api/v1/clearinghouse/kev",
    "/clearinghouse/report/upload",
    # operators' SBOMs (inventories of large systems)
    "/api/v1/operator/assets",
    "/operator/upload",
    # vendors' and analysts' patch files for the signed feed
    "/api/v1/feed/advisories",
    # benchmark custodians: sealed packs
    "/api/v1/benchmark/packs",
    "/benchmark/packs",
]


class _TooLarge(Exception):
    pass


class RequestContext:
    """Gives each request an id (echoed as ``X-Request-ID``), logs it, counts it, caps its body."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        rid = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        # Also on the scope: the last-resort 500 handler runs outside this middleware.
        scope.setdefault("state", {})["request_id"] = rid
        path: str = scope["path"]
        limit = self.max_upload if any(path.startswith(p) for p in UPLOAD_PREFIXES) else self.max_body
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            declared = headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                await self._reject(send_wrapped, limit, path)
                return
            received = 0

            async def receive_limited() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _TooLarge
                return message

            try:
                await self.app(scope, receive_limited, send_wrapped)
            except _TooLarge:
                await self._reject(send_wrapped, limit, path)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], template, str(status_holder["status"])).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status_holder["status"],
                    "ms": round(elapsed * 1000, 1),
                },
            )
            request_id.reset(token)

    @staticmethod
    async def _reject(send: Send, limit: int, path: str = "") -> None:
        detail = f"the request body is larger than the limit of {limit} bytes"
        body: dict[str, Any] = problem_body(413, "Too large", detail)
        ctype = b"application/problem+json"
        if path.startswith("/gateway/v1/"):  # the model gateway answers in OpenAI's error shape
            body = {"error": {"message": detail, "type": "invalid_request_error", "param": None,
                              "code": "request_too_large"}}
            ctype = b"application/json"
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(raw)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})
