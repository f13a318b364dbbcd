"""Grants end to end through the pages, as a browser would (httpx, forms with CSRF tokens)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.grants.models import Application, Call
from tests.web.forms import post_form, redirected_to, signed_in_client

from .conftest import People
from .world import close_call


async def test_call_apply_review_award_milestone_through_pages(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, people: People
) -> None:
    today = datetime.now(UTC)
    async with signed_in_client(app, people.officer.email) as officer:
        made = await post_form(
            officer,
            "/grants/new-call",
            "/grants/calls",
            {
                "title": "Detection tools for AI agents",
                "purpose": "Fund tools that detect prompt injection in AI agents used by small operators.",
                "funding_pool": "2000000",
                "award_ceiling": "500000",
                "eligibility": "U.S. companies.",
                "criteria": "impact | Impact | 0.6\napproach | Approach | 0.4",
                "opens_at": (today - timedelta(days=1)).strftime("%Y-%m-%d"),
                "closes_at": (today + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M"),
            },
        )
        call_page = redirected_to(made)
        published = await post_form(officer, call_page, call_page + "/publish", {})
        assert redirected_to(published) == call_page
    public = await client.get(call_page)
    assert public.status_code == 200 and "Detection tools for AI agents" in public.text
    assert "Detection tools for AI agents" in (await client.get("/grants")).text

    async with signed_in_client(app, people.grantee.email) as grantee:
        before = await session.scalar(select(func.count()).select_from(Application))
        form = {
            "tool_name": "AgentGuard",
            "detects": ["prompt_injection"],
            "summary": "Detects prompt injection in agents.",
            "approach": "Canary tokens and taint tracking in tool calls.",
            "budget": "300000",
            "milestones": f"Prototype | {(today + timedelta(days=60)).date()} | 100000\n"
            f"Pilot | {(today + timedelta(days=120)).date()} | 200000",
            "team": "Three engineers.",
            "action": "submit",
        }
        bad = await post_form(grantee, call_page, call_page + "/apply", form | {"budget": "900000"})
        assert bad.status_code == 422 and "budget" in bad.text
        assert await session.scalar(select(func.count()).select_from(Application)) == before
        done = await post_form(grantee, call_page, call_page + "/apply", form)
        app_page = redirected_to(done, lambda p: p.startswith("/grants/applications/"))
        assert "submitted" in (await grantee.get(app_page)).text

    async with signed_in_client(app, people.officer.email) as officer:
        for person in (people.reviewer, people.reviewer2):
            assigned = await post_form(
                officer, app_page, app_page + "/reviewers", {"reviewer_email": person.email}
            )
            assert assigned.status_code == 303, assigned.text

    async with signed_in_client(app, people.reviewer.email) as reviewer:
        page = await reviewer.get(app_page)
        assert "I have no conflict" in page.text
        await post_form(reviewer, app_page, app_page + "/conflict", {"conflict": "no"})
        scored = await post_form(
            reviewer,
            app_page,
            app_page + "/scores",
            {"score_impact": "9", "score_approach": "7", "comment_impact": "Useful for rural hospitals."},
        )
        assert scored.status_code == 303, scored.text
    async with signed_in_client(app, people.reviewer2.email) as recusing:
        await post_form(
            recusing, app_page, app_page + "/conflict", {"conflict": "yes", "reason": "Advised them."}
        )
        refused = await post_form(
            recusing, app_page, app_page + "/scores", {"score_impact": "1", "score_approach": "1"}
        )
        assert refused.status_code == 403

    call_id = uuid.UUID(call_page.rsplit("/", 1)[1])
    await close_call(session, call_id)
    assert await session.get(Call, call_id) is not None
    async with signed_in_client(app, people.officer.email) as officer:
        ranking = await officer.get(call_page)
        assert 'data-testid="ranking"' in ranking.text and "AgentGuard" in ranking.text
        decided = await post_form(
            officer,
            app_page,
            app_page + "/decision",
            {"award": "yes", "rationale": "Ranked first; the pilot plan with operators is convincing."},
        )
        assert decided.status_code == 303, decided.text

    async with signed_in_client(app, people.grantee.email) as grantee:
        mine = await grantee.get(app_page)
        assert "Useful for rural hospitals." in mine.text and "awarded" in mine.text
        award_page = next(
            line.split('"')[1] for line in mine.text.splitlines() if 'href="/grants/awards/' in line
        )
        award = await grantee.get(award_page)
        assert "Prototype" in award.text
        action = award.text.split('action="/grants/milestones/')[1].split('"')[0]
        reported = await post_form(
            grantee, award_page, f"/grants/milestones/{action}", {"report": "Prototype shipped and tested."}
        )
        assert reported.status_code == 303, reported.text
        tool = await post_form(grantee, award_page, award_page + "/tool", {"name": "AgentGuard scanner"})
        assert tool.status_code == 200 and 'data-testid="scanner-token"' in tool.text
        assert 'data-testid="performance"' in (await grantee.get(award_page)).text
    async with signed_in_client(app, people.officer.email) as officer:
        milestone = action.split("/")[0]
        accepted = await post_form(
            officer, award_page, f"/grants/milestones/{milestone}/decision", {"accept": "yes"}
        )
        assert accepted.status_code == 303, accepted.text
        paid = await post_form(officer, award_page, f"/grants/milestones/{milestone}/disbursement", {})
        assert paid.status_code == 303, paid.text
    awards = await client.get("/grants/awards")
    assert "AgentGuard" in awards.text and "$300,000" in awards.text and "$100,000" in awards.text
    public_award = await client.get(award_page)
    assert "Prototype shipped" not in public_award.text
