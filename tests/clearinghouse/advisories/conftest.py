"""Fixtures of the clearinghouse workflow tests: a small world of organisations and people, and
documents to report."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import OrgFactory

from forewarn.accounts.schemas import OrgKind, Principal, Role


@dataclass
class World:
    treasury: uuid.UUID
    analyst: Principal
    lab: uuid.UUID
    reporter: Principal
    vendor_org: uuid.UUID
    vendor: Principal
    other_vendor_org: uuid.UUID
    other_vendor: Principal
    operator_org: uuid.UUID
    operator: Principal


@pytest.fixture
async def world(
    session: AsyncSession, make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]
) -> World:
    treasury = await make_org(kind=OrgKind.AGENCY, code=f"TR{uuid.uuid4().hex[:6].upper()}")
    lab = await make_org(kind=OrgKind.LAB)
    vendor_org = await make_org(kind=OrgKind.VENDOR)
    other_vendor_org = await make_org(kind=OrgKind.VENDOR)
    operator_org = await make_org(kind=OrgKind.OPERATOR)
    return World(
        treasury=treasury,
        analyst=await make_person(treasury, [Role.CLEARINGHOUSE_ANALYST]),
        lab=lab,
        reporter=await make_person(lab, [Role.SAFETY_LEAD]),
        vendor_org=vendor_org,
        vendor=await make_person(vendor_org, [Role.MEMBER]),
        other_vendor_org=other_vendor_org,
        other_vendor=await make_person(other_vendor_org, [Role.OPERATOR_CONTACT]),
        operator_org=operator_org,
        operator=await make_person(operator_org, [Role.OPERATOR_CONTACT]),
    )


def osv_doc(
    id_: str | None = None,
    *,
    aliases: list[str] | None = None,
    ecosystem: str = "PyPI",
    name: str = "examplelib",
    introduced: str = "1.0.0",
    fixed: str | None = "1.4.2",
    summary: str = "Path traversal in examplelib's archive extraction",
    **extra: Any,
) -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed:
        events.append({"fixed": fixed})
    doc: dict[str, Any] = {
        "schema_version": "1.7.4",
        "id": id_ or f"GHSA-{uuid.uuid4().hex[:4]}-{uuid.uuid4().hex[:4]}-{uuid.uuid4().hex[:4]}",
        "modified": "2026-10-01T12:00:00Z",
        "published": "2026-10-01T12:00:00Z",
        "aliases": aliases or [],
        "summary": summary,
        "details": "Extracting a crafted archive writes files outside the target folder.",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        "references": [{"type": "WEB", "url": "https://example.org/advisory"}],
    }
    doc.update(extra)
    return doc


def raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()
