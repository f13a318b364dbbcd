"""The assessments' rows of the access matrix (tests/web/test_access_matrix.py): who may call each
``/api/v1/assessments`` route, the objects the routes act on, and their request bodies.

The matrix window belongs to the matrix lab (``lab_safety``) and has the partner (``partner_reviewer``)
granted; NSA (``nsa_custodian``) is granted too, but a custodian is not a reviewer. Routes that change
state get objects of their own; the report routes use a closed window (the lab reads it then).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.review import world as review_world
from tests.earlyaccess.review.assessments import world

from forewarn.accounts.schemas import Principal
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.assessments import service
from forewarn.earlyaccess.review.assessments.schemas import FindingIn, FindingStatus, TriageIn, WorkstreamIn
from forewarn.earlyaccess.review.schemas import CredentialIn

PREFIX = "/api/v1/assessments/"
P = "/api/v1/assessments"

COORD = {"coordinator"}
#: Filers in the matrix window: coordinators and the granted partner's reviewer.
FILERS = {"coordinator", "partner_reviewer"}
#: Readers of the window and of its AMBER findings: the filers and the lab's safety lead.
READERS = {"coordinator", "partner_reviewer", "lab_safety"}

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", f"{P}/windows"): READERS,
    ("GET", f"{P}/windows/{{window_id}}/workstreams"): READERS,
    ("POST", f"{P}/windows/{{window_id}}/workstreams"): COORD,
    ("POST", f"{P}/workstreams/{{workstream_id}}"): COORD,
    ("GET", f"{P}/windows/{{window_id}}/findings"): READERS,
    ("POST", f"{P}/windows/{{window_id}}/findings"): FILERS,
    ("POST", f"{P}/windows/{{window_id}}/imports/garak"): FILERS,
    ("POST", f"{P}/windows/{{window_id}}/imports/inspect"): FILERS,
    ("GET", f"{P}/findings/to-forward"): COORD,
    ("GET", f"{P}/findings/{{finding_id}}"): READERS,
    ("POST", f"{P}/findings/{{finding_id}}/evidence"): FILERS,
    ("GET", f"{P}/findings/{{finding_id}}/evidence/{{evidence_id}}"): READERS,
    ("POST", f"{P}/findings/{{finding_id}}/triage"): COORD,
    ("POST", f"{P}/findings/{{finding_id}}/merge"): COORD,
    ("POST", f"{P}/findings/{{finding_id}}/critical-infrastructure"): COORD,
    ("POST", f"{P}/findings/{{finding_id}}/forward"): COORD,
    # Only the filer's organisation releases its RED finding to the lab.
    ("POST", f"{P}/findings/{{finding_id}}/release-to-lab"): {"partner_reviewer"},
    # Reports: coordinators; the lab once the window closed (the matrix uses a closed window).
    ("GET", f"{P}/windows/{{window_id}}/report"): {"coordinator", "lab_safety"},
    ("GET", f"{P}/windows/{{window_id}}/report.pdf"): {"coordinator", "lab_safety"},
    ("POST", f"{P}/windows/{{window_id}}/report"): COORD,
}

_UPSTREAM = CredentialIn.model_validate({"base_url": "http://127.0.0.1:9/v1", "credential": "sk-matrix"})


async def _window(session: AsyncSession, key: DataKey, people: dict[str, Principal]) -> uuid.UUID:
    lead, partner = people["lab_safety"], people["partner_reviewer"]
    assert partner.organisation_id is not None
    model = await review_world.register(session, key, lead)
    await review_world.mark_covered(session, model.id)
    window = await review.open_window(session, model_id=model.id, actor=lead, length_days=30)
    await review.register_credential(session, window_id=window.id, data=_UPSTREAM, actor=lead, key=key)
    await review.grant_partner_access(
        session,
        window_id=window.id,
        organisation_id=partner.organisation_id,
        staff_person_ids=[partner.person_id],
        decision_ref=f"MATRIX-{uuid.uuid4().hex[:6]}",
    )
    return window.id


async def setup(
    session: AsyncSession, key: DataKey, *, people: dict[str, Principal]
) -> dict[str, dict[str, str]]:
    """The matrix's assessment objects (after the review matrix made the lab a participant)."""
    partner, coordinator = people["partner_reviewer"], people["coordinator"]
    assert partner.organisation_id is not None
    if not await review.is_participating(session, organisation_id=people["lab_safety"].organisation_id):  # type: ignore[arg-type]
        agreement = await review.current_agreement(session)
        assert agreement is not None, "the review matrix publishes the agreement first"
        await review.sign(session, agreement_version=agreement.version, actor=people["lab_safety"])
    window_id = await _window(session, key, people)

    async def finding(**fields: Any) -> uuid.UUID:
        out = await service.file_finding(
            session,
            window_id=window_id,
            data=FindingIn.model_validate(world.finding(**fields)),
            actor=partner,
            key=key,
            attachments=[("note.txt", b"evidence")],
        )
        return out.id

    reader = await finding()
    detail = await service.get_finding(session, finding_id=reader, actor=partner)
    primary, duplicate = await finding(), await finding()
    critical = await finding()
    waiting = await finding()
    await service.triage(
        session, finding_id=waiting, data=TriageIn(status=FindingStatus.NOT_REPRODUCIBLE), actor=coordinator
    )
    await service.mark_critical_infrastructure(session, finding_id=waiting, actor=coordinator)
    red = await finding(tlp="RED")
    ws = await service.plan_workstream(
        session,
        window_id=window_id,
        data=WorkstreamIn.model_validate(world.workstream(partner.organisation_id)),
        actor=coordinator,
    )
    closed = await _window(session, key, people)
    await review.close_window(session, window_id=closed, actor=coordinator, reason="matrix")

    base = {"window_id": str(window_id), "finding_id": str(reader), "evidence_id": str(detail.evidence[0].id)}
    params: dict[str, dict[str, str]] = {template: dict(base) for (_, template) in EXPECTED}
    params[f"{P}/workstreams/{{workstream_id}}"]["workstream_id"] = str(ws.id)
    params[f"{P}/findings/{{finding_id}}/merge"] |= {"finding_id": str(duplicate), "primary_id": str(primary)}
    params[f"{P}/findings/{{finding_id}}/critical-infrastructure"]["finding_id"] = str(critical)
    params[f"{P}/findings/{{finding_id}}/forward"]["finding_id"] = str(waiting)
    params[f"{P}/findings/{{finding_id}}/release-to-lab"]["finding_id"] = str(red)
    for template in (f"{P}/windows/{{window_id}}/report", f"{P}/windows/{{window_id}}/report.pdf"):
        params[template]["window_id"] = str(closed)
    params[f"{P}/windows/{{window_id}}/report"]["window_id"] = str(closed)
    params[f"{P}/windows/{{window_id}}/workstreams"]["lead"] = str(partner.organisation_id)
    return params


def request_kwargs(method: str, template: str, params: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The body of each write (fresh files each call: an import of the same file twice is refused)."""
    mine = params.get(template, {})
    if method != "POST":
        return {}
    if template.endswith("/workstreams"):
        return {"json": world.workstream(uuid.UUID(params[f"{P}/windows/{{window_id}}/workstreams"]["lead"]))}
    if template.endswith("/workstreams/{workstream_id}"):
        return {"json": {"status": "in_progress"}}
    if template.endswith("/findings") and "{window_id}" in template:
        return {"json": world.finding()}
    if template.endswith("/imports/garak"):
        return {"files": {"file": ("garak.report.jsonl", world.garak_report())}}
    if template.endswith("/imports/inspect"):
        return {"files": {"file": ("run.eval", world.inspect_eval_zip())}}
    if template.endswith("/evidence"):
        return {"files": {"file": ("more.txt", b"more evidence")}}
    if template.endswith("/triage"):
        return {"json": {"status": "triaged"}}
    if template.endswith("/merge"):
        return {"json": {"primary_id": mine["primary_id"]}}
    return {}
