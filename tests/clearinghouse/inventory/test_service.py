"""Stored inventories: subscriber profiles, SBOM upload with unscannable components listed, atomic
replacement, refused documents that leave nothing behind, tenancy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.matching.conftest import Operators, cyclonedx

from forewarn.clearinghouse.inventory import service
from forewarn.clearinghouse.inventory.errors import InvalidSbom
from forewarn.clearinghouse.inventory.models import Asset, Component
from forewarn.clearinghouse.inventory.records import SubscriberIn
from forewarn.core.errors import Forbidden


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_subscriber_profile(session: AsyncSession, operators: Operators) -> None:
    assert await service.get_subscriber(session, actor=operators.hospital) is None
    data = SubscriberIn.model_validate(
        {
            "sector": "healthcare",
            "subsector": "critical_access_hospital",
            "size": "small",
            "contacts": [{"name": "Sam", "email": "it@harlan.example"}],
            "webhook_url": "https://harlan.example/hook",
        }
    )
    saved = await service.put_subscriber(session, data=data, actor=operators.hospital)
    assert saved.immediate_known_exploited and saved.digest.value == "daily"
    assert (await service.get_subscriber(session, actor=operators.hospital)) == saved
    assert await service.get_subscriber(session, actor=operators.bank) is None
    with pytest.raises(Forbidden):
        await service.put_subscriber(session, data=data, actor=operators.analyst)


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"sector": "water", "subsector": "community_bank"}, "subsector"),
        ({"sector": "finance", "subsector": "credit_union", "email": None}, "email"),
    ],
)
def test_subscriber_profile_is_checked(fields: dict[str, object], where: str) -> None:
    base = {"size": "small", "email": "a@b.example"} | fields
    with pytest.raises(ValidationError, match=where):
        SubscriberIn.model_validate(base)


async def test_upload_lists_unscannable_and_replaces_atomically(
    session: AsyncSession, operators: Operators
) -> None:
    raw = (Path(__file__).parent / "fixtures" / "products.csv").read_bytes()
    first, asset_id = await service.upload_sbom(
        session, asset_name="Pumps", raw=raw, actor=operators.hospital
    )
    assert not first.replaced
    assert first.components >= 1
    assert any("infusion-pump-firmware" in u.component for u in first.unscannable)
    again, same = await service.upload_sbom(
        session, asset_name="Pumps", raw=cyclonedx(("requests", "2.0.0")), actor=operators.hospital
    )
    assert same == asset_id and again.replaced and again.components == 1
    stored = await service.asset_components(session, asset_id=asset_id)
    assert [(c.package, c.version) for c in stored] == [("requests", "2.0.0")]
    (asset,) = await service.list_assets(session, actor=operators.hospital)
    assert asset.format == "cyclonedx-json" and asset.unscannable == []
    assert await service.list_assets(session, actor=operators.bank) == []


async def test_bad_sbom_stores_nothing(session: AsyncSession, operators: Operators) -> None:
    await service.upload_sbom(
        session, asset_name="EHR", raw=cyclonedx(("requests", "2.0.0")), actor=operators.hospital
    )
    before = (await _count(session, Asset), await _count(session, Component))
    bad = json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "library"}]}
    ).encode()
    with pytest.raises(InvalidSbom) as caught:
        await service.upload_sbom(session, asset_name="EHR", raw=bad, actor=operators.hospital)
    assert any(p.field.startswith("/components/0") for p in caught.value.problems)
    assert (await _count(session, Asset), await _count(session, Component)) == before
    stored = await service.asset_components(
        session, asset_id=(await service.list_assets(session, actor=operators.hospital))[0].id
    )
    assert [c.package for c in stored] == ["requests"]
