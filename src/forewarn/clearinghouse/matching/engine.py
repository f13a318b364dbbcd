"""The matcher: an index of advisories by (ecosystem, package), and components matched against it.

OSV schema 1.7 §Evaluation decides, for one package version and one advisory, whether it is affected
(:mod:`.ranges`); this module decides which advisories to ask and which components share an answer.

Invariants:

- an advisory is indexed under the (base ecosystem, normalised name) of every affected entry whose
  CSAF status says "affected" and that names a package (OSV §affected[].package); entries that only
  name CSAF products or GIT repositories cannot be found by package and are not indexed;
- a withdrawn advisory (OSV §withdrawn) is never indexed, and indexing a withdrawn revision removes
  the earlier one; a revision replaces the indexed advisory of the same id unless it is older
  (``modified``);
- ecosystems match on their base name; a suffix narrows the match only when both sides have one,
  compared in OSV's form (:func:`~forewarn.clearinghouse.inventory.names.normalise_suffix`):
  ``Debian:11`` advisories apply to ``Debian:11`` and to ``Debian`` components (whose release is
  unknown, so the advisory may apply), not to ``Debian:12`` ones; Maven's suffix (a repository URL)
  never narrows, since the same coordinates in another repository are the same artifact;
- a component is looked up by its package and, when it has one, by its source package (distribution
  advisories name source packages: ``libssl1.1`` built from ``openssl`` is found under ``openssl``),
  with the source version when the purl gives one;
- each distinct (ecosystem, name, version) is evaluated once per :func:`match_components` call,
  however many components share it, over the ranks of its package's event versions
  (:class:`~.ranges.Ranks`), which order exactly as the versions do: the same verdicts, fixed
  versions and reasons as evaluating the versions themselves;
- a match that a VEX statement says is ``not_affected`` or ``fixed`` is moved to
  :attr:`MatchReport.suppressed` with that statement, never dropped; an undecidable evaluation is
  reported in :attr:`MatchReport.undetermined`, never read as "not affected".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

from forewarn.clearinghouse.advisories.schemas import AFFECTED_STATUSES, Advisory
from forewarn.clearinghouse.inventory.names import normalise_name, normalise_suffix, split_ecosystem
from forewarn.clearinghouse.matching.ranges import (
    CompiledAffected,
    CompiledRange,
    Evaluation,
    Ranks,
    Verdict,
    compile_affected,
    sole_range,
)
from forewarn.clearinghouse.matching.versions import InvalidVersion, Scheme

if TYPE_CHECKING:
    from forewarn.clearinghouse.matching.vex import VexIndex, VexStatement

__all__ = [
    "AdvisoryIndex",
    "Finding",
    "Match",
    "MatchReport",
    "PackageVersion",
    "Subject",
    "Undetermined",
    "match_components",
    "package_keys",
    "suffixes_compatible",
]


class Subject(Protocol):
    """What matching needs of a component (``inventory.schemas.Component`` is one)."""

    @property
    def ecosystem(self) -> str | None: ...
    @property
    def package(self) -> str | None: ...
    @property
    def version(self) -> str | None: ...
    @property
    def source_package(self) -> str | None: ...
    @property
    def source_version(self) -> str | None: ...
    @property
    def purl(self) -> str | None: ...
    @property
    def ref(self) -> str | None: ...


S = TypeVar("S", bound=Subject)
Via = Literal["package", "source"]


@dataclass(frozen=True, slots=True)
class PackageVersion:
    """The unit of evaluation: an ecosystem (suffix kept), a normalised package name and a version."""

    ecosystem: str
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class _Entry:
    advisory_id: str
    affected_index: int
    suffix: str | None
    compiled: CompiledAffected


#: A package's ranks, its entries ranked, and each entry's sole range (:func:`~.ranges.sole_range`).
_Ranked = tuple[Ranks, list[CompiledAffected], list[CompiledRange | None]]


@dataclass(frozen=True, slots=True)
class Finding:
    """What one advisory says about one package version (only affected or undecided ones are kept)."""

    advisory_id: str
    affected_index: int
    evaluation: Evaluation


def suffixes_compatible(base: str, advisory_suffix: str | None, component_suffix: str | None) -> bool:
    """The OSV ecosystem suffix rule as forewarn applies it (see the module docstring)."""
    if advisory_suffix is None or component_suffix is None or base == "Maven":
        return True
    return advisory_suffix == component_suffix


def package_keys(advisory: Advisory) -> set[tuple[str, str]]:
    """The (base ecosystem, normalised name) keys *advisory* is indexed under (none if withdrawn):
    what a database-backed index looks components up by when an advisory is published or revised."""
    if advisory.withdrawn is not None:
        return set()
    keys: set[tuple[str, str]] = set()
    for entry in advisory.affected:
        if entry.package is not None and entry.status in AFFECTED_STATUSES:
            base = entry.package.base_ecosystem
            keys.add((base, normalise_name(base, entry.package.name)))
    return keys


class AdvisoryIndex:
    """Advisories by (base ecosystem, normalised package name), compiled for evaluation.

    Built in memory from any iterable of advisories (the offline scanner, tests, a worker's batch);
    :meth:`add` and :meth:`remove` keep it current as advisories are published, revised or withdrawn.
    """

    def __init__(self) -> None:
        self._advisories: dict[str, Advisory] = {}
        self._entries: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
        self._keys: dict[str, set[tuple[str, str]]] = {}
        # Per package, its entries' keys ranked (built when the package is first evaluated, dropped
        # when one of its advisories is added or removed).
        self._ranked: dict[tuple[str, str], _Ranked] = {}

    @classmethod
    def build(cls, advisories: Iterable[Advisory]) -> AdvisoryIndex:
        index = cls()
        for advisory in advisories:
            index.add(advisory)
        return index

    def __len__(self) -> int:
        return len(self._advisories)

    def __contains__(self, advisory_id: object) -> bool:
        return advisory_id in self._advisories

    def advisory(self, advisory_id: str) -> Advisory:
        return self._advisories[advisory_id]

    def advisories(self) -> Iterator[Advisory]:
        return iter(self._advisories.values())

    def add(self, advisory: Advisory) -> bool:
        """Index *advisory* (or its revision); ``False`` when it is withdrawn or older than the one held."""
        held = self._advisories.get(advisory.id)
        if held is not None and advisory.modified < held.modified:
            return False
        self.remove(advisory.id)
        if advisory.withdrawn is not None:
            return False  # OSV §withdrawn: the record no longer describes a vulnerability
        keys: set[tuple[str, str]] = set()
        for i, entry in enumerate(advisory.affected):
            if entry.package is None or entry.status not in AFFECTED_STATUSES:
                continue
            base = entry.package.base_ecosystem
            key = (base, normalise_name(base, entry.package.name))
            suffix = normalise_suffix(base, entry.package.ecosystem_suffix)
            self._entries[key].append(
                _Entry(advisory.id, i, suffix, compile_affected(entry, entry.package.ecosystem))
            )
            self._ranked.pop(key, None)
            keys.add(key)
        self._advisories[advisory.id] = advisory
        self._keys[advisory.id] = keys
        return True

    def remove(self, advisory_id: str) -> None:
        """Forget *advisory_id* (a no-op when it is not indexed)."""
        self._advisories.pop(advisory_id, None)
        for key in self._keys.pop(advisory_id, ()):
            self._ranked.pop(key, None)
            remaining = [e for e in self._entries[key] if e.advisory_id != advisory_id]
            if remaining:
                self._entries[key] = remaining
            else:
                del self._entries[key]

    def rank_all(self) -> None:
        """Rank every package's keys now rather than at its first evaluation (a long-lived index:
        the server's), so that matching an inventory never pays for it."""
        for key in self._entries:
            self._ranks_of(key)

    def _ranks_of(self, key: tuple[str, str]) -> _Ranked:
        ranked = self._ranked.get(key)
        if ranked is None:
            entries = self._entries[key]
            ranks = Ranks(e.compiled for e in entries)
            compiled = [ranks.ranked(e.compiled) for e in entries]
            ranked = self._ranked[key] = (ranks, compiled, [sole_range(c) for c in compiled])
        return ranked

    def has_package(self, ecosystem: str, name: str) -> bool:
        """Whether any advisory names this package (*name* normalised for *ecosystem*)."""
        return (split_ecosystem(ecosystem)[0], name) in self._entries

    def evaluate(self, target: PackageVersion) -> list[Finding]:
        """Every indexed advisory that affects *target* or cannot be decided for it."""
        base, suffix = split_ecosystem(target.ecosystem)
        entries = self._entries.get((base, target.name))
        if not entries:
            return []
        component_suffix = normalise_suffix(base, suffix)
        ranks, compiled, sole = self._ranks_of((base, target.name))
        version = target.version
        rank_of: dict[Scheme, int | None] = {}  # the version's rank per scheme, None if it has none
        findings: list[Finding] = []
        for entry, ranked_entry, only in zip(entries, compiled, sole, strict=True):
            if not suffixes_compatible(base, entry.suffix, component_suffix):
                continue
            if only is not None and ranked_entry.scheme is not None:
                # Most entries: one ECOSYSTEM range, nothing listed (ranges.sole_range). The version
                # is ranked once per scheme, not once per entry.
                scheme = ranked_entry.scheme
                if scheme in rank_of:
                    rank = rank_of[scheme]
                else:
                    try:
                        rank = rank_of[scheme] = ranks.key_of(scheme, version)
                    except InvalidVersion:
                        rank = rank_of[scheme] = None
                if rank is not None:
                    if only.contains(rank):
                        evaluation = Evaluation(Verdict.AFFECTED, fixed=only.fixes_after(rank))
                        findings.append(Finding(entry.advisory_id, entry.affected_index, evaluation))
                    continue
            evaluation = ranked_entry.evaluate(version, ranks.key_of)
            if evaluation.verdict is not Verdict.NOT_AFFECTED:
                findings.append(Finding(entry.advisory_id, entry.affected_index, evaluation))
        return findings


@dataclass(frozen=True, slots=True)
class Match(Generic[S]):
    """*component* is affected by *advisory* (through its ``affected[affected_index]`` entry).

    ``via`` says whether the component's own package or its source package matched; ``fixed`` lists
    the versions that fix it, nearest first, when the advisory says; ``vex`` is the statement that
    suppressed it (only in :attr:`MatchReport.suppressed`).
    """

    component: S
    advisory: Advisory
    affected_index: int
    via: Via
    fixed: tuple[str, ...] = ()
    vex: VexStatement | None = None


@dataclass(frozen=True, slots=True)
class Undetermined(Generic[S]):
    """*advisory_id* names *component*'s package, but whether it affects this version is undecidable."""

    component: S
    advisory_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class MatchReport(Generic[S]):
    matches: tuple[Match[S], ...] = ()
    suppressed: tuple[Match[S], ...] = ()
    undetermined: tuple[Undetermined[S], ...] = ()
    #: Distinct (ecosystem, name, version) evaluated.
    evaluated: int = 0

    @property
    def affected(self) -> bool:
        return bool(self.matches)


def _lookups(component: Subject) -> list[tuple[PackageVersion, Via]]:
    if component.ecosystem is None or component.package is None or component.version is None:
        return []
    out: list[tuple[PackageVersion, Via]] = [
        (PackageVersion(component.ecosystem, component.package, component.version), "package")
    ]
    if component.source_package:
        source = PackageVersion(
            component.ecosystem, component.source_package, component.source_version or component.version
        )
        if source != out[0][0]:
            out.append((source, "source"))
    return out


def match_components(
    index: AdvisoryIndex, components: Sequence[S], *, vex: VexIndex | None = None
) -> MatchReport[S]:
    """Match *components* (scannable ones; others are ignored) against *index*, applying *vex*."""
    cache: dict[PackageVersion, list[Finding]] = {}
    matches: list[Match[S]] = []
    suppressed: list[Match[S]] = []
    undetermined: list[Undetermined[S]] = []
    for component in components:
        affected: dict[str, Match[S]] = {}
        unknown: dict[str, str] = {}
        for target, via in _lookups(component):
            findings = cache.get(target)
            if findings is None:
                findings = cache[target] = index.evaluate(target)
            for finding in findings:
                verdict = finding.evaluation.verdict
                if verdict is Verdict.AFFECTED and finding.advisory_id not in affected:
                    affected[finding.advisory_id] = Match(
                        component,
                        index.advisory(finding.advisory_id),
                        finding.affected_index,
                        via,
                        finding.evaluation.fixed,
                    )
                elif verdict is Verdict.UNKNOWN:
                    unknown.setdefault(finding.advisory_id, finding.evaluation.reason or "undecidable")
        for advisory_id, found in affected.items():
            statement = vex.suppressing(component, found.advisory) if vex is not None else None
            if statement is None:
                matches.append(found)
            else:
                suppressed.append(
                    Match(
                        found.component,
                        found.advisory,
                        found.affected_index,
                        found.via,
                        found.fixed,
                        statement,
                    )
                )
            unknown.pop(advisory_id, None)
        undetermined.extend(Undetermined(component, a, r) for a, r in unknown.items())
    return MatchReport(tuple(matches), tuple(suppressed), tuple(undetermined), len(cache))
