"""The advisory workflow end to end in the service: report → triage → case → vendors under embargo →
publication (CSAF, OSV, ledger) → revision; duplicates, merges, rejection, KEV."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.clearinghouse.advisories import exports, service
from forewarn.clearinghouse.advisories.csaf_checks import check_csaf
from forewarn.clearinghouse.advisories.kev import from_kev
from forewarn.clearinghouse.advisories.models import Notice, Report
from forewarn.clearinghouse.advisories.osv import validate_osv
from forewarn.clearinghouse.advisories.records import (
    CaseState,
    ReportForm,
    ReportState,
    VendorStatusValue,
)
from forewarn.clearinghouse.advisories.schemas import Tlp
from forewarn.core.clock import utcnow
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound

from .conftest import World, osv_doc, raw


async def ledger_types(session: AsyncSession) -> list[str]:
    rows = await session.execute(text("SELECT type FROM ledger_entries ORDER BY index"))
    return [r[0] for r in rows]


async def jobs(session: AsyncSession, task: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        text("SELECT args FROM procrastinate_jobs WHERE task_name = :t ORDER BY id"), {"t": task}
    )
    return [r[0] for r in rows]


async def report_of(
    session: AsyncSession, world: World, doc: dict[str, Any], tlp: Tlp = Tlp.AMBER
) -> uuid.UUID:
    (report,) = await service.submit_document(
        session, raw=raw(doc), filename="r.json", tlp=tlp, actor=world.reporter
    )
    return report.id


async def test_report_to_published_advisory(session: AsyncSession, world: World) -> None:
    doc = osv_doc(aliases=["CVE-2026-10001"])
    report_id = await report_of(session, world, doc)
    with pytest.raises(Conflict, match="already reported"):
        await service.submit_document(
            session, raw=raw(doc), filename="again.json", tlp=Tlp.AMBER, actor=world.reporter
        )

    # Triage: the queue, assignment, reproduction notes.
    queue = await service.list_reports(session, actor=world.analyst, states=[ReportState.RECEIVED])
    assert report_id in [r.id for r in queue]
    assert [r.id for r in await service.list_reports(session, actor=world.reporter)] == [report_id]
    assert await service.list_reports(session, actor=world.vendor) == []
    await service.assign(session, report_id=report_id, actor=world.analyst)
    await service.add_reproduction(
        session, report_id=report_id, notes="Reproduced with 1.3.0.", actor=world.analyst
    )
    detail = await service.get_report(session, report_id=report_id, actor=world.reporter)
    assert detail.state is ReportState.TRIAGE and detail.reproduction is None  # notes are analysts' only
    with pytest.raises(Forbidden):
        await service.validate(session, report_id=report_id, actor=world.reporter)

    # Validated: a case under the default embargo, logged.
    case = await service.validate(session, report_id=report_id, actor=world.analyst)
    assert case.number.startswith(f"FW-{utcnow().year}-") and case.state is CaseState.OPEN
    assert case.tlp is Tlp.AMBER
    assert case.embargo_until is not None
    assert timedelta(days=44) < case.embargo_until - utcnow() <= timedelta(days=45)
    assert (await ledger_types(session))[-2:] == [
        "clearinghouse.report_validated",
        "clearinghouse.embargo_set",
    ]
    detail_case = await service.get_case(session, case_id=case.id, actor=world.analyst)
    (vuln,) = detail_case.vulnerabilities
    assert vuln.advisory_id == f"x_{case.number}-1"
    assert set(vuln.aliases) == {doc["id"], "CVE-2026-10001"}

    # Vendors: only analysts add them; each gets a notice (a job); TLP decides who reads.
    with pytest.raises(NotFound):
        await service.get_case(session, case_id=case.id, actor=world.vendor)
    with pytest.raises(Forbidden):
        await service.add_vendor(
            session, case_id=case.id, organisation_id=world.vendor_org, actor=world.reporter
        )
    with pytest.raises(InvalidInput, match="not a vendor"):
        await service.add_vendor(
            session, case_id=case.id, organisation_id=world.operator_org, actor=world.analyst
        )
    await service.add_vendor(session, case_id=case.id, organisation_id=world.vendor_org, actor=world.analyst)
    await service.add_vendor(
        session, case_id=case.id, organisation_id=world.other_vendor_org, actor=world.analyst
    )
    notify = await jobs(session, service.NOTIFY_TASK)
    assert {j["organisation_id"] for j in notify[-2:]} == {str(world.vendor_org), str(world.other_vendor_org)}
    assert await service.record_notice(
        session, case_id=case.id, organisation_id=world.vendor_org, kind="case_opened"
    )
    assert not await service.record_notice(
        session, case_id=case.id, organisation_id=world.vendor_org, kind="case_opened"
    )
    (notice,) = await service.list_notices(session, actor=world.vendor)
    assert case.number in notice.subject and "TLP:AMBER" in notice.body

    # Each vendor states its status and sees only its own statement before publication.
    await service.set_vendor_status(
        session,
        case_id=case.id,
        ordinal=1,
        status=VendorStatusValue.AFFECTED,
        statement="Fixed in 1.4.2.",
        actor=world.vendor,
    )
    await service.set_vendor_status(
        session, case_id=case.id, ordinal=1, status=VendorStatusValue.NOT_AFFECTED, actor=world.other_vendor
    )
    seen = await service.get_case(session, case_id=case.id, actor=world.vendor)
    assert [s.status for s in seen.vulnerabilities[0].statuses] == [VendorStatusValue.AFFECTED]
    with pytest.raises(NotFound):
        await service.get_case(session, case_id=case.id, actor=world.operator)
    with pytest.raises(Forbidden):
        await service.set_vendor_status(
            session, case_id=case.id, ordinal=1, status=VendorStatusValue.AFFECTED, actor=world.reporter
        )
    vendor_view = await service.vendor_cases(session, actor=world.vendor)
    assert [c.number for c in vendor_view] == [case.number]

    # Scoring.
    scored = await service.score(
        session,
        case_id=case.id,
        ordinal=1,
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        actor=world.analyst,
    )
    assert scored.base_score == 9.8 and scored.rating == "CRITICAL"
    with pytest.raises(InvalidInput):
        await service.score(session, case_id=case.id, ordinal=1, vector="CVSS:3.1/AV:X", actor=world.analyst)

    # Publication: TLP:CLEAR, CSAF that validates, OSV that validates, ledger entry, notices.
    published = await service.publish(session, case_id=case.id, actor=world.analyst)
    assert published.revision == 1 and published.osv_ids == [vuln.advisory_id]
    assert (await ledger_types(session))[-1] == "clearinghouse.advisory_published"
    public = await service.get_case(session, case_id=case.id, actor=None)
    assert public.state is CaseState.PUBLISHED and public.tlp is Tlp.CLEAR
    assert len(public.vulnerabilities[0].statuses) == 2  # everyone's statement, once public
    csaf_csaf = json.loads(
        await service.csaf_file(session, path=f"{exports.CSAF_DIRECTORY}/{published.csaf_path}")
    )
    assert check_csaf(csaf_csaf) == []
    assert csaf_csaf["document"]["distribution"]["tlp"]["label"] == "WHITE"
    involvements = csaf_csaf["vulnerabilities"][0]["involvements"]
    assert any("affected. Fixed in 1.4.2." in i.get("summary", "") for i in involvements)
    record = await service.public_osv(session, advisory_id=vuln.advisory_id)
    validate_osv(record)
    assert set(record["aliases"]) == {doc["id"], "CVE-2026-10001"}
    sha = await service.csaf_file(session, path=f"{exports.CSAF_DIRECTORY}/{published.csaf_path}.sha256")
    assert sha.decode().split()[0] == published.csaf_sha256
    assert [a.id for a in await service.list_public(session)][:1] == [vuln.advisory_id]
    kinds = [j["kind"] for j in await jobs(session, service.NOTIFY_TASK)]
    assert kinds.count("published") == 3  # two vendors and the reporter

    # Revisions keep the history and say what changed.
    with pytest.raises(Conflict, match="nothing changed"):
        await service.revise(session, case_id=case.id, summary="No change", actor=world.analyst)
    await service.set_vendor_status(
        session,
        case_id=case.id,
        ordinal=1,
        status=VendorStatusValue.AFFECTED,
        statement="Also 1.4.1 backport.",
        actor=world.other_vendor,
    )
    revised = await service.revise(
        session, case_id=case.id, summary="Vendor statement updated", actor=world.analyst
    )
    assert revised.revision == 2
    history = (await service.get_case(session, case_id=case.id, actor=None)).revision_history
    assert [h["number"] for h in history] == ["1", "2"] and "involvements" in history[1]["summary"]
    doc2 = json.loads(await service.csaf_file(session, path=f"{exports.CSAF_DIRECTORY}/{revised.csaf_path}"))
    assert check_csaf(doc2) == []
    assert doc2["document"]["tracking"]["version"] == "2"
    assert len(doc2["document"]["tracking"]["revision_history"]) == 2
    index = (await service.csaf_file(session, path=f"{exports.CSAF_DIRECTORY}/index.txt")).decode()
    assert published.csaf_path in index.splitlines()
    assert (await ledger_types(session))[-1] == "clearinghouse.advisory_revised"


async def test_rejection_tells_the_reporter_and_logs_a_hash(session: AsyncSession, world: World) -> None:
    report_id = await report_of(session, world, osv_doc())
    rejected = await service.reject(
        session, report_id=report_id, reason="Not reproducible on 1.3.", actor=world.analyst
    )
    assert rejected.state is ReportState.REJECTED
    assert (await service.get_report(session, report_id=report_id, actor=world.reporter)).decision_reason == (
        "Not reproducible on 1.3."
    )
    row = await session.execute(text("SELECT data FROM ledger_entries ORDER BY index DESC LIMIT 1"))
    entry = json.loads(bytes(row.scalar_one()))
    assert entry["type"] == "clearinghouse.report_rejected" and "reproducible" not in json.dumps(entry)
    assert entry["sealed"]["reason"].startswith("sha256:")
    with pytest.raises(Conflict):
        await service.validate(session, report_id=report_id, actor=world.analyst)


async def test_suggestions_duplicates_and_merges_keep_every_alias(
    session: AsyncSession, world: World
) -> None:
    first = await report_of(session, world, osv_doc("GHSA-aaaa-bbbb-cccc", aliases=["CVE-2026-20001"]))
    same_alias = await report_of(
        session, world, osv_doc("PYSEC-2026-1", aliases=["CVE-2026-20001"], name="other")
    )
    overlapping = await report_of(session, world, osv_doc("OSV-2026-7", introduced="1.2.0", fixed="1.5.0"))
    disjoint = await report_of(session, world, osv_doc("OSV-2026-8", introduced="2.0.0", fixed="2.1.0"))
    found = await service.suggestions(session, report_id=first, actor=world.analyst)
    by_ref = {(s.ref, s.reason) for s in found}
    assert (str(same_alias), "same alias") in by_ref
    assert (str(overlapping), "same package, overlapping ranges") in by_ref
    assert str(disjoint) not in {s.ref for s in found}

    case = await service.validate(session, report_id=first, actor=world.analyst)
    later = await service.suggestions(session, report_id=same_alias, actor=world.analyst)
    assert any(s.kind == "case" and s.ref == case.number for s in later)
    await service.mark_duplicate(session, report_id=same_alias, case_id=case.id, actor=world.analyst)
    vuln = (await service.get_case(session, case_id=case.id, actor=world.analyst)).vulnerabilities[0]
    assert {"GHSA-aaaa-bbbb-cccc", "CVE-2026-20001", "PYSEC-2026-1"} <= set(vuln.aliases)

    other = await service.validate(session, report_id=overlapping, actor=world.analyst)
    await service.add_vendor(session, case_id=other.id, organisation_id=world.vendor_org, actor=world.analyst)
    merged = await service.merge_cases(session, case_id=other.id, into_case_id=case.id, actor=world.analyst)
    detail = await service.get_case(session, case_id=merged.id, actor=world.analyst)
    assert [v.ordinal for v in detail.vulnerabilities] == [1, 2]
    assert f"x_{other.number}-1" in detail.vulnerabilities[1].aliases  # the old id stays an alias
    assert {v.organisation_id for v in detail.vendors} == {world.vendor_org}
    old = await service.get_case(session, case_id=other.id, actor=world.analyst)
    assert old.state is CaseState.MERGED and old.merged_into == case.number
    with pytest.raises(NotFound):
        await service.get_case(session, case_id=other.id, actor=world.vendor)


async def test_tlp_red_has_no_vendors_and_green_reaches_the_community(
    session: AsyncSession, world: World
) -> None:
    red = await service.validate(
        session, report_id=await report_of(session, world, osv_doc(), Tlp.RED), actor=world.analyst
    )
    assert red.tlp is Tlp.RED
    with pytest.raises(Conflict, match="RED"):
        await service.add_vendor(
            session, case_id=red.id, organisation_id=world.vendor_org, actor=world.analyst
        )
    await service.get_case(session, case_id=red.id, actor=world.reporter)
    with pytest.raises(NotFound):
        await service.get_case(session, case_id=red.id, actor=world.operator)
    await service.set_tlp(session, case_id=red.id, tlp=Tlp.GREEN, actor=world.analyst)
    await service.get_case(session, case_id=red.id, actor=world.operator)  # the community may read GREEN
    with pytest.raises(Forbidden):
        await service.publish(session, case_id=red.id, actor=world.operator)


async def test_known_exploited_shortens_the_embargo(session: AsyncSession, world: World) -> None:
    case = await service.validate(
        session,
        report_id=await report_of(session, world, osv_doc(aliases=["CVE-2026-30001"])),
        actor=world.analyst,
    )
    assert case.embargo_until is not None and case.embargo_until - utcnow() > timedelta(days=40)
    catalog = from_kev(
        {
            "catalogVersion": "2026.11.28",
            "vulnerabilities": [
                {
                    "cveID": "CVE-2026-30001",
                    "vendorProject": "Example",
                    "product": "examplelib",
                    "vulnerabilityName": "Path traversal",
                    "dateAdded": "2026-11-27",
                    "dueDate": "2026-12-18",
                }
            ],
        }
    )
    result = await service.import_kev(session, catalog=catalog, actor=world.analyst)
    assert result.entries == 1 and result.newly_exploited == [case.number]
    after = await service.get_case(session, case_id=case.id, actor=world.analyst)
    assert after.known_exploited and after.embargo_until is not None
    assert after.embargo_until - utcnow() <= timedelta(days=7)
    # A new report of a KEV CVE starts with the short embargo.
    quick = await service.validate(
        session,
        report_id=await report_of(session, world, osv_doc(aliases=["CVE-2026-30001"], name="lib2")),
        actor=world.analyst,
    )
    assert quick.embargo_until is not None and quick.embargo_until - utcnow() <= timedelta(days=7)


async def test_plain_language_report(session: AsyncSession, world: World) -> None:
    report = await service.submit_form(
        session,
        data=ReportForm(
            what_happened="The patient portal chatbot reveals other patients' appointment notes.",
            affected_kind="model",
            product="Portal Assistant 2",
            attack_class="data_extraction",
            how_bad="exploited",
            who_knows="The vendor's support desk",
            tlp=Tlp.AMBER_STRICT,
        ),
        actor=world.reporter,
    )
    detail = await service.get_report(session, report_id=report.id, actor=world.reporter)
    assert detail.tlp is Tlp.AMBER_STRICT and detail.form is not None and detail.form["exploited"] is True
    assert detail.advisory["ai"] == {
        "attack_class": "data_extraction",
        "affected_models": ["Portal-Assistant-2"],
    }
    case = await service.validate(session, report_id=report.id, actor=world.analyst)
    assert case.embargo_until is not None and case.embargo_until - utcnow() <= timedelta(days=7)
    await service.add_vendor(session, case_id=case.id, organisation_id=world.vendor_org, actor=world.analyst)
    published = await service.publish(session, case_id=case.id, actor=world.analyst)
    doc = json.loads(await service.csaf_file(session, path=f"{exports.CSAF_DIRECTORY}/{published.csaf_path}"))
    assert check_csaf(doc) == []
    validate_osv(await service.public_osv(session, advisory_id=published.osv_ids[0]))


async def test_public_import_keeps_the_newest(session: AsyncSession, world: World) -> None:
    from forewarn.clearinghouse.advisories.osv import from_osv

    old = osv_doc("GHSA-1111-2222-3333", modified="2026-01-01T00:00:00Z")
    new = osv_doc("GHSA-1111-2222-3333", modified="2026-02-01T00:00:00Z", summary="Newer text")
    first = await service.import_public(session, records=[(new, from_osv(new))], actor=None)
    second = await service.import_public(session, records=[(old, from_osv(old))], actor=None)
    assert (first.stored, second.stored, second.skipped_older) == (1, 0, 1)
    with pytest.raises(Forbidden):
        await service.import_public(session, records=[(old, from_osv(old))], actor=world.reporter)
    # A report of the same vulnerability is flagged as already public.
    report_id = await report_of(session, world, osv_doc(aliases=["GHSA-1111-2222-3333"]))
    found = await service.suggestions(session, report_id=report_id, actor=world.analyst)
    assert any(s.kind == "public" and s.ref == "GHSA-1111-2222-3333" for s in found)


async def test_a_refused_document_stores_nothing(session: AsyncSession, world: World) -> None:
    from forewarn.clearinghouse.advisories.errors import InvalidAdvisory

    before = await session.scalar(select(func.count()).select_from(Report))
    bad = osv_doc(
        affected=[
            {
                "package": {"ecosystem": "PyPI", "name": "x"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "2.0.0"}, {"fixed": "1.0.0"}]}],
            }
        ]
    )
    with pytest.raises(InvalidAdvisory) as info:
        await service.submit_document(
            session, raw=raw(bad), filename="bad.json", tlp=Tlp.AMBER, actor=world.reporter
        )
    assert info.value.message.startswith("bad.json: ")
    assert any(p.field.startswith("/affected/0/ranges/0") for p in info.value.problems)
    assert await session.scalar(select(func.count()).select_from(Report)) == before
    assert await session.scalar(select(func.count()).select_from(Notice)) is not None
