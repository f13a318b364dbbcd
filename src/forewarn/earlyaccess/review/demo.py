"""The review programme's part of ``forewarn serve --demo``: agreement version 1 published, Northwind AI
signed it, and its model orca 1.0 registered with a model card. Windows are left for the person trying
the demo to open. Idempotent: nothing is added once an agreement exists."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import NotFound
from forewarn.earlyaccess.review import service
from forewarn.earlyaccess.review.schemas import AccessMode, AgreementIn, ModelIn, ModelUpdate

AGREEMENT_TITLE = "Voluntary pre-release review: participation agreement"
AGREEMENT_TEXT = """\
1. Voluntary participation. The developer takes part of its own will and may withdraw at any time,
   with immediate effect, by the withdraw action in forewarn. Withdrawal closes every open review window
   of the developer and revokes every access key issued for them.

2. Early access. For each covered model the developer chooses to submit, it gives the participating
   agencies access for the programme's window length (30 days) before public release, through one
   credential handed to the programme's gateway. Reviewers never see that credential.

3. No licence, no pre-clearance. Nothing in this agreement or in the programme licenses, pre-clears or
   permits a release. The developer keeps full control of its release dates and of its intellectual
   property. No review outcome is a condition of release.

4. Communication. The developer and the agencies may write to each other on each submission's recorded
   channel. Findings and the final report are shared with the developer at the window's close.

5. Transparency. Signing, withdrawal, windows and access grants are recorded in the public transparency
   log with their reasons; model details, credentials and findings are not.
"""


async def _principal(session: AsyncSession, email: str) -> Principal | None:
    try:
        person = await accounts.find_person(session, email=email)
    except NotFound:
        return None
    return await accounts.principal_for(
        session, person_id=person.id, organisation_id=person.memberships[0].organisation_id, via="demo"
    )


async def seed_demo(session: AsyncSession, runtime: Any) -> list[str]:
    """Seed the demo's review programme once; return lines to print."""
    if await service.current_agreement(session) is not None:
        return []
    coordinator = await _principal(session, "coordinator@nsa.demo")
    lead = await _principal(session, "safety@northwind.demo")
    if coordinator is None or lead is None:
        return []
    agreement = await service.publish_agreement(
        session, data=AgreementIn(title=AGREEMENT_TITLE, body=AGREEMENT_TEXT), actor=coordinator
    )
    await service.sign(session, agreement_version=agreement.version, actor=lead)
    models = [
        m for m in await service.list_models(session, actor=lead) if (m.name, m.version) == ("orca", "1.0")
    ]
    if models:
        model = models[0]
    else:
        model = await service.register_model(
            session,
            data=ModelIn(
                name="orca",
                version="1.0",
                family="orca",
                planned_release=date(2027, 6, 1),
                access_mode=AccessMode.ENCLAVE,
                endpoint_base_url="http://127.0.0.1:8081/v1",
                endpoint_model="gemma3-270m",
            ),
            actor=lead,
            key=runtime.keys.data,
        )
    await service.update_model(
        session,
        model_id=model.id,
        data=ModelUpdate(
            card_summary="Orca is Northwind AI's general-purpose text model (demo: a small local model).",
            card_intended_use="Coding help and question answering for developers.",
            card_capabilities="Code completion, short answers; no tool use.",
            card_limitations="Small base model: short, sometimes wrong answers.",
            card_training_data="Public web text and permissively licensed code (demo description).",
            card_evaluations="Internal safety suite; the programme's determination pending.",
        ),
        actor=lead,
    )
    return [
        "Review programme: agreement version 1 published; Northwind AI signed it; orca 1.0 is registered.",
        "  Open a window at /review as safety@northwind.demo; grant agencies and issue keys as"
        " coordinator@nsa.demo.",
    ]
