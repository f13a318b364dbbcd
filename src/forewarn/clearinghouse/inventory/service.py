"""Operators' inventories in the database: subscriber profiles, assets and their components.

Invariants:

- the organisation acted for is always the caller's own (``actor.organisation_id``); nothing here
  takes an organisation from the request (tenancy, DESIGN §6);
- an SBOM is parsed and validated completely before anything is written, so a refused document
  leaves no record; the asset's inventory is then replaced in the caller's transaction (components
  deleted and inserted together), so a reader sees the old inventory or the new one, never a mix;
- unscannable components are stored on the asset and returned, never dropped.

Services never commit: the entry point owns the transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable

from sqlalchemy import delete, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.inventory import policy
from forewarn.clearinghouse.inventory.models import Asset, Component, Subscriber, compact
from forewarn.clearinghouse.inventory.names import split_ecosystem
from forewarn.clearinghouse.inventory.records import (
    AssetOut,
    ComponentOut,
    PackageIdentity,
    SubscriberIn,
    SubscriberOut,
    UnscannableOut,
    UploadOut,
)
from forewarn.clearinghouse.inventory.schemas import SbomFormat
from forewarn.core.clock import utcnow
from forewarn.core.errors import Forbidden, InvalidInput, NotFound, Problem

__all__ = [
    "asset_components",
    "compact",
    "components_for_keys",
    "get_subscriber",
    "identities_for_keys",
    "list_assets",
    "organisation_sectors",
    "put_subscriber",
    "upload_sbom",
]

MAX_ASSET_NAME = 200


def _own_organisation(actor: Principal) -> uuid.UUID:
    if not policy.is_operator(actor) or actor.organisation_id is None:
        raise Forbidden("only an operator organisation's contacts keep its inventory")
    return actor.organisation_id


def _subscriber_out(row: Subscriber) -> SubscriberOut:
    return SubscriberOut.model_validate(
        {
            "organisation_id": row.organisation_id,
            "sector": row.sector,
            "subsector": row.subsector,
            "size": row.size,
            "contacts": row.contacts,
            "immediate_critical": row.immediate_critical,
            "immediate_known_exploited": row.immediate_known_exploited,
            "digest": row.digest,
            "email": row.email,
            "webhook_url": row.webhook_url,
            "updated_at": row.updated_at,
        }
    )


async def get_subscriber(session: AsyncSession, *, actor: Principal) -> SubscriberOut | None:
    """The caller's organisation's profile, or None before it is first saved."""
    org = _own_organisation(actor)
    row = await session.get(Subscriber, org)
    return _subscriber_out(row) if row is not None else None


async def put_subscriber(session: AsyncSession, *, data: SubscriberIn, actor: Principal) -> SubscriberOut:
    """Create or replace the caller's organisation's profile."""
    org = _own_organisation(actor)
    row = await session.get(Subscriber, org)
    if row is None:
        row = Subscriber(organisation_id=org)
        session.add(row)
    row.sector = data.sector.value
    row.subsector = data.subsector
    row.size = data.size.value
    row.contacts = [c.model_dump(mode="json") for c in data.contacts]
    row.immediate_critical = data.immediate_critical
    row.immediate_known_exploited = data.immediate_known_exploited
    row.digest = data.digest.value
    row.email = data.email
    row.webhook_url = data.webhook_url
    row.updated_at = utcnow()
    await session.flush()
    return _subscriber_out(row)


async def organisation_sectors(
    session: AsyncSession, organisation_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Sector of each organisation that has a profile (for the clearinghouse's exposure view)."""
    ids = list(set(organisation_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Subscriber.organisation_id, Subscriber.sector).where(Subscriber.organisation_id.in_(ids))
    )
    return {row[0]: row[1] for row in rows.all()}


def _asset_out(asset: Asset) -> AssetOut:
    return AssetOut(
        id=asset.id,
        name=asset.name,
        format=asset.format,
        spec_version=asset.spec_version,
        component_count=asset.component_count,
        unscannable=[UnscannableOut.model_validate(u) for u in asset.unscannable],
        uploaded_at=asset.uploaded_at,
    )


async def list_assets(session: AsyncSession, *, actor: Principal) -> list[AssetOut]:
    org = _own_organisation(actor)
    rows = await session.scalars(select(Asset).where(Asset.organisation_id == org).order_by(Asset.name))
    return [_asset_out(a) for a in rows]


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_ASSET_NAME or any(ord(ch) < 32 for ch in cleaned):
        raise InvalidInput(
            "the asset needs a name",
            problems=[Problem("asset", f"1 to {MAX_ASSET_NAME} printable characters")],
        )
    return cleaned


_INSERT_COMPONENTS = text(
    "INSERT INTO ch_components (id, asset_id, organisation_id, ecosystem, base_ecosystem, package, version,"
    " name, purl, ref, source_package, source_version, location)"
    " SELECT gen_random_uuid(), :asset, :org, r.ecosystem, r.base, r.package, r.version, r.name, r.purl,"
    " r.ref, r.spkg, r.sver, r.location FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
    " AS r(ecosystem text, base text, package text, version text, name text, purl text, ref text,"
    " spkg text, sver text, location text)"
)


async def upload_sbom(
    session: AsyncSession,
    *,
    asset_name: str,
    raw: bytes,
    format: SbomFormat | None = None,
    actor: Principal,
) -> tuple[UploadOut, uuid.UUID]:
    """Store *raw* (CycloneDX JSON/XML, SPDX JSON or CSV) as the inventory of the caller's asset
    *asset_name*, replacing what it held. Returns the result and the asset's id (to match it)."""
    from forewarn.clearinghouse.inventory.sbom import parse_sbom

    org = _own_organisation(actor)
    name = _check_name(asset_name)
    if not raw.strip():
        raise InvalidInput("send the SBOM as the request body", problems=[Problem("body", "is empty")])
    inventory = parse_sbom(raw, format=format)  # raises InvalidSbom naming each problem: nothing written
    unscannable = [
        UnscannableOut(component=u.component.display(), location=u.component.location, reason=u.reason)
        for u in inventory.unscannable
    ]
    asset = await session.scalar(
        select(Asset).where(Asset.organisation_id == org, Asset.name == name).with_for_update()
    )
    replaced = asset is not None
    if asset is None:
        asset = Asset(organisation_id=org, name=name)
        session.add(asset)
    asset.format = inventory.format.value
    asset.spec_version = inventory.spec_version
    asset.document_sha256 = hashlib.sha256(raw).hexdigest()
    asset.component_count = len(inventory.components)
    asset.unscannable = [u.model_dump(mode="json") for u in unscannable]
    asset.uploaded_at = utcnow()
    await session.flush()
    await session.execute(delete(Component).where(Component.asset_id == asset.id))
    rows = [
        {
            "ecosystem": c.ecosystem,
            "base": split_ecosystem(c.ecosystem)[0] if c.ecosystem else "",
            "package": c.package,
            "version": c.version,
            "name": c.display(),
            "purl": c.purl,
            "ref": c.ref,
            "spkg": c.source_package,
            "sver": c.source_version,
            "location": c.location,
        }
        for c in inventory.components
    ]
    if rows:  # one statement, its rows as one JSON parameter (one round trip, no per-value adaptation)
        await session.execute(
            _INSERT_COMPONENTS,
            {"asset": asset.id, "org": org, "rows": json.dumps(rows, ensure_ascii=False)},
        )
    out = UploadOut(asset=_asset_out(asset), replaced=replaced, components=len(rows), unscannable=unscannable)
    return out, asset.id


def _component_out(row: Component) -> ComponentOut:
    # Read back from the table the upload validated: constructed without validating again.
    return ComponentOut.model_construct(
        id=row.id,
        asset_id=row.asset_id,
        organisation_id=row.organisation_id,
        ecosystem=row.ecosystem,
        package=row.package,
        version=row.version,
        name=row.name,
        purl=row.purl,
        ref=row.ref,
        source_package=row.source_package,
        source_version=row.source_version,
    )


async def asset_components(
    session: AsyncSession, *, asset_id: uuid.UUID, lock: bool = False
) -> list[ComponentOut]:
    """Every stored component of one asset (for matching a new SBOM; the caller checked access).

    With *lock*, the asset's row is locked (``FOR UPDATE``, as an upload locks it) until the end of
    the transaction: whoever writes rows referring to the asset waits for it."""
    if await session.get(Asset, asset_id, with_for_update=lock or None) is None:
        raise NotFound("no such asset")
    # Columns, not ORM objects: a thousand components need no identity map (nor its cleanup).
    rows = await session.execute(select(*_COMPONENT_COLUMNS).where(Component.asset_id == asset_id))
    return [ComponentOut.model_construct(**row._asdict()) for row in rows]


_COMPONENT_COLUMNS = (
    Component.id,
    Component.asset_id,
    Component.organisation_id,
    Component.ecosystem,
    Component.package,
    Component.version,
    Component.name,
    Component.purl,
    Component.ref,
    Component.source_package,
    Component.source_version,
)


async def components_for_keys(
    session: AsyncSession, *, keys: Iterable[tuple[str, str]]
) -> list[ComponentOut]:
    """Components whose (base ecosystem, package) or (base ecosystem, source package) is one of
    *keys*: what an advisory's package keys find, through the two indexes on components."""
    wanted = sorted(set(keys))
    if not wanted:
        return []
    rows = await session.scalars(
        select(Component).where(
            or_(
                tuple_(Component.base_ecosystem, Component.package).in_(wanted),
                tuple_(Component.base_ecosystem, Component.source_package).in_(wanted),
            )
        )
    )
    return [_component_out(r) for r in rows]


# The package keys as a relation, joined to components: a nested loop of index scans, one per key (a
# row-valued IN list would be planned as an OR of conditions, which an index-only scan cannot take).
_KEYS = "unnest(CAST(:bases AS text[]), CAST(:names AS text[])) AS k(base, name)"
# Distinct identities by package (from the covering index alone, or the small index of long rows) and
# by source package (distribution packages: ``ix_ch_components_source``). UNION removes duplicates.
_IDENTITIES = (
    "SELECT c.ecosystem, c.package, c.version, c.source_package, c.source_version"
    " FROM @KEYS JOIN ch_components c ON c.base_ecosystem = k.base AND c.package = k.name WHERE @COMPACT"
    " UNION SELECT c.ecosystem, c.package, c.version, c.source_package, c.source_version"
    " FROM @KEYS JOIN ch_components c ON c.base_ecosystem = k.base AND c.package = k.name"
    " WHERE NOT @COMPACT"
    " UNION SELECT c.ecosystem, c.package, c.version, c.source_package, c.source_version"
    " FROM @KEYS JOIN ch_components c ON c.base_ecosystem = k.base AND c.source_package = k.name"
).replace("@KEYS", _KEYS).replace("@COMPACT", compact("c"))


async def identities_for_keys(
    session: AsyncSession, *, keys: Iterable[tuple[str, str]]
) -> list[PackageIdentity]:
    """The distinct package identities among components found by *keys* (as
    :func:`components_for_keys`): what a new advisory evaluates, once each.

    Read from the covering index without visiting the table (where the visibility map allows):
    for a package in 10⁵ inventories that is a few thousand index pages, not 10⁵ table pages.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return []
    rows = await session.execute(
        text(_IDENTITIES), {"bases": [b for b, _ in wanted], "names": [n for _, n in wanted]}
    )
    return [PackageIdentity(*row) for row in rows.all()]
