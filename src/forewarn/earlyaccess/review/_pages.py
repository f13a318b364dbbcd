"""What the review programme's pages share (its own pages and the assessment pages): the notices a
redirect may ask for, the text of a form's field errors, and how a form's service call ends.

A notice is asked for by code (``?done=code``), never by text, so a link cannot put words on a page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from forewarn.core.errors import ForewarnError

#: Notices a redirect may ask for, by code.
DONE: dict[str, str] = {
    # the programme: agreement, models, windows, messages
    "signed": "Your lab signed the agreement: it takes part in the programme.",
    "withdrawn": "Your lab withdrew. Its open windows are closed and every key is revoked.",
    "published": "The new agreement version is published.",
    "registered": "The model is registered.",
    "updated": "The model is updated.",
    "released": "The model is marked released; its open window is closed.",
    "window-opened": "The window is open. Access starts when you hand over the upstream credential.",
    "credential": "The credential is stored (sealed). Access through the gateway is on.",
    "closed": "The window is closed; every key of it is revoked.",
    "granted": "Access granted.",
    "revoked": "Access revoked; the organisation's keys for this window are revoked.",
    "key-revoked": "The key is revoked.",
    "posted": "Your message is recorded.",
    # assessments: workstreams, findings, the report
    "workstream-planned": "The workstream is planned.",
    "workstream-updated": "The workstream is updated.",
    "finding-filed": "The finding is filed.",
    "imported": "The file is imported.",
    "evidence-added": "The evidence is attached (sealed at rest).",
    "triaged": "The finding is triaged.",
    "merged": "The duplicate is merged into this finding.",
    "critical": "The finding is marked as affecting critical infrastructure.",
    "forwarded": "Forwarding was tried; see its state below.",
    "finding-released": "The lab may now read this finding.",
    "report-issued": "The report is issued and recorded in the transparency log.",
}


def notice(request: Request) -> str | None:
    """The notice the request's ``done`` code asks for (None for none or an unknown code)."""
    return DONE.get(request.query_params.get("done", ""))


def done(path: str, code: str, *, anchor: str = "") -> Response:
    """Back to ``path`` (303) with the notice ``code`` (and ``#anchor``)."""
    return RedirectResponse(f"{path}?done={code}{f'#{anchor}' if anchor else ''}", status_code=303)


def field_errors(exc: ValidationError) -> str:
    """Field names and messages only (never the submitted values: they may be sealed or secret)."""
    return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors())


async def attempt(
    work: Awaitable[object],
    *,
    then: Response,
    refused: Callable[[ForewarnError], Awaitable[Response]],
) -> Response:
    """Run a form's service call: ``then`` once it is done; if the service refuses, ``refused(exc)``
    (the form's page again, with the error). A 404 stays a 404: the target is not the caller's to see."""
    try:
        await work
    except ForewarnError as exc:
        if exc.status_code == 404:
            raise
        return await refused(exc)
    return then
