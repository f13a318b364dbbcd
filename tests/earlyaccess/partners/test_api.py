"""The partners API for the roles the shared access matrix has no persona for: a partner's admin and
panel members (apply, amend, queue, conflict, ballot, appeal), with RFC 9457 errors naming fields."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.partners import world
from tests.earlyaccess.partners.world import World

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import Principal, TokenIn
from forewarn.core.jobs import Runtime

P = "/api/v1/partners"


@pytest.fixture
async def w(session: AsyncSession, runtime: Runtime) -> World:
    return await world.build(session, runtime.keys.data)


async def _h(session: AsyncSession, p: Principal) -> dict[str, str]:
    assert p.organisation_id is not None
    made = await accounts.create_token(
        session, data=TokenIn(name="t"), person_id=p.person_id, organisation_id=p.organisation_id, actor=None
    )
    return {"Authorization": f"Bearer {made.token}"}


async def test_partner_and_panel_routes(client: httpx.AsyncClient, session: AsyncSession, w: World) -> None:
    body = world.application_in(w).model_dump(mode="json")
    partner_h = await _h(session, w.partner_admin)
    # Only a partner's admin applies; a lab lead is refused; bad input names the field.
    assert (
        await client.post(f"{P}/partners", json=body, headers=await _h(session, w.lab_lead))
    ).status_code == 403
    bad = await client.post(f"{P}/partners", json=body | {"category": "spy_agency"}, headers=partner_h)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "category" in bad.text
    made = await client.post(f"{P}/partners", json=body, headers=partner_h)
    assert made.status_code == 201, made.text
    partner_id = made.json()["id"]
    amended = await client.put(
        f"{P}/partners/{partner_id}/application",
        json=body | {"capabilities": "Updated capabilities text."},
        headers=partner_h,
    )
    assert amended.status_code == 200 and amended.json()["version"] == 2
    # Another partner's admin cannot read it.
    outsider = await world.person(
        session, await world.org(session, world.OrgKind.PARTNER), [world.Role.ADMIN]
    )
    assert (
        await client.get(f"{P}/partners/{partner_id}", headers=await _h(session, outsider))
    ).status_code == 404
    vetted = await client.post(
        f"{P}/partners/{partner_id}/vetting",
        json=world.ALL_PASS.model_dump(mode="json"),
        headers=await _h(session, w.coordinator),
    )
    assert vetted.json()["status"] == "vetted"
    req = await client.post(
        f"{P}/requests",
        json={"window_id": str(w.window.id), "workstream": "Uplift", "justification": "Our uplift tests."},
        headers=partner_h,
    )
    assert req.status_code == 201, req.text
    request_id, round_id = req.json()["id"], req.json()["rounds"][0]["id"]
    gov_h = await _h(session, w.gov[0])
    queue = (await client.get(f"{P}/queue", headers=gov_h)).json()
    assert [q["round_id"] for q in queue] == [round_id]
    assert (await client.get(f"{P}/queue", headers=partner_h)).status_code == 403
    conflict = await client.post(
        f"{P}/rounds/{round_id}/conflict", json={"reason": "I consulted for them."}, headers=gov_h
    )
    assert conflict.status_code == 200
    # With one government seat recused the side cannot reach quorum: the round lapses at once.
    state = (await client.get(f"{P}/requests/{request_id}", headers=partner_h)).json()
    assert state["state"] == "lapsed"
    late = await client.post(f"{P}/rounds/{round_id}/ballot", json={"vote": "approve"}, headers=gov_h)
    assert late.status_code == 409
    # A fresh request: everyone votes deny through the API; the partner appeals.
    req2 = (
        await client.post(
            f"{P}/requests",
            json={
                "window_id": str(w.window.id),
                "workstream": "Uplift",
                "justification": "Our uplift tests.",
            },
            headers=partner_h,
        )
    ).json()
    for voter in [*w.gov, *w.ind]:
        cast = await client.post(
            f"{P}/rounds/{req2['rounds'][0]['id']}/ballot",
            json={"vote": "deny", "rationale": world.DENY_WHY},
            headers=await _h(session, voter),
        )
        assert cast.status_code == 201, cast.text
    appeal = await client.post(
        f"{P}/requests/{req2['id']}/appeal",
        json={"grounds": "Please look again at our staff."},
        headers=partner_h,
    )
    assert appeal.status_code == 201 and appeal.json()["rounds"][1]["panel_id"] == str(w.appeal_id)
    # The lab reads who has access (nobody yet) and the requests about its models.
    lab_h = await _h(session, w.lab_lead)
    assert len((await client.get(f"{P}/access", headers=lab_h)).json()) == 2
    assert (await client.get(f"{P}/access", headers=partner_h)).status_code == 403
