"""Where the people of a window go next: its page links to its assessment page, the final report, the
model's messages and the holder's keys, each only for those the target admits; and from each role's
start page every link of the review programme leads to a page that opens (no dead end, no refusal).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.assessments import service as assessments
from forewarn.earlyaccess.review.assessments.schemas import FindingIn
from forewarn.earlyaccess.review.schemas import AttachmentIn, CredentialIn, WindowOut

from . import world as w

Tokens = Callable[[Principal], Awaitable[str]]

#: The programme's pages (the crawl stays inside them; the site's global navigation is not followed).
PREFIXES = ("/review", "/assessments", "/gateway/keys", "/gateway/usage", "/determinations")


@dataclass
class Programme:
    world: w.World
    open: WindowOut
    closed: WindowOut
    finding_id: uuid.UUID


async def _programme(session: AsyncSession, runtime: Runtime) -> Programme:
    """An open window (agency granted, a key, a finding with evidence, a message with an attachment)
    and a closed window of a second model of the same lab."""
    key = runtime.keys.data
    world = await w.build(session, key)
    window = await w.open_for_access(session, key, world)
    await review.grant_agency_access(
        session, window_id=window.id, organisation_id=world.agency, actor=world.coordinator
    )
    await review.issue_reviewer_key(
        session,
        window_id=window.id,
        person_id=world.agency_reviewer.person_id,
        actor=world.coordinator,
        rate_limit_per_minute=60,
        token_budget=10_000,
    )
    finding = await assessments.file_finding(
        session,
        window_id=window.id,
        data=FindingIn.model_validate(
            {"title": "Refusal bypass", "severity": "high", "area": "cyber_offence", "description": "d"}
        ),
        actor=world.agency_reviewer,
        key=key,
        attachments=[("transcript.txt", b"the transcript")],
    )
    await review.post_message(
        session,
        model_id=world.model.id,
        body="When does the window close?",
        attachments=[AttachmentIn(filename="note.txt", content_type="text/plain", data=b"a note")],
        actor=world.lead,
        key=key,
    )
    second = await w.register(session, key, world.lead)
    await w.mark_covered(session, second.id)
    other = await review.open_window(session, model_id=second.id, actor=world.lead, length_days=30)
    await review.register_credential(
        session,
        window_id=other.id,
        data=CredentialIn.model_validate({"credential": "sk-second"}),
        actor=world.lead,
        key=key,
    )
    closed = await review.close_window(session, window_id=other.id, actor=world.lead, reason="done early")
    return Programme(world=world, open=window, closed=closed, finding_id=finding.id)


async def _html(client: httpx.AsyncClient, path: str, token: str) -> httpx.Response:
    return await client.get(path, headers={"Authorization": f"Bearer {token}", "Accept": "text/html"})


def _main_links(html: str) -> set[str]:
    main = html.split("<main>", 1)[-1].split("</main>", 1)[0]
    return {href.split("#", 1)[0] for href in re.findall(r'href="(/[^"]*)"', main)}


async def test_the_window_page_links_where_each_participant_may_go(
    session: AsyncSession, runtime: Runtime, client: httpx.AsyncClient, make_token: Tokens
) -> None:
    p = await _programme(session, runtime)
    world, window_id = p.world, p.open.id
    assess, report = f"/assessments/windows/{window_id}", f"/assessments/windows/{window_id}/report"
    messages, keys = f"/review/models/{world.model.id}#messages", "/gateway/keys"
    expected = {
        # who: (assessment page, report, messages, their keys, lab usage)
        "coordinator": (True, True, True, False, False),
        "lead": (True, False, True, False, True),
        "lab_member": (False, False, True, False, False),
        "agency_reviewer": (True, False, True, True, False),
    }
    for who, (assessment, reads_report, channel, holds, usage) in expected.items():
        principal: Principal = getattr(world, who)
        page = await _html(client, f"/review/windows/{window_id}", await make_token(principal))
        assert page.status_code == 200, who
        assert (f'href="{assess}"' in page.text) is assessment, who
        assert (f'href="{report}"' in page.text) is reads_report, who
        assert (f'href="{messages}"' in page.text) is channel, who
        assert (f'href="{keys}" id="my-keys-link"' in page.text) is holds, who
        assert ('href="/gateway/usage"' in page.text) is usage, who
        # The list of windows links the assessment page on the same rule.
        listed = await _html(client, "/review/windows", await make_token(principal))
        assert (f'href="{assess}"' in listed.text) is assessment, who

    # A partner's reviewer of a window granted by the panel: the assessment page, no message channel
    # (the lab and the agencies only), so the model's name is not a link to a page that refuses them.
    await review.grant_partner_access(
        session,
        window_id=window_id,
        organisation_id=world.partner,
        staff_person_ids=[world.partner_staff.person_id],
        decision_ref="panel-2026-001",
    )
    partner = await _html(client, f"/review/windows/{window_id}", await make_token(world.partner_staff))
    assert partner.status_code == 200
    assert f'href="{assess}"' in partner.text
    assert f'href="/review/models/{world.model.id}' not in partner.text
    # An agency without a grant sees neither the window nor a link to it.
    outsider = await make_token(world.second_reviewer)
    assert (await _html(client, f"/review/windows/{window_id}", outsider)).status_code == 404
    assert str(window_id) not in (await _html(client, "/review/windows", outsider)).text

    # The closed window's final report, for its lab, from the window page.
    lead = await make_token(world.lead)
    closed = await _html(client, f"/review/windows/{p.closed.id}", lead)
    assert f'href="/assessments/windows/{p.closed.id}/report" id="report-link">Final report' in closed.text

    # Back from the assessment page to the window page and the messages.
    back = await _html(client, assess, await make_token(world.agency_reviewer))
    assert f'href="/review/windows/{window_id}"' in back.text and f'href="{messages}"' in back.text
    # The holder's keys page leads to the window and its assessment page.
    held = await _html(client, keys, await make_token(world.agency_reviewer))
    assert f'href="/review/windows/{window_id}"' in held.text and f'href="{assess}"' in held.text


async def test_every_link_of_each_role_opens(
    session: AsyncSession, runtime: Runtime, client: httpx.AsyncClient, make_token: Tokens
) -> None:
    p = await _programme(session, runtime)
    world = p.world
    for who in ("lead", "coordinator", "agency_reviewer", "lab_member"):
        token = await make_token(getattr(world, who))
        seen: set[str] = set()
        todo = ["/", "/review"]
        broken: list[tuple[str, str, int]] = []
        while todo and len(seen) < 80:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            response = await _html(client, path, token)
            if response.status_code != 200:
                broken.append((who, path, response.status_code))
                continue
            if "text/html" not in response.headers.get("content-type", ""):
                continue  # a download (report JSON or PDF, an attachment, evidence)
            for link in _main_links(response.text) - seen:
                if link.startswith(PREFIXES):
                    todo.append(link)
        assert broken == [], broken
        # The crawl reached the window, its assessment page and (where the role may) the rest.
        assert f"/review/windows/{p.open.id}" in seen, who
        assert (f"/assessments/windows/{p.open.id}" in seen) is (who != "lab_member"), who
        if who == "agency_reviewer":
            assert {"/gateway/keys", f"/assessments/findings/{p.finding_id}"} <= seen
        if who == "lead":
            assert {"/gateway/usage", f"/assessments/windows/{p.closed.id}/report"} <= seen
            assert f"/assessments/windows/{p.closed.id}/report.pdf" in seen


async def test_an_agency_whose_access_is_revoked_gets_no_link_to_the_window(
    session: AsyncSession, runtime: Runtime, client: httpx.AsyncClient, make_token: Tokens
) -> None:
    p = await _programme(session, runtime)
    world, window_id = p.world, p.open.id
    (grant,) = await review.list_grants(session, window_id=window_id, actor=world.coordinator)
    await review.revoke_agency_access(
        session,
        window_id=window_id,
        grant_id=grant.id,
        reason="conflict of interest",
        actor=world.coordinator,
    )
    token = await make_token(world.agency_reviewer)
    assert (await _html(client, f"/review/windows/{window_id}", token)).status_code == 404
    home = await _html(client, "/review", token)
    # Its notices stay readable, but no longer lead to the window it may not see.
    assert "Review window open:" in home.text and str(window_id) not in home.text
    keys = await _html(client, "/gateway/keys", token)
    assert "revoked" in keys.text and f"/review/windows/{window_id}" not in keys.text
    for page in (home, keys):
        for link in _main_links(page.text):
            if link.startswith(PREFIXES):
                assert (await _html(client, link, token)).status_code == 200, link
