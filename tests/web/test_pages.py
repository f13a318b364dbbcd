"""Sign-in, the home page by role, CSRF on forms, sign-out — over HTTP, as a browser would."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
from tests.conftest import PASSWORD, OrgFactory

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.web.views import ROLE_CARDS


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": hidden(page.text, "csrf_token")}
    )


async def test_sign_in_home_and_sign_out(
    client: httpx.AsyncClient, make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]
) -> None:
    lab = await make_org(name=f"Lab {uuid.uuid4().hex[:6]}", kind=OrgKind.LAB)
    person = await make_person(lab, [Role.SAFETY_LEAD])
    anon = await client.get("/")
    assert "Sign in" in anon.text and "Your models" not in anon.text

    response = await sign_in(client, person.email)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.cookies.get("fw_session")
    assert cookie
    set_cookie = response.headers.get_list("set-cookie")
    assert any("fw_session=" in c and "HttpOnly" in c and "SameSite=lax" in c for c in set_cookie)

    home = await client.get("/")
    assert "Your models" in home.text and "safety_lead" in home.text
    assert "Platform administration" not in home.text

    # A form post without the CSRF token is refused, with it accepted.
    refused = await client.post("/logout", headers={"accept": "text/html"})
    assert refused.status_code == 403
    done = await client.post("/logout", data={"csrf_token": hidden(home.text, "csrf_token")})
    assert done.status_code == 303
    assert "Your models" not in (await client.get("/")).text


async def test_wrong_password_and_stale_form(
    client: httpx.AsyncClient, make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]
) -> None:
    person = await make_person(await make_org(), [Role.MEMBER])
    response = await sign_in(client, person.email, "wrong password!")
    assert response.status_code == 401 and "wrong email or password" in response.text
    client.cookies.clear()
    stale = await client.post("/login", data={"email": person.email, "password": PASSWORD, "csrf_token": "x"})
    assert stale.status_code == 403 and "fw_session" not in stale.cookies


async def test_pages_need_sign_in_and_roles(
    client: httpx.AsyncClient, make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]
) -> None:
    redirect = await client.get("/account/tokens", headers={"accept": "text/html"})
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/login?next=")
    member = await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.OPERATOR_CONTACT])
    await sign_in(client, member.email)
    forbidden = await client.get("/admin/organisations", headers={"accept": "text/html"})
    assert forbidden.status_code == 403 and "Forbidden" in forbidden.text


async def test_admin_creates_org_and_person_and_token_in_pages(
    client: httpx.AsyncClient, make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]
) -> None:
    office = await make_org(kind=OrgKind.AGENCY, code=f"PO{uuid.uuid4().hex[:6].upper()}")
    admin = await make_person(office, [Role.ADMIN], admin=True)
    await sign_in(client, admin.email)
    page = await client.get("/admin/organisations")
    csrf = hidden(page.text, "csrf_token")
    bad = await client.post("/admin/organisations", data={"name": "Ag", "kind": "agency", "csrf_token": csrf})
    assert bad.status_code == 422 and "needs a code" in bad.text
    name = f"Valley Electric Coop {uuid.uuid4().hex[:4]}"
    made = await client.post(
        "/admin/organisations",
        data={"name": name, "kind": "operator", "sector": "energy/electric-utility", "csrf_token": csrf},
    )
    assert made.status_code == 303
    org_page = await client.get(made.headers["location"])
    assert name in org_page.text and "The organisation is added." in org_page.text
    added = await client.post(
        made.headers["location"].split("?")[0] + "/people",
        data={
            "name": "Kim",
            "email": f"kim{uuid.uuid4().hex[:4]}@coop.example",
            "password": "a long password 1",
            "roles": ["operator_contact"],
            "csrf_token": csrf,
        },
    )
    assert added.status_code == 303
    assert "Kim" in (await client.get(added.headers["location"])).text

    created = await client.post("/account/tokens", data={"name": "scanner", "days": "30", "csrf_token": csrf})
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    token = re.search(r'data-testid="new-token">([^<]+)<', created.text)
    assert token
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.status_code == 200 and me.json()["email"] == admin.email
    listing = await client.get("/account/tokens")
    assert token.group(1) not in listing.text  # shown once only


async def test_the_partner_panel_card_leads_a_member_to_their_queue(
    client: httpx.AsyncClient, make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]
) -> None:
    agency = await make_org(kind=OrgKind.AGENCY, code=f"PP{uuid.uuid4().hex[:6].upper()}")
    member = await make_person(agency, [Role.PANEL_MEMBER])
    await sign_in(client, member.email)
    home = await client.get("/")
    assert '<a href="/partners#queue">Partner panel</a>' in home.text
    # Every card of the home page leads to a page that opens for its reader.
    cards = re.search(r'data-testid="capabilities">(.*?)</ul>', home.text, re.S)
    assert cards is not None
    for href in re.findall(r'href="([^"]+)"', cards.group(1)):
        assert (await client.get(href)).status_code == 200, href
    landing = await client.get("/partners")
    assert '<h2 id="queue">Your panel queue</h2>' in landing.text
    # Every role's card links to its page (none is a dead end).
    assert all(card.href for cards_of_role in ROLE_CARDS.values() for card in cards_of_role)
