"""Every API route, for every role (and anonymous) → allowed or denied, as this table says.

The routes come from the app's route table: a new API route that is not in EXPECTED fails the test,
so nobody can add a route without deciding who may call it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.advisories import matrix as clearinghouse
from tests.clearinghouse.feed import matrix as feed_matrix
from tests.clearinghouse.matching import matrix as matching
from tests.conftest import OrgFactory
from tests.earlyaccess.benchmark import world as benchmark_world
from tests.earlyaccess.gateway import world as gateway_world
from tests.earlyaccess.partners import matrix as partners_matrix
from tests.earlyaccess.review import matrix as review_matrix
from tests.earlyaccess.review.assessments import matrix as assessments_matrix
from tests.grants import world as grants_world
from tests.web.personas import PERSONAS
from tests.workforce import world as workforce_world

from forewarn.accounts import service
from forewarn.accounts.schemas import OrgKind, Principal, Role, TokenIn
from forewarn.core.jobs import Runtime
from forewarn.ledger import note
from forewarn.ledger import service as ledger
from forewarn.web.app import route_table

SIGNED_IN = set(PERSONAS) - {"anonymous"}
#: Personas added after the first rows were written: every route open to all other signed-in
#: personas is open to them too (see the loop below EXPECTED).
LATER = {"grants_officer", "grantee", "hiring_officer", "coordinator"}
LAB = {"platform_admin", "lab_admin", "lab_safety"}
#: Routes whose call would undo what other routes need: for them an allowed persona is played by a
#: stand-in of the same role in an organisation of its own, so the order of the calls does not matter.
#: Withdrawal closes every window of the caller's lab; the leaving lab's safety lead withdraws it.
STAND_INS: dict[tuple[str, str], dict[str, str]] = {
    review_matrix.WITHDRAW: {"lab_safety": "leaving_lab_safety"},
}

#: (method, path template) → personas allowed. The target of item routes is the lab's organisation.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/docs"): set(PERSONAS),
    ("GET", "/api/v1/me"): SIGNED_IN,
    ("GET", "/api/v1/organisations"): SIGNED_IN,
    ("POST", "/api/v1/organisations"): {"platform_admin"},
    ("GET", "/api/v1/organisations/{organisation_id}"): LAB,
    ("GET", "/api/v1/organisations/{organisation_id}/people"): LAB,
    ("POST", "/api/v1/people"): {"platform_admin", "lab_admin"},
    ("GET", "/api/v1/tokens"): SIGNED_IN,
    ("POST", "/api/v1/tokens"): set(),  # a token never mints tokens; people do it signed in
    ("DELETE", "/api/v1/tokens/{token_id}"): {"platform_admin", "lab_safety"},  # the owner, or an admin
    # The transparency log is public: anyone reads and verifies it; a witness's cosignature is
    # authenticated by its signature, not by a login.
    ("GET", "/api/v1/ledger/checkpoint"): set(PERSONAS),
    ("GET", "/api/v1/ledger/checkpoints"): set(PERSONAS),
    ("GET", "/api/v1/ledger/checkpoints/latest"): set(PERSONAS),
    ("GET", "/api/v1/ledger/checkpoints/{size}"): set(PERSONAS),
    ("GET", "/api/v1/ledger/checkpoints/{size}/cosignatures"): set(PERSONAS),
    ("POST", "/api/v1/ledger/checkpoints/{size}/cosignatures"): set(PERSONAS),
    ("GET", "/api/v1/ledger/entries"): set(PERSONAS),
    ("GET", "/api/v1/ledger/entries/{index}"): set(PERSONAS),
    ("GET", "/api/v1/ledger/entries/by-id/{entry_id}"): set(PERSONAS),
    ("GET", "/api/v1/ledger/proof/consistency"): set(PERSONAS),
    ("GET", "/api/v1/ledger/key"): set(PERSONAS),
    ("GET", "/api/v1/ledger/witnesses"): set(PERSONAS),
    **clearinghouse.EXPECTED,
    **matching.EXPECTED,
    **feed_matrix.EXPECTED,
    **{route: set(PERSONAS) for route in feed_matrix.PUBLIC},
    **benchmark_world.EXPECTED,
    **gateway_world.EXPECTED,
    ("GET", "/api/v1/benchmark/key"): set(PERSONAS),  # anyone verifies attestations
    **grants_world.EXPECTED,
    **workforce_world.EXPECTED,
    **review_matrix.EXPECTED,
    **assessments_matrix.EXPECTED,
    **partners_matrix.EXPECTED,
}
for _allowed in EXPECTED.values():
    if _allowed >= SIGNED_IN - LATER:
        _allowed |= LATER
#: Query strings the routes need to succeed.
QUERIES = {"/api/v1/ledger/proof/consistency": "?first=1&second={size}", **feed_matrix.QUERIES}


def api_routes(app: Any) -> list[tuple[str, str]]:
    return [(m, path) for m, path, _ in route_table(app) if path.startswith("/api/") and m != "HEAD"]


def test_every_api_route_has_an_expectation(app: Any) -> None:
    missing = [r for r in api_routes(app) if r not in EXPECTED]
    assert not missing, f"routes without an access expectation: {missing}"
    stale = [r for r in EXPECTED if r not in api_routes(app)]
    assert not stale, f"expectations for routes that no longer exist: {stale}"


async def test_access_matrix(
    app: Any,
    runtime: Runtime,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_org: OrgFactory,
    make_person: Callable[..., Awaitable[Principal]],
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    office = await make_org(kind=OrgKind.AGENCY, code=f"PO{uuid.uuid4().hex[:6].upper()}")
    lab = await make_org(kind=OrgKind.LAB)
    nsa = await make_org(kind=OrgKind.AGENCY, code=f"NSA{uuid.uuid4().hex[:6].upper()}")
    partner = await make_org(kind=OrgKind.PARTNER)
    operator = await make_org(kind=OrgKind.OPERATOR)
    people = {
        "platform_admin": await make_person(office, [Role.ADMIN], admin=True),
        "lab_admin": await make_person(lab, [Role.ADMIN]),
        "lab_safety": await make_person(lab, [Role.SAFETY_LEAD]),
        "nsa_custodian": await make_person(nsa, [Role.BENCHMARK_CUSTODIAN]),
        "partner_reviewer": await make_person(partner, [Role.REVIEWER]),
        "operator_contact": await make_person(operator, [Role.OPERATOR_CONTACT]),
    }
    people |= await clearinghouse.personas(make_org, make_person, office)
    grants_office = await make_org(kind=OrgKind.AGENCY, code=f"GR{uuid.uuid4().hex[:6].upper()}")
    people["grants_officer"] = await make_person(grants_office, [Role.GRANTS_OFFICER])
    people["grantee"] = await make_person(await make_org(kind=OrgKind.GRANTEE), [Role.MEMBER])
    people["hiring_officer"] = await make_person(grants_office, [Role.HIRING_OFFICER])
    review_office = await make_org(kind=OrgKind.AGENCY, code=f"RC{uuid.uuid4().hex[:6].upper()}")
    people["coordinator"] = await make_person(review_office, [Role.ASSESSMENT_COORDINATOR])
    tokens = {name: await make_token(p) for name, p in people.items()}
    leaving_lead = await make_person(await make_org(kind=OrgKind.LAB), [Role.SAFETY_LEAD])
    tokens["leaving_lab_safety"] = await make_token(leaving_lead)
    victim = await service.create_token(
        session,
        data=TokenIn(name="victim"),
        person_id=people["lab_safety"].person_id,
        organisation_id=lab,
        actor=None,
    )
    ch_params = await clearinghouse.setup(
        session,
        reporter=people["lab_safety"],
        analyst=people["analyst"],
        vendor=people["vendor"],
        extra_vendor=await make_org(kind=OrgKind.VENDOR),
    )
    gw_params = await grants_world.setup(
        session,
        officer=people["grants_officer"],
        grantee=people["grantee"],
        reviewer=people["partner_reviewer"],
        key=runtime.keys.data,
    ) | await workforce_world.setup(
        session, hiring=people["hiring_officer"], candidate=people["lab_safety"], key=runtime.keys.data
    )
    bm_params = await benchmark_world.access_matrix_world(session, runtime, safety_lead=people["lab_safety"])
    rv_params = await review_matrix.setup(
        session,
        runtime.keys.data,
        lab_safety=people["lab_safety"],
        coordinator=people["coordinator"],
        nsa_custodian=people["nsa_custodian"],
        partner_reviewer=people["partner_reviewer"],
        leaving_lead=leaving_lead,
    )
    pt_params = await partners_matrix.setup(session, runtime.keys.data, people=people)
    as_params = await assessments_matrix.setup(session, runtime.keys.data, people=people)
    # Creating the organisations above appended log entries; sign them and let a witness cosign.
    checkpoint = await ledger.issue_checkpoint(session, signer=await ledger.log_signer(session, runtime))
    witness_key = Ed25519PrivateKey.generate()
    await ledger.register_witness(
        session,
        vkey=note.format_vkey(
            note.VerifierKey.from_public_key(
                "witness.test/w1", witness_key.public_key(), note.ALG_COSIGNATURE_V1
            )
        ),
    )
    cosignature = note.cosign(
        note.parse_note(checkpoint.note).text,
        name="witness.test/w1",
        private_key=witness_key,
        timestamp=int(time.time()),
    ).line()
    first = await ledger.get_entries(session, start=0, end=1)
    params = {
        "organisation_id": str(lab),
        "token_id": str(victim.id),
        "size": str(checkpoint.size),
        "index": "0",
        "entry_id": str(first.entries[0].entry_id),
    }
    params |= bm_params
    params |= await gateway_world.access_matrix_world(session, runtime.keys.data, lab_id=lab)
    params |= await matching.setup(
        session, reporter=people["lab_safety"], analyst=people["analyst"], operator=people["operator_contact"]
    )
    params |= await feed_matrix.setup(
        session, reporter=people["lab_safety"], analyst=people["analyst"], vendor=people["vendor"]
    )

    def body_for(method: str, path: str) -> dict[str, Any] | None:
        if method not in ("POST", "PUT", "PATCH"):
            return None
        if path == "/api/v1/organisations":
            return {"name": f"New org {uuid.uuid4().hex[:8]}", "kind": "vendor"}
        if path == "/api/v1/people":
            return {"email": f"n{uuid.uuid4().hex[:8]}@example.org", "name": "N", "organisation_id": str(lab)}
        if path == "/api/v1/tokens":
            return {"name": "t"}
        if path == "/api/v1/ledger/checkpoints/{size}/cosignatures":
            return {"signature": cosignature}
        if (body := benchmark_world.access_matrix_body(path, params)) is not None:
            return body
        if (body := matching.body_for(path)) is not None:
            return body
        if (body := feed_matrix.body_for(path)) is not None:
            return body
        raise AssertionError(f"no body for {method} {path}")

    failures = []
    for method, template in api_routes(app):
        path = (template + QUERIES.get(template, "")).format(
            **(
                params
                | ch_params.get(template, {})
                | gw_params.get(template, {})
                | rv_params.get(template, {})
                | pt_params.get(template, {})
                | as_params.get(template, {})
            )
        )
        stand_ins = STAND_INS.get((method, template), {})
        for persona in PERSONAS:
            token = None if persona == "anonymous" else tokens[stand_ins.get(persona, persona)]
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            if template in ch_params:
                sent = clearinghouse.request_kwargs(method, template, ch_params)
            elif template.startswith(grants_world.PREFIX):
                sent = grants_world.request_kwargs(method, template, gw_params)
            elif template.startswith(workforce_world.PREFIX):
                sent = workforce_world.request_kwargs(method, template, gw_params)
            elif template.startswith(assessments_matrix.PREFIX):
                sent = assessments_matrix.request_kwargs(method, template, as_params)
            elif template.startswith(review_matrix.PREFIX):
                sent = await review_matrix.request_kwargs(session, method, template, rv_params)
            elif template.startswith(partners_matrix.PREFIX):
                sent = await partners_matrix.request_kwargs(session, method, template, pt_params)
            elif (bm := benchmark_world.access_matrix_request(method, template, params)) is not None:
                sent = bm
            else:
                sent = {"json": body_for(method, template)}
            response = await client.request(method, path, headers=headers, **sent)
            allowed = persona in EXPECTED[(method, template)]
            if allowed and not response.is_success:
                failures.append(
                    f"{persona} {method} {template}: expected success, got {response.status_code}"
                )
            if not allowed and response.status_code not in (401, 403, 404):
                failures.append(f"{persona} {method} {template}: expected denial, got {response.status_code}")
            if persona == "anonymous" and not allowed:
                assert response.status_code == 401, (method, template, response.text)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("header", ["Bearer fw_not-a-real-token", "Basic dXNlcjpwdw==", "Bearer"])
async def test_bad_credentials_are_rejected(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_model_gateway_admits_no_person(
    app: Any,
    client: httpx.AsyncClient,
    make_org: OrgFactory,
    make_person: Callable[..., Awaitable[Principal]],
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    """The proxy's routes (outside /api/) take gateway keys only: no API token or session opens them."""
    admin = await make_person(await make_org(kind=OrgKind.AGENCY, code="GW"), [Role.ADMIN], admin=True)
    token = await make_token(admin)
    gateway_routes = [(m, p) for m, p, _ in route_table(app) if p.startswith("/gateway/v1/") and m != "HEAD"]
    assert gateway_routes
    for method, template in gateway_routes:
        path = template.replace("{model:path}", "m").replace("{rest:path}", "x")
        for headers in ({}, {"Authorization": f"Bearer {token}"}):
            response = await client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, template, response.text)
            assert response.json()["error"]["code"] == "invalid_api_key"
