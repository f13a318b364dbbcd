"""Fixtures of the database-backed matching tests: operators, an analyst, SBOMs and published
advisories (through the advisories service, as an analyst publishes them)."""

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
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.schemas import Tlp


@dataclass
class Operators:
    analyst: Principal
    reporter: Principal
    hospital: Principal
    bank: Principal


@pytest.fixture
async def operators(
    session: AsyncSession, make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]
) -> Operators:
    treasury = await make_org(kind=OrgKind.AGENCY, code=f"TR{uuid.uuid4().hex[:6].upper()}")
    lab = await make_org(kind=OrgKind.LAB)
    return Operators(
        analyst=await make_person(treasury, [Role.CLEARINGHOUSE_ANALYST]),
        reporter=await make_person(lab, [Role.SAFETY_LEAD]),
        hospital=await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.OPERATOR_CONTACT]),
        bank=await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.OPERATOR_CONTACT]),
    )


def osv(
    name: str = "examplelib",
    *,
    fixed: str | None = "1.4.2",
    introduced: str = "1.0.0",
    ecosystem: str = "PyPI",
    **extra: Any,
) -> bytes:
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed:
        events.append({"fixed": fixed})
    doc: dict[str, Any] = {
        "schema_version": "1.7.4",
        "id": f"GHSA-{uuid.uuid4().hex[:4]}-{uuid.uuid4().hex[:4]}-{uuid.uuid4().hex[:4]}",
        "modified": "2026-10-01T12:00:00Z",
        "published": "2026-10-01T12:00:00Z",
        "aliases": [f"CVE-2026-{uuid.uuid4().int % 90000 + 10000}"],
        "summary": f"Path traversal in {name}",
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
    return json.dumps(doc).encode()


async def publish(session: AsyncSession, ops: Operators, raw: bytes) -> tuple[uuid.UUID, str]:
    """Report, validate and publish *raw*; returns (case id, the published advisory's OSV id)."""
    (report,) = await advisories.submit_document(
        session, raw=raw, filename="a.json", tlp=Tlp.AMBER, actor=ops.reporter
    )
    case = await advisories.validate(session, report_id=report.id, actor=ops.analyst)
    published = await advisories.publish(session, case_id=case.id, actor=ops.analyst)
    return case.id, published.osv_ids[0]


def cyclonedx(*components: tuple[str, str], extra: list[dict[str, Any]] | None = None) -> bytes:
    """A CycloneDX 1.6 JSON SBOM of PyPI packages (name, version), plus raw *extra* components."""
    items = [
        {"type": "library", "bom-ref": f"{n}@{v}#{i}", "name": n, "version": v, "purl": f"pkg:pypi/{n}@{v}"}
        for i, (n, v) in enumerate(components)
    ]
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "components": items + (extra or []),
    }
    return json.dumps(doc).encode()
