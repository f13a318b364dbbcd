"""The review programme: model registry, participation, windows, access grants, notices, messages.

Invariants:

- **Voluntary, no gate** (DESIGN R1): no state of forewarn blocks or approves a release. A model's
  planned release date is information only: it can be moved at will, in the past or the future, with or
  without a determination or an open window; nothing reads it to decide anything.
- A lab takes part by signing the *current* agreement version; it can withdraw at any time. Withdrawal
  ends the participation, closes every live window of the lab and revokes every key of those windows
  (``gateway.close_upstream``) in the caller's transaction: nothing is left half withdrawn.
- A window is ``awaiting_credential`` until the lab hands over its upstream credential (sealed by the
  gateway); access then runs for the window's length and ends exactly at ``closes_at`` (gateway keys
  expire then; the ``review:due`` job marks the window closed and revokes the keys). A window also
  closes when the lab marks the model released, withdraws, or closes it.
- Who may hold keys: people of organisations with an active access grant on the window; agencies are
  granted by an assessment coordinator, partners only by :func:`grant_partner_access` (a panel decision
  in ``partners``); a partner's keys go only to the grant's named staff.
- A model's message channel is seen by its lab and the agencies, nobody else (no partner, no other lab);
  attachments are sealed with the data key, AAD bound to the attachment and its message.
- Notices go to the window's participating organisations, each kind once per organisation (a unique
  constraint), and are emailed once when an SMTP relay is configured.
- Ledger entries carry ids and public reasons only.

Registry invariants:

- A model belongs to the lab whose safety lead registered it; only that lab (and benchmark
  custodians, platform administrators) can read it; others get ``NotFound``.
- The endpoint credential is sealed with the programme data key, with the model's id as associated
  data (a sealed credential cannot be moved to another model), and is never returned by
  :func:`get_model` / :func:`list_models`; only :func:`model_target`, used by the benchmark runner
  in a worker, opens it.
- Every registration is a ledger entry (ids and a public reason only).
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.clock import utcnow
from forewarn.core.db import new_id
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, TooLarge
from forewarn.core.jobs import enqueue
from forewarn.core.keys import DataKey
from forewarn.core.mail import Mail, Mailer, MailFailed
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.gateway.schemas import IssuedKey, KeyOut
from forewarn.earlyaccess.review import policy
from forewarn.earlyaccess.review.models import (
    AccessGrant,
    Agreement,
    Message,
    MessageAttachment,
    Notice,
    Participation,
    RegisteredModel,
    Window,
)
from forewarn.earlyaccess.review.schemas import (
    AccessMode,
    AgreementIn,
    AgreementOut,
    AttachmentIn,
    AttachmentOut,
    CredentialIn,
    GrantKind,
    GrantOut,
    MessageOut,
    ModelIn,
    ModelOut,
    ModelTarget,
    ModelUpdate,
    NoticeKind,
    NoticeOut,
    ParticipationOut,
    ParticipationStatus,
    WindowOut,
    WindowState,
    WithdrawalOut,
)
from forewarn.ledger import service as ledger


async def _insert(session: AsyncSession, row: object, *, clash: str) -> None:
    """Add ``row``; a unique constraint it breaks becomes ``Conflict(clash)``, and the savepoint keeps
    the caller's transaction usable."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise Conflict(clash) from None


def _aad(model_id: uuid.UUID) -> bytes:
    return b"forewarn model credential\n" + str(model_id).encode()


def _out(row: RegisteredModel) -> ModelOut:
    return ModelOut.model_validate(
        {
            "id": row.id,
            "organisation_id": row.organisation_id,
            "name": row.name,
            "version": row.version,
            "family": row.family,
            "modality": row.modality,
            "planned_release": row.planned_release,
            "access_mode": row.access_mode,
            "endpoint_base_url": row.endpoint_base_url,
            "endpoint_model": row.endpoint_model,
            "has_credential": row.credential_sealed is not None,
            "created_at": row.created_at,
            "card_summary": row.card_summary or "",
            "card_intended_use": row.card_intended_use or "",
            "card_capabilities": row.card_capabilities or "",
            "card_limitations": row.card_limitations or "",
            "card_training_data": row.card_training_data or "",
            "card_evaluations": row.card_evaluations or "",
            "card_url": row.card_url,
            "covered": row.covered,
            "determination_id": row.determination_id,
            "released_at": row.released_at,
            "updated_at": row.updated_at,
        }
    )


async def register_model(session: AsyncSession, *, data: ModelIn, actor: Principal, key: DataKey) -> ModelOut:
    """Register a model of the actor's lab."""
    if not policy.can_register_models(actor) or actor.organisation_id is None:
        raise Forbidden("only a lab's safety lead registers its models")
    model_id = new_id()
    credential = data.credential.get_secret_value().encode() if data.credential else None
    row = RegisteredModel(
        id=model_id,
        organisation_id=actor.organisation_id,
        registered_by=actor.person_id,
        name=data.name,
        version=data.version,
        family=data.family,
        modality=data.modality.value,
        planned_release=data.planned_release,
        access_mode=data.access_mode.value,
        endpoint_base_url=data.endpoint_base_url,
        endpoint_model=data.endpoint_model,
        credential_sealed=key.seal(credential, aad=_aad(model_id)) if credential is not None else None,
        card_summary=data.card_summary,
        card_intended_use=data.card_intended_use,
        card_capabilities=data.card_capabilities,
        card_limitations=data.card_limitations,
        card_training_data=data.card_training_data,
        card_evaluations=data.card_evaluations,
        card_url=data.card_url,
    )
    await _insert(session, row, clash="this lab already registered a model with that name and version")
    await ledger.append(
        session,
        type="review.model_registered",
        actor_organisation_id=actor.organisation_id,
        subjects=[("model", model_id), ("organisation", actor.organisation_id)],
        reason="A lab registered a model with the programme",
    )
    return _out(row)


async def _row(session: AsyncSession, model_id: uuid.UUID) -> RegisteredModel:
    row = await session.get(RegisteredModel, model_id)
    if row is None:
        raise NotFound("no such model")
    return row


async def get_model(session: AsyncSession, *, model_id: uuid.UUID, actor: Principal | None) -> ModelOut:
    """A model; ``actor=None`` is the programme itself (a worker or an operator's CLI)."""
    row = await _row(session, model_id)
    if actor is not None and not policy.can_view_model(actor, row.organisation_id):
        raise NotFound("no such model")
    return _out(row)


async def list_models(
    session: AsyncSession, *, actor: Principal | None, organisation_id: uuid.UUID | None = None
) -> list[ModelOut]:
    query = select(RegisteredModel).order_by(RegisteredModel.created_at.desc())
    if actor is not None and not policy.sees_all_models(actor):
        if actor.organisation_id is None or not policy.can_list_models(actor):
            return []
        query = query.where(RegisteredModel.organisation_id == actor.organisation_id)
    elif organisation_id is not None:
        query = query.where(RegisteredModel.organisation_id == organisation_id)
    return [_out(row) for row in (await session.scalars(query.limit(1000))).all()]


async def model_target(session: AsyncSession, *, model_id: uuid.UUID, key: DataKey) -> ModelTarget:
    """The endpoint and opened credential of a model, for the benchmark runner (no actor: workers only)."""
    row = await _row(session, model_id)
    credential = (
        SecretStr(key.open(row.credential_sealed, aad=_aad(row.id)).decode())
        if row.credential_sealed is not None
        else None
    )
    return ModelTarget(
        model_id=row.id,
        access_mode=AccessMode(row.access_mode),
        base_url=row.endpoint_base_url,
        model=row.endpoint_model,
        credential=credential,
    )


# --- submissions: model card, planned release, determination ------------------------------------------


async def _own_model(session: AsyncSession, model_id: uuid.UUID, actor: Principal) -> RegisteredModel:
    """A model of the actor's lab, for a write by its safety lead (others: NotFound / Forbidden)."""
    row = await session.get(RegisteredModel, model_id, with_for_update=True)
    if row is None or not policy.can_view_model(actor, row.organisation_id):
        raise NotFound("no such model")
    if not policy.is_safety_lead(actor) or actor.organisation_id != row.organisation_id:
        raise Forbidden("only the lab's safety lead changes its models")
    return row


async def update_model(
    session: AsyncSession, *, model_id: uuid.UUID, data: ModelUpdate, actor: Principal
) -> ModelOut:
    """Change the model card or the planned release date; always allowed (the date gates nothing)."""
    row = await _own_model(session, model_id, actor)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if name != "card_url" and value is None:
            continue  # an explicit null leaves a text field as it is
        setattr(row, name, value if name != "card_url" else (value or None))
    row.updated_at = utcnow()
    await session.flush()
    await ledger.append(
        session,
        type="review.model_updated",
        actor_organisation_id=row.organisation_id,
        subjects=[("model", row.id), ("organisation", row.organisation_id)],
        reason="A lab updated a registered model's card or planned release date",
    )
    return _out(row)


async def mark_released(session: AsyncSession, *, model_id: uuid.UUID, actor: Principal) -> ModelOut:
    """The lab says the model is public: its live window closes (reason ``released``). Idempotent."""
    row = await _own_model(session, model_id, actor)
    if row.released_at is not None:
        return _out(row)
    now = utcnow()
    row.released_at = now
    row.updated_at = now
    for window in await _live_windows(session, model_id=row.id):
        await _close(session, window, at=now, reason="released")
    await session.flush()
    await ledger.append(
        session,
        type="review.model_updated",
        actor_organisation_id=row.organisation_id,
        subjects=[("model", row.id), ("organisation", row.organisation_id)],
        reason="A lab marked a model as publicly released",
    )
    return _out(row)


async def record_determination(
    session: AsyncSession, *, model_id: uuid.UUID, determination_id: uuid.UUID, covered: bool
) -> None:
    """Store the one bit of a finished determination on the model (called by the benchmark)."""
    row = await session.get(RegisteredModel, model_id, with_for_update=True)
    if row is None:
        raise NotFound("no such model")
    row.covered = covered
    row.determination_id = determination_id
    row.updated_at = utcnow()
    await session.flush()


# --- participation -----------------------------------------------------------------------------------


def _agreement_out(row: Agreement) -> AgreementOut:
    return AgreementOut(
        id=row.id,
        version=row.version,
        title=row.title,
        body=row.body,
        body_sha256=row.body_sha256,
        published_at=row.published_at,
    )


def _participation_out(row: Participation) -> ParticipationOut:
    return ParticipationOut(
        id=row.id,
        organisation_id=row.organisation_id,
        agreement_version=row.agreement_version,
        signed_at=row.signed_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )


async def publish_agreement(
    session: AsyncSession, *, data: AgreementIn, actor: Principal | None
) -> AgreementOut:
    """Publish the next agreement version (immutable). Labs sign the newest one."""
    if actor is not None and not policy.can_publish_agreement(actor):
        raise Forbidden("only the programme (a coordinator or platform administrator) publishes agreements")
    # One publisher at a time: the version number is max + 1.
    await session.execute(select(func.pg_advisory_xact_lock(0x72657669657761)))
    latest = await session.scalar(select(func.max(Agreement.version)))
    digest = "sha256:" + hashlib.sha256(data.body.encode()).hexdigest()
    row = Agreement(
        id=new_id(),
        version=(latest or 0) + 1,
        title=data.title,
        body=data.body,
        body_sha256=digest,
        published_by=actor.person_id if actor else None,
        published_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await ledger.append(
        session,
        type="review.agreement_published",
        actor_organisation_id=actor.organisation_id if actor else None,
        subjects=[("agreement", row.id)],
        reason=f"Participation agreement version {row.version} was published (text {digest})",
    )
    return _agreement_out(row)


async def list_agreements(session: AsyncSession) -> list[AgreementOut]:
    rows = await session.scalars(select(Agreement).order_by(Agreement.version.desc()).limit(100))
    return [_agreement_out(r) for r in rows]


async def current_agreement(session: AsyncSession) -> AgreementOut | None:
    row = await session.scalar(select(Agreement).order_by(Agreement.version.desc()).limit(1))
    return _agreement_out(row) if row is not None else None


async def _live_participation(
    session: AsyncSession, organisation_id: uuid.UUID, *, lock: bool = False
) -> Participation | None:
    query = select(Participation).where(
        Participation.organisation_id == organisation_id, Participation.ended_at.is_(None)
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def is_participating(session: AsyncSession, *, organisation_id: uuid.UUID) -> bool:
    return await _live_participation(session, organisation_id) is not None


async def participation_status(session: AsyncSession, *, actor: Principal) -> ParticipationStatus:
    if not policy.is_lab_person(actor) or actor.organisation_id is None:
        raise Forbidden("participation is a lab's")
    rows = list(
        await session.scalars(
            select(Participation)
            .where(Participation.organisation_id == actor.organisation_id)
            .order_by(Participation.signed_at.desc())
            .limit(100)
        )
    )
    live = next((r for r in rows if r.ended_at is None), None)
    current = await current_agreement(session)
    return ParticipationStatus(
        organisation_id=actor.organisation_id,
        participating=live is not None,
        current=_participation_out(live) if live else None,
        current_agreement_version=current.version if current else None,
        history=[_participation_out(r) for r in rows],
    )


async def sign(session: AsyncSession, *, agreement_version: int, actor: Principal) -> ParticipationOut:
    """The lab opts in by signing the current agreement version (a newer one supersedes its old one)."""
    if not policy.is_safety_lead(actor) or actor.organisation_id is None:
        raise Forbidden("only a lab's safety lead signs the agreement")
    current = await session.scalar(select(Agreement).order_by(Agreement.version.desc()).limit(1))
    if current is None:
        raise Conflict("no agreement has been published yet")
    if agreement_version != current.version:
        raise InvalidInput(
            "sign the current agreement",
            problems=[_problem("agreement_version", f"the current version is {current.version}")],
        )
    now = utcnow()
    live = await _live_participation(session, actor.organisation_id, lock=True)
    if live is not None:
        if live.agreement_version == current.version:
            raise Conflict(f"your lab already signed version {current.version}")
        live.ended_at, live.end_reason, live.ended_by = now, "superseded", actor.person_id
        await session.flush()
    row = Participation(
        id=new_id(),
        organisation_id=actor.organisation_id,
        agreement_id=current.id,
        agreement_version=current.version,
        signed_by=actor.person_id,
        signed_at=now,
    )
    session.add(row)
    await session.flush()
    await ledger.append(
        session,
        type="review.agreement_signed",
        actor_organisation_id=actor.organisation_id,
        subjects=[("organisation", actor.organisation_id), ("agreement", current.id)],
        reason=f"A lab signed participation agreement version {current.version}",
    )
    return _participation_out(row)


async def withdraw(session: AsyncSession, *, actor: Principal, reason: str = "") -> WithdrawalOut:
    """Leave the programme now: every live window of the lab closes and every key dies, at once."""
    if not policy.is_safety_lead(actor) or actor.organisation_id is None:
        raise Forbidden("only a lab's safety lead withdraws the lab")
    live = await _live_participation(session, actor.organisation_id, lock=True)
    if live is None:
        raise Conflict("your lab is not taking part in the programme")
    now = utcnow()
    live.ended_at, live.end_reason, live.ended_by = now, "withdrawn", actor.person_id
    live.withdraw_reason = reason or None
    windows = list(
        await session.scalars(
            select(Window)
            .where(Window.lab_organisation_id == actor.organisation_id, Window.closed_at.is_(None))
            .with_for_update()
        )
    )
    keys = 0
    for window in windows:
        keys += await _close(session, window, at=now, reason="withdrawn")
    await session.flush()
    await ledger.append(
        session,
        type="review.withdrawn",
        actor_organisation_id=actor.organisation_id,
        subjects=[("organisation", actor.organisation_id)],
        reason="A lab withdrew from the programme" + (f": {reason}" if reason else ""),
    )
    return WithdrawalOut(
        organisation_id=actor.organisation_id,
        withdrawn_at=now,
        windows_closed=len(windows),
        keys_revoked=keys,
    )


def _problem(where: str, what: str) -> Problem:
    return Problem(where, what)


# --- windows -----------------------------------------------------------------------------------------


def _state(row: Window, now: datetime) -> WindowState:
    if row.closed_at is not None or (row.closes_at is not None and now >= row.closes_at):
        return WindowState.CLOSED
    if row.access_starts_at is not None:
        return WindowState.OPEN
    return WindowState.AWAITING_CREDENTIAL


def _window_out(row: Window, model: RegisteredModel, now: datetime | None = None) -> WindowOut:
    now = now or utcnow()
    state = _state(row, now)
    day = days_left = None
    if state == WindowState.OPEN and row.access_starts_at is not None and row.closes_at is not None:
        day = max(1, (now - row.access_starts_at) // timedelta(days=1) + 1)
        days_left = max(0, math.ceil((row.closes_at - now) / timedelta(days=1)))
    closed_at, reason = row.closed_at, row.close_reason
    if state == WindowState.CLOSED and closed_at is None:  # due, and the job has not run yet
        closed_at, reason = row.closes_at, "time"
    return WindowOut(
        id=row.id,
        model_id=row.model_id,
        model_name=model.name,
        model_version=model.version,
        lab_organisation_id=row.lab_organisation_id,
        state=state,
        length_days=row.length_days,
        opened_at=row.opened_at,
        access_starts_at=row.access_starts_at,
        closes_at=row.closes_at,
        closed_at=closed_at,
        close_reason=reason,
        day=day,
        days_left=days_left,
    )


async def _live_windows(session: AsyncSession, *, model_id: uuid.UUID) -> list[Window]:
    return list(
        await session.scalars(
            select(Window).where(Window.model_id == model_id, Window.closed_at.is_(None)).with_for_update()
        )
    )


async def _grant_orgs(session: AsyncSession, window_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(AccessGrant.organisation_id).where(
            AccessGrant.window_id == window_id, AccessGrant.revoked_at.is_(None)
        )
    )
    return set(rows)


def _sees_all_windows(actor: Principal) -> bool:
    return actor.is_platform_admin or policy.is_coordinator(actor)


async def _window_row(
    session: AsyncSession, window_id: uuid.UUID, actor: Principal | None, *, lock: bool = False
) -> Window:
    row = await session.get(Window, window_id, with_for_update=lock or None)
    if row is None:
        raise NotFound("no such window")
    if actor is None or _sees_all_windows(actor):
        return row
    if actor.organisation_id is None or (
        actor.organisation_id != row.lab_organisation_id
        and actor.organisation_id not in await _grant_orgs(session, window_id)
    ):
        raise NotFound("no such window")
    return row


async def get_window(session: AsyncSession, *, window_id: uuid.UUID, actor: Principal | None) -> WindowOut:
    """A window; ``actor=None`` is the programme. NotFound for those who do not take part in it."""
    row = await _window_row(session, window_id, actor)
    model = await _row(session, row.model_id)
    return _window_out(row, model)


async def list_windows(
    session: AsyncSession, *, actor: Principal | None, model_id: uuid.UUID | None = None
) -> list[WindowOut]:
    """Windows the actor takes part in (coordinators and administrators: every window)."""
    query = select(Window, RegisteredModel).join(RegisteredModel, RegisteredModel.id == Window.model_id)
    if actor is not None and not _sees_all_windows(actor):
        if actor.organisation_id is None or not policy.can_read_windows(actor):
            return []
        granted = select(AccessGrant.window_id).where(
            AccessGrant.organisation_id == actor.organisation_id, AccessGrant.revoked_at.is_(None)
        )
        query = query.where((Window.lab_organisation_id == actor.organisation_id) | Window.id.in_(granted))
    if model_id is not None:
        query = query.where(Window.model_id == model_id)
    now = utcnow()
    rows = (await session.execute(query.order_by(Window.opened_at.desc()).limit(500))).all()
    return [_window_out(w, m, now) for w, m in rows]


async def window_organisations(session: AsyncSession, *, window_id: uuid.UUID) -> set[uuid.UUID]:
    """The lab and every organisation holding an active access grant for the window."""
    row = await _window_row(session, window_id, None)
    return {row.lab_organisation_id} | await _grant_orgs(session, window_id)


async def can_take_part(session: AsyncSession, *, window_id: uuid.UUID, actor: Principal) -> bool:
    """The actor's organisation is the lab or holds an active grant, or the actor is a coordinator."""
    if policy.is_coordinator(actor):
        return True
    if actor.organisation_id is None:
        return False
    try:
        return actor.organisation_id in await window_organisations(session, window_id=window_id)
    except NotFound:
        return False


async def open_window(
    session: AsyncSession,
    *,
    model_id: uuid.UUID,
    actor: Principal,
    length_days: int,
    require_covered: bool = True,
) -> WindowOut:
    """The lab opens a window for its model; access starts when it hands over the credential."""
    if not 1 <= length_days <= 366:
        raise InvalidInput("the programme's window length must be 1 to 366 days")
    model = await _own_model(session, model_id, actor)
    if not await is_participating(session, organisation_id=model.organisation_id):
        raise Conflict("sign the participation agreement before opening a window")
    if model.released_at is not None:
        raise Conflict("this model is marked released; register its next version instead")
    if model.covered is False or (require_covered and model.covered is not True):
        raise Conflict("windows are for covered models; this model's determination does not say covered")
    now = utcnow()
    row = Window(
        id=new_id(),
        model_id=model.id,
        lab_organisation_id=model.organisation_id,
        opened_by=actor.person_id,
        length_days=length_days,
        opened_at=now,
    )
    await _insert(session, row, clash="this model already has a window that is not closed")
    await ledger.append(
        session,
        type="review.window_opened",
        actor_organisation_id=model.organisation_id,
        subjects=[("window", row.id), ("model", model.id), ("organisation", model.organisation_id)],
        reason=f"A lab opened a {length_days}-day review window; access starts with its credential",
    )
    return _window_out(row, model, now)


def _label(model: RegisteredModel) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{model.name}-{model.version}").strip("-")[:200] or "model"


async def register_credential(
    session: AsyncSession, *, window_id: uuid.UUID, data: CredentialIn, actor: Principal, key: DataKey
) -> WindowOut:
    """Hand over (or replace) the window's one upstream credential; the first one starts access."""
    row = await _window_row(session, window_id, actor, lock=True)
    model = await _own_model(session, row.model_id, actor)
    now = utcnow()
    if _state(row, now) == WindowState.CLOSED:
        raise Conflict("this window is closed")
    if not await is_participating(session, organisation_id=row.lab_organisation_id):
        raise Conflict("your lab is not taking part in the programme")
    first = row.access_starts_at is None
    starts = row.access_starts_at or now
    closes = row.closes_at or now + timedelta(days=row.length_days)
    row.access_starts_at, row.closes_at = starts, closes
    row.upstream_base_url = data.base_url or model.endpoint_base_url
    row.upstream_model = data.upstream_model or model.endpoint_model
    await gateway.open_upstream(
        session,
        window_id=row.id,
        lab_organisation_id=row.lab_organisation_id,
        model_label=_label(model),
        base_url=row.upstream_base_url,
        upstream_model=row.upstream_model,
        credential=data.credential,
        opens_at=starts,
        closes_at=closes,
        key=key,
    )
    await session.flush()
    if first:
        await ledger.append(
            session,
            type="review.access_started",
            actor_organisation_id=row.lab_organisation_id,
            subjects=[("window", row.id), ("model", row.model_id)],
            reason=f"The lab handed over its credential; access runs until {closes.isoformat()}",
        )
        await _notify(session, row, model, NoticeKind.OPENED)
        # Exact-time runs of the due job (the periodic tick is the backstop).
        for before in (timedelta(days=7), timedelta(days=1), timedelta(0)):
            at = closes - before
            if at > now:
                await enqueue(session, "review:due", scheduled_at=at, window_id=str(row.id))
        await enqueue(session, "review:due", window_id=str(row.id))
    return _window_out(row, model, now)


async def close_window(
    session: AsyncSession, *, window_id: uuid.UUID, actor: Principal | None, reason: str = ""
) -> WindowOut:
    """Close a window now: its lab's safety lead, a coordinator, or the programme (``actor=None``)."""
    row = await _window_row(session, window_id, actor, lock=True)
    code = "programme"
    if actor is not None:
        if policy.is_safety_lead(actor) and actor.organisation_id == row.lab_organisation_id:
            code = "lab"
        elif not policy.is_coordinator(actor):
            raise Forbidden("only the lab's safety lead or a coordinator closes a window")
    if row.closed_at is None:
        now = utcnow()
        if row.closes_at is not None and now >= row.closes_at:
            await _close(session, row, at=row.closes_at, reason="time")
        else:
            await _close(session, row, at=now, reason=code, note=reason)
    return _window_out(row, await _row(session, row.model_id))


_CLOSE_TEXT = {
    "time": "its time ran out",
    "released": "the lab marked the model released",
    "withdrawn": "the lab withdrew from the programme",
    "lab": "the lab closed it",
    "programme": "the programme closed it",
}


async def _close(session: AsyncSession, row: Window, *, at: datetime, reason: str, note: str = "") -> int:
    """Close ``row`` at ``at``: revoke every key (gateway), notify, log. Returns keys revoked."""
    if row.closed_at is not None:
        return 0
    row.closed_at, row.close_reason = at, reason
    keys = 0
    if row.access_starts_at is not None:
        keys = await gateway.close_upstream(
            session, window_id=row.id, at=at, reason=f"window closed: {reason}"
        )
    await session.flush()
    model = await _row(session, row.model_id)
    await ledger.append(
        session,
        type="review.window_closed",
        actor_organisation_id=row.lab_organisation_id if reason in ("released", "withdrawn", "lab") else None,
        subjects=[("window", row.id), ("model", row.model_id)],
        reason=f"A review window closed: {_CLOSE_TEXT[reason]}" + (f" ({note})" if note else ""),
    )
    if row.access_starts_at is not None:
        await _notify(session, row, model, NoticeKind.CLOSED)
        await enqueue(session, "review:due", window_id=str(row.id))
    return keys


# --- notices -----------------------------------------------------------------------------------------


def _notice_text(kind: NoticeKind, row: Window, model: RegisteredModel) -> tuple[str, str]:
    name = f"{model.name} {model.version}"
    closes = row.closes_at.strftime("%Y-%m-%d %H:%M UTC") if row.closes_at else "(not set)"
    if kind == NoticeKind.OPENED:
        return (
            f"Review window open: {name}",
            f"The review window of {name} is open for {row.length_days} days. Access through the gateway"
            f" ends at {closes}. Window {row.id}.",
        )
    if kind == NoticeKind.CLOSE_7D:
        return (
            f"Review window closes in 7 days: {name}",
            f"The review window of {name} closes at {closes}. Window {row.id}.",
        )
    if kind == NoticeKind.CLOSE_1D:
        return (
            f"Review window closes in 1 day: {name}",
            f"The review window of {name} closes at {closes}; keys stop working then. Window {row.id}.",
        )
    when = row.closed_at.strftime("%Y-%m-%d %H:%M UTC") if row.closed_at else closes
    return (
        f"Review window closed: {name}",
        f"The review window of {name} closed at {when}: {_CLOSE_TEXT.get(row.close_reason or 'time', '')}."
        f" Every key of the window is revoked. Window {row.id}.",
    )


async def _notify(
    session: AsyncSession,
    row: Window,
    model: RegisteredModel,
    kind: NoticeKind,
    organisations: set[uuid.UUID] | None = None,
) -> int:
    """Record the ``kind`` notice for each participating organisation that has not had it yet."""
    orgs = (
        organisations
        if organisations is not None
        else ({row.lab_organisation_id} | await _grant_orgs(session, row.id))
    )
    subject, body = _notice_text(kind, row, model)
    now = utcnow()
    created = 0
    for org in sorted(orgs):
        result = await session.execute(
            insert(Notice)
            .values(
                id=new_id(),
                window_id=row.id,
                organisation_id=org,
                kind=kind.value,
                subject=subject,
                body=body,
                email_status="pending",
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["window_id", "organisation_id", "kind"])
        )
        created += result.rowcount or 0  # type: ignore[attr-defined]
    return created


def _notice_out(row: Notice) -> NoticeOut:
    return NoticeOut(
        id=row.id,
        window_id=row.window_id,
        organisation_id=row.organisation_id,
        kind=NoticeKind(row.kind),
        subject=row.subject,
        body=row.body,
        created_at=row.created_at,
        email_status=row.email_status,
        emailed_at=row.emailed_at,
    )


async def list_notices(
    session: AsyncSession, *, actor: Principal | None, window_id: uuid.UUID | None = None
) -> list[NoticeOut]:
    """Notices to the actor's organisation (coordinators and administrators: all of a window's)."""
    query = select(Notice).order_by(Notice.created_at.desc(), Notice.kind)
    if window_id is not None:
        await _window_row(session, window_id, actor)
        query = query.where(Notice.window_id == window_id)
    if actor is not None and not (_sees_all_windows(actor) and window_id is not None):
        query = query.where(Notice.organisation_id == actor.organisation_id)
    return [_notice_out(r) for r in await session.scalars(query.limit(500))]


@dataclass
class DueReport:
    closed: list[uuid.UUID] = field(default_factory=list)
    notices: int = 0
    emailed: int = 0


async def run_due(
    session: AsyncSession, *, now: datetime | None = None, mailer: Mailer | None = None
) -> DueReport:
    """Close windows whose time is up (at exactly ``closes_at``), record the 7-day and 1-day notices
    that are due, and email pending notices. Idempotent: run it as often as you like."""
    now = now or utcnow()
    report = DueReport()
    due = await session.scalars(
        select(Window)
        .where(Window.closed_at.is_(None), Window.closes_at.is_not(None), Window.closes_at <= now)
        .order_by(Window.closes_at)
        .with_for_update(skip_locked=True)
        .limit(200)
    )
    for row in list(due):
        if row.closes_at is None:  # excluded by the query; keeps the type checker honest
            continue
        await _close(session, row, at=row.closes_at, reason="time")
        report.closed.append(row.id)
    for kind, before in ((NoticeKind.CLOSE_7D, timedelta(days=7)), (NoticeKind.CLOSE_1D, timedelta(days=1))):
        rows = await session.execute(
            select(Window, RegisteredModel)
            .join(RegisteredModel, RegisteredModel.id == Window.model_id)
            .where(
                Window.closed_at.is_(None),
                Window.closes_at.is_not(None),
                Window.closes_at - before <= now,
                Window.access_starts_at <= Window.closes_at - before,
            )
            .limit(500)
        )
        for window, model in rows.all():
            report.notices += await _notify(session, window, model, kind)
    report.emailed = await send_pending_notices(session, mailer=mailer)
    return report


_MAIL_ROLES = {
    OrgKind.LAB: {Role.SAFETY_LEAD, Role.ADMIN},
    OrgKind.AGENCY: {Role.ASSESSMENT_COORDINATOR, Role.REVIEWER},
    OrgKind.PARTNER: {Role.REVIEWER, Role.ADMIN},
}


async def _recipients(session: AsyncSession, organisation_id: uuid.UUID) -> tuple[str, ...]:
    org = await accounts.get_organisation(session, organisation_id=organisation_id, actor=None)
    roles = _MAIL_ROLES.get(org.kind, set())
    people = await accounts.list_people(session, organisation_id=organisation_id, actor=None)
    return tuple(
        sorted(
            p.email
            for p in people
            if p.active
            and any(m.organisation_id == organisation_id and m.role in roles for m in p.memberships)
        )
    )


async def send_pending_notices(session: AsyncSession, *, mailer: Mailer | None, limit: int = 200) -> int:
    """Email each pending notice once (rows locked, so two workers never send the same one)."""
    rows = list(
        await session.scalars(
            select(Notice)
            .where(Notice.email_status == "pending")
            .order_by(Notice.created_at)
            .with_for_update(skip_locked=True)
            .limit(limit)
        )
    )
    sent = 0
    for row in rows:
        if mailer is None:
            row.email_status = "not_configured"
            continue
        to = await _recipients(session, row.organisation_id)
        if not to:
            row.email_status = "no_recipients"
            continue
        try:
            await mailer.send(
                Mail(to=to, subject=row.subject, body=row.body, message_id=f"review-notice-{row.id}")
            )
        except MailFailed as exc:
            row.email_status, row.email_error = "failed", exc.message[:300]
            continue
        row.email_status, row.emailed_at = "sent", utcnow()
        sent += 1
    await session.flush()
    return sent


# --- access grants and reviewer keys -----------------------------------------------------------------


async def _grant_out(session: AsyncSession, row: AccessGrant) -> GrantOut:
    org = await accounts.get_organisation(session, organisation_id=row.organisation_id, actor=None)
    return GrantOut(
        id=row.id,
        window_id=row.window_id,
        organisation_id=row.organisation_id,
        organisation_name=org.name,
        kind=GrantKind(row.kind),
        staff_person_ids=[uuid.UUID(str(p)) for p in row.staff_person_ids or []],
        decision_ref=row.decision_ref,
        granted_at=row.granted_at,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
    )


async def list_grants(
    session: AsyncSession, *, window_id: uuid.UUID, actor: Principal | None
) -> list[GrantOut]:
    await _window_row(session, window_id, actor)
    rows = await session.scalars(
        select(AccessGrant).where(AccessGrant.window_id == window_id).order_by(AccessGrant.granted_at)
    )
    return [await _grant_out(session, r) for r in rows]


async def _grantable(session: AsyncSession, window_id: uuid.UUID) -> tuple[Window, RegisteredModel]:
    row = await _window_row(session, window_id, None, lock=True)
    if _state(row, utcnow()) == WindowState.CLOSED:
        raise Conflict("this window is closed")
    return row, await _row(session, row.model_id)


async def _add_grant(
    session: AsyncSession,
    *,
    window: Window,
    model: RegisteredModel,
    organisation_id: uuid.UUID,
    kind: GrantKind,
    staff: list[uuid.UUID],
    decision_ref: str | None,
    actor: Principal | None,
) -> AccessGrant:
    existing = await session.scalar(
        select(AccessGrant)
        .where(
            AccessGrant.window_id == window.id,
            AccessGrant.organisation_id == organisation_id,
            AccessGrant.revoked_at.is_(None),
        )
        .with_for_update()
    )
    if existing is not None:
        if existing.kind != kind.value:
            raise Conflict("that organisation already holds another kind of grant on this window")
        if kind == GrantKind.AGENCY:
            raise Conflict("that agency already has access to this window")
        existing.staff_person_ids = [str(p) for p in staff]
        existing.decision_ref = decision_ref
        await session.flush()
        return existing
    row = AccessGrant(
        id=new_id(),
        window_id=window.id,
        organisation_id=organisation_id,
        kind=kind.value,
        staff_person_ids=[str(p) for p in staff],
        decision_ref=decision_ref,
        granted_by=actor.person_id if actor else None,
        granted_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    subjects: list[tuple[str, object]] = [("window", window.id), ("organisation", organisation_id)]
    if decision_ref:
        subjects.append(("decision", decision_ref))
    await ledger.append(
        session,
        type="review.access_granted",
        actor_organisation_id=actor.organisation_id if actor else None,
        subjects=subjects,
        reason=(
            "An assessment coordinator granted an agency access to a review window"
            if kind == GrantKind.AGENCY
            else "A partner panel decision granted a partner access to a review window"
        ),
    )
    if window.access_starts_at is not None:
        await _notify(session, window, model, NoticeKind.OPENED, {organisation_id})
    return row


async def grant_agency_access(
    session: AsyncSession, *, window_id: uuid.UUID, organisation_id: uuid.UUID, actor: Principal
) -> GrantOut:
    """A coordinator gives an agency access to a window (agencies only; partners go through a panel)."""
    if not policy.is_coordinator(actor):
        raise Forbidden("only an assessment coordinator grants agencies access")
    window, model = await _grantable(session, window_id)
    org = await accounts.get_organisation(session, organisation_id=organisation_id, actor=None)
    if org.kind != OrgKind.AGENCY:
        raise InvalidInput(
            "only agencies are granted here", problems=[_problem("organisation_id", "not an agency")]
        )
    row = await _add_grant(
        session,
        window=window,
        model=model,
        organisation_id=organisation_id,
        kind=GrantKind.AGENCY,
        staff=[],
        decision_ref=None,
        actor=actor,
    )
    return await _grant_out(session, row)


_DECISION_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,199}$")


async def grant_partner_access(
    session: AsyncSession,
    *,
    window_id: uuid.UUID,
    organisation_id: uuid.UUID,
    staff_person_ids: list[uuid.UUID],
    decision_ref: str,
) -> GrantOut:
    """Give a partner access to a window with its named staff: called only by ``partners`` when a panel
    decision approves (no actor; no route of the coordinator grants partners)."""
    if not _DECISION_REF.match(decision_ref):
        raise InvalidInput("decision_ref must be a public identifier (letters, digits and . _ : / + = @ -)")
    if not staff_person_ids:
        raise InvalidInput("name at least one member of the partner's staff")
    window, model = await _grantable(session, window_id)
    org = await accounts.get_organisation(session, organisation_id=organisation_id, actor=None)
    if org.kind != OrgKind.PARTNER:
        raise InvalidInput("only partner organisations are granted through a panel decision")
    for person_id in staff_person_ids:
        person = await accounts.get_person(session, person_id=person_id)
        if not any(m.organisation_id == organisation_id for m in person.memberships):
            raise InvalidInput(f"person {person_id} is not a member of the partner organisation")
    row = await _add_grant(
        session,
        window=window,
        model=model,
        organisation_id=organisation_id,
        kind=GrantKind.PARTNER,
        staff=list(dict.fromkeys(staff_person_ids)),
        decision_ref=decision_ref,
        actor=None,
    )
    return await _grant_out(session, row)


async def _revoke_grant_row(
    session: AsyncSession, row: AccessGrant, *, reason: str, actor: Principal | None
) -> int:
    row.revoked_at, row.revoke_reason = utcnow(), reason[:500]
    await session.flush()
    keys = await gateway.revoke_keys(
        session,
        organisation_id=row.organisation_id,
        reason=f"access revoked: {reason}"[:500],
        window_id=row.window_id,
    )
    await ledger.append(
        session,
        type="review.access_revoked",
        actor_organisation_id=actor.organisation_id if actor else None,
        subjects=[("window", row.window_id), ("organisation", row.organisation_id)],
        reason=f"An organisation's access to a review window was revoked: {reason}",
    )
    return keys


async def revoke_partner_access(
    session: AsyncSession, *, organisation_id: uuid.UUID, reason: str, window_id: uuid.UUID | None = None
) -> int:
    """Revoke a partner's grants (one window or all) and its keys, in the caller's transaction.

    Returns the number of grants revoked."""
    query = select(AccessGrant).where(
        AccessGrant.organisation_id == organisation_id,
        AccessGrant.kind == GrantKind.PARTNER.value,
        AccessGrant.revoked_at.is_(None),
    )
    if window_id is not None:
        query = query.where(AccessGrant.window_id == window_id)
    rows = list(await session.scalars(query.with_for_update()))
    for row in rows:
        await _revoke_grant_row(session, row, reason=reason, actor=None)
    # Keys issued outside a live grant (none should exist) die too.
    await gateway.revoke_keys(
        session,
        organisation_id=organisation_id,
        reason=f"access revoked: {reason}"[:500],
        window_id=window_id,
    )
    return len(rows)


async def revoke_agency_access(
    session: AsyncSession, *, window_id: uuid.UUID, grant_id: uuid.UUID, reason: str, actor: Principal
) -> GrantOut:
    """A coordinator revokes an agency's grant on a window; its keys for the window die with it."""
    if not policy.is_coordinator(actor):
        raise Forbidden("only an assessment coordinator revokes agency access")
    row = await session.get(AccessGrant, grant_id, with_for_update=True)
    if row is None or row.window_id != window_id:
        raise NotFound("no such grant")
    if row.kind != GrantKind.AGENCY.value:
        raise Forbidden("partner access is revoked through the partner panel")
    if row.revoked_at is None:
        await _revoke_grant_row(session, row, reason=reason, actor=actor)
    return await _grant_out(session, row)


async def issue_reviewer_key(
    session: AsyncSession,
    *,
    window_id: uuid.UUID,
    person_id: uuid.UUID,
    actor: Principal,
    rate_limit_per_minute: int,
    token_budget: int,
) -> IssuedKey:
    """A coordinator issues a key to a person of a granted organisation (partners: named staff only)."""
    if not policy.is_coordinator(actor):
        raise Forbidden("only an assessment coordinator issues reviewer keys")
    window = await _window_row(session, window_id, None)
    if _state(window, utcnow()) != WindowState.OPEN:
        raise Conflict("keys are issued while the window is open (after the lab's credential)")
    person = await accounts.get_person(session, person_id=person_id)
    if not person.active:
        raise InvalidInput("that person is not active")
    member_of = {m.organisation_id for m in person.memberships}
    grants = list(
        await session.scalars(
            select(AccessGrant).where(
                AccessGrant.window_id == window_id,
                AccessGrant.revoked_at.is_(None),
                AccessGrant.organisation_id.in_(member_of),
            )
        )
    )
    grant = next(
        (
            g
            for g in grants
            if g.kind == GrantKind.AGENCY.value
            or str(person_id) in {str(p) for p in g.staff_person_ids or []}
        ),
        None,
    )
    if grant is None:
        raise Forbidden(
            "that person's organisation has no access to this window (partners: only the grant's named staff)"
        )
    return await gateway.issue_key(
        session,
        window_id=window_id,
        holder_person_id=person_id,
        holder_organisation_id=grant.organisation_id,
        issued_by_person_id=actor.person_id,
        rate_limit_per_minute=rate_limit_per_minute,
        token_budget=token_budget,
    )


async def list_window_keys(session: AsyncSession, *, window_id: uuid.UUID, actor: Principal) -> list[KeyOut]:
    """The window's keys (never secrets): coordinators and administrators see all; the lab sees all
    (who holds access to its model); a granted organisation sees its own."""
    row = await _window_row(session, window_id, actor)
    keys = await gateway.list_keys(session, window_id=window_id)
    if _sees_all_windows(actor) or actor.organisation_id == row.lab_organisation_id:
        return keys
    return [k for k in keys if k.holder_organisation_id == actor.organisation_id]


async def revoke_reviewer_key(
    session: AsyncSession, *, window_id: uuid.UUID, key_id: uuid.UUID, reason: str, actor: Principal
) -> None:
    if not policy.is_coordinator(actor):
        raise Forbidden("only an assessment coordinator revokes reviewer keys")
    keys = await gateway.list_keys(session, window_id=window_id)
    if not any(k.id == key_id for k in keys):
        raise NotFound("no such key on this window")
    await gateway.revoke_key(session, key_id=key_id, reason=reason)


# --- messages ----------------------------------------------------------------------------------------


async def _channel_side(session: AsyncSession, model: RegisteredModel, actor: Principal) -> str:
    """``lab`` or ``agency``; NotFound for everyone else (partners, other labs)."""
    if actor.organisation_id is None:
        raise NotFound("no such model")
    if actor.org_kind == OrgKind.LAB and actor.organisation_id == model.organisation_id:
        return "lab"
    if actor.org_kind == OrgKind.AGENCY:
        if policy.is_coordinator(actor):
            return "agency"
        granted = await session.scalar(
            select(func.count())
            .select_from(AccessGrant)
            .join(Window, Window.id == AccessGrant.window_id)
            .where(
                Window.model_id == model.id,
                AccessGrant.organisation_id == actor.organisation_id,
                AccessGrant.kind == GrantKind.AGENCY.value,
            )
        )
        if granted:
            return "agency"
    raise NotFound("no such model")


def _attachment_aad(attachment_id: uuid.UUID, message_id: uuid.UUID) -> bytes:
    return b"forewarn review attachment\n" + str(attachment_id).encode() + b"\n" + str(message_id).encode()


_FILENAME = re.compile(r"[^A-Za-z0-9._ -]+")


async def post_message(
    session: AsyncSession,
    *,
    model_id: uuid.UUID,
    body: str,
    attachments: list[AttachmentIn],
    actor: Principal,
    key: DataKey,
    max_chars: int = 20_000,
    max_attachment_bytes: int = 10_485_760,
    max_attachments: int = 5,
) -> MessageOut:
    """Post on a model's channel (its lab or the agencies); attachments are sealed before storage."""
    model = await _row(session, model_id)
    side = await _channel_side(session, model, actor)
    author_org = actor.organisation_id
    if author_org is None:
        raise NotFound("no such model")
    text = body.strip()
    if not text:
        raise InvalidInput("write a message", problems=[_problem("body", "empty")])
    if len(text) > max_chars:
        raise TooLarge(f"body: at most {max_chars} characters")
    if len(attachments) > max_attachments:
        raise TooLarge(f"attachments: at most {max_attachments} files")
    for a in attachments:
        if len(a.data) > max_attachment_bytes:
            raise TooLarge(f"attachments: {a.filename[:100]!r} is larger than {max_attachment_bytes} bytes")
    message = Message(
        id=new_id(),
        model_id=model.id,
        author_person_id=actor.person_id,
        author_organisation_id=author_org,
        author_name=f"{actor.name} ({actor.organisation_name or ''})"[:200],
        side=side,
        body=text,
    )
    session.add(message)
    await session.flush()
    for a in attachments:
        attachment_id = new_id()
        name = _FILENAME.sub("_", a.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()[:200] or "file"
        session.add(
            MessageAttachment(
                id=attachment_id,
                message_id=message.id,
                filename=name,
                content_type=(a.content_type or "application/octet-stream")[:100],
                size=len(a.data),
                sha256=hashlib.sha256(a.data).hexdigest(),
                blob_sealed=key.seal(a.data, aad=_attachment_aad(attachment_id, message.id)),
            )
        )
    await session.flush()
    return (await _messages(session, model.id, message_id=message.id))[0]


async def _messages(
    session: AsyncSession, model_id: uuid.UUID, *, message_id: uuid.UUID | None = None
) -> list[MessageOut]:
    query = select(Message).where(Message.model_id == model_id)
    if message_id is not None:
        query = query.where(Message.id == message_id)
    rows = list(await session.scalars(query.order_by(Message.created_at, Message.id).limit(2000)))
    files: dict[uuid.UUID, list[AttachmentOut]] = {}
    if rows:
        attached = await session.execute(
            select(
                MessageAttachment.id,
                MessageAttachment.message_id,
                MessageAttachment.filename,
                MessageAttachment.content_type,
                MessageAttachment.size,
                MessageAttachment.sha256,
            ).where(MessageAttachment.message_id.in_([r.id for r in rows]))
        )
        for aid, mid, name, ctype, size, sha in attached.all():
            files.setdefault(mid, []).append(
                AttachmentOut(id=aid, filename=name, content_type=ctype, size=size, sha256=sha)
            )
    return [
        MessageOut(
            id=r.id,
            model_id=r.model_id,
            side=r.side,
            author_organisation_id=r.author_organisation_id,
            author_name=r.author_name,
            body=r.body,
            created_at=r.created_at,
            attachments=files.get(r.id, []),
        )
        for r in rows
    ]


async def list_messages(session: AsyncSession, *, model_id: uuid.UUID, actor: Principal) -> list[MessageOut]:
    model = await _row(session, model_id)
    await _channel_side(session, model, actor)
    return await _messages(session, model_id)


async def can_use_channel(session: AsyncSession, *, model_id: uuid.UUID, actor: Principal) -> bool:
    try:
        await _channel_side(session, await _row(session, model_id), actor)
    except NotFound:
        return False
    return True


async def get_attachment(
    session: AsyncSession, *, model_id: uuid.UUID, attachment_id: uuid.UUID, actor: Principal, key: DataKey
) -> tuple[AttachmentOut, bytes]:
    """An attachment, opened, for one of the channel's two sides."""
    model = await _row(session, model_id)
    await _channel_side(session, model, actor)
    row = await session.scalar(
        select(MessageAttachment)
        .join(Message, Message.id == MessageAttachment.message_id)
        .where(MessageAttachment.id == attachment_id, Message.model_id == model_id)
    )
    if row is None:
        raise NotFound("no such attachment")
    data = key.open(row.blob_sealed, aad=_attachment_aad(row.id, row.message_id))
    return (
        AttachmentOut(
            id=row.id, filename=row.filename, content_type=row.content_type, size=row.size, sha256=row.sha256
        ),
        data,
    )
