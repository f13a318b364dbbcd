"""The model registry: labs register models; credentials are sealed and never returned."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.review import service


async def test_a_lab_registers_a_model_and_only_it_sees_it(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_org: Callable[..., Awaitable[uuid.UUID]],
    make_person: Callable[..., Awaitable[Principal]],
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    lab = await make_org(kind=OrgKind.LAB)
    other = await make_org(kind=OrgKind.LAB)
    lead = await make_person(lab, [Role.SAFETY_LEAD])
    member = await make_person(lab, [Role.MEMBER])
    stranger = await make_person(other, [Role.SAFETY_LEAD])
    body = {
        "name": "wren",
        "version": "2.0",
        "family": "wren",
        "planned_release": "2027-05-01",
        "access_mode": "remote",
        "endpoint_base_url": "https://api.wren.example/v1",
        "endpoint_model": "wren-2",
        "credential": "sk-secret-value-123",
    }
    auth = {"Authorization": f"Bearer {await make_token(lead)}"}
    created = await client.post("/api/v1/models", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["has_credential"] is True and "sk-secret" not in created.text
    again = await client.post("/api/v1/models", json=body, headers=auth)
    assert again.status_code == 409
    bad = await client.post(
        "/api/v1/models", json=body | {"endpoint_base_url": "file:///etc/passwd"}, headers=auth
    )
    assert bad.status_code == 422
    model_id = created.json()["id"]
    seen = await client.get("/api/v1/models", headers={"Authorization": f"Bearer {await make_token(member)}"})
    assert [m["id"] for m in seen.json()] == [model_id]
    hidden = await client.get(
        f"/api/v1/models/{model_id}", headers={"Authorization": f"Bearer {await make_token(stranger)}"}
    )
    assert hidden.status_code == 404
    denied = await client.post(
        "/api/v1/models", json=body, headers={"Authorization": f"Bearer {await make_token(member)}"}
    )
    assert denied.status_code == 403
    target = await service.model_target(session, model_id=uuid.UUID(model_id), key=runtime.keys.data)
    assert target.credential is not None and target.credential.get_secret_value() == "sk-secret-value-123"
    assert "sk-secret" not in repr(target)
