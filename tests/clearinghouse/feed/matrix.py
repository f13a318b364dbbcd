"""The signed feed's API in the access matrix (tests/web/test_access_matrix.py).

The feed's state and an advisory's patch files are public; uploading a patch file is for analysts
and the advisory's vendors (the ``vendor`` persona is put on the case here). Lab people pass the
route's rule (a lab can be a vendor) but are refused by the service: not a vendor of this case.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.matching.conftest import osv

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.schemas import Tlp

#: Open to every persona, anonymous included.
PUBLIC = [("GET", "/api/v1/feed/status"), ("GET", "/api/v1/feed/advisories/{advisory_id}/patches")]
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/v1/feed/advisories/{advisory_id}/patches"): {"analyst", "vendor"},
}
QUERIES = {"/api/v1/feed/advisories/{advisory_id}/patches": "?filename=matrix.patch"}


def body_for(template: str) -> dict[str, Any] | None:
    if template == "/api/v1/feed/advisories/{advisory_id}/patches":
        return {"a patch file": "any bytes"}
    return None


async def setup(
    session: AsyncSession, *, reporter: Principal, analyst: Principal, vendor: Principal
) -> dict[str, str]:
    """A published advisory with the vendor persona on its case; its id."""
    (report,) = await advisories.submit_document(
        session, raw=osv("feedlib"), filename="f.json", tlp=Tlp.AMBER, actor=reporter
    )
    case = await advisories.validate(session, report_id=report.id, actor=analyst)
    assert vendor.organisation_id is not None
    await advisories.add_vendor(
        session, case_id=case.id, organisation_id=vendor.organisation_id, actor=analyst
    )
    publication = await advisories.publish(session, case_id=case.id, actor=analyst)
    return {"advisory_id": publication.osv_ids[0]}
