"""Grants through the JSON API: bad input, the funded tool reporting into the clearinghouse."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.core.errors import Conflict
from forewarn.grants import service
from forewarn.grants.models import Application, Call
from forewarn.grants.schemas import ToolIn
from tests.clearinghouse.advisories.conftest import osv_doc

from .conftest import People
from .world import application_in, awarded, call_in

Tokens = Callable[[Principal], Awaitable[str]]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_bad_call_names_the_field_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, people: People, make_token: Tokens
) -> None:
    token = await make_token(people.officer)
    before = await session.scalar(select(func.count()).select_from(Call))
    body = call_in().model_dump(mode="json")
    body["criteria"][0]["weight"] = 0.9
    response = await client.post("/api/v1/grants/calls", json=body, headers=_auth(token))
    assert response.status_code == 422
    assert "criteria" in response.text and "sum to 1" in response.text
    del body["title"]
    response = await client.post("/api/v1/grants/calls", json=body, headers=_auth(token))
    assert response.status_code == 422 and "title" in response.text
    assert await session.scalar(select(func.count()).select_from(Call)) == before


async def test_apply_submit_and_late_or_bad_input(
    client: httpx.AsyncClient, session: AsyncSession, people: People, make_token: Tokens
) -> None:
    officer, grantee = await make_token(people.officer), await make_token(people.grantee)
    made = await client.post(
        "/api/v1/grants/calls", json=call_in().model_dump(mode="json"), headers=_auth(officer)
    )
    call_id = made.json()["id"]
    assert (await client.post(f"/api/v1/grants/calls/{call_id}/publish", headers=_auth(officer))).is_success
    public = await client.get(f"/api/v1/grants/calls/{call_id}")
    assert public.json()["state"] == "published"
    before = await session.scalar(select(func.count()).select_from(Application))
    bad = application_in().model_dump(mode="json") | {"detects": ["telepathy"]}
    response = await client.post(
        f"/api/v1/grants/calls/{call_id}/applications", json=bad, headers=_auth(grantee)
    )
    assert response.status_code == 422 and "detects" in response.text
    assert await session.scalar(select(func.count()).select_from(Application)) == before
    response = await client.post(
        f"/api/v1/grants/calls/{call_id}/applications",
        json=application_in().model_dump(mode="json"),
        headers=_auth(grantee),
    )
    assert response.status_code == 201, response.text
    app_id = response.json()["id"]
    submitted = await client.post(f"/api/v1/grants/applications/{app_id}/submit", headers=_auth(grantee))
    assert submitted.json()["state"] == "submitted"
    # An officer of the call sees it; the applicant cannot apply as an officer.
    listed = await client.get(f"/api/v1/grants/calls/{call_id}/applications", headers=_auth(officer))
    assert [a["id"] for a in listed.json()] == [app_id]


async def test_funded_tool_reports_into_the_clearinghouse(
    client: httpx.AsyncClient, session: AsyncSession, people: People, make_token: Tokens
) -> None:
    _, award_id = await awarded(
        session, officer=people.officer, grantee=people.grantee, reviewer=people.reviewer
    )
    grantee = await make_token(people.grantee)
    by_token = await client.post(
        f"/api/v1/grants/awards/{award_id}/tool", json={"name": "InjectionHound"}, headers=_auth(grantee)
    )
    assert by_token.status_code == 403  # a token never mints another token
    registered = await service.register_tool(
        session, award_id=award_id, data=ToolIn(name="InjectionHound"), actor=people.grantee
    )
    scanner = registered.token
    with pytest.raises(Conflict):
        await service.register_tool(
            session, award_id=award_id, data=ToolIn(name="Second"), actor=people.grantee
        )
    # The scanner token files findings as the grantee organisation.
    filed = []
    for _ in range(3):
        doc = osv_doc(aliases=[f"CVE-2026-{uuid.uuid4().int % 90000 + 10000}"])
        response = await client.post(
            "/api/v1/clearinghouse/reports", content=json.dumps(doc).encode(), headers=_auth(scanner)
        )
        assert response.status_code == 201, response.text
        filed.append(uuid.UUID(response.json()[0]["id"]))
        assert response.json()[0]["reporter_organisation_id"] == str(people.grantee.organisation_id)
    case = await advisories.validate(session, report_id=filed[0], actor=people.analyst)
    await advisories.mark_duplicate(session, report_id=filed[1], case_id=case.id, actor=people.analyst)
    page = await client.get(f"/api/v1/grants/awards/{award_id}")
    perf = page.json()["performance"]
    assert perf["submitted"] == 3 and perf["validated"] == 1 and perf["duplicates"] == 1 and perf["open"] == 1
    assert perf["median_hours_to_validation"] is not None
    html = await client.get(f"/grants/awards/{award_id}")
    assert html.status_code == 200 and "Reports submitted" in html.text
