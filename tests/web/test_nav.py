"""The top navigation offers a page only to those the page would let in (no link that ends in a 403)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
from tests.conftest import OrgFactory
from tests.web.forms import signed_in_client

from forewarn.accounts.schemas import OrgKind, Principal, Role


def nav_links(html: str) -> set[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav is not None, "the page has no main navigation"
    return set(re.findall(r'href="([^"]+)"', nav.group(1)))


async def test_navigation_follows_each_pages_rule(
    app: object,
    client: httpx.AsyncClient,
    make_org: OrgFactory,
    make_person: Callable[..., Awaitable[Principal]],
) -> None:
    tag = uuid.uuid4().hex[:6]
    agency = await make_org(name=f"Agency {tag}", kind=OrgKind.AGENCY, code=f"A{tag}")
    lab = await make_org(name=f"Lab {tag}", kind=OrgKind.LAB)
    operator = await make_org(name=f"Hospital {tag}", kind=OrgKind.OPERATOR)
    coordinator = await make_person(agency, [Role.ASSESSMENT_COORDINATOR], email=f"coord-{tag}@example.org")
    member = await make_person(lab, [Role.MEMBER], email=f"member-{tag}@example.org")
    it_person = await make_person(operator, [Role.OPERATOR_CONTACT], email=f"it-{tag}@example.org")

    anonymous = nav_links((await client.get("/")).text)
    assert "/ledger" in anonymous  # public pages stay offered to everyone
    assert "/assessments" not in anonymous and "/review" not in anonymous

    seen: dict[str, set[str]] = {}
    for who in (coordinator, member, it_person):
        async with signed_in_client(app, who.email) as http:
            links = nav_links((await http.get("/")).text)
            seen[who.email] = links
            # Every programme page the navigation offers opens for this person.
            for href in links & {"/assessments", "/review"}:
                assert (await http.get(href)).status_code == 200, (who.email, href)
    assert {"/assessments", "/review"} <= seen[coordinator.email]
    assert "/assessments" not in seen[member.email]  # a lab member who is not its safety lead
    assert "/assessments" not in seen[it_person.email] and "/review" not in seen[it_person.email]
