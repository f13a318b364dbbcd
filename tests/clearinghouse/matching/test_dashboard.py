"""The clearinghouse's dashboard: exposure by sector and by advisory over time (daily snapshots, SVG
charts), time to remediate per sector, and operators that have not acknowledged a critical notice."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.distribution import service as distribution
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.inventory.records import SubscriberIn
from forewarn.clearinghouse.matching import service
from forewarn.clearinghouse.matching.charts import line_chart
from forewarn.clearinghouse.matching.records import MatchStatus, StatusIn
from forewarn.core.clock import utcnow

from .conftest import Operators, cyclonedx, osv, publish

API = "/api/v1"
CRITICAL = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]


async def _world(session: AsyncSession, ops: Operators) -> tuple[str, str]:
    """A hospital and a bank run ``dashlib`` 1.3.0 (critical advisory) and the hospital ``minorlib``."""
    _, critical = await publish(session, ops, osv("dashlib", severity=CRITICAL))
    _, minor = await publish(session, ops, osv("minorlib"))
    for who, sector, sub, packages in (
        (ops.hospital, "healthcare", "rural_hospital", [("dashlib", "1.3.0"), ("minorlib", "1.1.0")]),
        (ops.bank, "finance", "community_bank", [("dashlib", "1.3.0")]),
    ):
        profile = {"sector": sector, "subsector": sub, "size": "small", "email": f"it@{sector}.example"}
        await inventory.put_subscriber(session, data=SubscriberIn.model_validate(profile), actor=who)
        _, asset = await inventory.upload_sbom(
            session, asset_name="core", raw=cyclonedx(*packages), actor=who
        )
        await service.match_asset(session, asset_id=asset)
    return critical, minor


async def _set(session: AsyncSession, who: Principal, advisory_id: str, status: MatchStatus) -> None:
    (match,) = [m for m in await service.list_matches(session, actor=who) if m.advisory_id == advisory_id]
    await service.set_status(session, match_id=match.id, data=StatusIn(status=status), actor=who)


async def test_exposure_over_time_from_daily_snapshots(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    critical, minor = await _world(session, operators)
    now = utcnow()
    await service.snapshot_exposure(session, now=now - timedelta(days=2))  # all three open
    await _set(session, operators.bank, critical, MatchStatus.FIXED)
    assert await service.snapshot_exposure(session, now=now - timedelta(days=1)) == 2
    assert await service.snapshot_exposure(session, now=now - timedelta(days=1)) == 2  # idempotent
    await _set(session, operators.hospital, minor, MatchStatus.RISK_ACCEPTED)

    analyst = {"Authorization": f"Bearer {await make_token(operators.analyst)}"}
    got = await client.get(f"{API}/clearinghouse/exposure/history?days=4", headers=analyst)
    assert got.status_code == 200, got.text
    history = got.json()
    assert history["days"] == [(now.date() - timedelta(days=d)).isoformat() for d in (3, 2, 1, 0)]
    # Each test runs in its own transaction: only this world's matches are seen.
    assert history["by_advisory"] == {critical: [0, 2, 1, 1]}  # minorlib has none open today
    assert history["by_sector"] == {"finance": [0, 1, 0, 0], "healthcare": [0, 2, 2, 1]}
    bad = await client.get(f"{API}/clearinghouse/exposure/history?days=1", headers=analyst)
    assert bad.status_code == 422 and "days" in bad.text

    page = await client.get("/clearinghouse/exposure?days=4", headers=analyst | {"Accept": "text/html"})
    assert page.status_code == 200
    assert page.text.count("<svg") == 2 and f'data-series="{critical}"' in page.text


async def test_time_to_remediate_by_sector(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    critical, minor = await _world(session, operators)
    await _set(session, operators.bank, critical, MatchStatus.FIXED)
    await _set(session, operators.hospital, critical, MatchStatus.FIXED)
    await _set(session, operators.hospital, minor, MatchStatus.FIXED)
    # First seen 10 h (bank), 2 h and 4 h (hospital) before they were fixed.
    for advisory, org, hours in (
        (critical, operators.bank, 10),
        (critical, operators.hospital, 2),
        (minor, operators.hospital, 4),
    ):
        await session.execute(
            text(
                "UPDATE ch_matches SET created_at = status_changed_at - make_interval(hours => :h)"
                " WHERE advisory_id = :a AND organisation_id = :o"
            ),
            {"h": hours, "a": advisory, "o": org.organisation_id},
        )
    rows = {r.sector: r for r in await service.remediation_times(session, actor=operators.analyst)}
    assert (rows["finance"].fixed, rows["finance"].median_hours, rows["finance"].p90_hours) == (1, 10.0, 10.0)
    assert (rows["healthcare"].fixed, rows["healthcare"].median_hours) == (2, 3.0)
    assert rows["healthcare"].p90_hours == 3.8  # linear interpolation between 2 h and 4 h
    assert rows["all"].fixed >= 3

    analyst = {"Authorization": f"Bearer {await make_token(operators.analyst)}"}
    got = await client.get(f"{API}/clearinghouse/remediation", headers=analyst)
    assert got.status_code == 200 and {
        "sector": "finance",
        "fixed": 1,
        "median_hours": 10.0,
        "p90_hours": 10.0,
    } in [r for r in got.json() if r["sector"] == "finance"]
    operator = {"Authorization": f"Bearer {await make_token(operators.hospital)}"}
    assert (await client.get(f"{API}/clearinghouse/remediation", headers=operator)).status_code == 403


async def test_operators_that_have_not_acknowledged_a_critical_notice(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    critical, minor = await _world(session, operators)
    assert len(await distribution.fan_out(session, advisory_id=critical, base_url="https://fw.example")) == 2
    assert len(await distribution.fan_out(session, advisory_id=minor, base_url="https://fw.example")) == 1
    # The notices were sent 30 hours ago.
    await session.execute(
        text(
            "UPDATE ch_dist_notices SET created_at = created_at - interval '30 hours'"
            " WHERE advisory_id = ANY(:a)"
        ),
        {"a": [critical, minor]},
    )
    waiting = await distribution.unacknowledged_critical(session, actor=operators.analyst)
    mine = [u for u in waiting if u.advisory_id in (critical, minor)]
    assert sorted(u.sector for u in mine) == ["finance", "healthcare"]  # the minor one is not critical
    assert all(
        u.advisory_id == critical and u.open_matches == 1 and 29.9 < u.hours_waiting < 30.2 for u in mine
    )
    assert not any(u.delivered for u in mine)

    await _set(session, operators.bank, critical, MatchStatus.ACKNOWLEDGED)
    analyst = {"Authorization": f"Bearer {await make_token(operators.analyst)}"}
    got = await client.get(f"{API}/clearinghouse/unacknowledged?hours=24", headers=analyst)
    assert got.status_code == 200, got.text
    listed = [u for u in got.json() if u["advisory_id"] == critical]
    assert [u["sector"] for u in listed] == ["healthcare"]
    assert listed[0]["organisation"] == operators.hospital.organisation_name
    later = await client.get(f"{API}/clearinghouse/unacknowledged?hours=48", headers=analyst)
    assert [u for u in later.json() if u["advisory_id"] == critical] == []  # not yet 48 hours
    page = await client.get("/clearinghouse/exposure?hours=24", headers=analyst | {"Accept": "text/html"})
    assert f'data-testid="unack-{critical}"' in page.text
    operator = {"Authorization": f"Bearer {await make_token(operators.hospital)}"}
    assert (await client.get(f"{API}/clearinghouse/unacknowledged", headers=operator)).status_code == 403


def test_chart_escapes_labels_and_scales() -> None:
    from datetime import date

    days = [date(2026, 11, d) for d in (1, 2, 3)]
    svg = line_chart(days, {"<script>alert(1)</script>": [0, 7, 3]}, title='Open "matches" & more')
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert ">10</text>" in svg  # the axis rounds 7 up to 10
    assert json.dumps(svg)  # one string, serialisable
    assert "No open matches" in line_chart(days, {}, title="empty")
