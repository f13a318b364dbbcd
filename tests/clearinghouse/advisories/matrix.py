"""The clearinghouse's part of the access matrix (tests/web/test_access_matrix.py).

Every state-changing route gets objects of its own, so that the one persona allowed to change them
succeeds whatever order the matrix runs in. Reports are filed by the lab (``lab_safety``), cases are
TLP:AMBER with the ``vendor`` persona's organisation as vendor.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tests.web.personas import PERSONAS

from forewarn.accounts.schemas import OrgKind, Principal
from forewarn.clearinghouse.advisories import service
from forewarn.clearinghouse.advisories.records import VendorStatusValue
from forewarn.clearinghouse.advisories.schemas import Tlp

from .conftest import osv_doc

PREFIX = "/api/v1/clearinghouse"
ALL = set(PERSONAS)
SIGNED_IN = ALL - {"anonymous"}
LAB = {"lab_admin", "lab_safety"}

EXPECTED: dict[tuple[str, str], set[str]] = {
    # Anyone with an organisation may report (VINCE lets every account report) and check a document.
    ("POST", f"{PREFIX}/reports"): SIGNED_IN,
    ("POST", f"{PREFIX}/reports/upload"): SIGNED_IN,
    ("POST", f"{PREFIX}/reports/form"): SIGNED_IN,
    ("POST", f"{PREFIX}/validate"): SIGNED_IN,
    # Lists are filtered by the service (analysts: all; others: their own / what TLP allows).
    ("GET", f"{PREFIX}/reports"): SIGNED_IN,
    ("GET", f"{PREFIX}/cases"): SIGNED_IN,
    ("GET", f"{PREFIX}/notices"): SIGNED_IN,
    # A report: the analysts and the reporting organisation.
    ("GET", f"{PREFIX}/reports/{{report_id}}"): {"analyst"} | LAB,
    ("GET", f"{PREFIX}/reports/{{report_id}}/suggestions"): {"analyst"},
    ("POST", f"{PREFIX}/reports/{{report_id}}/assign"): {"analyst"},
    ("POST", f"{PREFIX}/reports/{{report_id}}/reproduction"): {"analyst"},
    ("POST", f"{PREFIX}/reports/{{report_id}}/validate"): {"analyst"},
    ("POST", f"{PREFIX}/reports/{{report_id}}/reject"): {"analyst"},
    ("POST", f"{PREFIX}/reports/{{report_id}}/duplicate"): {"analyst"},
    # A TLP:AMBER case: analysts, the reporting organisation, the vendors on it.
    ("GET", f"{PREFIX}/cases/{{case_id}}"): {"analyst", "vendor"} | LAB,
    ("POST", f"{PREFIX}/cases/{{case_id}}/vendors"): {"analyst"},
    ("POST", f"{PREFIX}/cases/{{case_id}}/vulnerabilities/{{ordinal}}/score"): {"analyst"},
    ("PUT", f"{PREFIX}/cases/{{case_id}}/vulnerabilities/{{ordinal}}"): {"analyst"},
    ("POST", f"{PREFIX}/cases/{{case_id}}/vulnerabilities/{{ordinal}}/status"): {"vendor"},
    ("POST", f"{PREFIX}/cases/{{case_id}}/embargo"): {"analyst"},
    ("POST", f"{PREFIX}/cases/{{case_id}}/tlp"): {"analyst"},
    ("POST", f"{PREFIX}/cases/{{case_id}}/merge"): {"analyst"},
    ("POST", f"{PREFIX}/cases/{{case_id}}/publish"): {"analyst"},
    ("POST", f"{PREFIX}/cases/{{case_id}}/revise"): {"analyst"},
    # The vendor view: organisations that can be vendors (vendors, AI labs), and analysts.
    ("GET", f"{PREFIX}/vendor/cases"): {"analyst", "vendor"} | LAB,
    ("GET", f"{PREFIX}/embargoes"): {"analyst"},
    ("POST", f"{PREFIX}/kev"): {"analyst"},
    # Published advisories are public.
    ("GET", "/api/v1/advisories"): ALL,
    ("GET", "/api/v1/advisories/{advisory_id}"): ALL,
}

_KEV = {
    "catalogVersion": "2026.11.28",
    "vulnerabilities": [
        {"cveID": "CVE-2026-99999", "dateAdded": "2026-11-27", "vendorProject": "x", "product": "y"}
    ],
}


def _fresh() -> bytes:
    return json.dumps(osv_doc(aliases=[f"CVE-2026-{uuid.uuid4().int % 90000 + 10000}"])).encode()


def request_kwargs(method: str, template: str, ids: dict[str, dict[str, str]]) -> dict[str, Any]:
    """What to send: a fresh document for intake, a body for each action."""
    if template in (f"{PREFIX}/reports", f"{PREFIX}/validate"):
        return {"content": _fresh()}
    if template == f"{PREFIX}/reports/upload":
        return {"files": [("files", ("doc.json", _fresh()))]}
    if template == f"{PREFIX}/kev":
        return {"content": json.dumps(_KEV).encode()}
    if method == "PUT":
        return {"content": json.dumps(osv_doc(summary="Edited summary")).encode()}
    bodies: dict[str, Any] = {
        f"{PREFIX}/reports/form": {
            "what_happened": "The kiosk shows the admin password.",
            "product": "Kiosk",
        },
        f"{PREFIX}/reports/{{report_id}}/assign": {},
        f"{PREFIX}/reports/{{report_id}}/reproduction": {"notes": "Reproduced."},
        f"{PREFIX}/reports/{{report_id}}/validate": {},
        f"{PREFIX}/reports/{{report_id}}/reject": {"reason": "Not a vulnerability."},
        f"{PREFIX}/reports/{{report_id}}/duplicate": ids.get(template, {}).get("_body", {}),
        f"{PREFIX}/cases/{{case_id}}/vendors": ids.get(template, {}).get("_body", {}),
        f"{PREFIX}/cases/{{case_id}}/vulnerabilities/{{ordinal}}/score": {
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
        },
        f"{PREFIX}/cases/{{case_id}}/vulnerabilities/{{ordinal}}/status": {"status": "affected"},
        f"{PREFIX}/cases/{{case_id}}/embargo": {
            "until": (datetime.now(UTC) + timedelta(days=20)).isoformat()
        },
        f"{PREFIX}/cases/{{case_id}}/tlp": {"tlp": "AMBER+STRICT"},
        f"{PREFIX}/cases/{{case_id}}/merge": ids.get(template, {}).get("_body", {}),
        f"{PREFIX}/cases/{{case_id}}/revise": {"summary": "Vendor statement added"},
    }
    if method in ("POST", "PUT", "PATCH"):
        return {"json": bodies.get(template, {})}
    return {}


async def setup(
    session: AsyncSession,
    *,
    reporter: Principal,
    analyst: Principal,
    vendor: Principal,
    extra_vendor: uuid.UUID,
) -> dict[str, dict[str, Any]]:
    """Objects for every route: template → path parameters (and ``_body`` where the body names one)."""

    async def report() -> uuid.UUID:
        (made,) = await service.submit_document(
            session, raw=_fresh(), filename="m.json", tlp=Tlp.AMBER, actor=reporter
        )
        return made.id

    async def case(*, with_vendor: bool = True) -> uuid.UUID:
        opened = await service.validate(session, report_id=await report(), actor=analyst)
        if with_vendor:
            assert vendor.organisation_id is not None
            await service.add_vendor(
                session, case_id=opened.id, organisation_id=vendor.organisation_id, actor=analyst
            )
        return opened.id

    published = await case()
    publication = await service.publish(session, case_id=published, actor=analyst)
    to_revise = await case()
    await service.publish(session, case_id=to_revise, actor=analyst)
    await service.set_vendor_status(
        session, case_id=to_revise, ordinal=1, status=VendorStatusValue.AFFECTED, actor=vendor
    )
    shared = await case()
    into = await case()
    out: dict[str, dict[str, Any]] = {}
    for method, template in EXPECTED:
        params: dict[str, Any] = {
            "report_id": str(await report()),
            "case_id": str(shared),
            "ordinal": "1",
            "advisory_id": publication.osv_ids[0],
        }
        if method in ("POST", "PUT") and "{case_id}" in template:
            params["case_id"] = str(await case())
        if template.endswith("/revise"):
            params["case_id"] = str(to_revise)
        if template.endswith("/duplicate"):
            params["_body"] = {"case_id": str(shared)}
        if template.endswith("/vendors"):
            params["_body"] = {"organisation_id": str(extra_vendor)}
        if template.endswith("/merge"):
            params["_body"] = {"into_case_id": str(into)}
        out[template] = params
    return out


async def personas(make_org: Any, make_person: Any, office: uuid.UUID) -> dict[str, Principal]:
    from forewarn.accounts.schemas import Role

    vendor_org = await make_org(kind=OrgKind.VENDOR)
    return {
        "analyst": await make_person(office, [Role.CLEARINGHOUSE_ANALYST]),
        "vendor": await make_person(vendor_org, [Role.MEMBER]),
    }
