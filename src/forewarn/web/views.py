"""Pages and endpoints that belong to the whole site: home, health, metrics, API docs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import text

from forewarn.accounts import service as accounts
from forewarn.accounts.http import public
from forewarn.accounts.schemas import Principal, Role
from forewarn.core.http import Session
from forewarn.core.pages import render

router = APIRouter(include_in_schema=False)
Anyone = Annotated[Principal | None, Depends(public())]


@dataclass(frozen=True)
class Card:
    title: str
    text: str
    href: str | None = None


#: What each role does in the programme; domains with pages give their cards a link.
ROLE_CARDS: dict[Role, list[Card]] = {
    Role.ADMIN: [
        Card(
            "People and organisations",
            "Add people, give them roles, see who belongs to your organisation.",
            "/admin/organisations",
        )
    ],
    Role.BENCHMARK_CUSTODIAN: [
        Card(
            "Sealed benchmark",
            "Import and version sealed packs, propose threshold policies, audit determinations.",
            "/benchmark",
        )
    ],
    Role.ASSESSMENT_COORDINATOR: [
        Card(
            "Assessment windows",
            "Plan each covered model's 30-day window across agencies and partners, triage findings.",
            "/review/windows",
        )
    ],
    Role.REVIEWER: [
        Card(
            "Review access",
            "Use your scoped, expiring key to call models under review and file findings.",
            "/gateway/keys",
        )
    ],
    Role.PANEL_MEMBER: [
        Card(
            "Partner panel",
            "Vote on trusted-partner access with a written rationale; declare conflicts.",
            "/partners#queue",  # the partners page (public) opens on the member's queue
        )
    ],
    Role.CLEARINGHOUSE_ANALYST: [
        Card(
            "Clearinghouse",
            "Take in, validate and publish vulnerability advisories; watch remediation by sector.",
            "/clearinghouse",
        ),
        Card("Embargo calendar", "Target publication dates of embargoed cases.", "/clearinghouse/embargoes"),
        Card(
            "Exposure",
            "Operators affected by each advisory, by sector, and their remediation.",
            "/clearinghouse/exposure",
        ),
    ],
    Role.SAFETY_LEAD: [
        Card(
            "Your models",
            "Opt in, register models, request determinations, open review windows, withdraw at will.",
            "/determinations",
        ),
        Card(
            "Pre-release review",
            "Sign or withdraw, open a model's window, hand over one credential, see who used it.",
            "/review",
        ),
    ],
    Role.OPERATOR_CONTACT: [
        Card(
            "Your inventory",
            "Upload SBOMs, get notices only for what you run, mark each match fixed.",
            "/operator",
        )
    ],
    Role.GRANTS_OFFICER: [
        Card(
            "Grants",
            "Run calls for proposals for AI vulnerability detection tools; review and award.",
            "/grants",
        )
    ],
    Role.HIRING_OFFICER: [
        Card(
            "Tech Force hiring",
            "Post cyber roles on a pathway; move candidates through the pipeline.",
            "/careers",
        )
    ],
    Role.MEMBER: [],
}
ALL_CARDS = [Card("API tokens", "Create tokens for scripts and tools that act for you.", "/account/tokens")]
PUBLIC_CARDS = [
    Card("Transparency log", "Every governance decision, in a public log anyone can verify.", "/ledger"),
    Card("API", "The JSON API and its OpenAPI document.", "/api/v1/docs"),
    Card(
        "Grants", "Calls for proposals for AI vulnerability detection tools, and the awards made.", "/grants"
    ),
    Card(
        "Tech Force cyber careers",
        "Pathways into cyber roles, open postings, and hiring numbers.",
        "/careers",
    ),
]


def cards_for(principal: Principal) -> list[Card]:
    out: list[Card] = []
    if principal.is_platform_admin:
        out.append(
            Card(
                "Platform administration",
                "Create organisations of every kind and their first administrators.",
                "/admin/organisations",
            )
        )
    for role in sorted(principal.roles, key=lambda r: r.value):
        for card in ROLE_CARDS.get(role, []):
            if card not in out:
                out.append(card)
    return out + ALL_CARDS


@router.get("/", name="home")
async def home(request: Request, session: Session, principal: Anyone) -> Response:
    if principal is None:
        return render(request, "home.html", public_cards=PUBLIC_CARDS)
    orgs = await accounts.organisations_of(session, person_id=principal.person_id)
    others = [o for o in orgs if o.id != principal.organisation_id]
    return render(request, "home.html", cards=cards_for(principal), other_orgs=others)


@router.get("/healthz")
async def healthz(session: Session, _: Anyone) -> Response:
    """Liveness and database reachability."""
    await session.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok"})


@router.get("/metrics")
async def metrics(_: Anyone) -> Response:
    """Prometheus text exposition: request counts and latencies by route template (no identities)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from forewarn.web.middleware import REGISTRY

    return PlainTextResponse(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/docs")
async def api_docs(request: Request, _: Anyone) -> Response:
    """A readable list of the API's operations, rendered here (no third-party scripts)."""
    spec = request.app.openapi()
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            ops.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                }
            )
    return render(request, "api_docs.html", ops=ops, version=spec.get("info", {}).get("version"))
