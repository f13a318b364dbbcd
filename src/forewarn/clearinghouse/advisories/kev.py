"""The CISA Known Exploited Vulnerabilities (KEV) catalogue, and "known exploited" flags.

The catalogue (``known_exploited_vulnerabilities.json``) lists CVEs with evidence of active
exploitation: ``vulnerabilities[]`` with ``cveID``, ``vendorProject``, ``product``,
``vulnerabilityName``, ``dateAdded``, ``shortDescription``, ``requiredAction``, ``dueDate``,
``knownRansomwareCampaignUse`` (``Known``/``Unknown``), ``notes`` and ``cwes``.

Invariants: the whole catalogue is checked before any of it is used (a KEV flag drives the embargo
policy, so a half-read catalogue must not silently drop entries); a CVE appears once; every problem
names its JSON Pointer. An advisory is known exploited when its id or one of its aliases is a KEV CVE
(aliases are the same vulnerability, OSV §aliases); ``upstream`` ids count only when asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, Problem, pointer
from forewarn.clearinghouse.advisories.jsondoc import parse_json

__all__ = [
    "MAX_KEV_ENTRIES",
    "KevCatalog",
    "KevEntry",
    "RansomwareUse",
    "from_kev",
    "kev_entries_for",
    "known_exploited",
    "loads_kev",
]

#: Most entries accepted in one catalogue (it held about 1,400 in 2025).
MAX_KEV_ENTRIES = 100_000

_CVE_ID = r"^CVE-[0-9]{4}-[0-9]{4,19}$"
_Text = Annotated[str, StringConstraints(max_length=s.MAX_SHORT_TEXT)]


class RansomwareUse(StrEnum):
    """``knownRansomwareCampaignUse``."""

    KNOWN = "Known"
    UNKNOWN = "Unknown"


class KevEntry(BaseModel):
    """One catalogue entry."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # CISA adds fields; unknown ones are not used

    cve_id: Annotated[str, StringConstraints(pattern=_CVE_ID)] = Field(alias="cveID")
    vendor_project: _Text = Field(default="", alias="vendorProject")
    product: _Text = ""
    vulnerability_name: _Text = Field(default="", alias="vulnerabilityName")
    date_added: date = Field(alias="dateAdded")
    short_description: _Text = Field(default="", alias="shortDescription")
    required_action: _Text = Field(default="", alias="requiredAction")
    due_date: date | None = Field(default=None, alias="dueDate")
    known_ransomware_campaign_use: RansomwareUse = Field(
        default=RansomwareUse.UNKNOWN, alias="knownRansomwareCampaignUse"
    )
    notes: _Text = ""
    cwes: tuple[Annotated[str, StringConstraints(pattern=r"^(CWE-[0-9]+|NVD-CWE-\w+)$")], ...] = ()


class KevCatalog(BaseModel):
    """The catalogue, by CVE id."""

    model_config = ConfigDict(frozen=True)

    title: str | None = None
    catalog_version: str | None = None
    date_released: str | None = None
    entries: dict[str, KevEntry]

    def __contains__(self, cve_id: object) -> bool:
        return cve_id in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, cve_id: str) -> KevEntry | None:
        return self.entries.get(cve_id)


def from_kev(doc: Mapping[str, Any]) -> KevCatalog:
    """The catalogue a KEV JSON document holds; raises :class:`InvalidAdvisory` listing every problem."""
    if not isinstance(doc, Mapping):
        raise InvalidAdvisory("not a KEV catalogue", problems=[Problem("", "expected a JSON object")])
    items = doc.get("vulnerabilities")
    if not isinstance(items, list):
        raise InvalidAdvisory(
            "not a KEV catalogue", problems=[Problem("/vulnerabilities", "expected an array")]
        )
    if len(items) > MAX_KEV_ENTRIES:
        raise InvalidAdvisory(
            "KEV catalogue exceeds a limit",
            problems=[Problem("/vulnerabilities", f"{len(items)} entries; the limit is {MAX_KEV_ENTRIES}")],
        )
    problems: list[Problem] = []
    entries: dict[str, KevEntry] = {}
    for i, item in enumerate(items):
        path = pointer("vulnerabilities", i)
        try:
            entry = KevEntry.model_validate(item)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                problems.append(Problem(path + pointer(*error["loc"]), str(error["msg"])))
            continue
        if entry.cve_id in entries:
            problems.append(Problem(path + "/cveID", f"{entry.cve_id} is listed twice"))
            continue
        entries[entry.cve_id] = entry
    if problems:
        raise InvalidAdvisory("KEV catalogue is not valid", problems=problems)

    def text(key: str) -> str | None:
        value = doc.get(key)
        return value[:200] if isinstance(value, str) else None

    return KevCatalog(
        title=text("title"),
        catalog_version=text("catalogVersion"),
        date_released=text("dateReleased"),
        entries=entries,
    )


def loads_kev(raw: bytes | str) -> KevCatalog:
    """Parse the KEV JSON document (bounded, strict JSON) and read it."""
    return from_kev(parse_json(raw, max_bytes=s.MAX_DOCUMENT_BYTES, what="KEV catalogue"))


_CVE = re.compile(_CVE_ID)


def kev_entries_for(
    advisory: s.Advisory, catalog: KevCatalog, *, include_upstream: bool = False
) -> tuple[KevEntry, ...]:
    """The KEV entries of the CVEs among the advisory's id and aliases (and upstream ids if asked)."""
    ids: Iterable[str] = advisory.all_ids()
    if include_upstream:
        ids = (*ids, *advisory.upstream)
    found = (catalog.entries.get(i) for i in dict.fromkeys(ids) if _CVE.match(i))
    return tuple(e for e in found if e is not None)


def known_exploited(
    advisories: Iterable[s.Advisory], catalog: KevCatalog, *, include_upstream: bool = False
) -> dict[str, tuple[KevEntry, ...]]:
    """The advisories that are known exploited, by advisory id, with the KEV entries that say so."""
    flagged: dict[str, tuple[KevEntry, ...]] = {}
    for advisory in advisories:
        entries = kev_entries_for(advisory, catalog, include_upstream=include_upstream)
        if entries:
            flagged[advisory.id] = entries
    return flagged
