"""Bad input gets a 4xx that names the problem, and leaves nothing behind."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import OrgFactory

from forewarn.accounts.models import Organisation, Person
from forewarn.accounts.schemas import OrgKind, Principal, Role


async def admin_headers(
    make_org: OrgFactory,
    make_person: Callable[..., Awaitable[Principal]],
    make_token: Callable[[Principal], Awaitable[str]],
) -> dict[str, str]:
    office = await make_org(kind=OrgKind.AGENCY, code=f"PO{uuid.uuid4().hex[:6].upper()}")
    admin = await make_person(office, [Role.ADMIN], admin=True)
    return {"Authorization": f"Bearer {await make_token(admin)}"}


async def test_malformed_json(
    client: httpx.AsyncClient, make_org: OrgFactory, make_person, make_token
) -> None:  # type: ignore[no-untyped-def]
    headers = await admin_headers(make_org, make_person, make_token) | {"content-type": "application/json"}
    response = await client.post("/api/v1/organisations", content=b'{"name": "x", "kind": ', headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422 and "not valid JSON" in body["problems"][0]["message"]


async def test_wrong_types_and_missing_fields_are_named(
    client: httpx.AsyncClient,
    make_org: OrgFactory,
    make_person,
    make_token,  # type: ignore[no-untyped-def]
) -> None:
    headers = await admin_headers(make_org, make_person, make_token)
    response = await client.post(
        "/api/v1/organisations", json={"name": 42, "kind": "spaceship"}, headers=headers
    )
    assert response.status_code == 422
    fields = {p["field"] for p in response.json()["problems"]}
    assert fields == {"name", "kind"}
    response = await client.post("/api/v1/organisations", json={"kind": "lab"}, headers=headers)
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["problems"]] == ["name"]
    response = await client.post(
        "/api/v1/organisations", json={"name": "Lab", "kind": "lab", "extra": 1}, headers=headers
    )
    assert response.status_code == 422 and response.json()["problems"][0]["field"] == "extra"


async def test_oversized_body_is_refused_before_parsing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_org: OrgFactory,
    make_person,
    make_token,  # type: ignore[no-untyped-def]
) -> None:
    headers = await admin_headers(make_org, make_person, make_token)
    name = "Huge " + "x" * 2_000_000
    before = await session.scalar(select(func.count()).select_from(Organisation))
    response = await client.post("/api/v1/organisations", json={"name": name, "kind": "lab"}, headers=headers)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert await session.scalar(select(func.count()).select_from(Organisation)) == before


async def test_failed_request_leaves_no_partial_rows(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_org: OrgFactory,
    make_person,
    make_token,  # type: ignore[no-untyped-def]
) -> None:
    headers = await admin_headers(make_org, make_person, make_token)
    operator = await make_org(kind=OrgKind.OPERATOR)
    # The person row would be written before the role check fails; the request must roll it back.
    response = await client.post(
        "/api/v1/people",
        json={
            "email": "half@example.org",
            "name": "Half",
            "organisation_id": str(operator),
            "roles": ["operator_contact", "benchmark_custodian"],
        },
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"field": "roles", "message": "benchmark_custodian not allowed for operator"}
    ]
    assert (
        await session.scalar(
            select(func.count()).select_from(Person).where(Person.email == "half@example.org")
        )
        == 0
    )


async def test_unknown_routes_get_404_json_or_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "/api/v1/no-such-thing" in response.json()["detail"]
    page = await client.get("/no-such-page", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text and "<html" in page.text


async def test_bad_path_parameter(
    client: httpx.AsyncClient, make_org: OrgFactory, make_person, make_token
) -> None:  # type: ignore[no-untyped-def]
    headers = await admin_headers(make_org, make_person, make_token)
    response = await client.get("/api/v1/organisations/not-a-uuid", headers=headers)
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "path.organisation_id"


async def test_request_id_is_echoed_and_metrics_count(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"x-request-id": "abcdef123456"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "abcdef123456"
    generated = await client.get("/healthz", headers={"x-request-id": "bad id with spaces"})
    assert (
        generated.headers["x-request-id"] != "bad id with spaces"
        and len(generated.headers["x-request-id"]) == 32
    )
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'forewarn_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text


async def test_unexpected_errors_give_a_clean_500(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    make_org: OrgFactory,
    make_person,
    make_token,  # type: ignore[no-untyped-def]
) -> None:
    from forewarn.accounts import service

    headers = await admin_headers(make_org, make_person, make_token)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service, "list_organisations", broken)
    response = await client.get("/api/v1/organisations", headers=headers)
    assert response.status_code == 500
    assert "secret internal detail" not in response.text and response.json()["request_id"]
    page = await client.get("/admin/organisations", headers={"accept": "text/html"} | headers)
    assert page.status_code == 500 and "Internal error" in page.text
    assert "secret internal detail" not in page.text and "Traceback" not in page.text
