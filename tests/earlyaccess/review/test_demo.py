"""The demo world's review programme: agreement v1 published, Northwind signed, orca registered, no
window opened; a second seeding adds nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.benchmark.world import runtime_in

from forewarn.accounts import service as accounts
from forewarn.cli.demo import seed
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.review import service as review


async def test_demo_seeds_the_agreement_and_northwinds_signature(
    session: AsyncSession, runtime: Runtime, tmp_path: Path
) -> None:
    rt = runtime_in(session, runtime, tmp_path)
    lines = await seed(session, rt)
    assert any("Review programme" in line for line in lines)
    current = await review.current_agreement(session)
    assert current is not None and current.version == 1 and "withdraw at any time" in current.body
    northwind = await accounts.find_organisation(session, name_or_code="Northwind AI")
    assert await review.is_participating(session, organisation_id=northwind.id)
    models = await review.list_models(session, actor=None, organisation_id=northwind.id)
    assert [(m.name, m.version) for m in models] == [("orca", "1.0")] and models[0].card_summary
    assert await review.list_windows(session, actor=None) == []
    again = await seed(session, rt)
    assert not any("Review programme" in line for line in again)
    assert [a.version for a in await review.list_agreements(session)] == [1]
