"""Partner governance through the pages and the API, as people use them (httpx, forms with CSRF)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.partners import world
from tests.earlyaccess.partners.world import World, vote_all
from tests.web.forms import post_form, redirected_to, signed_in_client

from forewarn.accounts.schemas import OrgKind, Principal, Role, TokenIn
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.partners import service
from forewarn.earlyaccess.partners.schemas import Vote


@pytest.fixture
async def w(session: AsyncSession, runtime: Runtime) -> World:
    return await world.build(session, runtime.keys.data)


async def _token(session: AsyncSession, p: Principal) -> dict[str, str]:
    from forewarn.accounts import service as accounts

    assert p.organisation_id is not None
    made = await accounts.create_token(
        session, data=TokenIn(name="t"), person_id=p.person_id, organisation_id=p.organisation_id, actor=None
    )
    return {"Authorization": f"Bearer {made.token}"}


async def test_public_pages_need_no_sign_in(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    await vote_all(session, req.rounds[0].id, [*w.gov, *w.ind], [Vote.APPROVE] * 4)
    stats = await client.get("/partners/statistics")
    assert stats.status_code == 200
    assert (
        'data-testid="by-category"' in stats.text and "<svg" in stats.text and "security_firm" in stats.text
    )
    assert "Every recorded outcome follows" in stats.text
    rules = await client.get("/partners/rules")
    assert rules.status_code == 200 and "quorum_per_constituency" in rules.text
    api = (await client.get("/api/v1/partners/statistics")).json()
    assert any(r["group"] == req.lab_name and r["approved"] == 1 for r in api["by_lab"])
    check = (await client.get("/api/v1/partners/check")).json()
    assert check["ok"] is True and check["rounds_checked"] >= 1
    # The request itself is not public.
    assert (await client.get(f"/partners/requests/{req.id}")).status_code in (401, 303)


async def test_api_refuses_a_competitor_member_and_the_page_offers_no_ballot(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    third = await world.person(session, await world.org(session, OrgKind.PARTNER), [Role.PANEL_MEMBER])
    await service.add_member(session, panel_id=w.standing_id, email=third.email, actor=w.admin)
    lab_headers = await _token(session, w.lab_lead)
    declared = await client.post(
        "/api/v1/partners/competitors",
        json={"organisation_id": str(w.ind[0].organisation_id)},
        headers=lab_headers,
    )
    assert declared.status_code == 201, declared.text
    await world.vetted_partner(session, w)
    req = (
        await client.post(
            "/api/v1/partners/requests",
            json={
                "window_id": str(w.window.id),
                "workstream": "Jailbreak robustness",
                "justification": "We maintain the programme's jailbreak suite.",
            },
            headers=await _token(session, w.partner_admin),
        )
    ).json()
    round_id = req["rounds"][0]["id"]
    refused = await client.post(
        f"/api/v1/partners/rounds/{round_id}/ballot",
        json={"vote": "approve"},
        headers=await _token(session, w.ind[0]),
    )
    assert refused.status_code == 403 and "recused" in refused.json()["detail"]
    async with signed_in_client(app, w.ind[0].email) as member:
        page = await member.get(f"/partners/requests/{req['id']}")
        assert page.status_code == 200
        assert 'data-testid="recused"' in page.text and 'data-testid="ballot"' not in page.text
        assert "Cast ballot" not in page.text
    async with signed_in_client(app, w.gov[0].email) as member:
        page = await member.get(f"/partners/requests/{req['id']}")
        assert 'data-testid="ballot"' in page.text
        home = await member.get("/partners")
        assert "to vote" in home.text
    # A deny without reasons is refused with the field named.
    bad = await client.post(
        f"/api/v1/partners/rounds/{round_id}/ballot",
        json={"vote": "deny", "rationale": "no"},
        headers=await _token(session, w.gov[0]),
    )
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "rationale"


async def test_apply_vet_request_vote_and_appeal_through_pages(
    app: Any, session: AsyncSession, w: World
) -> None:
    async with signed_in_client(app, w.partner_admin.email) as partner:
        form = {
            "category": "security_firm",
            "capabilities": "Model red-teaming for cyber-offence uplift.",
            "attest_soc2_type2": "yes",
            "statement_soc2_type2": "SOC 2 Type II, 2026.",
            "staff": [s.email for s in w.staff],
            f"rel_{w.rival_lab}": "customer",
        }
        partner_page = redirected_to(await post_form(partner, "/partners/apply", "/partners/apply", form))
        text = (await partner.get(partner_page)).text
        assert "applied" in text and "customer of" in text
    async with signed_in_client(app, w.coordinator.email) as coordinator:
        vet = {f"check_{i}": "yes" for i in world.ChecklistItem} | {"reason": "Checked every item in person."}
        redirected_to(await post_form(coordinator, partner_page, partner_page + "/vetting", vet))
        assert 'data-testid="status">vetted' in (await coordinator.get(partner_page)).text
    async with signed_in_client(app, w.partner_admin.email) as partner:
        made = await post_form(
            partner,
            "/partners/requests/new",
            "/partners/requests",
            {
                "window_id": str(w.window.id),
                "workstream": "Cyber-offence uplift",
                "justification": "We run the uplift evaluations for this family.",
            },
        )
        request_page = redirected_to(made, lambda p: p.startswith("/partners/requests/"))
    req = await service.get_request(session, request_id=request_page.rsplit("/", 1)[1], actor=None)  # type: ignore[arg-type]
    round_id = req.rounds[0].id
    votes = {w.gov[0]: "deny", w.gov[1]: "deny", w.ind[0]: "approve", w.ind[1]: "approve"}
    for voter, vote in votes.items():
        async with signed_in_client(app, voter.email) as member:
            done = await post_form(
                member,
                request_page,
                f"/partners/rounds/{round_id}/ballot",
                {"vote": vote, "rationale": world.DENY_WHY if vote == "deny" else ""},
            )
            redirected_to(done)
    async with signed_in_client(app, w.partner_admin.email) as partner:
        page = (await partner.get(request_page)).text
        assert 'data-testid="state">denied' in page and world.DENY_WHY in page and "File appeal" in page
        redirected_to(
            await post_form(
                partner,
                request_page,
                request_page + "/appeal",
                {"grounds": "Staff screening finished on 1 November."},
            )
        )
        page = (await partner.get(request_page)).text
        assert 'data-testid="round-2"' in page
    appeal = (await service.get_request(session, request_id=req.id, actor=None)).rounds[1]
    assert {s.person_id for s in appeal.seats}.isdisjoint({s.person_id for s in req.rounds[0].seats})


async def test_lab_access_page_competitors_and_redaction_through_pages(
    app: Any, session: AsyncSession, w: World
) -> None:
    from sqlalchemy import select

    from forewarn.ledger.models import LedgerEntry

    await world.vetted_partner(session, w)
    req = await world.request(session, w)
    out = await vote_all(
        session, req.rounds[0].id, [*w.gov, *w.ind], [Vote.DENY, Vote.APPROVE, Vote.APPROVE, Vote.APPROVE]
    )
    deny = next(s.ballot for s in out.rounds[0].seats if s.ballot and s.ballot.vote is Vote.DENY)
    assert deny is not None
    async with signed_in_client(app, w.lab_lead.email) as lab:
        page = await lab.get("/partners/access")
        assert (
            page.status_code == 200 and req.organisation_name in page.text and "<td>denied</td>" in page.text
        )
        done = await post_form(
            lab, "/partners/access", "/partners/competitors", {"organisation_id": str(w.rival_lab)}
        )
        assert redirected_to(done) == "/partners/access"
        assert (
            "its members recuse"
            in (await lab.get("/partners/access?flash=partners-competitor-declared")).text
        )
        bad = await post_form(
            lab, "/partners/access", "/partners/competitors", {"organisation_id": "not-a-uuid"}
        )
        assert bad.status_code == 422 and "organisation_id" in bad.text
    page_url = f"/partners/requests/{req.id}"
    async with signed_in_client(app, w.admin.email) as admin:
        assert "Redact" in (await admin.get(page_url)).text
        redirected_to(
            await post_form(
                admin,
                page_url,
                f"/partners/ballots/{deny.id}/redact",
                {"reason": "Names a staff member.", "back": page_url},
            )
        )
        text = (await admin.get(page_url)).text
        assert "redacted: Names a staff member." in text and world.DENY_WHY not in text
    # Neither the rationale nor the application's text reaches the log.
    logged = b"".join(bytes(d) for d in await session.scalars(select(LedgerEntry.data)))
    assert world.DENY_WHY.encode() not in logged
    assert b"Red-teaming of language models" not in logged
