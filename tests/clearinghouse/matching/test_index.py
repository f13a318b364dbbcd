"""The server's advisory index follows publications and revisions incrementally: only the changed
advisory's entries move, and it answers as an index built from scratch over the same records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.osv import loads_osv
from forewarn.clearinghouse.matching import service
from forewarn.clearinghouse.matching.engine import AdvisoryIndex, match_components

from .conftest import Operators, osv, publish


@dataclass(frozen=True)
class Pkg:
    package: str
    version: str
    ecosystem: str | None = "PyPI"
    source_package: str | None = None
    source_version: str | None = None
    purl: str | None = None
    ref: str | None = None


@pytest.fixture(autouse=True)
def fresh_index() -> Iterator[None]:
    service._INDEX.clear()
    yield
    service._INDEX.clear()


COMPONENTS = [
    Pkg(name, version)
    for name in ("alib", "blib", "clib")
    for version in ("0.9.0", "1.0.0", "1.4.1", "1.4.2", "1.5.5", "2.0.0")
]


def verdicts(index: AdvisoryIndex) -> set[tuple[str, str, str, tuple[str, ...]]]:
    report = match_components(index, COMPONENTS)
    return {(m.component.package, m.component.version, m.advisory.id, m.fixed) for m in report.matches}


async def rebuilt(session: AsyncSession) -> AdvisoryIndex:
    return AdvisoryIndex.build(await service.published_advisories(session))


async def test_a_publication_changes_only_its_own_entries(
    session: AsyncSession, operators: Operators
) -> None:
    _, a_id = await publish(session, operators, osv("alib"))
    await publish(session, operators, osv("blib", fixed="1.5.0"))
    index = await service.advisory_index(session)
    blib_entries = index._entries[("PyPI", "blib")]
    blib_ranks = index._ranked[("PyPI", "blib")]
    alib_ranks = index._ranked[("PyPI", "alib")]

    _, c_id = await publish(session, operators, osv("clib", introduced="1.4.0", fixed="2.0.0"))
    assert await service.advisory_index(session) is index  # kept, not rebuilt
    assert c_id in index
    assert index._entries[("PyPI", "blib")] is blib_entries  # untouched packages keep their entries...
    assert index._ranked[("PyPI", "blib")] is blib_ranks  # ...and their ranking
    assert index._ranked[("PyPI", "alib")] is alib_ranks
    assert ("PyPI", "clib") in index._ranked  # the new package is ranked at once
    assert verdicts(index) == verdicts(await rebuilt(session))
    assert ("clib", "1.4.2", c_id, ("2.0.0",)) in verdicts(index)
    assert ("alib", "1.4.1", a_id, ("1.4.2",)) in verdicts(index)


async def test_a_revision_replaces_its_advisory_in_place(session: AsyncSession, operators: Operators) -> None:
    case_id, a_id = await publish(session, operators, osv("alib"))
    await publish(session, operators, osv("blib"))
    index = await service.advisory_index(session)
    blib_ranks = index._ranked[("PyPI", "blib")]
    assert ("alib", "1.4.2", a_id, ()) not in verdicts(index)

    await advisories.update_vulnerability(
        session,
        case_id=case_id,
        ordinal=1,
        advisory=loads_osv(osv("alib", fixed="1.5.0")),
        actor=operators.analyst,
    )
    await advisories.revise(session, case_id=case_id, summary="Fix incomplete", actor=operators.analyst)
    assert await service.advisory_index(session) is index
    assert index._ranked[("PyPI", "blib")] is blib_ranks
    assert ("alib", "1.4.2", a_id, ("1.5.0",)) in verdicts(index)  # the revision's range, not the old one
    assert [a.id for a in index.advisories()].count(a_id) == 1
    assert verdicts(index) == verdicts(await rebuilt(session))


async def test_nothing_new_costs_no_change_and_a_vanished_record_rebuilds(
    session: AsyncSession, operators: Operators
) -> None:
    await publish(session, operators, osv("alib"))
    index = await service.advisory_index(session)
    assert await service.advisory_index(session) is index
    # A record the index holds is gone (a rolled-back publication): the index is built again.
    held = service._INDEX["published"]
    held.recent["GHSA-gone-gone-gone"] = held.checked
    again = await service.advisory_index(session)
    assert again is not index
    assert verdicts(again) == verdicts(index)


async def test_a_publication_that_commits_late_is_still_seen(
    session: AsyncSession, operators: Operators
) -> None:
    """A publication whose transaction took its ``modified`` before the last refresh but committed
    after it (within LOOKBACK) is found by the next refresh."""
    await publish(session, operators, osv("alib"))
    index = await service.advisory_index(session)
    checked = service._INDEX["published"].checked
    _, late_id = await publish(session, operators, osv("clib", introduced="1.4.0", fixed="2.0.0"))
    await session.execute(
        text("UPDATE ch_public_advisories SET modified = :at WHERE id = :id"),
        {"at": checked - service.LOOKBACK / 2, "id": late_id},
    )
    assert await service.advisory_index(session) is index
    assert late_id in index
    assert verdicts(index) == verdicts(await rebuilt(session))
    # Once seen, the window moves on: the next refresh reads only the last minutes again.
    assert await service.advisory_index(session) is index

