"""Tech Force hiring through the pages (httpx, forms with CSRF tokens)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from forewarn.accounts.schemas import OrgKind, Principal, Role
from tests.conftest import OrgFactory
from tests.web.forms import post_form, signed_in_client
from tests.web.test_pages import hidden


async def test_post_assess_apply_and_move_to_offer(
    app: Any,
    client: httpx.AsyncClient,
    make_org: OrgFactory,
    make_person: Callable[..., Awaitable[Principal]],
) -> None:
    agency = await make_org(kind=OrgKind.AGENCY, code=f"WP{uuid.uuid4().hex[:6].upper()}")
    hiring = await make_person(agency, [Role.HIRING_OFFICER])
    candidate = await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.MEMBER])
    async with signed_in_client(app, hiring.email) as officer:
        made = await post_form(
            officer,
            "/careers",
            "/careers/postings",
            {
                "pathway": "vulnerability-analyst",
                "title": "Vulnerability analyst, clearinghouse",
                "location": "Washington, DC",
                "clearance": "public_trust",
                "grade_low": "11",
                "grade_high": "12",
                "closes_at": (datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%d"),
            },
        )
        assert made.status_code == 303, made.text
        posting_page = made.headers["location"].split("?")[0]
    async with signed_in_client(app, candidate.email) as person:
        page = "/careers/pathways/vulnerability-analyst/assessment"
        result = await post_form(
            person, page, page, {"answer_va-1": "9.8", "answer_va-2": "B", "answer_va-3": "CLEAR"}
        )
        assert result.status_code == 200 and "3 of 3" in result.text
        bad = await post_form(person, posting_page, posting_page + "/apply", {"route": "certification"})
        assert bad.status_code == 422 and "statement" in bad.text
        form = {
            "route": "skills_assessment",
            "statement": "I triage vulnerability reports today.",
            "experience": "Two years in a PSIRT.",
            "share_assessment": "yes",
        }
        csrf = hidden((await person.get(posting_page)).text, "csrf_token")
        wrong = await person.post(
            posting_page + "/apply",
            data=form | {"csrf_token": csrf},
            files={"resume": ("cv.docx", b"PK\x03\x04", "application/octet-stream")},
        )
        assert wrong.status_code == 422 and "resume" in wrong.text
        assert "None." in (await person.get("/careers")).text  # the application was not kept either
        applied = await person.post(
            posting_page + "/apply",
            data=form | {"csrf_token": csrf},
            files={"resume": ("cv.txt", b"Two years in a PSIRT.", "text/plain")},
        )
        assert applied.status_code == 303, applied.text
    anonymous = await client.get(posting_page)
    assert candidate.email not in anonymous.text
    async with signed_in_client(app, hiring.email) as officer:
        pipeline = await officer.get(posting_page)
        assert candidate.email in pipeline.text and "assessment 3/3 passed" in pipeline.text
        assert "résumé" in pipeline.text
        application = pipeline.text.split('action="/careers/applications/')[1].split("/")[0]
        for stage in ("screened", "assessed", "interview", "offer"):
            moved = await post_form(
                officer, posting_page, f"/careers/applications/{application}/stage", {"state": stage}
            )
            assert moved.status_code == 303, moved.text
        assert ">offer" in (await officer.get(posting_page)).text
    async with signed_in_client(app, candidate.email) as person:
        mine = await person.get("/careers")
        assert "offer" in mine.text
        erased = await post_form(person, "/careers", "/careers/my-data/delete", {})
        assert erased.status_code == 303
        assert "None." in (await person.get("/careers")).text
