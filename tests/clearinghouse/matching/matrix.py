"""Operators' inventories and matches in the access matrix (tests/web/test_access_matrix.py).

Only an operator organisation's contacts reach their own inventory and matches; only analysts see
sector-wide exposure. The ``operator_contact`` persona gets a profile, an asset and a match of its own.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.schemas import Tlp
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.inventory.records import SubscriberIn
from forewarn.clearinghouse.matching import service as matching

from .conftest import cyclonedx, osv

OPERATOR = {"operator_contact"}

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/operator/subscriber"): OPERATOR,
    ("PUT", "/api/v1/operator/subscriber"): OPERATOR,
    ("GET", "/api/v1/operator/assets"): OPERATOR,
    ("POST", "/api/v1/operator/assets/{asset_name}/sbom"): OPERATOR,
    ("GET", "/api/v1/operator/matches"): OPERATOR,
    # Another operator's match is not found (404), as the matrix accepts for a denial.
    ("POST", "/api/v1/operator/matches/{match_id}/status"): OPERATOR,
    # Distribution: the operator's own notices and webhook secret.
    ("GET", "/api/v1/operator/notices"): OPERATOR,
    ("POST", "/api/v1/operator/webhook-secret"): OPERATOR,
    ("GET", "/api/v1/clearinghouse/exposure"): {"analyst"},
    ("GET", "/api/v1/clearinghouse/exposure/history"): {"analyst"},
    ("GET", "/api/v1/clearinghouse/remediation"): {"analyst"},
    ("GET", "/api/v1/clearinghouse/unacknowledged"): {"analyst"},
    # The operator's state as VEX, out and in.
    ("GET", "/api/v1/operator/vex/{format}"): OPERATOR,
    ("POST", "/api/v1/operator/vex"): OPERATOR,
    # The VEX statements the operator keeps (another operator's statement is not found: 404).
    ("GET", "/api/v1/operator/vex-statements"): OPERATOR,
    ("DELETE", "/api/v1/operator/vex-statements/{statement_id}"): OPERATOR,
    # The stateless scan: operators and analysts.
    ("POST", "/api/v1/scan"): OPERATOR | {"analyst"},
}

VEX = {
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": "https://vendor.example/vex/matrix",
    "author": "Vendor",
    "timestamp": "2026-10-02T00:00:00Z",
    "version": 1,
    "statements": [
        {
            "vulnerability": {"name": "CVE-2000-0001"},
            "products": [{"@id": "pkg:pypi/nothing@1.0"}],
            "status": "fixed",
        }
    ],
}

PROFILE = {
    "sector": "water",
    "subsector": "community_water_system",
    "size": "small",
    "email": "ops@w.example",
}


def body_for(template: str) -> dict[str, Any] | None:
    if template == "/api/v1/operator/subscriber":
        return PROFILE
    if template == "/api/v1/operator/assets/{asset_name}/sbom":
        return dict(json.loads(cyclonedx(("matrixlib", "1.1.0"))))
    if template == "/api/v1/operator/matches/{match_id}/status":
        return {"status": "acknowledged"}
    if template == "/api/v1/operator/vex":
        return VEX
    if template == "/api/v1/scan":
        return dict(json.loads(cyclonedx(("matrixlib", "1.1.0"))))
    if template == "/api/v1/operator/webhook-secret":
        return {}  # no body: the secret is generated
    return None


async def setup(
    session: AsyncSession, *, reporter: Principal, analyst: Principal, operator: Principal
) -> dict[str, str]:
    """A profile, an asset and one match for the operator persona; the path parameters."""
    (report,) = await advisories.submit_document(
        session, raw=osv("matrixlib"), filename="m.json", tlp=Tlp.AMBER, actor=reporter
    )
    case = await advisories.validate(session, report_id=report.id, actor=analyst)
    await advisories.publish(session, case_id=case.id, actor=analyst)
    await inventory.put_subscriber(session, data=SubscriberIn.model_validate(PROFILE), actor=operator)
    _, asset_id = await inventory.upload_sbom(
        session, asset_name="matrix-asset", raw=cyclonedx(("matrixlib", "1.1.0")), actor=operator
    )
    await matching.match_asset(session, asset_id=asset_id)
    (match,) = await matching.list_matches(session, actor=operator)
    # A statement kept from an earlier import (another document than the matrix's POST imports).
    kept = dict(VEX, **{"@id": "https://vendor.example/vex/matrix-kept"})
    await matching.import_vex(session, raw=json.dumps(kept).encode(), actor=operator, name="kept.json")
    (statement,) = await matching.list_vex_statements(session, actor=operator)
    return {
        "asset_name": "matrix-asset",
        "match_id": str(match.id),
        "format": "openvex",
        "statement_id": str(statement.id),
    }
