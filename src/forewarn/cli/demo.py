"""The demo world of ``forewarn serve --demo``: five agencies, two labs, two partners, three operators.

All names are fictional except the agencies'. Seeding is idempotent: a second run adds nothing. The
demo password is random per data dir, printed once and kept in ``<data_dir>/demo-credentials.txt``
(mode 0600) so a newcomer can find it again.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service
from forewarn.accounts.schemas import OrganisationIn, OrgKind, PersonIn, Role
from forewarn.clearinghouse.feed import demo as feed_demo
from forewarn.core.errors import NotFound
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.partners import demo as partners_demo
from forewarn.earlyaccess.review import demo as review_demo

ORGS: list[tuple[str, OrgKind, str | None, str | None]] = [
    ("National Security Agency", OrgKind.AGENCY, "NSA", None),
    ("Cybersecurity and Infrastructure Security Agency", OrgKind.AGENCY, "CISA", None),
    ("National Institute of Standards and Technology", OrgKind.AGENCY, "NIST", None),
    ("Office of the National Cyber Director", OrgKind.AGENCY, "ONCD", None),
    ("Department of the Treasury", OrgKind.AGENCY, "TREASURY", None),
    ("Northwind AI", OrgKind.LAB, None, None),
    ("Lumen Systems", OrgKind.LAB, None, None),
    ("Sentinel Assurance", OrgKind.PARTNER, None, None),
    ("Redline Security Research", OrgKind.PARTNER, None, None),
    ("Harlan County Community Hospital", OrgKind.OPERATOR, None, "healthcare/rural-hospital"),
    ("First Prairie Community Bank", OrgKind.OPERATOR, None, "finance/community-bank"),
    ("Millbrook Water District", OrgKind.OPERATOR, None, "water/community-water-system"),
    ("Tessellate Security", OrgKind.GRANTEE, None, None),
]

PEOPLE: list[tuple[str, str, str, list[Role]]] = [
    ("custodian@nsa.demo", "Dana Whitfield", "NSA", [Role.BENCHMARK_CUSTODIAN, Role.ADMIN]),
    ("coordinator@nsa.demo", "Marcus Reyes", "NSA", [Role.ASSESSMENT_COORDINATOR, Role.REVIEWER]),
    ("custodian@cisa.demo", "Priya Natarajan", "CISA", [Role.BENCHMARK_CUSTODIAN, Role.PANEL_MEMBER]),
    ("custodian@nist.demo", "Tomas Lindqvist", "NIST", [Role.BENCHMARK_CUSTODIAN, Role.REVIEWER]),
    ("custodian@oncd.demo", "Avery Brooks", "ONCD", [Role.BENCHMARK_CUSTODIAN, Role.PANEL_MEMBER]),
    ("analyst@treasury.demo", "Helen Okafor", "TREASURY", [Role.CLEARINGHOUSE_ANALYST, Role.GRANTS_OFFICER]),
    ("safety@northwind.demo", "Jordan Ellis", "Northwind AI", [Role.SAFETY_LEAD, Role.ADMIN]),
    ("safety@lumen.demo", "Sam Okonkwo", "Lumen Systems", [Role.SAFETY_LEAD, Role.PANEL_MEMBER]),
    ("redteam@sentinel.demo", "Riley Chen", "Sentinel Assurance", [Role.REVIEWER, Role.ADMIN]),
    ("lead@redline.demo", "Morgan Diaz", "Redline Security Research", [Role.REVIEWER, Role.PANEL_MEMBER]),
    (
        "it@harlan-hospital.demo",
        "Casey Morgan",
        "Harlan County Community Hospital",
        [Role.OPERATOR_CONTACT, Role.ADMIN],
    ),
    ("security@firstprairie.demo", "Lee Anderson", "First Prairie Community Bank", [Role.OPERATOR_CONTACT]),
    ("ops@millbrook-water.demo", "Pat Kowalski", "Millbrook Water District", [Role.OPERATOR_CONTACT]),
    ("founder@tessellate.demo", "Robin Vance", "Tessellate Security", [Role.ADMIN, Role.MEMBER]),
    ("hiring@cisa.demo", "Jamie Park", "CISA", [Role.HIRING_OFFICER]),
]


def _demo_password(runtime: Runtime) -> tuple[str, bool]:
    path = runtime.settings.data_dir / "demo-credentials.txt"
    if path.exists():
        return path.read_text().strip().rsplit(" ", 1)[-1], False
    password = "demo-" + secrets.token_urlsafe(9)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"password of every demo account: {password}\n")
    return password, True


async def seed(session: AsyncSession, runtime: Runtime) -> list[str]:
    """Create the demo world where missing; return lines to print."""
    ids = {}
    for name, kind, code, sector in ORGS:
        try:
            org = await service.find_organisation(session, name_or_code=code or name)
        except NotFound:
            org = await service.create_organisation(
                session, data=OrganisationIn(name=name, kind=kind, code=code, sector=sector), actor=None
            )
        ids[code or name] = org.id
    password, new = _demo_password(runtime)
    for email, person_name, org_ref, roles in PEOPLE:
        try:
            await service.find_person(session, email=email)
            continue
        except NotFound:
            pass
        await service.create_person(
            session,
            data=PersonIn(
                email=email, name=person_name, password=password, organisation_id=ids[org_ref], roles=roles
            ),
            actor=None,
        )
    lines = await seed_benchmark(session, runtime)
    lines += await review_demo.seed_demo(session, runtime)
    lines += await partners_demo.seed_demo(session, runtime, password=password)
    lines += await seed_grants_and_workforce(session)
    lines += await feed_demo.seed_demo(session, runtime)
    lines += ["Demo world ready: sign in as any of"]
    lines += [
        f"  {email:32} {org_ref:34} {', '.join(r.value for r in roles)}"
        for email, _, org_ref, roles in PEOPLE
    ]
    where = runtime.settings.data_dir / "demo-credentials.txt"
    lines.append(f"  demo password: {password}" + ("" if new else f"  (also in {where})"))
    return lines


async def _demo_principal(session: AsyncSession, email: str) -> Any:
    person = await service.find_person(session, email=email)
    return await service.principal_for(
        session, person_id=person.id, organisation_id=person.memberships[0].organisation_id, via="demo"
    )


async def seed_benchmark(session: AsyncSession, runtime: Runtime) -> list[str]:
    """The NON-CLASSIFIED EXAMPLE pack, an active threshold policy (NSA, after ONCD and CISA) and one
    model of Northwind AI, so a newcomer can request a determination. Skipped once a pack exists."""
    import tempfile
    from datetime import date
    from pathlib import Path

    from forewarn.earlyaccess.benchmark import pack
    from forewarn.earlyaccess.benchmark import service as benchmark
    from forewarn.earlyaccess.benchmark.example import write_example_pack
    from forewarn.earlyaccess.benchmark.schemas import ConsultationIn, PolicyIn
    from forewarn.earlyaccess.review import service as review
    from forewarn.earlyaccess.review.schemas import AccessMode, ModelIn

    nsa = await _demo_principal(session, "custodian@nsa.demo")
    if await benchmark.list_packs(session, actor=nsa):
        return []
    key = runtime.keys.data
    with tempfile.TemporaryDirectory() as tmp:
        blob = pack.build(write_example_pack(Path(tmp) / "example"), key)
    imported = await benchmark.import_pack(session, blob=blob, actor=nsa, key=key)
    # A demo policy with a small budget, so a determination against a small local model is quick.
    proposed = await benchmark.propose_policy(
        session,
        data=PolicyIn(
            pack_id=imported.id,
            p0=0.5,
            delta=0.3,
            alpha=0.05,
            beta=0.05,
            max_calls=30,
            family_limit=3,
            period_days=30,
        ),
        actor=nsa,
        key=key,
    )
    for email in ("custodian@oncd.demo", "custodian@cisa.demo"):
        await benchmark.consult(
            session,
            policy_id=proposed.id,
            data=ConsultationIn(concur=True, comment="Demo consultation: concur."),
            actor=await _demo_principal(session, email),
            key=key,
        )
    await benchmark.activate_policy(session, policy_id=proposed.id, actor=nsa)
    await review.register_model(
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
        actor=await _demo_principal(session, "safety@northwind.demo"),
        key=key,
    )
    return [
        "Sealed benchmark: the NON-CLASSIFIED EXAMPLE pack and an active demo threshold policy are in place;",
        "  Northwind AI's model orca 1.0 expects a llama.cpp server at http://127.0.0.1:8081/v1"
        " (see docs/benchmark.md).",
    ]


async def seed_grants_and_workforce(session: AsyncSession) -> list[str]:
    """An open call for proposals by Treasury and an AI red-team posting by CISA, once."""
    from datetime import timedelta

    from forewarn.core.clock import utcnow
    from forewarn.grants import service as grants
    from forewarn.grants.schemas import CallIn
    from forewarn.workforce import service as workforce
    from forewarn.workforce.schemas import PostingIn

    if await grants.list_calls(session, actor=None):
        return []
    now = utcnow()
    officer = await _demo_principal(session, "analyst@treasury.demo")
    call = await grants.create_call(
        session,
        data=CallIn(
            title="AI vulnerability detection tools, round 1",
            purpose="Fund tools that find prompt injection, data extraction and other vulnerabilities in"
            " AI models, and flaws in the software and infrastructure of AI systems, reporting into the"
            " clearinghouse.",
            funding_pool=10_000_000,
            award_ceiling=1_500_000,
            eligibility="U.S. companies registered as grantee organisations.",
            criteria=[
                {"key": "impact", "name": "Impact on critical infrastructure", "weight": 0.4},
                {"key": "approach", "name": "Technical approach", "weight": 0.35},
                {"key": "team", "name": "Team and plan", "weight": 0.25},
            ],
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=60),
        ),
        actor=officer,
    )
    await grants.publish_call(session, call_id=call.id, actor=officer)
    await workforce.create_posting(
        session,
        data=PostingIn(
            pathway="ai-red-team",
            title="AI red-team specialist",
            location="Arlington, VA (hybrid)",
            clearance="secret",
            grade_low=12,
            grade_high=14,
            closes_at=now + timedelta(days=45),
        ),
        actor=await _demo_principal(session, "hiring@cisa.demo"),
    )
    return [
        "Grants: an open call for proposals by Treasury at /grants (apply as founder@tessellate.demo);",
        "  Tech Force: an AI red-team posting by CISA at /careers (post as hiring@cisa.demo).",
    ]
