"""The one internal advisory model, and the limits every untrusted advisory document is held to.

An :class:`Advisory` describes one vulnerability as one source sees it, in the shape of an OSV record
(OSV schema 1.7) widened with what CSAF 2.0 and CVE JSON 5 say and OSV does not: product status,
remediations, threats, notes, flags, involvements, TLP, and the AI-specific fields of model
vulnerabilities. A :class:`Publication` carries what belongs to a whole published document (CSAF
``document`` and ``product_tree``: publisher, tracking, revision history, product tree); one CSAF
document is one publication and one advisory per CSAF ``vulnerabilities[]`` item.

Invariants (checked on construction; every model is frozen):

- identifiers are 1-255 printable characters without white space; an advisory's ``aliases`` never
  contain its own ``id`` nor repeat (OSV §aliases: aliases are symmetric, see :func:`merge_aliases`);
- timestamps carry a time zone and are held in UTC (OSV §modified: RFC 3339, UTC);
- an OSV range has at least one ``introduced`` event, never both ``fixed`` and ``last_affected``,
  a ``repo`` and full commit hashes when it is a ``GIT`` range, SemVer 2.0.0 versions when it is a
  ``SEMVER`` range, and no ``fixed`` before every ``introduced`` (OSV §affected[].ranges[].events);
- a package's ecosystem is one OSV defines, optionally with a ``:suffix`` (OSV §Defined ecosystems);
- every CVSS vector parses and is scored with the ``cvss`` library; a base score given alongside it
  must match the computed one (CSAF §6.1.9 asks the same);
- if any affected package has its own severity, the advisory has none at top level
  (OSV §affected[].severity);
- every list is bounded by the limits below.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from forewarn.clearinghouse.advisories._semver import parse_semver

# --------------------------------------------------------------------------------------------------
# Limits (CONVENTIONS §8). Module constants for now; they move into settings with the service.
# --------------------------------------------------------------------------------------------------

#: Largest document accepted, in bytes (CSAF documents of large vendors reach a few MB).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
#: Most ``affected`` entries in one advisory (OSV) or product status entries (CSAF).
MAX_AFFECTED = 10_000
#: Most ranges in one affected entry.
MAX_RANGES = 1_000
#: Most events in one range.
MAX_EVENTS = 1_000
#: Most explicitly listed versions in one affected entry (OSV records of large projects list thousands).
MAX_VERSIONS = 50_000
#: Most items in any other list (aliases, references, credits, notes, remediations, ...).
MAX_ITEMS = 10_000
#: Most vulnerabilities in one CSAF document.
MAX_VULNERABILITIES = 1_000
#: Most products (branches, full product names, relationships) in one CSAF product tree.
MAX_PRODUCTS = 100_000
#: Deepest CSAF branch nesting.
MAX_BRANCH_DEPTH = 30
#: Longest identifier (advisory ids, aliases, product ids, model ids).
MAX_ID_CHARS = 255
#: Longest version string.
MAX_VERSION_CHARS = 1_024
#: Longest short text (names, titles, summaries, URLs).
MAX_SHORT_TEXT = 10_000
#: Longest long text (details, notes).
MAX_LONG_TEXT = 1_000_000

#: Ecosystems OSV defines (OSV schema 1.7 §Defined ecosystems); a package's ecosystem is one of these,
#: optionally followed by ``:`` and a suffix (a release, a repository URL, ...).
OSV_ECOSYSTEMS: frozenset[str] = frozenset(
    {
        "AlmaLinux", "Alpaquita", "Alpine", "Android", "Azure Linux", "BellSoft Hardened Containers",
        "Bioconductor", "Bitnami", "Chainguard", "CleanStart", "ConanCenter", "CRAN", "crates.io",
        "Debian", "Docker Hardened Images", "Echo", "FreeBSD", "GHC", "GIT", "GitHub Actions", "Go",
        "Hackage", "Hex", "Julia", "Kubernetes", "Linux", "Mageia", "Maven", "MinimOS", "npm", "NuGet",
        "opam", "openEuler", "openSUSE", "OSS-Fuzz", "Packagist", "Photon OS", "Pub", "PyPI", "Red Hat",
        "Rocky Linux", "Root", "RubyGems", "SUSE", "SwiftURL", "TuxCare", "Ubuntu", "VSCode", "Wolfi",
    }
)  # fmt: skip

# --------------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------------

_NO_SPACE = r"^[^\s\x00-\x1f\x7f]+$"
_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=_NO_SPACE)]
#: A CSAF product or product group id (CSAF §3.1.8: any non-empty string; Red Hat's contain spaces).
ProductId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHORT_TEXT, pattern=_NO_CONTROL)]
VersionText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_VERSION_CHARS, pattern=_NO_CONTROL)
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHORT_TEXT, pattern=_NO_CONTROL)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LONG_TEXT)]
Url = Annotated[
    str,
    StringConstraints(min_length=3, max_length=MAX_SHORT_TEXT, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$"),
]
Cwe = Annotated[str, StringConstraints(pattern=r"^CWE-[1-9][0-9]{0,5}$")]
JsonObject = dict[str, JsonValue]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (RFC 3339)")
    return value.astimezone(UTC)


#: A time-zone-aware timestamp, held in UTC.
Timestamp = Annotated[datetime, AfterValidator(_utc)]


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC ending in ``Z`` (OSV §modified); milliseconds or microseconds only when present."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        frac = f"{value.microsecond:06d}"
        text += "." + (frac[:3] if frac.endswith("000") else frac)
    return text + "Z"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# --------------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------------


class RangeType(StrEnum):
    """OSV §affected[].ranges[].type."""

    SEMVER = "SEMVER"
    ECOSYSTEM = "ECOSYSTEM"
    GIT = "GIT"


class EventKind(StrEnum):
    """OSV §affected[].ranges[].events."""

    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


class SeverityType(StrEnum):
    """OSV §severity[].type."""

    CVSS_V2 = "CVSS_V2"
    CVSS_V3 = "CVSS_V3"
    CVSS_V4 = "CVSS_V4"
    UBUNTU = "Ubuntu"


class Rating(StrEnum):
    """Qualitative severity rating (CVSS v3.1 specification §5, CVSS v4.0 §6)."""

    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class ReferenceType(StrEnum):
    """OSV §references[].type (``GIT`` is from OSV before 1.5 and still appears in old records)."""

    ADVISORY = "ADVISORY"
    ARTICLE = "ARTICLE"
    DETECTION = "DETECTION"
    DISCUSSION = "DISCUSSION"
    REPORT = "REPORT"
    FIX = "FIX"
    INTRODUCED = "INTRODUCED"
    GIT = "GIT"
    PACKAGE = "PACKAGE"
    EVIDENCE = "EVIDENCE"
    WEB = "WEB"


class ReferenceCategory(StrEnum):
    """CSAF §3.1.11.1: whether a reference points at this document itself or elsewhere."""

    EXTERNAL = "external"
    SELF = "self"


class CreditType(StrEnum):
    """OSV §credits[].type (the CVE JSON 5 credit types, upper-cased)."""

    FINDER = "FINDER"
    REPORTER = "REPORTER"
    ANALYST = "ANALYST"
    COORDINATOR = "COORDINATOR"
    REMEDIATION_DEVELOPER = "REMEDIATION_DEVELOPER"
    REMEDIATION_REVIEWER = "REMEDIATION_REVIEWER"
    REMEDIATION_VERIFIER = "REMEDIATION_VERIFIER"
    TOOL = "TOOL"
    SPONSOR = "SPONSOR"
    OTHER = "OTHER"


class RemediationCategory(StrEnum):
    """CSAF §3.2.3.12.1."""

    VENDOR_FIX = "vendor_fix"
    WORKAROUND = "workaround"
    MITIGATION = "mitigation"
    NONE_AVAILABLE = "none_available"
    NO_FIX_PLANNED = "no_fix_planned"


class RestartCategory(StrEnum):
    """CSAF §3.2.3.12.7.1."""

    NONE = "none"
    VULNERABLE_COMPONENT = "vulnerable_component"
    SERVICE = "service"
    PARENT = "parent"
    DEPENDENCIES = "dependencies"
    CONNECTED = "connected"
    MACHINE = "machine"
    ZONE = "zone"
    SYSTEM = "system"


class ProductStatus(StrEnum):
    """CSAF §3.2.3.9: what a vulnerability does to a product (OSV's affected entries: ``known_affected``)."""

    FIRST_AFFECTED = "first_affected"
    FIRST_FIXED = "first_fixed"
    FIXED = "fixed"
    KNOWN_AFFECTED = "known_affected"
    KNOWN_NOT_AFFECTED = "known_not_affected"
    LAST_AFFECTED = "last_affected"
    RECOMMENDED = "recommended"
    UNDER_INVESTIGATION = "under_investigation"


#: Statuses that say the product is affected (CSAF §6.1.6 "Affected" group).
AFFECTED_STATUSES = frozenset(
    {ProductStatus.FIRST_AFFECTED, ProductStatus.KNOWN_AFFECTED, ProductStatus.LAST_AFFECTED}
)


class ThreatCategory(StrEnum):
    """CSAF §3.2.3.13.1."""

    EXPLOIT_STATUS = "exploit_status"
    IMPACT = "impact"
    TARGET_SET = "target_set"


class NoteCategory(StrEnum):
    """CSAF §3.1.7.2."""

    DESCRIPTION = "description"
    DETAILS = "details"
    FAQ = "faq"
    GENERAL = "general"
    LEGAL_DISCLAIMER = "legal_disclaimer"
    OTHER = "other"
    SUMMARY = "summary"


class FlagLabel(StrEnum):
    """CSAF §3.2.3.5.1: machine-readable justifications for "not affected" (VEX)."""

    COMPONENT_NOT_PRESENT = "component_not_present"
    INLINE_MITIGATIONS_ALREADY_EXIST = "inline_mitigations_already_exist"
    VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = "vulnerable_code_cannot_be_controlled_by_adversary"
    VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = "vulnerable_code_not_in_execute_path"
    VULNERABLE_CODE_NOT_PRESENT = "vulnerable_code_not_present"


class InvolvementParty(StrEnum):
    """CSAF §3.2.3.7.1."""

    COORDINATOR = "coordinator"
    DISCOVERER = "discoverer"
    OTHER = "other"
    USER = "user"
    VENDOR = "vendor"


class InvolvementStatus(StrEnum):
    """CSAF §3.2.3.7.4."""

    COMPLETED = "completed"
    CONTACT_ATTEMPTED = "contact_attempted"
    DISPUTED = "disputed"
    IN_PROGRESS = "in_progress"
    NOT_CONTACTED = "not_contacted"
    OPEN = "open"


class Tlp(StrEnum):
    """FIRST Traffic Light Protocol 2.0 labels."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"

    @property
    def rank(self) -> int:
        """Restrictiveness: CLEAR 0 < GREEN < AMBER < AMBER+STRICT < RED 4."""
        return _TLP_ORDER.index(self)


_TLP_ORDER = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)


def most_restrictive_tlp(labels: Iterable[Tlp | None]) -> Tlp | None:
    """The most restrictive of *labels*, ignoring ``None``; ``None`` when there is none."""
    present = [label for label in labels if label is not None]
    return max(present, key=lambda t: t.rank) if present else None


class AttackClass(StrEnum):
    """Kinds of vulnerability in an AI model (not in OSV, CSAF or CVE; forewarn's own)."""

    PROMPT_INJECTION = "prompt_injection"
    JAILBREAK = "jailbreak"
    DATA_EXTRACTION = "data_extraction"
    MODEL_SUPPLY_CHAIN = "model_supply_chain"
    MODEL_EVASION = "model_evasion"
    DATA_POISONING = "data_poisoning"
    OTHER = "other"


# --------------------------------------------------------------------------------------------------
# CVSS scoring
# --------------------------------------------------------------------------------------------------

_CVSS_PREFIX = {
    SeverityType.CVSS_V3: ("CVSS:3.0/", "CVSS:3.1/"),
    SeverityType.CVSS_V4: ("CVSS:4.0/",),
}
_UBUNTU = {
    "negligible": Rating.LOW,
    "low": Rating.LOW,
    "medium": Rating.MEDIUM,
    "high": Rating.HIGH,
    "critical": Rating.CRITICAL,
}


@lru_cache(maxsize=8192)
def score_vector(type_: SeverityType, vector: str) -> tuple[float | None, Rating]:
    """``(base score, rating)`` of a severity; raises :class:`ValueError` naming what is malformed."""
    if type_ is SeverityType.UBUNTU:
        if vector not in _UBUNTU:
            raise ValueError(f"Ubuntu priority must be one of {', '.join(_UBUNTU)}")
        return None, _UBUNTU[vector]
    import cvss  # heavy-ish; only when a vector is scored

    if len(vector) > 512:
        raise ValueError("CVSS vector is too long")
    prefixes = _CVSS_PREFIX.get(type_, ())
    if prefixes and not vector.startswith(prefixes):
        raise ValueError(f"a {type_.value} vector starts with {' or '.join(prefixes)}")
    try:
        if type_ is SeverityType.CVSS_V2:
            if vector.startswith("CVSS:"):
                raise ValueError("a CVSS_V2 vector has no CVSS: prefix")
            v2 = cvss.CVSS2(vector)
            base, label = float(v2.scores()[0]), str(v2.severities()[0])
        elif type_ is SeverityType.CVSS_V3:
            v3 = cvss.CVSS3(vector)
            base, label = float(v3.scores()[0]), str(v3.severities()[0])
        else:
            v4 = cvss.CVSS4(vector)
            base, label = float(v4.base_score), str(v4.severity)
    except cvss.CVSSError as exc:
        version = vector[5:8] if vector.startswith("CVSS:") else "2.0"
        raise ValueError(f"malformed CVSS {version} vector: {str(exc)[:200]}") from None
    return base, Rating(label.upper())


# --------------------------------------------------------------------------------------------------
# Affected packages and products (OSV §affected, CSAF §3.2.3.9)
# --------------------------------------------------------------------------------------------------


class Package(_Model):
    """OSV §affected[].package: a package in a defined ecosystem."""

    ecosystem: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHORT_TEXT)]
    name: ShortText
    purl: (
        Annotated[str, StringConstraints(pattern=r"^pkg:[A-Za-z][A-Za-z0-9.+-]*/\S+$", max_length=4096)]
        | None
    ) = None

    @field_validator("ecosystem")
    @classmethod
    def _known_ecosystem(cls, value: str) -> str:
        base, sep, suffix = value.partition(":")
        if base not in OSV_ECOSYSTEMS:
            raise ValueError(f"unknown OSV ecosystem {base[:80]!r}")
        if sep and not suffix:
            raise ValueError("an ecosystem suffix after ':' must not be empty")
        return value

    @property
    def base_ecosystem(self) -> str:
        """The ecosystem without its suffix (``Debian`` for ``Debian:12``)."""
        return self.ecosystem.partition(":")[0]

    @property
    def ecosystem_suffix(self) -> str | None:
        """The suffix after ``:`` (``12`` for ``Debian:12``), if any."""
        return self.ecosystem.partition(":")[2] or None


class Event(_Model):
    """One event of an OSV range timeline."""

    kind: EventKind
    version: VersionText


_GIT_COMMIT = frozenset("0123456789abcdef")


def _is_git_commit(value: str) -> bool:
    return value == "0" or (len(value) in (40, 64) and set(value) <= _GIT_COMMIT)


class Range(_Model):
    """OSV §affected[].ranges[]."""

    type: RangeType
    repo: Url | None = None
    events: Annotated[tuple[Event, ...], Field(min_length=1, max_length=MAX_EVENTS)]
    database_specific: JsonObject | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        kinds = {e.kind for e in self.events}
        if EventKind.INTRODUCED not in kinds:
            raise ValueError("events: a range needs at least one 'introduced' event")
        if EventKind.FIXED in kinds and EventKind.LAST_AFFECTED in kinds:
            raise ValueError("events: 'fixed' and 'last_affected' must not both appear in one range")
        if self.type is RangeType.GIT:
            if self.repo is None:
                raise ValueError("repo: a GIT range needs the repository URL")
            bad = next((e for e in self.events if not _is_git_commit(e.version)), None)
            if bad is not None:
                raise ValueError(f"events: {bad.kind.value} {bad.version[:80]!r} is not a full commit hash")
        introduced = [e.version for e in self.events if e.kind is EventKind.INTRODUCED]
        ends = [e.version for e in self.events if e.kind is EventKind.FIXED]
        empty = set(introduced) & set(ends)
        if empty:
            raise ValueError(f"events: {sorted(empty)[0][:80]!r} is both introduced and fixed")
        if self.type is RangeType.SEMVER:
            self._check_semver()
        return self

    def _check_semver(self) -> None:
        # OSV §Evaluation sorts events by version; a range whose lowest event is a fix or a last
        # affected version says "fixed before introduced", which no version ordering can make true.
        lowest_start = None
        lowest_end = None
        from_zero = False
        for event in self.events:
            if event.kind is EventKind.INTRODUCED and event.version == "0":
                from_zero = True  # "0" sorts before every version: nothing can precede it
                continue
            if event.kind is EventKind.LIMIT and event.version == "*":
                continue
            parsed = parse_semver(event.version)
            if parsed is None:
                raise ValueError(f"events: {event.version[:80]!r} is not a SemVer 2.0.0 version")
            if event.kind is EventKind.INTRODUCED:
                lowest_start = parsed if lowest_start is None else min(lowest_start, parsed)
            elif event.kind in (EventKind.FIXED, EventKind.LAST_AFFECTED):
                lowest_end = parsed if lowest_end is None else min(lowest_end, parsed)
        if from_zero:
            return
        if lowest_start is not None and lowest_end is not None and lowest_end < lowest_start:
            raise ValueError("events: a fix or last affected version comes before every introduced version")


class Severity(_Model):
    """OSV §severity, CSAF §3.2.3.11 (scores), CVE JSON 5 metrics.

    ``score`` holds the vector (CVSS) or the priority (Ubuntu), as in OSV; ``base_score`` and
    ``rating`` are computed from it. ``product_ids`` restricts the score to some products of the
    advisory (CSAF ``scores[].products``); empty means the whole advisory.
    """

    type: SeverityType
    score: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    base_score: float | None = None
    rating: Rating | None = None
    product_ids: Annotated[tuple[ProductId, ...], Field(max_length=MAX_AFFECTED)] = ()

    @field_validator("score")
    @classmethod
    def _parses(cls, value: str, info: ValidationInfo) -> str:
        type_ = info.data.get("type")
        if isinstance(type_, SeverityType):
            score_vector(type_, value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _scored(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "type" not in data or "score" not in data:
            return data
        try:
            computed, rating = score_vector(SeverityType(data["type"]), data["score"])
        except (ValueError, TypeError):
            return data  # the field validators report what is wrong, at its place
        given = data.get("base_score")
        if (
            given is not None
            and computed is not None
            and (not isinstance(given, int | float) or not math.isclose(float(given), computed, abs_tol=0.05))
        ):
            raise ValueError(f"base_score {given!r} does not match {computed} computed from the vector")
        return {**data, "base_score": computed, "rating": rating}


class Affected(_Model):
    """One affected package (OSV §affected[]) or product (CSAF product status, CVE ``affected[]``).

    ``package`` says which OSV package this is; ``product_id`` and ``product_name`` say which CSAF
    product (ids are local to a publication's product tree); ``vendor``/``product_name``/``cpe``
    are what CVE records give. ``status`` is the CSAF product status; OSV entries are
    ``known_affected`` over their ``ranges`` and ``versions``.
    """

    package: Package | None = None
    product_id: ProductId | None = None
    product_name: ShortText | None = None
    vendor: ShortText | None = None
    cpe: Annotated[str, StringConstraints(min_length=5, max_length=4096, pattern=r"^cpe:\S+$")] | None = None
    status: ProductStatus = ProductStatus.KNOWN_AFFECTED
    ranges: Annotated[tuple[Range, ...], Field(max_length=MAX_RANGES)] = ()
    versions: Annotated[tuple[VersionText, ...], Field(max_length=MAX_VERSIONS)] = ()
    severities: Annotated[tuple[Severity, ...], Field(max_length=MAX_ITEMS)] = ()
    ecosystem_specific: JsonObject | None = None
    database_specific: JsonObject | None = None

    @model_validator(mode="after")
    def _identified(self) -> Self:
        git_only = bool(self.ranges) and all(r.type is RangeType.GIT for r in self.ranges)
        if self.package is None and self.product_id is None and self.product_name is None and not git_only:
            raise ValueError("an affected entry names a package, a product, or GIT ranges")
        return self


# --------------------------------------------------------------------------------------------------
# Everything else an advisory says
# --------------------------------------------------------------------------------------------------


class Reference(_Model):
    """OSV §references[] (``type``) and CSAF §3.1.11 (``category``, ``summary``)."""

    url: Url
    type: ReferenceType | None = None
    category: ReferenceCategory | None = None
    summary: ShortText | None = None


class Credit(_Model):
    """OSV §credits[]; CSAF acknowledgments (§3.1.1) add ``organization`` and ``summary``."""

    name: ShortText
    contact: Annotated[tuple[ShortText, ...], Field(max_length=100)] = ()
    type: CreditType | None = None
    organization: ShortText | None = None
    summary: ShortText | None = None


class RestartRequired(_Model):
    """CSAF §3.2.3.12.7."""

    category: RestartCategory
    details: ShortText | None = None


class Remediation(_Model):
    """CSAF §3.2.3.12: what to do about a vulnerability, for which products."""

    category: RemediationCategory
    details: LongText
    product_ids: Annotated[tuple[ProductId, ...], Field(max_length=MAX_AFFECTED)] = ()
    group_ids: Annotated[tuple[ProductId, ...], Field(max_length=MAX_ITEMS)] = ()
    url: Url | None = None
    date: Timestamp | None = None
    entitlements: Annotated[tuple[ShortText, ...], Field(max_length=100)] = ()
    restart_required: RestartRequired | None = None


class Threat(_Model):
    """CSAF §3.2.3.13 (exploit status, impact, target set)."""

    category: ThreatCategory
    details: LongText
    date: Timestamp | None = None
    product_ids: Annotated[tuple[ProductId, ...], Field(max_length=MAX_AFFECTED)] = ()
    group_ids: Annotated[tuple[ProductId, ...], Field(max_length=MAX_ITEMS)] = ()


class Note(_Model):
    """CSAF §3.1.7."""

    category: NoteCategory
    text: LongText
    title: ShortText | None = None
    audience: ShortText | None = None


class Flag(_Model):
    """CSAF §3.2.3.5: a VEX justification for products that are not affected."""

    label: FlagLabel
    date: Timestamp | None = None
    product_ids: Annotated[tuple[ProductId, ...], Field(max_length=MAX_AFFECTED)] = ()
    group_ids: Annotated[tuple[ProductId, ...], Field(max_length=MAX_ITEMS)] = ()


class Involvement(_Model):
    """CSAF §3.2.3.7: a party's part in handling the vulnerability (e.g. a vendor's status)."""

    party: InvolvementParty
    status: InvolvementStatus
    date: Timestamp | None = None
    summary: LongText | None = None


class SystemId(_Model):
    """CSAF §3.2.3.6: an id of the vulnerability in some tracking system."""

    system_name: ShortText
    text: ShortText


class ModelVulnerability(_Model):
    """What makes an advisory about an AI model: which models, and what kind of attack."""

    attack_class: AttackClass
    affected_models: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=MAX_ITEMS)]

    @field_validator("affected_models")
    @classmethod
    def _dedupe(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(value)


class Advisory(_Model):
    """One vulnerability as one source describes it (an OSV record; one CSAF vulnerability; a CVE).

    ``published``/``modified``/``withdrawn`` are the record's own times (OSV); ``discovered`` and
    ``released`` are CSAF's ``discovery_date`` and ``release_date`` of the vulnerability.
    """

    id: Identifier
    aliases: Annotated[tuple[Identifier, ...], Field(max_length=MAX_ITEMS)] = ()
    related: Annotated[tuple[Identifier, ...], Field(max_length=MAX_ITEMS)] = ()
    upstream: Annotated[tuple[Identifier, ...], Field(max_length=MAX_ITEMS)] = ()
    summary: ShortText | None = None
    details: LongText | None = None
    published: Timestamp | None = None
    modified: Timestamp
    withdrawn: Timestamp | None = None
    discovered: Timestamp | None = None
    released: Timestamp | None = None
    affected: Annotated[tuple[Affected, ...], Field(max_length=MAX_AFFECTED)] = ()
    severities: Annotated[tuple[Severity, ...], Field(max_length=MAX_ITEMS)] = ()
    cwes: Annotated[tuple[Cwe, ...], Field(max_length=1_000)] = ()
    references: Annotated[tuple[Reference, ...], Field(max_length=MAX_ITEMS)] = ()
    remediations: Annotated[tuple[Remediation, ...], Field(max_length=MAX_ITEMS)] = ()
    credits: Annotated[tuple[Credit, ...], Field(max_length=MAX_ITEMS)] = ()
    threats: Annotated[tuple[Threat, ...], Field(max_length=MAX_ITEMS)] = ()
    notes: Annotated[tuple[Note, ...], Field(max_length=MAX_ITEMS)] = ()
    flags: Annotated[tuple[Flag, ...], Field(max_length=MAX_ITEMS)] = ()
    involvements: Annotated[tuple[Involvement, ...], Field(max_length=MAX_ITEMS)] = ()
    system_ids: Annotated[tuple[SystemId, ...], Field(max_length=MAX_ITEMS)] = ()
    tlp: Tlp | None = None
    ai: ModelVulnerability | None = None
    database_specific: JsonObject | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise_ids(cls, data: Any) -> Any:
        # OSV §aliases: an advisory is trivially its own alias; say each other id once.
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return data
        out = dict(data)
        for key in ("aliases", "related", "upstream"):
            value = out.get(key)
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                out[key] = tuple(v for v in _unique(value) if key != "aliases" or v != data["id"])
        if isinstance(out.get("cwes"), list | tuple):
            out["cwes"] = _unique(out["cwes"])
        return out

    @model_validator(mode="after")
    def _severity_once(self) -> Self:
        if self.severities and any(a.severities for a in self.affected):
            raise ValueError(
                "severities: set either for the whole advisory or per affected package, not both"
            )
        return self

    def all_ids(self) -> tuple[str, ...]:
        """This advisory's id followed by its aliases."""
        return (self.id, *self.aliases)

    def cve_ids(self) -> tuple[str, ...]:
        """The CVE ids among :meth:`all_ids`."""
        return tuple(i for i in self.all_ids() if i.startswith("CVE-"))

    def is_alias_of(self, other: Advisory) -> bool:
        """Whether the two advisories share an id (aliases are symmetric and transitive, OSV §aliases)."""
        return not set(self.all_ids()).isdisjoint(other.all_ids())


def merge_aliases(primary: Advisory, *others: Advisory) -> Advisory:
    """*primary*, with every id and alias of *others* added to its aliases (OSV §aliases symmetry).

    Merging duplicates keeps every alias: nothing another source called this vulnerability is lost.
    """
    ids = [*primary.aliases]
    for other in others:
        ids.extend(other.all_ids())
    aliases = tuple(i for i in _unique(ids) if i != primary.id)
    if len(aliases) > MAX_ITEMS:
        raise ValueError(f"aliases: more than {MAX_ITEMS}")
    return primary.model_copy(update={"aliases": aliases})


# --------------------------------------------------------------------------------------------------
# Publication: what belongs to a whole published document (CSAF §3.2.1 document, §3.2.2 product_tree)
# --------------------------------------------------------------------------------------------------


class FileHash(_Model):
    """CSAF §3.1.3.3.2.1: one hash of a file."""

    algorithm: ShortText
    value: Annotated[str, StringConstraints(min_length=32, max_length=1024, pattern=r"^[0-9a-fA-F]+$")]


class FileHashes(_Model):
    """CSAF §3.1.3.3.2."""

    filename: ShortText
    file_hashes: Annotated[tuple[FileHash, ...], Field(min_length=1, max_length=100)]


class GenericUri(_Model):
    """CSAF §3.1.3.3.8."""

    namespace: Url
    uri: Url


class ProductIdentificationHelper(_Model):
    """CSAF §3.1.3.3."""

    cpe: Annotated[str, StringConstraints(min_length=5, max_length=4096, pattern=r"^cpe:\S+$")] | None = None
    purl: Annotated[str, StringConstraints(min_length=7, max_length=4096, pattern=r"^pkg:\S+$")] | None = None
    hashes: Annotated[tuple[FileHashes, ...], Field(max_length=100)] = ()
    model_numbers: Annotated[tuple[ShortText, ...], Field(max_length=1_000)] = ()
    sbom_urls: Annotated[tuple[Url, ...], Field(max_length=1_000)] = ()
    serial_numbers: Annotated[tuple[ShortText, ...], Field(max_length=1_000)] = ()
    skus: Annotated[tuple[ShortText, ...], Field(max_length=1_000)] = ()
    x_generic_uris: Annotated[tuple[GenericUri, ...], Field(max_length=1_000)] = ()


class FullProductName(_Model):
    """CSAF §3.1.3: a product and its document-local id."""

    name: ShortText
    product_id: ProductId
    product_identification_helper: ProductIdentificationHelper | None = None


class BranchCategory(StrEnum):
    """CSAF §3.1.2.3."""

    ARCHITECTURE = "architecture"
    HOST_NAME = "host_name"
    LANGUAGE = "language"
    LEGACY = "legacy"
    PATCH_LEVEL = "patch_level"
    PRODUCT_FAMILY = "product_family"
    PRODUCT_NAME = "product_name"
    PRODUCT_VERSION = "product_version"
    PRODUCT_VERSION_RANGE = "product_version_range"
    SERVICE_PACK = "service_pack"
    SPECIFICATION = "specification"
    VENDOR = "vendor"


class Branch(_Model):
    """CSAF §3.1.2: a node of the product tree; a leaf carries a product."""

    category: BranchCategory
    name: ShortText
    product: FullProductName | None = None
    branches: Annotated[tuple[Branch, ...], Field(max_length=MAX_PRODUCTS)] = ()


class RelationshipCategory(StrEnum):
    """CSAF §3.2.2.4.1."""

    DEFAULT_COMPONENT_OF = "default_component_of"
    EXTERNAL_COMPONENT_OF = "external_component_of"
    INSTALLED_ON = "installed_on"
    INSTALLED_WITH = "installed_with"
    OPTIONAL_COMPONENT_OF = "optional_component_of"


class Relationship(_Model):
    """CSAF §3.2.2.4: a product made of two others."""

    category: RelationshipCategory
    full_product_name: FullProductName
    product_reference: ProductId
    relates_to_product_reference: ProductId


class ProductGroup(_Model):
    """CSAF §3.2.2.3."""

    group_id: ProductId
    product_ids: Annotated[tuple[ProductId, ...], Field(min_length=2, max_length=MAX_PRODUCTS)]
    summary: ShortText | None = None


class ProductTree(_Model):
    """CSAF §3.2.2."""

    branches: Annotated[tuple[Branch, ...], Field(max_length=MAX_PRODUCTS)] = ()
    full_product_names: Annotated[tuple[FullProductName, ...], Field(max_length=MAX_PRODUCTS)] = ()
    relationships: Annotated[tuple[Relationship, ...], Field(max_length=MAX_PRODUCTS)] = ()
    product_groups: Annotated[tuple[ProductGroup, ...], Field(max_length=MAX_PRODUCTS)] = ()

    def products(self) -> dict[str, FullProductName]:
        """Every product the tree defines, by product id (branch leaves, full names, relationships)."""
        found: dict[str, FullProductName] = {}
        stack = list(self.branches)
        while stack:
            branch = stack.pop()
            if branch.product is not None:
                found.setdefault(branch.product.product_id, branch.product)
            stack.extend(branch.branches)
        for fpn in self.full_product_names:
            found.setdefault(fpn.product_id, fpn)
        for rel in self.relationships:
            found.setdefault(rel.full_product_name.product_id, rel.full_product_name)
        return found


class PublisherCategory(StrEnum):
    """CSAF §3.2.1.8.1."""

    COORDINATOR = "coordinator"
    DISCOVERER = "discoverer"
    OTHER = "other"
    TRANSLATOR = "translator"
    USER = "user"
    VENDOR = "vendor"


class Publisher(_Model):
    """CSAF §3.2.1.8."""

    category: PublisherCategory
    name: ShortText
    namespace: Url
    contact_details: ShortText | None = None
    issuing_authority: ShortText | None = None


class Revision(_Model):
    """CSAF §3.2.1.12.6: one entry of the revision history."""

    date: Timestamp
    number: Annotated[
        str, StringConstraints(pattern=r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}(-\S+)?(\+\S+)?$")
    ]
    summary: ShortText
    legacy_version: ShortText | None = None


class DocumentStatus(StrEnum):
    """CSAF §3.2.1.12.7."""

    DRAFT = "draft"
    INTERIM = "interim"
    FINAL = "final"


class Publication(_Model):
    """Everything a CSAF document says about itself rather than about one vulnerability.

    ``id`` is CSAF ``/document/tracking/id``; ``version`` must be the number of the newest revision
    (CSAF §6.1.16), which the CSAF mandatory tests check on export.
    """

    id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=r"^[\S](.*[\S])?$")]
    title: ShortText
    category: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s\-_\.](.*[^\s\-_\.])?$")
    ]
    publisher: Publisher
    version: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    status: DocumentStatus
    revision_history: Annotated[tuple[Revision, ...], Field(min_length=1, max_length=MAX_ITEMS)]
    initial_release_date: Timestamp
    current_release_date: Timestamp
    generator_engine: ShortText | None = None
    generator_engine_version: ShortText | None = None
    generator_date: Timestamp | None = None
    aliases: Annotated[tuple[ShortText, ...], Field(max_length=MAX_ITEMS)] = ()
    lang: Annotated[str, StringConstraints(min_length=2, max_length=100)] | None = None
    source_lang: Annotated[str, StringConstraints(min_length=2, max_length=100)] | None = None
    notes: Annotated[tuple[Note, ...], Field(max_length=MAX_ITEMS)] = ()
    references: Annotated[tuple[Reference, ...], Field(max_length=MAX_ITEMS)] = ()
    acknowledgments: Annotated[tuple[Credit, ...], Field(max_length=MAX_ITEMS)] = ()
    distribution_text: LongText | None = None
    tlp: Tlp | None = None
    tlp_url: Url | None = None
    aggregate_severity: ShortText | None = None
    aggregate_severity_namespace: Url | None = None
    product_tree: ProductTree | None = None
