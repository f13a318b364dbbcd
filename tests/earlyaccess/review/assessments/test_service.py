"""Assessments through the service: workstreams, findings under TLP, evidence sealed at rest, triage,
merges across agencies, forwarding to the clearinghouse, imports, the report and its ledger entries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.review.assessments import world

from forewarn.clearinghouse.advisories import service as advisories
from forewarn.core.errors import Conflict, InvalidInput, NotFound, TooLarge
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.assessments import imports, jobs, service
from forewarn.earlyaccess.review.assessments.models import Evidence
from forewarn.earlyaccess.review.assessments.schemas import (
    Area,
    FindingIn,
    FindingStatus,
    ForwardState,
    Severity,
    Tlp,
    TriageIn,
    WorkstreamIn,
    WorkstreamStatus,
    WorkstreamUpdate,
)
from forewarn.ledger import service as ledger


async def _entries(session: AsyncSession, prefix: str) -> list[dict[str, object]]:
    rows = await session.execute(
        text("SELECT type, data FROM ledger_entries WHERE type LIKE :p ORDER BY index"), {"p": prefix + "%"}
    )
    return [{"type": t, "data": d} for t, d in rows]


async def test_workstreams_are_planned_by_coordinators_for_assessors(
    session: AsyncSession, runtime: Runtime
) -> None:
    a = await world.build(session, runtime.keys.data)
    data = WorkstreamIn.model_validate(
        world.workstream(a.w.agency, member_organisation_ids=[str(a.w.second_agency), str(a.w.partner)])
    )
    out = await service.plan_workstream(session, window_id=a.window.id, data=data, actor=a.coordinator)
    assert out.lead_organisation_id == a.w.agency and out.status is WorkstreamStatus.PLANNED
    assert set(out.member_organisation_ids) == {a.w.second_agency, a.w.partner}

    with pytest.raises(InvalidInput) as lab_led:
        await service.plan_workstream(
            session,
            window_id=a.window.id,
            data=WorkstreamIn.model_validate(world.workstream(a.w.lab)),
            actor=a.coordinator,
        )
    assert lab_led.value.problems[0].field == "lead_organisation_id"
    with pytest.raises(NotFound):
        await service.plan_workstream(session, window_id=a.window.id, data=data, actor=a.agency_reviewer)

    moved = await service.update_workstream(
        session,
        workstream_id=out.id,
        data=WorkstreamUpdate(status=WorkstreamStatus.IN_PROGRESS),
        actor=a.coordinator,
    )
    assert moved.status is WorkstreamStatus.IN_PROGRESS
    assert [w.id for w in await service.list_workstreams(session, window_id=a.window.id, actor=a.lead)] == [
        out.id
    ]
    with pytest.raises(NotFound):
        await service.list_workstreams(session, window_id=a.window.id, actor=a.outsider_reviewer)
    (entry,) = await _entries(session, "assessments.workstream_planned")
    assert str(a.window.id) in str(entry["data"])


async def test_findings_follow_tlp_within_the_window(session: AsyncSession, runtime: Runtime) -> None:
    a = await world.build(session, runtime.keys.data)
    key = runtime.keys.data
    filed = {}
    for tlp in Tlp:
        out = await service.file_finding(
            session,
            window_id=a.window.id,
            data=FindingIn.model_validate(world.finding(tlp=tlp.value)),
            actor=a.agency_reviewer,
            key=key,
        )
        filed[tlp] = out.id

    async def visible(actor: object) -> set[Tlp]:
        found = await service.list_findings(session, window_id=a.window.id, actor=actor)  # type: ignore[arg-type]
        return {t for t, i in filed.items() if i in {f.id for f in found}}

    assert await visible(a.agency_reviewer) == set(Tlp)
    assert await visible(a.coordinator) == set(Tlp)
    assert await visible(a.second_reviewer) == {Tlp.AMBER, Tlp.GREEN, Tlp.CLEAR}
    assert await visible(a.partner_reviewer) == {Tlp.AMBER, Tlp.GREEN, Tlp.CLEAR}
    assert await visible(a.lead) == {Tlp.AMBER_STRICT, Tlp.AMBER, Tlp.GREEN, Tlp.CLEAR}
    with pytest.raises(NotFound):
        await service.list_findings(session, window_id=a.window.id, actor=a.outsider_reviewer)
    with pytest.raises(NotFound):
        await service.get_finding(session, finding_id=filed[Tlp.RED], actor=a.second_reviewer)

    # The filer lets the lab read its RED finding.
    with pytest.raises(NotFound):
        await service.release_to_lab(session, finding_id=filed[Tlp.RED], actor=a.coordinator)
    await service.release_to_lab(session, finding_id=filed[Tlp.RED], actor=a.agency_reviewer)
    assert Tlp.RED in await visible(a.lead)
    assert Tlp.RED not in await visible(a.second_reviewer)

    entries = await _entries(session, "assessments.finding_filed")
    assert len(entries) == len(Tlp)
    assert all("exploit" not in str(e["data"]).lower() for e in entries)  # ids, severity, area: no text
    assert "severity high, area cyber_offence" in str(entries[0]["data"])


async def test_who_files_and_when(session: AsyncSession, runtime: Runtime) -> None:
    a = await world.build(session, runtime.keys.data)
    data = FindingIn.model_validate(world.finding())
    for outsider in (a.outsider_reviewer, a.lead):
        with pytest.raises(NotFound):
            await service.file_finding(
                session, window_id=a.window.id, data=data, actor=outsider, key=runtime.keys.data
            )
    with pytest.raises(InvalidInput) as bad_ws:
        await service.file_finding(
            session,
            window_id=a.window.id,
            data=FindingIn.model_validate(world.finding(workstream_id=str(uuid.uuid4()))),
            actor=a.partner_reviewer,
            key=runtime.keys.data,
        )
    assert bad_ws.value.problems[0].field == "workstream_id"
    await service.file_finding(
        session, window_id=a.window.id, data=data, actor=a.partner_reviewer, key=runtime.keys.data
    )
    await review.close_window(session, window_id=a.window.id, actor=a.coordinator, reason="test")
    with pytest.raises(Conflict, match="while the window is open"):
        await service.file_finding(
            session, window_id=a.window.id, data=data, actor=a.agency_reviewer, key=runtime.keys.data
        )


async def test_evidence_is_sealed_at_rest_checked_and_bound_to_its_finding(
    session: AsyncSession, runtime: Runtime
) -> None:
    a = await world.build(session, runtime.keys.data)
    key = runtime.keys.data
    body = f"transcript with {world.CANARY}\n".encode()
    out = await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(world.finding()),
        actor=a.agency_reviewer,
        key=key,
        attachments=[("../../etc/transcript.txt", body)],
    )
    (evidence,) = out.evidence
    assert evidence.filename == "transcript.txt" and evidence.content_type == "text/plain"
    assert evidence.size == len(body)
    # At rest: the column holds ciphertext, nowhere the plaintext.
    stored = (
        await session.execute(
            text("SELECT sealed FROM assessment_evidence WHERE id = :i"), {"i": evidence.id}
        )
    ).scalar_one()
    assert world.CANARY.encode() not in stored and body not in stored
    dump = (await session.execute(text("SELECT t::text FROM assessment_evidence t"))).scalars().all()
    assert not any(world.CANARY in row for row in dump)
    # Readers of the finding get it back; others do not.
    meta, data = await service.read_evidence(
        session, finding_id=out.id, evidence_id=evidence.id, actor=a.partner_reviewer, key=key
    )
    assert data == body and meta.sha256 == evidence.sha256
    with pytest.raises(NotFound):
        await service.read_evidence(
            session, finding_id=out.id, evidence_id=evidence.id, actor=a.outsider_reviewer, key=key
        )

    # A sealed blob moved to another finding does not open (AAD binds it to its row and finding).
    other = await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(world.finding(title="Another one")),
        actor=a.agency_reviewer,
        key=key,
    )
    row = await session.get(Evidence, evidence.id)
    assert row is not None
    row.finding_id = other.id
    await session.flush()
    with pytest.raises(InvalidInput, match="failed authentication"):
        await service.read_evidence(
            session, finding_id=other.id, evidence_id=evidence.id, actor=a.coordinator, key=key
        )
    row.finding_id = out.id
    await session.flush()

    # Type, size and count checks come before anything is written.
    with pytest.raises(InvalidInput, match="not what its name says"):
        await service.add_evidence(
            session,
            finding_id=out.id,
            filename="shot.png",
            data=b"not a png",
            actor=a.agency_reviewer,
            key=key,
            max_bytes=1000,
        )
    with pytest.raises(InvalidInput, match="not accepted"):
        await service.add_evidence(
            session,
            finding_id=out.id,
            filename="run.exe",
            data=b"MZ",
            actor=a.agency_reviewer,
            key=key,
            max_bytes=1000,
        )
    with pytest.raises(TooLarge):
        await service.add_evidence(
            session,
            finding_id=out.id,
            filename="big.txt",
            data=b"x" * 1001,
            actor=a.agency_reviewer,
            key=key,
            max_bytes=1000,
        )
    with pytest.raises(NotFound):  # another organisation's reviewer cannot add to this finding
        await service.add_evidence(
            session,
            finding_id=out.id,
            filename="x.txt",
            data=b"x",
            actor=a.second_reviewer,
            key=key,
            max_bytes=1000,
        )
    count = len((await session.scalars(select(Evidence).where(Evidence.finding_id == out.id))).all())
    assert count == 1
    png = await service.add_evidence(
        session,
        finding_id=out.id,
        filename="shot.png",
        data=b"\x89PNG\r\n\x1a\n" + b"\0" * 10,
        actor=a.agency_reviewer,
        key=key,
        max_bytes=1000,
    )
    assert png.content_type == "image/png"


async def test_triage_and_merge_across_agencies(session: AsyncSession, runtime: Runtime) -> None:
    a = await world.build(session, runtime.keys.data)
    key = runtime.keys.data
    first = await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(world.finding(severity="medium")),
        actor=a.agency_reviewer,
        key=key,
    )
    second = await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(world.finding(severity="critical")),
        actor=a.second_reviewer,
        key=key,
    )
    with pytest.raises(NotFound):
        await service.triage(
            session,
            finding_id=first.id,
            data=TriageIn(status=FindingStatus.CONFIRMED),
            actor=a.agency_reviewer,
        )
    triaged = await service.triage(
        session,
        finding_id=first.id,
        data=TriageIn(status=FindingStatus.CONFIRMED, note="reproduced"),
        actor=a.coordinator,
    )
    assert triaged.status is FindingStatus.CONFIRMED and triaged.triage_note == "reproduced"
    with pytest.raises(ValueError, match="merging"):
        TriageIn(status=FindingStatus.DUPLICATE)

    merged = await service.merge(session, finding_id=second.id, primary_id=first.id, actor=a.coordinator)
    assert {r.organisation_id for r in merged.reporters} == {a.w.agency, a.w.second_agency}
    assert merged.severity is Severity.CRITICAL  # the primary takes the worse severity
    dup = await service.get_finding(session, finding_id=second.id, actor=a.coordinator)
    assert dup.status is FindingStatus.DUPLICATE and dup.duplicate_of_id == first.id
    with pytest.raises(Conflict):
        await service.merge(session, finding_id=first.id, primary_id=second.id, actor=a.coordinator)
    with pytest.raises(Conflict):
        await service.triage(
            session, finding_id=second.id, data=TriageIn(status=FindingStatus.CLOSED), actor=a.coordinator
        )
    with pytest.raises(InvalidInput):
        await service.merge(session, finding_id=first.id, primary_id=first.id, actor=a.coordinator)
    # A reader who may see both sees both reporters; the merged view is the primary's.
    seen = await service.get_finding(session, finding_id=first.id, actor=a.partner_reviewer)
    assert len(seen.reporters) == 2 and seen.hidden_duplicates == 0
    assert [e["type"] for e in await _entries(session, "assessments.findings_merged")] == [
        "assessments.findings_merged"
    ]
    assert len(await _entries(session, "assessments.finding_triaged")) == 1


async def test_a_red_duplicate_is_counted_not_named_for_those_who_may_not_read_it(
    session: AsyncSession, runtime: Runtime
) -> None:
    a = await world.build(session, runtime.keys.data)
    key = runtime.keys.data
    primary = await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(world.finding()),
        actor=a.agency_reviewer,
        key=key,
    )
    red = await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(world.finding(tlp="RED")),
        actor=a.second_reviewer,
        key=key,
    )
    await service.merge(session, finding_id=red.id, primary_id=primary.id, actor=a.coordinator)
    seen = await service.get_finding(session, finding_id=primary.id, actor=a.partner_reviewer)
    assert [r.organisation_id for r in seen.reporters] == [a.w.agency] and seen.hidden_duplicates == 1


async def test_critical_infrastructure_findings_go_to_the_clearinghouse(
    session: AsyncSession, runtime: Runtime
) -> None:
    a = await world.build(session, runtime.keys.data)
    key = runtime.keys.data
    out = await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(
            world.finding(tlp="AMBER+STRICT", reproduction=f"steps {world.CANARY}")
        ),
        actor=a.agency_reviewer,
        key=key,
        attachments=[("t.txt", world.CANARY.encode())],
    )
    marked = await service.mark_critical_infrastructure(session, finding_id=out.id, actor=a.coordinator)
    assert marked.affects_critical_infrastructure and marked.forward_state is ForwardState.FORWARDED
    assert marked.advisory_report_id is not None
    report = await advisories.get_report(session, report_id=marked.advisory_report_id, actor=a.coordinator)
    assert report.tlp.value == "AMBER+STRICT" and report.source_format.value == "finding"
    assert world.CANARY not in report.model_dump_json()  # no evidence, no reproduction
    with pytest.raises(Conflict):
        await service.mark_critical_infrastructure(session, finding_id=out.id, actor=a.coordinator)
    (entry,) = await _entries(session, "assessments.finding_forwarded")
    assert str(out.id) in str(entry["data"])


async def test_a_finding_that_cannot_be_forwarded_waits_visibly(
    session: AsyncSession, runtime: Runtime
) -> None:
    a = await world.build(session, runtime.keys.data)
    key = runtime.keys.data
    out = await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(world.finding()),
        actor=a.agency_reviewer,
        key=key,
    )
    await service.triage(
        session, finding_id=out.id, data=TriageIn(status=FindingStatus.NOT_REPRODUCIBLE), actor=a.coordinator
    )
    waiting = await service.mark_critical_infrastructure(session, finding_id=out.id, actor=a.coordinator)
    assert waiting.forward_state is ForwardState.TO_FORWARD and "not reproducible" in (
        waiting.forward_reason or ""
    )
    assert [f.id for f in await service.to_forward(session, actor=a.coordinator)] == [out.id]
    assert await service.to_forward(session, actor=a.agency_reviewer) == []
    # Once confirmed, trying again forwards it.
    await service.triage(
        session, finding_id=out.id, data=TriageIn(status=FindingStatus.CONFIRMED), actor=a.coordinator
    )
    done = await service.forward(session, finding_id=out.id, actor=a.coordinator)
    assert done.forward_state is ForwardState.FORWARDED and done.forward_reason is None
    assert await service.to_forward(session, actor=a.coordinator) == []
    with pytest.raises(Conflict):
        await service.forward(session, finding_id=out.id, actor=a.coordinator)


async def test_imports_store_findings_with_sealed_evidence_or_nothing(
    session: AsyncSession, runtime: Runtime
) -> None:
    a = await world.build(session, runtime.keys.data)
    key = runtime.keys.data
    limits = imports.Limits()
    report = world.garak_report()
    out = await service.import_garak(
        session,
        window_id=a.window.id,
        blob=report,
        tlp=Tlp.AMBER,
        workstream_id=None,
        actor=a.partner_reviewer,
        key=key,
        limits=limits,
    )
    assert len(out.findings) == 2 and out.passed_probes == ["encoding.InjectBase64"]
    assert {f.source.value for f in out.findings} == {"garak"}
    detail = await service.get_finding(session, finding_id=out.findings[0].id, actor=a.partner_reviewer)
    (evidence,) = detail.evidence
    _, data = await service.read_evidence(
        session, finding_id=detail.id, evidence_id=evidence.id, actor=a.partner_reviewer, key=key
    )
    assert world.CANARY.encode() in data  # the failing attempts, sealed
    with pytest.raises(Conflict, match="already imported"):
        await service.import_garak(
            session,
            window_id=a.window.id,
            blob=report,
            tlp=Tlp.AMBER,
            workstream_id=None,
            actor=a.partner_reviewer,
            key=key,
            limits=limits,
        )


async def test_imports_refuse_bad_files_and_store_nothing(session: AsyncSession, runtime: Runtime) -> None:
    a = await world.build(session, runtime.keys.data)
    key = runtime.keys.data
    before = len(await _entries(session, "assessments.finding_filed"))
    report = world.garak_report()
    with pytest.raises(InvalidInput):
        await service.import_garak(
            session,
            window_id=a.window.id,
            blob=report + b"{broken\n",
            tlp=Tlp.AMBER,
            workstream_id=None,
            actor=a.agency_reviewer,
            key=key,
            limits=imports.Limits(),
        )
    with pytest.raises(TooLarge):
        await service.import_garak(
            session,
            window_id=a.window.id,
            blob=report,
            tlp=Tlp.AMBER,
            workstream_id=None,
            actor=a.agency_reviewer,
            key=key,
            limits=imports.Limits(max_bytes=200),
        )
    with pytest.raises(InvalidInput):
        await service.import_inspect(
            session,
            window_id=a.window.id,
            blob=b'{"status": "success"}',
            filename="x.json",
            tlp=Tlp.AMBER,
            severity=Severity.LOW,
            area=Area.OTHER,
            workstream_id=None,
            actor=a.agency_reviewer,
            key=key,
            limits=imports.Limits(),
        )
    assert await service.list_findings(session, window_id=a.window.id, actor=a.coordinator) == []
    assert len(await _entries(session, "assessments.finding_filed")) == before
    # A good Inspect log: one finding, the log attached as .eval evidence.
    out = await service.import_inspect(
        session,
        window_id=a.window.id,
        blob=world.inspect_eval_zip(),
        filename="../weird name.zip",
        tlp=Tlp.GREEN,
        severity=Severity.LOW,
        area=Area.CBRN,
        workstream_id=None,
        actor=a.agency_reviewer,
        key=key,
        limits=imports.Limits(),
    )
    detail = await service.get_finding(session, finding_id=out.findings[0].id, actor=a.lead)
    assert (
        detail.evidence[0].filename == "weird_name.eval"
        and detail.evidence[0].content_type == "application/zip"
    )


async def test_the_report_counts_and_hides_what_the_lab_may_not_read(
    session: AsyncSession, runtime: Runtime
) -> None:
    a = await world.build(session, runtime.keys.data)
    key = runtime.keys.data
    ws = await service.plan_workstream(
        session,
        window_id=a.window.id,
        data=WorkstreamIn.model_validate(world.workstream(a.w.agency)),
        actor=a.coordinator,
    )
    await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(world.finding(workstream_id=str(ws.id), severity="high")),
        actor=a.agency_reviewer,
        key=key,
    )
    red = await service.file_finding(
        session,
        window_id=a.window.id,
        data=FindingIn.model_validate(
            world.finding(title="Secret RED finding", tlp="RED", severity="critical", area="cbrn")
        ),
        actor=a.second_reviewer,
        key=key,
    )
    # Before close: the coordinator reads an interim report; the lab is told to wait.
    interim = await service.build_report(session, window_id=a.window.id, actor=a.coordinator)
    assert not interim.final and len(interim.findings) == 2
    with pytest.raises(Conflict, match="when the window closes"):
        await service.build_report(session, window_id=a.window.id, actor=a.lead)
    with pytest.raises(NotFound):
        await service.build_report(session, window_id=a.window.id, actor=a.other_lead)

    await review.close_window(session, window_id=a.window.id, actor=a.lead, reason="done")
    assert await service.issue_final_reports(session) >= 1
    assert await service.issue_final_reports(session) == 0  # once
    for_lab = await service.build_report(session, window_id=a.window.id, actor=a.lead)
    assert for_lab.final and for_lab.issued_at is not None
    assert for_lab.totals_by_severity["critical"] == 1 and for_lab.totals_by_severity["high"] == 1
    assert for_lab.totals_by_area["cbrn"] == 1
    assert for_lab.withheld == {"critical": 1}
    assert all(f.id != red.id for f in for_lab.findings) and "Secret RED" not in for_lab.model_dump_json()
    (coverage,) = for_lab.workstreams
    assert coverage.findings == 1 and coverage.title == ws.title
    assert "cbrn" in [a_.value for a_ in for_lab.areas_without_workstream]
    assert for_lab.usage.calls == 0
    full = await service.build_report(session, window_id=a.window.id, actor=a.coordinator)
    assert full.withheld == {} and any(f.id == red.id for f in full.findings)
    (entry,) = await _entries(session, "assessments.report_issued")
    assert service.report_sha256(full) in str(entry["data"])
    assert "Secret RED" not in str(await ledger.get_entries(session, start=0, end=await _size(session)))


async def _size(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT count(*) FROM ledger_entries"))).scalar_one())


class _InSession:
    """A runtime whose transactions are savepoints of the test's session (the job body runs inside it)."""

    def __init__(self, session: AsyncSession) -> None:
        self.db = self
        self.session = session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.session.begin_nested():
            yield self.session


async def test_the_job_issues_each_closed_windows_final_report_once(
    session: AsyncSession, runtime: Runtime
) -> None:
    a = await world.build(session, runtime.keys.data)
    await review.close_window(session, window_id=a.window.id, actor=a.lead, reason="released early")
    assert await jobs.issue_now(_InSession(session)) >= 1
    assert await jobs.issue_now(_InSession(session)) == 0
    report = await service.build_report(session, window_id=a.window.id, actor=a.lead)
    assert report.final and report.issued_at is not None
