"""A funded tool's reach, from real data: its OSV report → validated and published advisory →
an operator's SBOM matches it → the grant page counts that operator (and no one else's)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.schemas import Tlp
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.matching import service as matching
from forewarn.grants import service
from forewarn.grants.schemas import ToolIn
from tests.clearinghouse.advisories.conftest import osv_doc
from tests.clearinghouse.matching.conftest import cyclonedx
from tests.conftest import OrgFactory

from .conftest import People
from .world import awarded

Maker = Callable[..., Awaitable[Principal]]
Tokens = Callable[[Principal], Awaitable[str]]


async def _operator(make_org: OrgFactory, make_person: Maker) -> Principal:
    return await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.OPERATOR_CONTACT])


async def _sbom(session: AsyncSession, operator: Principal, asset: str, *components: tuple[str, str]) -> None:
    _, asset_id = await inventory.upload_sbom(
        session, asset_name=asset, raw=cyclonedx(*components), actor=operator
    )
    await matching.match_asset(session, asset_id=asset_id)


async def test_grant_page_counts_the_operators_its_findings_reached(
    client: httpx.AsyncClient,
    session: AsyncSession,
    people: People,
    make_org: OrgFactory,
    make_person: Maker,
    make_token: Tokens,
) -> None:
    package = f"hound-target-{uuid.uuid4().hex[:8]}"
    other_package = f"unrelated-{uuid.uuid4().hex[:8]}"
    _, award_id = await awarded(
        session, officer=people.officer, grantee=people.grantee, reviewer=people.reviewer
    )
    scanner = (
        await service.register_tool(
            session, award_id=award_id, data=ToolIn(name="Hound"), actor=people.grantee
        )
    ).token
    # The funded tool files an OSV report through clearinghouse intake with its scanner token.
    doc = osv_doc(name=package, aliases=[f"CVE-2026-{uuid.uuid4().int % 90000 + 10000}"])
    filed = await client.post(
        "/api/v1/clearinghouse/reports",
        content=json.dumps(doc).encode(),
        headers={"Authorization": f"Bearer {scanner}"},
    )
    assert filed.status_code == 201, filed.text
    report_id = uuid.UUID(filed.json()[0]["id"])
    before = (await client.get(f"/api/v1/grants/awards/{award_id}")).json()["performance"]
    assert (
        before["submitted"] == 1 and before["advisories_published"] == 0 and before["operators_matched"] == 0
    )
    # An analyst validates and publishes it.
    case = await advisories.validate(session, report_id=report_id, actor=people.analyst)
    await advisories.publish(session, case_id=case.id, actor=people.analyst)
    # Someone else's advisory, matched by another operator, is not the tool's.
    (other_report,) = await advisories.submit_document(
        session,
        raw=json.dumps(osv_doc(name=other_package)).encode(),
        filename="other.json",
        tlp=Tlp.AMBER,
        actor=people.analyst,
    )
    other_case = await advisories.validate(session, report_id=other_report.id, actor=people.analyst)
    await advisories.publish(session, case_id=other_case.id, actor=people.analyst)
    hospital = await _operator(make_org, make_person)
    bank = await _operator(make_org, make_person)
    utility = await _operator(make_org, make_person)
    await _sbom(session, hospital, "PACS", (package, "1.2.0"), (package, "1.3.0"))  # two matches, one org
    await _sbom(session, bank, "Core", (package, "2.0.0"))  # fixed version: no match
    await _sbom(session, utility, "SCADA gateway", (other_package, "1.1.0"))  # another advisory
    assert len(await matching.list_matches(session, actor=hospital)) == 2
    assert await matching.list_matches(session, actor=bank) == []
    assert len(await matching.list_matches(session, actor=utility)) == 1
    award = (await client.get(f"/api/v1/grants/awards/{award_id}")).json()
    perf = award["performance"]
    assert perf["validated"] == 1 and perf["advisories_published"] == 1
    assert perf["operators_matched"] == 1
    page = await client.get(f"/grants/awards/{award_id}")
    assert page.status_code == 200
    cell = page.text.split('data-testid="operators-matched">', 1)[1].split("<", 1)[0]
    assert cell == "1"
    # The public view gives a count, never who.
    assert str(hospital.organisation_id) not in json.dumps(award)
