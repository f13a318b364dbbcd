"""Pages of the sealed benchmark: custodians see packs, policies and runs; labs their verdicts.

Custodians also act here: import and retire packs, propose (NSA), consult on (ONCD, CISA) and
activate (NSA) threshold policies. A refused or invalid form re-renders the page with an error that
names the field; nothing sealed (threshold numbers, comments) is ever echoed back into the page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import ForewarnError
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import render
from forewarn.earlyaccess.benchmark import policy, service
from forewarn.earlyaccess.benchmark.api import read_upload
from forewarn.earlyaccess.benchmark.schemas import ConsultationIn, DeterminationOut, PolicyIn, PublicVerdict
from forewarn.earlyaccess.review import policy as review_policy
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.schemas import ModelOut, WindowState

router = APIRouter(include_in_schema=False)

Custodian = Annotated[Principal, Depends(require(policy.is_custodian))]
Reader = Annotated[Principal, Depends(require(policy.can_list_determinations))]
Requester = Annotated[Principal, Depends(require(policy.can_request_determination))]
PackManager = Annotated[Principal, Depends(require(policy.can_manage_packs))]
Proposer = Annotated[Principal, Depends(require(policy.can_propose_policy))]
Consultee = Annotated[Principal, Depends(require(policy.can_consult))]

#: Notices a redirect back to the custodian page may ask for (by code, so a link cannot inject text).
DONE: dict[str, str] = {
    "pack-imported": "The pack is imported.",
    "pack-retired": "The pack is retired.",
    "policy-proposed": "The policy is proposed; ONCD and CISA are to be consulted.",
    "policy-consulted": "Your agency's consultation is recorded.",
    "policy-activated": "The policy is active.",
}


def _validation_text(exc: ValidationError) -> str:
    """Field names and messages only: pydantic's ``input`` (a sealed value, maybe) is left out."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "form"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


async def _custodian_page(
    request: Request, session: Session, actor: Principal, *, error: str | None = None, status_code: int = 200
) -> Response:
    consulted_by_me = set()
    policies = await service.list_policies(session, actor=actor)
    for p in policies:
        if any(c.agency == actor.org_code for c in p.consultations):
            consulted_by_me.add(p.id)
    return render(
        request,
        "benchmark/custodian.html",
        status_code=status_code,
        packs=await service.list_packs(session, actor=actor),
        policies=policies,
        determinations=await service.list_determinations(session, actor=actor),
        can_manage_packs=policy.can_manage_packs(actor),
        can_propose=policy.can_propose_policy(actor),
        can_consult=policy.can_consult(actor),
        consulted_by_me=consulted_by_me,
        done=DONE.get(request.query_params.get("done", "")),
        error=error,
    )


def _done(code: str) -> Response:
    return RedirectResponse(f"/benchmark?done={code}", status_code=303)


@router.get("/benchmark", name="benchmark")
async def custodian_page(request: Request, session: Session, actor: Custodian) -> Response:
    """Packs, threshold policies with their consultations, and every determination run."""
    return await _custodian_page(request, session, actor)


@router.post("/benchmark/packs", name="benchmark_import_pack")
async def import_pack_from_page(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: PackManager,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Import a sealed pack file from the page (custodians)."""
    try:
        blob = await read_upload(file, runtime.settings.max_upload_bytes)
        if not blob:
            return await _custodian_page(
                request, session, actor, error="file: choose a sealed pack file", status_code=422
            )
        await service.import_pack(session, blob=blob, actor=actor, key=runtime.keys.data)
    except ForewarnError as exc:
        return await _custodian_page(
            request, session, actor, error=f"file: {exc}", status_code=exc.status_code
        )
    return _done("pack-imported")


@router.post("/benchmark/packs/{pack_id}/retire", name="benchmark_retire_pack")
async def retire_pack_from_page(
    pack_id: uuid.UUID, request: Request, session: Session, actor: PackManager
) -> Response:
    """Retire a pack from the page (custodians)."""
    try:
        await service.retire_pack(session, pack_id=pack_id, actor=actor)
    except ForewarnError as exc:
        return await _custodian_page(
            request, session, actor, error=f"pack: {exc}", status_code=exc.status_code
        )
    return _done("pack-retired")


_POLICY_FIELDS = ("pack_id", "p0", "delta", "alpha", "beta", "max_calls", "family_limit", "period_days")
_GRADER_FIELDS = ("base_url", "model", "credential")


@router.post("/benchmark/policies", name="benchmark_propose_policy")
async def propose_from_page(
    request: Request, session: Session, runtime: RuntimeDep, actor: Proposer
) -> Response:
    """Propose a threshold policy from the page (NSA custodians); the numbers are sealed, never shown."""
    form = await request.form()
    raw = {name: form.get(name) for name in _POLICY_FIELDS}
    missing = [name for name, value in raw.items() if not isinstance(value, str) or not value.strip()]
    if missing:
        return await _custodian_page(
            request, session, actor, error="; ".join(f"{m}: required" for m in missing), status_code=422
        )
    fields: dict[str, object] = {name: str(value).strip() for name, value in raw.items()}
    grader = {name: form.get(f"grader_{name}") for name in _GRADER_FIELDS}
    if any(isinstance(value, str) and value.strip() for value in grader.values()):
        # Packs with model-graded items: the grader model (its credential is sealed, never shown).
        fields["grader"] = {
            name: value.strip() for name, value in grader.items() if isinstance(value, str) and value.strip()
        }
    try:
        data = PolicyIn.model_validate(fields)
    except ValidationError as exc:
        return await _custodian_page(request, session, actor, error=_validation_text(exc), status_code=422)
    try:
        await service.propose_policy(session, data=data, actor=actor, key=runtime.keys.data)
    except ForewarnError as exc:
        return await _custodian_page(
            request, session, actor, error=f"policy: {exc}", status_code=exc.status_code
        )
    return _done("policy-proposed")


@router.post("/benchmark/policies/{policy_id}/consult", name="benchmark_consult")
async def consult_from_page(
    policy_id: uuid.UUID,
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Consultee,
    concur: Annotated[str, Form(max_length=10)] = "",
    comment: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """Record ONCD's or CISA's consultation from the page; the comment is sealed, never shown."""
    if concur not in ("yes", "no"):
        return await _custodian_page(
            request, session, actor, error="concur: choose yes or no", status_code=422
        )
    try:
        data = ConsultationIn(concur=concur == "yes", comment=comment)
    except ValidationError as exc:
        return await _custodian_page(request, session, actor, error=_validation_text(exc), status_code=422)
    try:
        await service.consult(session, policy_id=policy_id, data=data, actor=actor, key=runtime.keys.data)
    except ForewarnError as exc:
        return await _custodian_page(
            request, session, actor, error=f"policy: {exc}", status_code=exc.status_code
        )
    return _done("policy-consulted")


@router.post("/benchmark/policies/{policy_id}/activate", name="benchmark_activate_policy")
async def activate_from_page(
    policy_id: uuid.UUID, request: Request, session: Session, actor: Proposer
) -> Response:
    """Activate a proposed policy from the page (NSA custodians, after ONCD and CISA)."""
    try:
        await service.activate_policy(session, policy_id=policy_id, actor=actor)
    except ForewarnError as exc:
        return await _custodian_page(
            request, session, actor, error=f"policy: {exc}", status_code=exc.status_code
        )
    return _done("policy-activated")


@dataclass(frozen=True)
class NextStep:
    """Where a covered verdict leads its reader: the model's live window, or the form that opens one."""

    label: str
    href: str


async def _next_steps(
    session: Session,
    actor: Principal,
    models: dict[uuid.UUID, ModelOut],
    determinations: list[DeterminationOut],
) -> dict[uuid.UUID, NextStep]:
    """For each model's newest verdict, when it says covered: its window (if the reader takes part in
    one that is not closed), else the model page's window form (its lab's safety lead, model not
    released). Only pages that admit the reader are offered: the review programme's rules decide."""
    live = {
        w.model_id: w
        for w in await review.list_windows(session, actor=actor)
        if w.state != WindowState.CLOSED
    }
    steps: dict[uuid.UUID, NextStep] = {}
    seen: set[uuid.UUID] = set()
    for d in determinations:  # newest first
        if d.verdict is None or d.model_id in seen:
            continue
        seen.add(d.model_id)
        model = models.get(d.model_id)
        if d.verdict != PublicVerdict.COVERED or model is None:
            continue
        window = live.get(d.model_id)
        if window is not None:
            when = f"day {window.day}" if window.day else "access starts with the credential"
            steps[d.id] = NextStep(f"Review window ({when})", f"/review/windows/{window.id}")
        elif model.released_at is None and review_policy.can_open_window(actor, model.organisation_id):
            steps[d.id] = NextStep("Open a review window", f"/review/models/{model.id}#windows")
    return steps


async def _lab_page(
    request: Request, session: Session, actor: Principal, *, error: str | None = None, status_code: int = 200
) -> Response:
    models = {m.id: m for m in await review.list_models(session, actor=actor)}
    determinations = await service.list_determinations(session, actor=actor)
    return render(
        request,
        "benchmark/determinations.html",
        status_code=status_code,
        models=models,
        determinations=determinations,
        can_request=policy.can_request_determination(actor),
        # Links into the review programme, only where its pages admit the reader.
        can_review=review_policy.can_read_windows(actor),
        model_pages={
            m.id for m in models.values() if review_policy.can_open_model_page(actor, m.organisation_id)
        },
        next_steps=await _next_steps(session, actor, models, determinations),
        error=error,
    )


@router.get("/determinations", name="determinations")
async def lab_page(request: Request, session: Session, actor: Reader) -> Response:
    """A lab's models and determinations: one verdict each, and its attestation."""
    return await _lab_page(request, session, actor)


@router.post("/determinations", name="request_determination")
async def request_from_page(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Requester,
    model_id: Annotated[uuid.UUID, Form()],
) -> Response:
    """Request a determination from the page (safety leads); a refusal is recorded and shown."""
    out = await service.request_determination(session, model_id=model_id, actor=actor, key=runtime.keys.data)
    if out.status.value == "refused":
        # Rendered, not raised: the refusal and its ledger entry commit with this request.
        error = service.limit_error(out)
        return await _lab_page(request, session, actor, error=error.message, status_code=error.status_code)
    return RedirectResponse("/determinations", status_code=303)
