"""ORM models of the review registry (private: other domains use ``service`` and ``schemas``)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.db import Base, CreatedMixin, IdMixin


class RegisteredModel(IdMixin, CreatedMixin, Base):
    """A model a lab registered with the programme (one row per name and version)."""

    __tablename__ = "review_models"
    __table_args__ = (UniqueConstraint("organisation_id", "name", "version", name="org_name_version"),)

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    registered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(100), index=True)
    modality: Mapped[str] = mapped_column(String(20))
    planned_release: Mapped[date]
    #: ``enclave`` (weights delivered, government-run endpoint) or ``remote`` (the lab's endpoint).
    access_mode: Mapped[str] = mapped_column(String(10))
    endpoint_base_url: Mapped[str] = mapped_column(String(500))
    endpoint_model: Mapped[str] = mapped_column(String(200))
    #: The endpoint credential, sealed with the programme data key (AAD binds it to this row).
    credential_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
