"""The normalised shapes of an inventory: every component an SBOM or product list names, in OSV terms.

Invariants (checked on construction; every model is frozen):

- a :class:`Component` in :attr:`Inventory.components` is scannable: it has an OSV ``ecosystem``, a
  ``package`` name normalised for that ecosystem (:func:`~.names.normalise_name`) and a ``version``;
- every component the document names is in exactly one of :attr:`Inventory.components` and
  :attr:`Inventory.unscannable`, in document order; nothing is dropped;
- ``location`` says where the document names the component (JSON Pointer, XML path or CSV line), so
  that an operator can find it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from forewarn.clearinghouse.inventory.names import normalise_name, split_ecosystem

__all__ = ["Component", "ComponentKind", "Inventory", "SbomFormat", "Unscannable"]

#: Longest text field kept from a document (names, versions, purls, references).
MAX_FIELD_CHARS = 4_096

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FIELD_CHARS)]


class SbomFormat(StrEnum):
    CYCLONEDX_JSON = "cyclonedx-json"
    CYCLONEDX_XML = "cyclonedx-xml"
    SPDX_JSON = "spdx-json"
    CSV = "csv"


class ComponentKind(StrEnum):
    """CycloneDX 1.6 ``component.type`` (SPDX ``primaryPackagePurpose`` and CSV rows map onto it)."""

    APPLICATION = "application"
    FRAMEWORK = "framework"
    LIBRARY = "library"
    CONTAINER = "container"
    PLATFORM = "platform"
    OPERATING_SYSTEM = "operating-system"
    DEVICE = "device"
    DEVICE_DRIVER = "device-driver"
    FIRMWARE = "firmware"
    FILE = "file"
    MACHINE_LEARNING_MODEL = "machine-learning-model"
    DATA = "data"
    CRYPTOGRAPHIC_ASSET = "cryptographic-asset"
    OTHER = "other"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Component(_Model):
    """One component as the document names it, with its OSV identity when it has one.

    ``name``/``group``/``version``/``purl`` are as given (for people); ``ecosystem`` (an OSV ecosystem,
    with a release suffix when the purl's ``distro`` gives one: ``Debian:11``), ``package`` (the name
    normalised for that ecosystem) and ``source_package``/``source_version`` (the distribution source
    package it was built from) are what matching uses.
    """

    location: Annotated[str, StringConstraints(max_length=MAX_FIELD_CHARS)]
    ref: Text | None = None
    kind: ComponentKind = ComponentKind.LIBRARY
    name: Text | None = None
    group: Text | None = None
    version: Text | None = None
    purl: Text | None = None
    supplier: Text | None = None
    ecosystem: Text | None = None
    package: Text | None = None
    source_package: Text | None = None
    source_version: Text | None = None

    @model_validator(mode="after")
    def _normalised(self) -> Self:
        if self.package is not None:
            if self.ecosystem is None:
                raise ValueError("a package name needs its ecosystem")
            if normalise_name(self.ecosystem, self.package) != self.package:
                raise ValueError(f"package name {self.package[:80]!r} is not normalised for {self.ecosystem}")
        if self.source_package is not None and self.ecosystem is None:
            raise ValueError("a source package needs its ecosystem")
        return self

    @property
    def scannable(self) -> bool:
        return self.ecosystem is not None and self.package is not None and self.version is not None

    @property
    def base_ecosystem(self) -> str | None:
        return split_ecosystem(self.ecosystem)[0] if self.ecosystem else None

    def display(self) -> str:
        """``group/name@version`` for people."""
        name = "/".join(p for p in (self.group, self.name) if p) or self.package or self.purl or "(unnamed)"
        return f"{name}@{self.version}" if self.version else name


class Unscannable(_Model):
    """A component that cannot be matched against OSV advisories, and why."""

    component: Component
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1_000)]


class Inventory(_Model):
    """Everything one document lists: scannable components and unscannable ones, in document order."""

    format: SbomFormat
    spec_version: Annotated[str, StringConstraints(max_length=100)] | None = None
    name: Text | None = None
    components: tuple[Component, ...] = Field(default=())
    unscannable: tuple[Unscannable, ...] = Field(default=())

    @model_validator(mode="after")
    def _split(self) -> Self:
        if any(not c.scannable for c in self.components):
            raise ValueError(
                "components: every component listed as scannable has ecosystem, package and version"
            )
        return self

    def __len__(self) -> int:
        return len(self.components) + len(self.unscannable)
