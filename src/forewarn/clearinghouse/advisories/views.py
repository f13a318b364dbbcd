"""HTML pages of the clearinghouse: report form, analyst queue, report and case pages, embargo calendar,
vendor view, public advisories, and the CSAF provider and OSV export files.

Every page escapes advisory text (Jinja2 autoescape; no ``|safe`` on anything a reporter, a vendor or
a document wrote). Forms carry the session's CSRF token and redirect after success (POST/redirect/GET).
"""

from __future__ import annotations

import calendar
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from forewarn.accounts import service as accounts
from forewarn.accounts.http import public, require
from forewarn.accounts.policy import signed_in
from forewarn.accounts.schemas import OrgKind, Principal
from forewarn.clearinghouse.advisories import exports, policy, service
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
from forewarn.clearinghouse.advisories.intake import parse_document
from forewarn.clearinghouse.advisories.records import (
    OPEN_REPORT_STATES,
    AffectedKind,
    CaseState,
    HowBad,
    ReportForm,
    VendorStatusValue,
)
from forewarn.clearinghouse.advisories.schemas import OSV_ECOSYSTEMS, AttackClass, Tlp
from forewarn.core.errors import ForewarnError, InvalidInput, Problem
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import FLASH, add_nav, render

router = APIRouter(include_in_schema=False)
Reporter = Annotated[Principal, Depends(require(policy.can_report))]
Analyst = Annotated[Principal, Depends(require(policy.is_analyst))]
SignedIn = Annotated[Principal, Depends(require(signed_in))]
VendorSide = Annotated[Principal, Depends(require(policy.can_see_vendor_cases))]
Anyone = Annotated[Principal | None, Depends(public())]

add_nav("Advisories", "/advisories")
add_nav("Report a vulnerability", "/clearinghouse/report")
FLASH.update(
    {
        "report-received": "Thank you: your report is in. The clearinghouse will look at it and answer here.",
        "assigned": "The report is assigned.",
        "noted": "The reproduction notes are saved.",
        "validated": "The report is validated: this is its case.",
        "rejected": "The report is rejected; the reporter sees the reason.",
        "duplicate": "The report is marked a duplicate; its ids are merged into the case.",
        "vendor-added": "The vendor is added and will get a notice.",
        "scored": "The score is saved.",
        "status-saved": "Your statement is saved.",
        "embargo-set": "The target publication date is set.",
        "tlp-set": "The TLP label is changed.",
        "published": "The advisory is published.",
        "revised": "A new revision is published.",
        "merged": "The case is merged into this one.",
        "edited": "The vulnerability is updated.",
    }
)

TLP_CHOICES = [
    (Tlp.RED, "Only the clearinghouse team (TLP:RED)"),
    (Tlp.AMBER_STRICT, "The clearinghouse and the affected vendor's staff (TLP:AMBER+STRICT)"),
    (Tlp.AMBER, "The clearinghouse, the vendor and those who need to know to protect themselves (TLP:AMBER)"),
    (Tlp.GREEN, "The security community (TLP:GREEN)"),
    (Tlp.CLEAR, "Anyone: it is already public (TLP:CLEAR)"),
]
HOW_BAD = [
    (HowBad.MINOR, "A minor problem: annoying, but no data or control is at risk"),
    (HowBad.SERIOUS, "Serious: someone could see data they should not, or disrupt our work"),
    (HowBad.SEVERE, "Severe: someone could take control of systems or cause real harm"),
    (HowBad.EXPLOITED, "It is happening: attackers are using it right now"),
]
ATTACKS = [
    (AttackClass.PROMPT_INJECTION, "It can be made to follow instructions hidden in what it reads"),
    (AttackClass.JAILBREAK, "It can be talked into doing things it should refuse"),
    (AttackClass.DATA_EXTRACTION, "It gives away data it should keep private"),
    (AttackClass.MODEL_SUPPLY_CHAIN, "The model file or where it came from was tampered with"),
    (AttackClass.OTHER, "Something else"),
]
STATUS_LABELS = {
    VendorStatusValue.AFFECTED: "Affected",
    VendorStatusValue.NOT_AFFECTED: "Not affected",
    VendorStatusValue.UNDER_INVESTIGATION: "Under investigation",
}


def _see(path: str, flash: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?flash={flash}", status_code=303)


def _config(runtime: Any) -> service.Config:
    return service.config_from(runtime.settings)


def _pretty(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)


# --- reporting ---------------------------------------------------------------------------------


def _form_page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    problems: list[Problem] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "clearinghouse/report_form.html",
        status_code=status,
        error=error,
        problems=problems or [],
        values=values or {},
        tlps=TLP_CHOICES,
        how_bad=HOW_BAD,
        attacks=ATTACKS,
        ecosystems=sorted(OSV_ECOSYSTEMS, key=str.lower),
    )


@router.get("/clearinghouse/report", name="report_form")
async def report_form(request: Request, _: Reporter) -> Response:
    return _form_page(request)


@router.post("/clearinghouse/report")
async def report_submit(
    request: Request,
    session: Session,
    actor: Reporter,
    what_happened: Annotated[str, Form(max_length=20_000)] = "",
    title: Annotated[str, Form(max_length=200)] = "",
    affected_kind: Annotated[str, Form(max_length=20)] = "product",
    product: Annotated[str, Form(max_length=200)] = "",
    vendor: Annotated[str, Form(max_length=200)] = "",
    versions: Annotated[str, Form(max_length=500)] = "",
    ecosystem: Annotated[str, Form(max_length=50)] = "",
    attack_class: Annotated[str, Form(max_length=40)] = "",
    how_bad: Annotated[str, Form(max_length=20)] = "serious",
    who_knows: Annotated[str, Form(max_length=5_000)] = "",
    tlp: Annotated[str, Form(max_length=20)] = "AMBER",
) -> Response:
    values = {
        "what_happened": what_happened,
        "title": title,
        "affected_kind": affected_kind,
        "product": product,
        "vendor": vendor,
        "versions": versions,
        "ecosystem": ecosystem,
        "attack_class": attack_class,
        "how_bad": how_bad,
        "who_knows": who_knows,
        "tlp": tlp,
    }
    try:
        data = ReportForm(
            what_happened=what_happened,
            title=title or None,
            affected_kind=AffectedKind(affected_kind)
            if affected_kind in AffectedKind.__members__.values()
            else affected_kind,
            product=product,
            vendor=vendor or None,
            versions=versions or None,
            ecosystem=ecosystem or None,
            attack_class=attack_class or None,
            how_bad=how_bad,
            who_knows=who_knows or None,
            tlp=tlp,
        )
        report = await service.submit_form(session, data=data, actor=actor)
    except ValidationError as exc:
        problems = [
            Problem(".".join(str(p) for p in e["loc"]), str(e["msg"]).removeprefix("Value error, "))
            for e in exc.errors()
        ]
        return _form_page(
            request, status=422, error="Please check the form.", problems=problems, values=values
        )
    except InvalidInput as exc:
        return _form_page(request, status=422, error=exc.message, problems=exc.problems, values=values)
    return _see(f"/clearinghouse/reports/{report.id}", "report-received")


@router.post("/clearinghouse/report/upload")
async def report_upload(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Reporter,
    file: Annotated[UploadFile, File()],
    tlp: Annotated[str, Form(max_length=20)] = "AMBER",
) -> Response:
    config = _config(runtime)
    try:
        label = Tlp(tlp)
    except ValueError:
        return _form_page(
            request, status=422, error="Choose who may read the report.", problems=[Problem("tlp", "unknown")]
        )
    raw = await file.read(config.limits.max_bytes + 1)
    name = (file.filename or "upload")[:255]
    try:
        parsed = parse_document(raw, filename=name, limits=config.limits)
        reports = await service.submit_parsed(session, parsed=parsed, filename=name, tlp=label, actor=actor)
    except InvalidInput as exc:
        return _form_page(request, status=exc.status_code, error=exc.message, problems=exc.problems)
    except ForewarnError as exc:
        return _form_page(request, status=exc.status_code, error=str(exc))
    if len(reports) == 1:
        return _see(f"/clearinghouse/reports/{reports[0].id}", "report-received")
    return _see("/clearinghouse/my-reports", "report-received")


@router.get("/clearinghouse/my-reports", name="my_reports")
async def my_reports(request: Request, session: Session, actor: Reporter) -> Response:
    reports = await service.list_reports(session, actor=actor.model_copy(update={"roles": frozenset()}))
    return render(request, "clearinghouse/my_reports.html", reports=reports)


# --- the analyst's queue and the report page ----------------------------------------------------


@router.get("/clearinghouse", name="clearinghouse")
async def queue(request: Request, session: Session, actor: Analyst) -> Response:
    reports = await service.list_reports(session, actor=actor, states=list(OPEN_REPORT_STATES))
    cases = await service.list_cases(session, actor=actor, states=[CaseState.OPEN])
    published = await service.list_cases(session, actor=actor, states=[CaseState.PUBLISHED], limit=20)
    return render(
        request,
        "clearinghouse/queue.html",
        reports=reports,
        cases=cases,
        published=published,
        now=datetime.now(UTC),
    )


@router.get("/clearinghouse/reports/{report_id}", name="report_page")
async def report_page(request: Request, report_id: uuid.UUID, session: Session, actor: SignedIn) -> Response:
    report = await service.get_report(session, report_id=report_id, actor=actor)
    analyst = policy.is_analyst(actor)
    suggestions = await service.suggestions(session, report_id=report_id, actor=actor) if analyst else []
    cases = await service.list_cases(session, actor=actor, states=[CaseState.OPEN]) if analyst else []
    return render(
        request,
        "clearinghouse/report.html",
        report=report,
        analyst=analyst,
        suggestions=suggestions,
        open_cases=cases,
        advisory_json=_pretty(report.advisory),
        tlps=TLP_CHOICES,
        is_open=report.state in OPEN_REPORT_STATES,
    )


@router.post("/clearinghouse/reports/{report_id}/assign")
async def report_assign(report_id: uuid.UUID, session: Session, actor: Analyst) -> Response:
    await service.assign(session, report_id=report_id, actor=actor)
    return _see(f"/clearinghouse/reports/{report_id}", "assigned")


@router.post("/clearinghouse/reports/{report_id}/reproduction")
async def report_reproduction(
    report_id: uuid.UUID,
    session: Session,
    actor: Analyst,
    notes: Annotated[str, Form(min_length=1, max_length=20_000)],
) -> Response:
    await service.add_reproduction(session, report_id=report_id, notes=notes, actor=actor)
    return _see(f"/clearinghouse/reports/{report_id}", "noted")


@router.post("/clearinghouse/reports/{report_id}/validate")
async def report_validate(
    report_id: uuid.UUID,
    session: Session,
    runtime: RuntimeDep,
    actor: Analyst,
    case_id: Annotated[str, Form(max_length=40)] = "",
    tlp: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        target = uuid.UUID(case_id) if case_id else None
        label = Tlp(tlp) if tlp and not target else None
    except ValueError:
        raise InvalidInput("choose a case or a TLP label", problems=[Problem("case_id", "unknown")]) from None
    case = await service.validate(
        session, report_id=report_id, actor=actor, case_id=target, tlp=label, config=_config(runtime)
    )
    return _see(f"/clearinghouse/cases/{case.id}", "validated")


@router.post("/clearinghouse/reports/{report_id}/reject")
async def report_reject(
    report_id: uuid.UUID,
    session: Session,
    actor: Analyst,
    reason: Annotated[str, Form(min_length=3, max_length=5_000)],
) -> Response:
    await service.reject(session, report_id=report_id, reason=reason, actor=actor)
    return _see(f"/clearinghouse/reports/{report_id}", "rejected")


@router.post("/clearinghouse/reports/{report_id}/duplicate")
async def report_duplicate(
    report_id: uuid.UUID,
    session: Session,
    actor: Analyst,
    case_id: Annotated[uuid.UUID, Form()],
    ordinal: Annotated[int, Form(ge=1)] = 1,
) -> Response:
    await service.mark_duplicate(session, report_id=report_id, case_id=case_id, ordinal=ordinal, actor=actor)
    return _see(f"/clearinghouse/reports/{report_id}", "duplicate")


# --- cases ----------------------------------------------------------------------------------------


@router.get("/clearinghouse/cases/{case_id}", name="case_page")
async def case_page(request: Request, case_id: uuid.UUID, session: Session, actor: SignedIn) -> Response:
    case = await service.get_case(session, case_id=case_id, actor=actor)
    analyst = policy.is_analyst(actor)
    vendor_orgs = []
    other_cases = []
    if analyst:
        known = {v.organisation_id for v in case.vendors}
        for kind in (OrgKind.VENDOR, OrgKind.LAB):
            vendor_orgs += [
                o
                for o in await accounts.list_organisations(session, actor=None, kind=kind)
                if o.id not in known
            ]
        other_cases = [
            c
            for c in await service.list_cases(session, actor=actor, states=[CaseState.OPEN])
            if c.id != case.id
        ]
    osv_texts: dict[int, str] = {}
    if analyst:
        from forewarn.clearinghouse.advisories.osv import to_osv
        from forewarn.clearinghouse.advisories.schemas import Advisory

        for vuln in case.vulnerabilities:
            try:
                osv_texts[vuln.ordinal] = _pretty(to_osv(Advisory.model_validate(vuln.advisory)))
            except InvalidAdvisory:
                osv_texts[vuln.ordinal] = ""
    is_vendor = actor.organisation_id is not None and any(
        v.organisation_id == actor.organisation_id for v in case.vendors
    )
    return render(
        request,
        "clearinghouse/case.html",
        case=case,
        analyst=analyst,
        is_vendor=is_vendor,
        vendor_orgs=sorted(vendor_orgs, key=lambda o: o.name),
        other_cases=other_cases,
        tlps=TLP_CHOICES,
        statuses=STATUS_LABELS,
        osv_texts=osv_texts,
        csaf_path=_current_csaf_path(case.number, case.published_at),
    )


def _current_csaf_path(number: str, published_at: datetime | None) -> str | None:
    if published_at is None:
        return None
    return f"/{exports.CSAF_DIRECTORY}/{exports.csaf_path(number, published_at)}"


@router.post("/clearinghouse/cases/{case_id}/vendors")
async def case_add_vendor(
    case_id: uuid.UUID, session: Session, actor: Analyst, organisation_id: Annotated[uuid.UUID, Form()]
) -> Response:
    await service.add_vendor(session, case_id=case_id, organisation_id=organisation_id, actor=actor)
    return _see(f"/clearinghouse/cases/{case_id}", "vendor-added")


@router.post("/clearinghouse/cases/{case_id}/vulnerabilities/{ordinal}/score")
async def case_score(
    case_id: uuid.UUID,
    ordinal: int,
    session: Session,
    actor: Analyst,
    vector: Annotated[str, Form(max_length=512)],
) -> Response:
    await service.score(session, case_id=case_id, ordinal=ordinal, vector=vector, actor=actor)
    return _see(f"/clearinghouse/cases/{case_id}", "scored")


@router.post("/clearinghouse/cases/{case_id}/vulnerabilities/{ordinal}/osv")
async def case_edit(
    case_id: uuid.UUID,
    ordinal: int,
    session: Session,
    actor: Analyst,
    osv_json: Annotated[str, Form(max_length=1_000_000)],
) -> Response:
    from forewarn.clearinghouse.advisories.intake import named
    from forewarn.clearinghouse.advisories.jsondoc import parse_json
    from forewarn.clearinghouse.advisories.osv import from_osv

    try:
        advisory = from_osv(parse_json(osv_json, max_bytes=1_048_576, what="OSV record"))
    except InvalidAdvisory as exc:
        raise named(exc, "the OSV record") from None
    await service.update_vulnerability(
        session, case_id=case_id, ordinal=ordinal, advisory=advisory, actor=actor
    )
    return _see(f"/clearinghouse/cases/{case_id}", "edited")


@router.post("/clearinghouse/cases/{case_id}/vulnerabilities/{ordinal}/status")
async def case_status(
    case_id: uuid.UUID,
    ordinal: int,
    session: Session,
    actor: SignedIn,
    status: Annotated[VendorStatusValue, Form()],
    statement: Annotated[str, Form(max_length=10_000)] = "",
    organisation_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    await service.set_vendor_status(
        session,
        case_id=case_id,
        ordinal=ordinal,
        status=status,
        statement=statement,
        organisation_id=_uuid(organisation_id, "organisation_id"),
        actor=actor,
    )
    return _see(f"/clearinghouse/cases/{case_id}", "status-saved")


def _uuid(value: str, field: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("not an id", problems=[Problem(field, "not a UUID")]) from None


@router.post("/clearinghouse/cases/{case_id}/embargo")
async def case_embargo(
    case_id: uuid.UUID,
    session: Session,
    actor: Analyst,
    until: Annotated[date, Form()],
    reason: Annotated[str, Form(max_length=2_000)] = "",
) -> Response:
    moment = datetime.combine(until, time(12, 0), tzinfo=UTC)
    await service.set_embargo(session, case_id=case_id, until=moment, reason=reason or None, actor=actor)
    return _see(f"/clearinghouse/cases/{case_id}", "embargo-set")


@router.post("/clearinghouse/cases/{case_id}/tlp")
async def case_tlp(
    case_id: uuid.UUID, session: Session, actor: Analyst, tlp: Annotated[Tlp, Form()]
) -> Response:
    await service.set_tlp(session, case_id=case_id, tlp=tlp, actor=actor)
    return _see(f"/clearinghouse/cases/{case_id}", "tlp-set")


@router.post("/clearinghouse/cases/{case_id}/merge")
async def case_merge(
    case_id: uuid.UUID, session: Session, actor: Analyst, into_case_id: Annotated[uuid.UUID, Form()]
) -> Response:
    into = await service.merge_cases(session, case_id=case_id, into_case_id=into_case_id, actor=actor)
    return _see(f"/clearinghouse/cases/{into.id}", "merged")


@router.post("/clearinghouse/cases/{case_id}/publish")
async def case_publish(case_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: Analyst) -> Response:
    await service.publish(session, case_id=case_id, actor=actor, config=_config(runtime))
    return _see(f"/clearinghouse/cases/{case_id}", "published")


@router.post("/clearinghouse/cases/{case_id}/revise")
async def case_revise(
    case_id: uuid.UUID,
    session: Session,
    runtime: RuntimeDep,
    actor: Analyst,
    summary: Annotated[str, Form(min_length=3, max_length=1_000)],
) -> Response:
    await service.revise(session, case_id=case_id, summary=summary, actor=actor, config=_config(runtime))
    return _see(f"/clearinghouse/cases/{case_id}", "revised")


@router.get("/clearinghouse/embargoes", name="embargoes")
async def embargo_page(request: Request, session: Session, actor: Analyst) -> Response:
    cases = await service.embargo_calendar(session, actor=actor)
    today = datetime.now(UTC).date()
    months = []
    first = today.replace(day=1)
    for step in range(3):
        year, month = first.year + (first.month - 1 + step) // 12, (first.month - 1 + step) % 12 + 1
        weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
        by_day: dict[date, list[Any]] = {}
        for case in cases:
            if case.embargo_until is not None:
                by_day.setdefault(case.embargo_until.date(), []).append(case)
        months.append(
            {
                "title": f"{calendar.month_name[month]} {year}",
                "month": month,
                "weeks": weeks,
                "by_day": by_day,
            }
        )
    later = [c for c in cases if c.embargo_until and c.embargo_until.date() >= _add_months(first, 3)]
    return render(
        request,
        "clearinghouse/embargoes.html",
        cases=cases,
        months=months,
        today=today,
        later=later,
        soon=today + timedelta(days=7),
    )


def _add_months(day: date, months: int) -> date:
    year, month = day.year + (day.month - 1 + months) // 12, (day.month - 1 + months) % 12 + 1
    return date(year, month, 1)


@router.get("/clearinghouse/vendor", name="vendor_cases")
async def vendor_page(request: Request, session: Session, actor: VendorSide) -> Response:
    cases = await service.vendor_cases(session, actor=actor)
    notices = await service.list_notices(session, actor=actor)
    return render(request, "clearinghouse/vendor.html", cases=cases, notices=notices, statuses=STATUS_LABELS)


# --- public ---------------------------------------------------------------------------------------


@router.get("/advisories", name="public_advisories")
async def public_list(request: Request, session: Session, _: Anyone) -> Response:
    advisories = await service.list_public(session)
    return render(request, "clearinghouse/public_list.html", advisories=advisories)


@router.get("/advisories/{ref}", name="public_advisory")
async def public_advisory(request: Request, ref: str, session: Session, _: Anyone) -> Response:
    case, records = await service.public_page(session, ref=ref)
    return render(
        request,
        "clearinghouse/public_advisory.html",
        case=case,
        records=records,
        statuses=STATUS_LABELS,
        csaf_path=_current_csaf_path(case.number, case.published_at),
    )


_TYPES = {
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".sha256": "text/plain; charset=utf-8",
    ".sha512": "text/plain; charset=utf-8",
    ".asc": "application/pgp-signature",
    ".zip": "application/zip",
}


def _typed(path: str, content: bytes) -> Response:
    suffix = "." + path.rsplit(".", 1)[-1] if "." in path else ""
    return Response(
        content,
        media_type=_TYPES.get(suffix, "application/octet-stream"),
        headers={"Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/.well-known/csaf/{path:path}", name="csaf_files")
async def csaf_files(path: str, session: Session, runtime: RuntimeDep, _: Anyone) -> Response:
    """CSAF 2.0 provider: provider-metadata.json, the TLP:WHITE directory, signatures and the key."""
    from forewarn.clearinghouse.advisories import openpgp

    full = f".well-known/csaf/{path}"
    config = _config(runtime)
    signer = openpgp.signer_from_settings(runtime.settings)
    if full == exports.PROVIDER_METADATA:
        metadata = await service.provider_metadata(session, config=config)
        entry = signer.key_entry(config.base_url)
        return _typed(full, exports.dumps(exports.with_openpgp_key(metadata, entry)))
    if full == signer.public_key_path:
        return _typed(full, signer.public_key)
    if full.endswith(".asc") and exports.is_document(full[: -len(".asc")]):
        document = await service.csaf_file(session, path=full[: -len(".asc")], config=config)
        return _typed(full, signer.sign(document))
    return _typed(full, await service.csaf_file(session, path=full, config=config))


@router.get("/osv/{path:path}", name="osv_files")
async def osv_files(path: str, session: Session, _: Anyone) -> Response:
    """OSV export: per-ecosystem all.zip and modified_id.csv, records, ecosystems.txt."""
    tree = exports.osv_tree(await service.osv_records(session))
    if path not in tree:
        from forewarn.core.errors import NotFound

        raise NotFound(f"there is nothing at /osv/{path}")
    return _typed(path, tree[path])
