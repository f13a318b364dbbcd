"""Operator VEX is kept, not applied once: statements an operator imported decide its later matches
(an advisory published afterwards, an SBOM uploaded again), with the justification recorded on the
match; an asset-scoped statement speaks for its asset only; the operator lists and deletes what it
keeps (service, API and page), and another organisation sees none of it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.matching import service
from forewarn.clearinghouse.matching.records import MatchStatus, StatusIn, VexFormat
from forewarn.core.errors import InvalidInput, NotFound

from .conftest import Operators, cyclonedx, osv, publish

API = "/api/v1"
CVE = "CVE-2026-40001"


def openvex(*statements: dict[str, Any], doc_id: str = "https://vendor.example/vex/1") -> bytes:
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": doc_id,
            "author": "Hospital IT",
            "timestamp": "2026-10-02T00:00:00Z",
            "version": 1,
            "statements": list(statements),
        }
    ).encode()


NOT_PRESENT = {
    "vulnerability": {"name": CVE},
    "products": [{"@id": "pkg:pypi/lzlib"}],  # every version of the package
    "status": "not_affected",
    "justification": "vulnerable_code_not_present",
    "impact_statement": "We build lzlib without the archive module.",
}


async def _upload(session: AsyncSession, actor: Principal, asset: str, sbom: bytes) -> uuid.UUID:
    _, asset_id = await inventory.upload_sbom(session, asset_name=asset, raw=sbom, actor=actor)
    await service.match_asset(session, asset_id=asset_id)
    return asset_id


async def test_a_kept_statement_decides_an_advisory_published_later(
    session: AsyncSession, operators: Operators
) -> None:
    await _upload(session, operators.hospital, "EHR", cyclonedx(("lzlib", "1.2.0")))
    await _upload(session, operators.bank, "Core", cyclonedx(("lzlib", "1.2.0")))
    out = await service.import_vex(
        session, raw=openvex(NOT_PRESENT), actor=operators.hospital, name="ehr.vex"
    )
    assert (out.statements, out.applied, out.stored) == (1, 0, 1)  # nothing to decide yet, but kept
    (kept,) = await service.list_vex_statements(session, actor=operators.hospital)
    assert (kept.vulnerability, kept.status, kept.justification) == (
        CVE,
        "not_affected",
        "vulnerable_code_not_present",
    )
    assert (kept.document_name, kept.asset_id, kept.products) == ("ehr.vex", None, ["pkg:pypi/lzlib"])
    assert await service.list_vex_statements(session, actor=operators.bank) == []

    _, advisory_id = await publish(session, operators, osv("lzlib", aliases=[CVE]))
    assert advisory_id != CVE  # the statement names the advisory by its CVE alias
    await service.match_advisory(session, advisory_id=advisory_id)
    (mine,) = await service.list_matches(session, actor=operators.hospital)
    assert (mine.status, mine.justification) == (MatchStatus.NOT_AFFECTED, "vulnerable_code_not_present")
    assert mine.note is not None
    assert "We build lzlib without the archive module." in mine.note and "ehr.vex" in mine.note
    (theirs,) = await service.list_matches(session, actor=operators.bank)
    assert theirs.status is MatchStatus.OPEN  # another organisation's statement is not the bank's


async def test_a_kept_statement_decides_a_new_version_after_a_reupload(
    session: AsyncSession, operators: Operators
) -> None:
    await publish(session, operators, osv("lzlib", aliases=[CVE], fixed="2.0.0"))
    await _upload(session, operators.hospital, "EHR", cyclonedx(("lzlib", "1.2.0")))
    out = await service.import_vex(session, raw=openvex(NOT_PRESENT), actor=operators.hospital)
    assert out.applied == 1  # the match that exists is decided at import, as before
    await _upload(session, operators.hospital, "EHR", cyclonedx(("lzlib", "1.3.0")))
    statuses = {m.version: m for m in await service.list_matches(session, actor=operators.hospital)}
    assert statuses["1.3.0"].status is MatchStatus.NOT_AFFECTED  # the new match, decided by the kept one
    assert statuses["1.3.0"].justification == "vulnerable_code_not_present"
    assert statuses["1.2.0"].status is MatchStatus.FIXED  # no longer in the inventory


async def test_an_asset_scoped_statement_speaks_for_its_asset_only(
    session: AsyncSession, operators: Operators
) -> None:
    await publish(session, operators, osv("lzlib", aliases=[CVE], fixed="2.0.0"))
    ehr = await _upload(session, operators.hospital, "EHR", cyclonedx(("lzlib", "1.2.0")))
    (match,) = await service.list_matches(session, actor=operators.hospital)
    await service.set_status(
        session,
        match_id=match.id,
        data=StatusIn(status=MatchStatus.NOT_AFFECTED, justification="vulnerable_code_not_in_execute_path"),
        actor=operators.hospital,
    )
    exported = await service.export_vex(
        session, actor=operators.hospital, format=VexFormat.OPENVEX, base_url="http://forewarn.test"
    )
    await service.import_vex(session, raw=json.dumps(exported).encode(), actor=operators.hospital)
    (kept,) = await service.list_vex_statements(session, actor=operators.hospital)
    assert (kept.asset_id, kept.asset_name) == (ehr, "EHR")

    # The same package at the same version on another asset: its new match stays open.
    await _upload(session, operators.hospital, "Lab", cyclonedx(("lzlib", "1.2.0")))
    by_asset = {m.asset_name: m.status for m in await service.list_matches(session, actor=operators.hospital)}
    assert by_asset == {"EHR": MatchStatus.NOT_AFFECTED, "Lab": MatchStatus.OPEN}


async def test_deleting_a_statement_stops_it_and_keeps_what_it_set(
    session: AsyncSession, operators: Operators
) -> None:
    await publish(session, operators, osv("lzlib", aliases=[CVE], fixed="2.0.0"))
    await _upload(session, operators.hospital, "EHR", cyclonedx(("lzlib", "1.2.0")))
    await service.import_vex(session, raw=openvex(NOT_PRESENT), actor=operators.hospital)
    (kept,) = await service.list_vex_statements(session, actor=operators.hospital)
    with pytest.raises(NotFound):
        await service.delete_vex_statement(session, statement_id=kept.id, actor=operators.bank)
    await service.delete_vex_statement(session, statement_id=kept.id, actor=operators.hospital)
    assert await service.list_vex_statements(session, actor=operators.hospital) == []
    await _upload(session, operators.hospital, "EHR", cyclonedx(("lzlib", "1.3.0")))
    statuses = {m.version: m.status for m in await service.list_matches(session, actor=operators.hospital)}
    # 1.2.0 left the inventory (fixed); 1.3.0 is new and no statement decides it any more.
    assert statuses == {"1.2.0": MatchStatus.FIXED, "1.3.0": MatchStatus.OPEN}
    with pytest.raises(NotFound):
        await service.delete_vex_statement(session, statement_id=kept.id, actor=operators.hospital)


@pytest.mark.parametrize("path", ["publication job", "reupload"])
async def test_a_kept_statement_decides_a_match_a_revision_realerts(
    session: AsyncSession, operators: Operators, path: str
) -> None:
    from forewarn.clearinghouse.advisories import service as advisories
    from forewarn.clearinghouse.advisories.osv import loads_osv

    sbom = cyclonedx(("lzlib", "1.2.0"))
    await _upload(session, operators.hospital, "EHR", sbom)
    await _upload(session, operators.bank, "Core", sbom)
    case_id, advisory_id = await publish(session, operators, osv("lzlib", aliases=[CVE], fixed="2.0.0"))
    await service.match_advisory(session, advisory_id=advisory_id)
    vex = openvex(NOT_PRESENT)
    assert (await service.import_vex(session, raw=vex, actor=operators.hospital, name="ehr.vex")).applied == 1
    # Both operators then mark their match fixed by hand (the hospital over its own statement).
    for actor in (operators.hospital, operators.bank):
        (match,) = await service.list_matches(session, actor=actor)
        fixed = StatusIn(status=MatchStatus.FIXED)
        await service.set_status(session, match_id=match.id, data=fixed, actor=actor)

    # A revision that changes the fix re-alerts both matches and reopens them (CSAF §9.1.17) ...
    await advisories.update_vulnerability(
        session,
        case_id=case_id,
        ordinal=1,
        advisory=loads_osv(osv("lzlib", aliases=[CVE], fixed="2.1.0")),
        actor=operators.analyst,
    )
    await advisories.revise(session, case_id=case_id, summary="Fix incomplete", actor=operators.analyst)
    if path == "publication job":
        assert await service.match_advisory(session, advisory_id=advisory_id) == 2
    else:  # the inventories come back before the job ran: the upload re-alerts
        await _upload(session, operators.hospital, "EHR", sbom)
        await _upload(session, operators.bank, "Core", sbom)
    # ... and the hospital's kept statement decides its re-alerted match, as it decides a new one.
    (mine,) = await service.list_matches(session, actor=operators.hospital)
    assert mine.fixed == ["2.1.0"]
    assert (mine.status, mine.justification) == (MatchStatus.NOT_AFFECTED, "vulnerable_code_not_present")
    assert mine.note is not None and "ehr.vex" in mine.note
    (theirs,) = await service.list_matches(session, actor=operators.bank)
    assert (theirs.fixed, theirs.status) == (["2.1.0"], MatchStatus.OPEN)  # no statement: reopened


async def test_importing_a_document_again_replaces_its_statements(
    session: AsyncSession, operators: Operators
) -> None:
    raw = openvex(NOT_PRESENT)
    await service.import_vex(session, raw=raw, actor=operators.hospital)
    await service.import_vex(session, raw=raw, actor=operators.hospital)
    assert len(await service.list_vex_statements(session, actor=operators.hospital)) == 1
    other = openvex(NOT_PRESENT, doc_id="https://vendor.example/vex/2")
    await service.import_vex(session, raw=other, actor=operators.hospital)
    assert len(await service.list_vex_statements(session, actor=operators.hospital)) == 2


async def test_the_kept_statements_are_bounded(
    session: AsyncSession, operators: Operators, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_STORED_STATEMENTS", 1)
    await service.import_vex(session, raw=openvex(NOT_PRESENT), actor=operators.hospital)
    with pytest.raises(InvalidInput) as refused:
        await service.import_vex(
            session, raw=openvex(NOT_PRESENT, doc_id="https://vendor.example/vex/2"), actor=operators.hospital
        )
    assert refused.value.problems[0].field == "vex"


async def test_api_and_page_list_and_delete(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    headers = {"Authorization": f"Bearer {await make_token(operators.hospital)}"}
    imported = await client.post(f"{API}/operator/vex", headers=headers, content=openvex(NOT_PRESENT))
    assert imported.status_code == 200 and imported.json()["stored"] == 1, imported.text
    listed = await client.get(f"{API}/operator/vex-statements", headers=headers)
    assert listed.status_code == 200
    (statement,) = listed.json()
    assert (statement["vulnerability"], statement["status"]) == (CVE, "not_affected")

    page = await client.get("/operator", headers=headers)
    assert page.status_code == 200
    section = page.text[page.text.index('data-testid="vex-statements"') :]
    assert CVE in section and f"/operator/vex-statements/{statement['id']}/delete" in section
    assert re.search(r'name="csrf_token"', section)

    other = {"Authorization": f"Bearer {await make_token(operators.bank)}"}
    assert (await client.get(f"{API}/operator/vex-statements", headers=other)).json() == []
    missing = await client.delete(f"{API}/operator/vex-statements/{statement['id']}", headers=other)
    assert missing.status_code == 404
    gone = await client.delete(f"{API}/operator/vex-statements/{statement['id']}", headers=headers)
    assert gone.status_code == 204
    assert (await client.get(f"{API}/operator/vex-statements", headers=headers)).json() == []
    bad = await client.delete(f"{API}/operator/vex-statements/not-a-uuid", headers=headers)
    assert bad.status_code == 422 and "statement_id" in bad.text
