"""The report's PDF (pure: a report built here, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from tests.earlyaccess.review.assessments.test_api import pdf_pages

from forewarn.earlyaccess.review.assessments import report
from forewarn.earlyaccess.review.assessments.schemas import (
    Area,
    FindingStatus,
    ForwardState,
    ReportFinding,
    ReportOut,
    Severity,
    SeverityCount,
    Tlp,
    UsageReport,
    WorkstreamCoverage,
    WorkstreamStatus,
)


def _report(findings: int) -> ReportOut:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    return ReportOut(
        window_id=uuid.uuid4(),
        model_name="wren → ünïcode 模型",
        model_version="1.0",
        lab_organisation_name="Wren Labs",
        window_state="closed",
        opened_at=now,
        closes_at=now,
        closed_at=now,
        final=True,
        generated_at=now,
        issued_at=None,
        totals_by_severity={"high": findings},
        totals_by_area={"cyber_offence": findings},
        by_severity_and_area=[SeverityCount(severity=Severity.HIGH, area=Area.CYBER_OFFENCE, count=findings)],
        findings=[
            ReportFinding(
                id=uuid.uuid4(),
                title=f"Finding {i} — “quoted” ✓",
                severity=Severity.HIGH,
                area=Area.CYBER_OFFENCE,
                tlp=Tlp.AMBER,
                status=FindingStatus.CONFIRMED,
                reporters=["CISA", "NSA"],
                workstream="Cyber uplift",
                affects_critical_infrastructure=i == 0,
                forward_state=ForwardState.FORWARDED if i == 0 else ForwardState.NONE,
                description="A long description. " * 120,
            )
            for i in range(findings)
        ],
        withheld={"critical": 2},
        duplicates_merged=1,
        workstreams=[
            WorkstreamCoverage(
                id=uuid.uuid4(),
                title="Cyber uplift",
                area=Area.CYBER_OFFENCE,
                lead_organisation_name="CISA",
                due_date=date(2027, 1, 15),
                status=WorkstreamStatus.DONE,
                findings=findings,
            )
        ],
        areas_without_workstream=[Area.CBRN],
        usage=UsageReport(
            calls=10,
            prompt_tokens=100,
            completion_tokens=50,
            organisations=2,
            p50_latency_ms=12.0,
            p99_latency_ms=80.0,
        ),
    )


def test_the_pdf_is_a_valid_pdf_and_grows_with_the_findings() -> None:
    short = report.render_pdf(_report(0))
    assert pdf_pages(short) == 1
    long = report.render_pdf(_report(12))
    assert pdf_pages(long) > 1
    assert b"/Title" in long  # document information written


def test_text_outside_latin1_is_replaced_not_dropped() -> None:
    assert report._latin1("a → b — c “d” 模") == "a ? b - c ?d? ?"


def test_wrapping_keeps_every_line_within_the_width_and_every_character() -> None:
    def measure(text: str) -> float:
        return float(len(text))

    text = "short words here " + "x" * 95 + " and\nsecond paragraph"
    lines = report._wrap(measure, text, 20)
    assert all(len(line) <= 20 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert lines[-1] == "second paragraph"
