"""The assessment report as a PDF (fpdf2, PDF core fonts: no font file, no network).

The PDF holds exactly what the reader's :class:`ReportOut` holds: the service has already left out
what the reader may not read (TLP:RED findings appear to the lab as counts only).
Core fonts cover Latin-1; other characters are written as ``?`` rather than dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forewarn.earlyaccess.review.assessments.schemas import AREA_LABELS, Area, ReportOut, Severity

_DESCRIPTION_CHARS = 1500


def _latin1(text: str) -> str:
    replaced = (
        text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'").replace("\u2026", "...")
    )
    replaced = replaced.replace("\u00d7", "x")
    return replaced.encode("latin-1", "replace").decode("latin-1")


def _wrap(measure: Callable[[str], float], text: str, width: float) -> list[str]:
    """Lines of ``text`` no wider than ``width`` (words kept whole unless one alone is too wide).

    Widths add up word by word (core fonts have no kerning), so a paragraph is measured once.
    """
    lines: list[str] = []
    space = measure(" ")
    for paragraph in text.splitlines() or [""]:
        line, used = "", 0.0
        for whole in paragraph.split(" "):
            word = whole
            while len(word) > 1 and measure(word) > width:
                cut = len(word)
                while cut > 1 and measure(word[:cut]) > width:
                    cut = max(1, cut * 3 // 4)
                if line:
                    lines.append(line)
                    line, used = "", 0.0
                lines.append(word[:cut])
                word = word[cut:]
            size = measure(word)
            if not line:
                line, used = word, size
            elif used + space + size <= width:
                line, used = f"{line} {word}", used + space + size
            else:
                lines.append(line)
                line, used = word, size
        lines.append(line)
    return lines


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


def render_pdf(report: ReportOut) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"Assessment report: {report.model_name} {report.model_version}"))
    pdf.set_creator("forewarn")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def heading(text: str, size: int = 13) -> None:
        pdf.set_font("Helvetica", "B", size)
        pdf.multi_cell(width, 7, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)

    def para(text: str, size: int = 10, style: str = "") -> None:
        # Wrapped here, one cell a line: fpdf2's multi_cell measures a paragraph anew for every
        # character it adds, which takes seconds for a report with long descriptions.
        pdf.set_font("Helvetica", style, size)
        for line in _wrap(pdf.get_string_width, _latin1(text), width - 2 * pdf.c_margin):
            pdf.cell(width, 5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def row(cells: list[str], widths: list[float], bold: bool = False) -> None:
        pdf.set_font("Helvetica", "B" if bold else "", 9)
        for text, w in zip(cells, widths, strict=True):
            pdf.cell(w, 6, _latin1(text)[:60], border=1)
        pdf.ln(6)

    heading(
        f"{'Final' if report.final else 'Interim'} assessment report: "
        f"{report.model_name} {report.model_version}",
        15,
    )
    para(f"Lab: {report.lab_organisation_name}")
    para(
        f"Window: {report.window_state}; access from {_when(report.opened_at)}; "
        f"closes {_when(report.closes_at)}; "
        f"closed {_when(report.closed_at)}"
    )
    para(f"Generated {_when(report.generated_at)}; issued {_when(report.issued_at)}")
    pdf.ln(3)

    heading("Findings by severity and area")
    areas = list(Area)
    first = 30.0
    rest = (width - first - 18) / len(areas)
    widths = [first] + [rest] * len(areas) + [18.0]
    row(["Severity", *[AREA_LABELS[a] for a in areas], "Total"], widths, bold=True)
    counts = {(c.severity, c.area): c.count for c in report.by_severity_and_area}
    for severity in Severity:
        row(
            [
                severity.value,
                *[str(counts.get((severity, a), 0)) for a in areas],
                str(report.totals_by_severity.get(severity.value, 0)),
            ],
            widths,
        )
    if report.withheld:
        withheld = ", ".join(f"{n} {s}" for s, n in sorted(report.withheld.items()))
        para(f"Counted but not shown to you (TLP:RED, not released by the filer): {withheld}.", 9, "I")
    if report.duplicates_merged:
        para(f"Duplicates merged across reporters: {report.duplicates_merged}.", 9)
    pdf.ln(3)

    heading("Workstream coverage")
    if report.workstreams:
        widths = [60.0, 30.0, 40.0, 22.0, 18.0, width - 170.0]
        row(["Workstream", "Area", "Lead", "Due", "Findings", "Status"], widths, bold=True)
        for w in report.workstreams:
            row(
                [
                    w.title,
                    AREA_LABELS[w.area],
                    w.lead_organisation_name,
                    w.due_date.isoformat(),
                    str(w.findings),
                    w.status.value,
                ],
                widths,
            )
    else:
        para("No workstream was planned.")
    if report.areas_without_workstream:
        para(
            "Areas without a workstream: "
            + ", ".join(AREA_LABELS[a] for a in report.areas_without_workstream)
            + ".",
            9,
        )
    pdf.ln(3)

    heading("Model access through the gateway")
    u = report.usage
    para(
        f"{u.calls} calls by {u.organisations} organisations; {u.prompt_tokens} prompt and "
        f"{u.completion_tokens} "
        f"completion tokens; {u.errors} errors"
        + (
            f"; latency p50 {u.p50_latency_ms:.0f} ms, p99 {u.p99_latency_ms:.0f} ms"
            if u.p50_latency_ms is not None and u.p99_latency_ms is not None
            else ""
        )
        + "."
    )
    for org in u.by_organisation:
        para(
            f"- {org.organisation_name}: {org.calls} calls, "
            f"{org.prompt_tokens + org.completion_tokens} tokens, "
            f"{org.errors} errors",
            9,
        )
    pdf.ln(3)

    heading("Findings")
    if not report.findings:
        para("No finding you may read.")
    for f in report.findings:
        para(f"[{f.severity.value.upper()}] {f.title}", 10, "B")
        meta = (
            f"TLP:{f.tlp.value}; area {AREA_LABELS[f.area]}; status {f.status.value.replace('_', ' ')}; "
            f"reported by {', '.join(f.reporters)}"
            + (f"; workstream {f.workstream}" if f.workstream else "")
            + (
                "; affects critical infrastructure (" + f.forward_state.value.replace("_", " ") + ")"
                if f.affects_critical_infrastructure
                else ""
            )
        )
        para(meta, 8, "I")
        text = (
            f.description
            if len(f.description) <= _DESCRIPTION_CHARS
            else f.description[:_DESCRIPTION_CHARS] + "..."
        )
        para(text, 9)
        pdf.ln(2)
    return bytes(pdf.output())
