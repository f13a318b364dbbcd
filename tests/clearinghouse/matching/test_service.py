"""Matching in the database: SBOM upload matched at once, incremental matching on publication (the
job called directly and as enqueued), statuses, tenancy, revisions that do not re-alert, exposure."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.inventory.records import SubscriberIn
from forewarn.clearinghouse.matching import jobs, service
from forewarn.clearinghouse.matching.records import MatchStatus, StatusIn
from forewarn.core.errors import Forbidden, NotFound

from .conftest import Operators, cyclonedx, osv, publish


def _context(session: AsyncSession) -> Any:
    @contextlib.asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        yield session

    return SimpleNamespace(
        additional_context={"runtime": SimpleNamespace(db=SimpleNamespace(transaction=transaction))}
    )


async def _upload(session: AsyncSession, actor: Any, asset: str, sbom: bytes) -> uuid.UUID:
    _, asset_id = await inventory.upload_sbom(session, asset_name=asset, raw=sbom, actor=actor)
    await service.match_asset(session, asset_id=asset_id)
    return asset_id


async def test_upload_matches_published_advisories(session: AsyncSession, operators: Operators) -> None:
    _, advisory_id = await publish(session, operators, osv("tarlib"))
    await _upload(
        session, operators.hospital, "PACS server", cyclonedx(("tarlib", "1.2.0"), ("other", "1.0"))
    )
    (match,) = await service.list_matches(session, actor=operators.hospital)
    assert match.advisory_id == advisory_id
    assert match.status is MatchStatus.OPEN
    assert match.what_to_do == "You run tarlib 1.2.0 on asset PACS server. Update to 1.4.2."
    assert await service.list_matches(session, actor=operators.bank) == []  # tenancy


async def test_publication_enqueues_and_the_job_matches_incrementally(
    session: AsyncSession, operators: Operators
) -> None:
    await _upload(session, operators.hospital, "EHR", cyclonedx(("ziplib", "1.1.0")))
    await _upload(
        session, operators.bank, "Core banking", cyclonedx(("ziplib", "1.1.0"), ("ziplib", "1.1.0"))
    )
    await _upload(session, operators.bank, "Teller", cyclonedx(("ziplib", "2.0.0")))  # not affected
    assert await service.list_matches(session, actor=operators.hospital) == []
    _, advisory_id = await publish(session, operators, osv("ziplib"))
    # Publication handed the work up by name, in its own transaction.
    args = (
        await session.execute(
            text(
                "SELECT args FROM procrastinate_jobs"
                " WHERE task_name = 'matching:match_advisory' AND args->>'advisory_id' = :a"
            ),
            {"a": advisory_id},
        )
    ).scalar_one()
    assert await jobs.match_advisory.func(_context(session), **args) == 2
    assert [m.asset_name for m in await service.list_matches(session, actor=operators.hospital)] == ["EHR"]
    assert [m.asset_name for m in await service.list_matches(session, actor=operators.bank)] == [
        "Core banking"
    ]
    # Idempotent: a second run records nothing new.
    assert await service.match_advisory(session, advisory_id=advisory_id) == 0
    assert len(await service.list_matches(session, actor=operators.bank)) == 1


async def test_revision_without_remediation_change_does_not_reopen(
    session: AsyncSession, operators: Operators
) -> None:
    await _upload(session, operators.hospital, "EHR", cyclonedx(("gzlib", "1.1.0")))
    case_id, advisory_id = await publish(session, operators, osv("gzlib"))
    assert await service.match_advisory(session, advisory_id=advisory_id) == 1
    (match,) = await service.list_matches(session, actor=operators.hospital)
    await service.set_status(
        session, match_id=match.id, data=StatusIn(status=MatchStatus.FIXED), actor=operators.hospital
    )
    # A revision with the same remediation (here: a new score only) is not news (CSAF §9.1.17).
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    await advisories.score(session, case_id=case_id, ordinal=1, vector=vector, actor=operators.analyst)
    await advisories.revise(session, case_id=case_id, summary="Scored", actor=operators.analyst)
    assert await service.match_advisory(session, advisory_id=advisory_id) == 0
    (after,) = await service.list_matches(session, actor=operators.hospital)
    assert after.status is MatchStatus.FIXED
    assert after.alerted_at == match.alerted_at
    assert after.severity_rating == "CRITICAL"  # what changed is recorded


async def test_status_needs_a_justification_and_stays_in_its_organisation(
    session: AsyncSession, operators: Operators
) -> None:
    await publish(session, operators, osv("jarlib"))
    await _upload(session, operators.hospital, "EHR", cyclonedx(("jarlib", "1.0.5")))
    (match,) = await service.list_matches(session, actor=operators.hospital)
    with pytest.raises(ValueError, match="justification"):
        StatusIn.model_validate({"status": "not_affected"})
    done = await service.set_status(
        session,
        match_id=match.id,
        data=StatusIn.model_validate(
            {"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}
        ),
        actor=operators.hospital,
    )
    assert done.status is MatchStatus.NOT_AFFECTED
    with pytest.raises(NotFound):
        await service.set_status(
            session, match_id=match.id, data=StatusIn(status=MatchStatus.OPEN), actor=operators.bank
        )
    with pytest.raises(Forbidden):
        await service.list_matches(session, actor=operators.analyst)


async def test_exposure_by_sector_and_status(session: AsyncSession, operators: Operators) -> None:
    _, advisory_id = await publish(session, operators, osv("bzlib"))
    await inventory.put_subscriber(
        session,
        data=SubscriberIn.model_validate(
            {"sector": "healthcare", "subsector": "rural_hospital", "size": "small", "email": "it@h.example"}
        ),
        actor=operators.hospital,
    )
    await _upload(session, operators.hospital, "EHR", cyclonedx(("bzlib", "1.0.0")))
    await _upload(session, operators.bank, "Core", cyclonedx(("bzlib", "1.3.0")))
    with pytest.raises(Forbidden):
        await service.exposure(session, actor=operators.hospital)
    found = await service.exposure(session, actor=operators.analyst)
    (row,) = [r for r in found.advisories if r.advisory_id == advisory_id]
    assert row.operators_by_sector == {"healthcare": 1, "unregistered": 1}
    assert row.by_status["open"] == 2
    assert row.open_operators == 2
    (match,) = await service.list_matches(session, actor=operators.bank)
    await service.set_status(
        session, match_id=match.id, data=StatusIn(status=MatchStatus.FIXED), actor=operators.bank
    )
    (row,) = [
        r
        for r in (await service.exposure(session, actor=operators.analyst)).advisories
        if r.advisory_id == advisory_id
    ]
    assert row.by_status["fixed"] == 1
    assert row.open_operators == 1


async def test_reupload_without_the_component_marks_it_fixed(
    session: AsyncSession, operators: Operators
) -> None:
    await publish(session, operators, osv("xzlib"))
    await _upload(session, operators.hospital, "EHR", cyclonedx(("xzlib", "1.0.0")))
    await _upload(session, operators.hospital, "EHR", cyclonedx(("xzlib", "1.5.0")))
    (match,) = await service.list_matches(session, actor=operators.hospital)
    assert match.status is MatchStatus.FIXED
    assert match.note == "No longer in the asset's inventory."


async def test_revision_that_changes_the_fix_reopens_and_realerts(
    session: AsyncSession, operators: Operators
) -> None:
    from forewarn.clearinghouse.advisories.osv import loads_osv

    await _upload(session, operators.hospital, "EHR", cyclonedx(("lzlib", "1.4.5")))
    case_id, advisory_id = await publish(session, operators, osv("lzlib"))
    assert await service.match_advisory(session, advisory_id=advisory_id) == 0  # 1.4.5 is past the fix
    # The vendor finds the first fix incomplete: 1.5.0 is the fixed version now.
    await advisories.update_vulnerability(
        session,
        case_id=case_id,
        ordinal=1,
        advisory=loads_osv(osv("lzlib", fixed="1.5.0")),
        actor=operators.analyst,
    )
    await advisories.revise(session, case_id=case_id, summary="Fix incomplete", actor=operators.analyst)
    assert await service.match_advisory(session, advisory_id=advisory_id) == 1
    (match,) = await service.list_matches(session, actor=operators.hospital)
    assert match.fixed == ["1.5.0"]
    await service.set_status(
        session, match_id=match.id, data=StatusIn(status=MatchStatus.FIXED), actor=operators.hospital
    )
    await advisories.update_vulnerability(
        session,
        case_id=case_id,
        ordinal=1,
        advisory=loads_osv(osv("lzlib", fixed="1.6.0")),
        actor=operators.analyst,
    )
    await advisories.revise(session, case_id=case_id, summary="Fix incomplete again", actor=operators.analyst)
    assert await service.match_advisory(session, advisory_id=advisory_id) == 1
    (reopened,) = await service.list_matches(session, actor=operators.hospital)
    assert reopened.status is MatchStatus.OPEN and reopened.alerted_at > match.alerted_at


async def test_the_advisory_index_follows_new_publications(
    session: AsyncSession, operators: Operators
) -> None:
    await publish(session, operators, osv("firstlib"))
    await _upload(session, operators.hospital, "A", cyclonedx(("firstlib", "1.0.0")))
    first = await service.advisory_index(session)
    assert await service.advisory_index(session) is first  # nothing new: the process's index is reused
    _, second_id = await publish(session, operators, osv("secondlib"))
    await _upload(session, operators.hospital, "B", cyclonedx(("secondlib", "1.0.0")))
    assert second_id in await service.advisory_index(session)
    assert {m.asset_name for m in await service.list_matches(session, actor=operators.hospital)} == {"A", "B"}


async def test_a_distribution_advisory_finds_binary_packages_by_their_source(
    session: AsyncSession, operators: Operators
) -> None:
    """Debian advisories name source packages; the SBOM lists ``libssl1.1``, built from ``openssl``."""
    purl = "pkg:deb/debian/libssl1.1@1.1.1n-0%2Bdeb11u3?arch=amd64&upstream=openssl&distro=debian-11"
    extra = [
        {
            "type": "library",
            "bom-ref": "ssl",
            "name": "libssl1.1",
            "version": "1.1.1n-0+deb11u3",
            "purl": purl,
        }
    ]
    await _upload(session, operators.bank, "Core", cyclonedx(extra=extra))
    _, advisory_id = await publish(
        session, operators, osv("openssl", ecosystem="Debian:11", introduced="0", fixed="1.1.1n-0+deb11u4")
    )
    assert await service.match_advisory(session, advisory_id=advisory_id) == 1
    (match,) = await service.list_matches(session, actor=operators.bank)
    assert (match.package, match.via, match.fixed) == ("libssl1.1", "source", ["1.1.1n-0+deb11u4"])


async def test_publication_finds_components_too_long_for_the_covering_index(
    session: AsyncSession, operators: Operators
) -> None:
    """A component whose fields overflow a covering-index entry is in the small index of long rows,
    and publication finds it there exactly as it finds the others."""
    long_purl = "pkg:pypi/widelib@1.1.0?note=" + "x" * 2500
    extra = [{"type": "library", "bom-ref": "wide", "name": "widelib", "version": "1.1.0", "purl": long_purl}]
    await _upload(session, operators.bank, "Core", cyclonedx(extra=extra))
    await _upload(session, operators.hospital, "EHR", cyclonedx(("widelib", "1.1.0")))
    compact = await session.scalar(
        text(
            "SELECT bool_and(@C) FROM ch_components WHERE package = 'widelib' AND purl = :p".replace(
                "@C", inventory.compact()
            )
        ),
        {"p": long_purl},
    )
    assert compact is False  # the bank's component is one of the long ones
    _, advisory_id = await publish(session, operators, osv("widelib"))
    assert await service.match_advisory(session, advisory_id=advisory_id) == 2
    (bank,) = await service.list_matches(session, actor=operators.bank)
    (hospital,) = await service.list_matches(session, actor=operators.hospital)
    assert (bank.purl, hospital.purl) == (long_purl, "pkg:pypi/widelib@1.1.0")
    identities = await inventory.identities_for_keys(session, keys=[("PyPI", "widelib")])
    assert len(identities) == 1  # one (ecosystem, package, version) for both


async def test_a_package_is_looked_up_in_the_covering_index_alone(
    session: AsyncSession, operators: Operators
) -> None:
    """The plans publication relies on: the versions of a package, and its components at the
    affected versions, come from index-only scans of the covering index (no table page read for a
    component whose page is all-visible)."""
    from forewarn.clearinghouse.inventory.service import _IDENTITIES
    from forewarn.clearinghouse.matching.service import _INSERT

    await _upload(session, operators.bank, "Core", cyclonedx(("planlib", "1.1.0")))
    await session.execute(text("SET LOCAL enable_seqscan = off"))  # a test table is tiny
    await session.execute(text("SET LOCAL enable_bitmapscan = off"))
    params = {"bases": ["PyPI"], "names": ["planlib"]}
    plan = "\n".join(r[0] for r in await session.execute(text(f"EXPLAIN {_IDENTITIES}"), params))
    assert "Index Only Scan using ix_ch_components_covering" in plan
    columns = ("base", "eco", "pkg", "ver", "spkg", "sver", "via", "fixed", "remediation")
    values: dict[str, object] = dict.fromkeys(columns)
    values |= {"base": ["PyPI"], "eco": ["PyPI"], "pkg": ["planlib"], "ver": ["1.1.0"], "spkg": [None]}
    values |= {"sver": [None], "via": ["package"], "fixed": ['["1.4.2"]'], "remediation": ["0" * 64]}
    values |= {"advisory": "GHSA-plan", "now": None, "summary": None, "score": None, "rating": None}
    values["kev"] = False
    plan = "\n".join(r[0] for r in await session.execute(text(f"EXPLAIN {_INSERT}"), values))
    assert "Index Only Scan using ix_ch_components_covering" in plan


async def test_new_matches_keep_every_character_of_what_they_copy(
    session: AsyncSession, operators: Operators
) -> None:
    # New matches are written by COPY in its text format: tabs, newlines, backslashes, quotes and
    # non-ASCII text in a summary or a component's name come back as they were.
    summary = 'Tab\there, line\nbreak, CR\r, back\\slash \\N, "quoted" {braces}, ünïcode ✓'
    await publish(session, operators, osv("tarlib", summary=summary))
    component = {
        "type": "library",
        "bom-ref": "odd",
        "name": 'tar\\lib "x"',
        "version": "1.2.0",
        "purl": "pkg:pypi/tarlib@1.2.0",
    }
    await _upload(session, operators.hospital, "PACS server", cyclonedx(extra=[component]))
    (match,) = await service.list_matches(session, actor=operators.hospital)
    assert (match.summary, match.fixed, match.status) == (summary, ["1.4.2"], MatchStatus.OPEN)
    assert match.component.startswith('tar\\lib "x"')


async def test_copy_fields_read_back_as_written(session: AsyncSession) -> None:
    from datetime import UTC, datetime

    values = ["a\tb", "c\nd\re", "back\\slash", "\\N", '"q"', "{,}", "ü", ""]
    await session.execute(
        text(
            "CREATE TEMP TABLE copy_probe (t text, a varchar(400)[], f float8, b bool,"
            " d timestamptz, n text) ON COMMIT DROP"
        )
    )
    connection = await (await session.connection()).get_raw_connection()
    driver: Any = connection.driver_connection
    now = datetime(2026, 11, 28, 19, 0, 0, 123456, tzinfo=UTC)
    async with driver.cursor() as cursor, cursor.copy("COPY copy_probe FROM STDIN") as copy:
        for v in values:
            row = [
                service._copy_value(v),
                service._copy_array([v, "x"]),
                service._copy_value(9.8),
                service._copy_value(True),
                service._copy_value(now),
                service._copy_value(None),
            ]
            await copy.write("\t".join(row) + "\n")
    rows = (await session.execute(text("SELECT t, a, f, b, d, n FROM copy_probe"))).all()
    assert [tuple(r) for r in rows] == [(v, [v, "x"], 9.8, True, now, None) for v in values]
