"""ORM models of operators' inventories (private: other domains use ``service`` and ``schemas``).

Cross-domain references (organisations) are foreign keys by table name, never relationships.

Invariants:

- one subscriber profile per operator organisation (its primary key is the organisation's id);
- an asset's name is unique within its organisation; its components are replaced as a whole when a
  new SBOM is uploaded for it (delete and insert in one transaction);
- a component row is scannable (ecosystem, package, version); unscannable ones are kept on the asset
  as a list, never dropped;
- components are indexed on (base ecosystem, package) and (base ecosystem, source package): what an
  advisory's :func:`~forewarn.clearinghouse.matching.engine.package_keys` looks them up by;
- every component whose indexed fields fit (:func:`compact`, nearly all) is also in a covering index
  on (base ecosystem, package, version) holding everything matching reads, so a popular package's
  versions and components are read from the index alone (an index-only scan: a few thousand
  contiguous index pages instead of one table page per component); the rare longer ones are in a
  small partial index of their own. A query uses them by naming :func:`compact` or its negation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.clock import utcnow
from forewarn.core.db import Base, CreatedMixin, IdMixin


class Subscriber(Base):
    """An operator organisation's profile: sector, size, contacts and notice preferences."""

    __tablename__ = "ch_subscribers"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    sector: Mapped[str] = mapped_column(String(40), index=True)
    subsector: Mapped[str] = mapped_column(String(60))
    size: Mapped[str] = mapped_column(String(20))
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    immediate_critical: Mapped[bool] = mapped_column(default=True)
    immediate_known_exploited: Mapped[bool] = mapped_column(default=True)
    digest: Mapped[str] = mapped_column(String(10), default="daily")
    email: Mapped[str | None] = mapped_column(String(254))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Asset(IdMixin, CreatedMixin, Base):
    """A named system an operator runs, with the inventory of its last uploaded SBOM."""

    __tablename__ = "ch_assets"
    __table_args__ = (
        UniqueConstraint("organisation_id", "name", name="uq_ch_assets_org_name"),
        # What rows that name an asset and its organisation together refer to (matches).
        UniqueConstraint("id", "organisation_id", name="uq_ch_assets_id_organisation"),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(20))
    spec_version: Mapped[str | None] = mapped_column(String(100))
    document_sha256: Mapped[str] = mapped_column(String(64))
    component_count: Mapped[int] = mapped_column(Integer, default=0)
    unscannable: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


#: Bytes of indexed fields a covering-index entry may hold: B-tree entries must stay under a third of
#: a page (2,704 bytes in PostgreSQL), with room left for the ids and the entry's header.
COVERED_BYTES = 2000
_COVERED_FIELDS = ("base_ecosystem", "package", "ecosystem", "version")
_OPTIONAL_FIELDS = ("source_package", "source_version", "name", "purl")
#: What the covering index holds besides its key (base_ecosystem, package, version).
COVERED_COLUMNS = (
    "ecosystem",
    "source_package",
    "source_version",
    "asset_id",
    "organisation_id",
    "name",
    "purl",
)


def compact(alias: str = "") -> str:
    """SQL: the component's indexed fields fit a covering-index entry. Written the same way in the
    index's predicate and in queries, so that PostgreSQL proves the partial index applies."""
    prefix = f"{alias}." if alias else ""
    terms = [f"octet_length({prefix}{f})" for f in _COVERED_FIELDS]
    terms += [f"coalesce(octet_length({prefix}{f}), 0)" for f in _OPTIONAL_FIELDS]
    return f"({' + '.join(terms)}) <= {COVERED_BYTES}"


class Component(IdMixin, Base):
    """One scannable component of an asset's inventory, in OSV terms."""

    __tablename__ = "ch_components"
    __table_args__ = (
        Index("ix_ch_components_package", "base_ecosystem", "package"),
        Index(
            "ix_ch_components_source",
            "base_ecosystem",
            "source_package",
            postgresql_where="source_package IS NOT NULL",
        ),
        Index(
            "ix_ch_components_covering",
            "base_ecosystem",
            "package",
            "version",
            postgresql_include=list(COVERED_COLUMNS),
            postgresql_where=text(compact()),
        ),
        Index(
            "ix_ch_components_long",
            "base_ecosystem",
            "package",
            "version",
            postgresql_where=text(f"NOT {compact()}"),
        ),
    )

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ch_assets.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    ecosystem: Mapped[str] = mapped_column(String(200))
    base_ecosystem: Mapped[str] = mapped_column(String(100))
    package: Mapped[str] = mapped_column(String(1000))
    version: Mapped[str] = mapped_column(String(400))
    name: Mapped[str | None] = mapped_column(String(1000))
    purl: Mapped[str | None] = mapped_column(String(4096))
    ref: Mapped[str | None] = mapped_column(String(4096))
    source_package: Mapped[str | None] = mapped_column(String(1000))
    source_version: Mapped[str | None] = mapped_column(String(400))
    location: Mapped[str] = mapped_column(String(4096))
