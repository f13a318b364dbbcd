"""Shared builders for workforce tests, and workforce's part of the access matrix."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.core.keys import DataKey
from forewarn.workforce import service
from forewarn.workforce.schemas import JobApplicationIn, PostingIn
from tests.grants.world import ALL, SIGNED_IN

PREFIX = "/api/v1/workforce"
RESUME = b"Jane Candidate\nPenetration tester, 3 years.\n"


def posting_in(**over: Any) -> PostingIn:
    data: dict[str, Any] = {
        "pathway": "ai-red-team",
        "title": "AI red-team specialist (GS-13)",
        "location": "Fort Meade, MD",
        "clearance": "top_secret",
        "grade_low": 12,
        "grade_high": 13,
        "closes_at": datetime.now(UTC) + timedelta(days=30),
    }
    data.update(over)
    return PostingIn.model_validate(data)


def job_application_in(**over: Any) -> JobApplicationIn:
    data: dict[str, Any] = {
        "route": "experience",
        "statement": "PERSONAL-CANARY: I want to red-team frontier models.",
        "experience": "Three years of penetration testing.",
    }
    data.update(over)
    return JobApplicationIn.model_validate(data)


EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", f"{PREFIX}/pathways"): ALL,
    ("GET", f"{PREFIX}/metrics"): ALL,
    ("GET", f"{PREFIX}/pathways/{{pathway}}/assessment"): ALL,
    ("POST", f"{PREFIX}/pathways/{{pathway}}/assessment"): SIGNED_IN,
    ("GET", f"{PREFIX}/assessments"): SIGNED_IN,
    ("GET", f"{PREFIX}/postings"): ALL,
    ("POST", f"{PREFIX}/postings"): {"hiring_officer"},
    ("GET", f"{PREFIX}/postings/{{posting_id}}/applications"): {"hiring_officer"},
    ("POST", f"{PREFIX}/postings/{{posting_id}}/applications"): SIGNED_IN,
    ("GET", f"{PREFIX}/applications"): SIGNED_IN,
    # Personal data: the applicant and the posting agency's hiring officers, nobody else.
    ("GET", f"{PREFIX}/applications/{{application_id}}"): {"lab_safety", "hiring_officer"},
    ("POST", f"{PREFIX}/applications/{{application_id}}/stage"): {"hiring_officer"},
    ("DELETE", f"{PREFIX}/applications/{{application_id}}"): {"lab_safety"},
    ("PUT", f"{PREFIX}/applications/{{application_id}}/resume"): {"lab_safety"},
    ("GET", f"{PREFIX}/applications/{{application_id}}/resume"): {"lab_safety", "hiring_officer"},
}


async def setup(
    session: AsyncSession, *, hiring: Principal, candidate: Principal, key: DataKey | None = None
) -> dict[str, dict[str, Any]]:
    """Objects for every workforce route; ``key`` is the app's data key (résumés are sealed with it)."""
    posting = await service.create_posting(session, data=posting_in(), actor=hiring)

    async def application() -> uuid.UUID:
        other = await service.create_posting(session, data=posting_in(), actor=hiring)
        made = await service.apply(session, posting_id=other.id, data=job_application_in(), actor=candidate)
        await service.attach_resume(
            session,
            application_id=made.id,
            raw=RESUME,
            filename="cv.txt",
            actor=candidate,
            max_bytes=10_000,
            key=key or DataKey(b"\x08" * 32),
        )
        return made.id

    out: dict[str, dict[str, Any]] = {}
    for _, template in EXPECTED:
        params: dict[str, Any] = {"posting_id": str(posting.id), "pathway": "ai-red-team"}
        if "{application_id}" in template:
            params["application_id"] = str(await application())
        out[template] = params
    return out


def request_kwargs(method: str, template: str, ids: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if method == "PUT":
        return {"content": RESUME, "params": {"filename": "cv.txt"}}
    if method != "POST":
        return {}
    if template == f"{PREFIX}/postings":
        return {"json": posting_in().model_dump(mode="json")}
    if template.endswith("/assessment"):
        return {"json": {"answers": {"rt-1": "A", "rt-2": "B", "rt-3": "ignore"}}}
    if template.endswith("/stage"):
        return {"json": {"state": "screened"}}
    return {"json": job_application_in().model_dump(mode="json")}
