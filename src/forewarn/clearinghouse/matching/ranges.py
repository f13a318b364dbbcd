"""Whether one OSV affected entry covers one version: the OSV schema's evaluation, exactly.

OSV schema 1.7 §Evaluation (``IsVulnerable``): a version is affected by an ``affected[]`` entry when it
is listed in ``versions`` or lies in any of ``ranges``; within a range, the events are sorted by version
and walked: ``introduced`` (``v >= e``) makes it vulnerable, ``fixed`` (``v >= e``) and ``last_affected``
(``v > e``) make it not.

Invariants:

- :meth:`CompiledRange.contains` gives, for every version, the state the §Evaluation walk ends in; it
  finds it by bisection (the last event that "fires" decides) instead of walking, and the property test
  in tests/clearinghouse/matching/test_ranges.py checks it against a literal walk on generated versions;
- ``introduced: "0"`` sorts before every version (§affected[].ranges[].events, special values); at equal
  versions ``introduced`` sorts before ``last_affected`` before ``fixed``, so ``[x, x)`` is empty and
  ``[x, x]`` is ``{x}`` (the specification leaves ties open; this is the interval reading);
- ``limit`` events are ignored: they restrict GIT ranges on a commit graph, and for linear versions OSV
  says they "should not be used"; ignoring them can only add matches, never hide one;
- ``SEMVER`` ranges are ordered by SemVer 2.0.0 precedence whatever the ecosystem, ``ECOSYSTEM`` ranges by
  the ecosystem's ordering (:mod:`.versions`); ``GIT`` ranges name commits, which an SBOM does not carry,
  so they are skipped, and skipping one never hides a later range of the same entry (every range is
  tried: "affected if it lies within any one of the ranges");
- when a range cannot be evaluated (no ordering for the ecosystem, an event or the version that the
  ordering cannot read) and nothing else says "affected", the verdict is :attr:`Verdict.UNKNOWN` with a
  reason, never "not affected": the caller reports it instead of dropping it.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from forewarn.clearinghouse.advisories.schemas import Affected, EventKind, Range, RangeType
from forewarn.clearinghouse.matching.versions import SEMVER, InvalidVersion, Scheme, scheme_for

__all__ = [
    "BOTTOM",
    "CompiledAffected",
    "CompiledRange",
    "Evaluation",
    "KeyOf",
    "Ranks",
    "Verdict",
    "compile_affected",
    "compile_range",
    "event_sort_key",
    "sole_range",
]

INTRODUCED, LAST_AFFECTED, FIXED = 0, 1, 2
_RANK = {EventKind.INTRODUCED: INTRODUCED, EventKind.LAST_AFFECTED: LAST_AFFECTED, EventKind.FIXED: FIXED}

#: The sort key of ``introduced: "0"``: before every version.
BOTTOM: tuple[int] = (0,)


class Verdict(StrEnum):
    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The verdict for one version; ``fixed`` lists the versions that fix it (from the range that
    matched, the nearest first), ``reason`` says why the verdict is unknown."""

    verdict: Verdict
    reason: str | None = None
    fixed: tuple[str, ...] = ()


def event_sort_key(version_key: Any, kind: int) -> tuple[Any, int]:
    """Sort key of an event: its version (``BOTTOM`` for ``introduced: "0"``), then its kind."""
    return (version_key, kind)


def _version_key(scheme: Scheme, text: str) -> tuple[int, Any]:
    return (1, scheme.parse(text))


@dataclass(frozen=True, slots=True)
class CompiledRange:
    """One range, its events parsed and sorted; ``error`` says why it cannot be evaluated."""

    type: RangeType
    scheme: Scheme | None
    keys: tuple[Any, ...] = ()
    kinds: tuple[int, ...] = ()
    versions: tuple[str, ...] = ()
    error: str | None = None

    @property
    def skipped(self) -> bool:
        return self.type is RangeType.GIT

    def contains(self, version_key: Any) -> bool:
        """The §Evaluation walk's final state for a version whose key is *version_key*."""
        # Events with key <= v are a prefix. The last of them that fires decides: introduced and fixed
        # fire at v >= e, last_affected only at v > e.
        i = bisect.bisect_right(self.keys, version_key)
        while i > 0:
            i -= 1
            if self.kinds[i] == LAST_AFFECTED and self.keys[i] == version_key:
                continue
            return self.kinds[i] == INTRODUCED
        return False

    def fixes_after(self, version_key: Any) -> tuple[str, ...]:
        """The ``fixed`` versions above *version_key*, nearest first (advice for "update to")."""
        i = bisect.bisect_right(self.keys, version_key)
        return tuple(self.versions[j] for j in range(i, len(self.keys)) if self.kinds[j] == FIXED)


def compile_range(range_: Range, ecosystem: str) -> CompiledRange:
    """Parse and sort the events of *range_* for a package of *ecosystem*."""
    if range_.type is RangeType.GIT:
        return CompiledRange(range_.type, None, error="GIT ranges name commits, not versions")
    scheme = SEMVER if range_.type is RangeType.SEMVER else scheme_for(ecosystem)
    if scheme is None:
        return CompiledRange(
            range_.type, None, error=f"forewarn knows no version ordering for the {ecosystem} ecosystem"
        )
    events: list[tuple[tuple[Any, int], str]] = []
    for event in range_.events:
        if event.kind is EventKind.LIMIT:
            continue
        if event.kind is EventKind.INTRODUCED and event.version == "0":
            key: Any = BOTTOM
        else:
            try:
                key = _version_key(scheme, event.version)
            except InvalidVersion:
                return CompiledRange(
                    range_.type,
                    scheme,
                    error=f"{event.kind.value} {event.version[:80]!r} is not a {scheme.name} version",
                )
        events.append((event_sort_key(key, _RANK[event.kind]), event.version))
    events.sort(key=lambda item: item[0])
    return CompiledRange(
        range_.type,
        scheme,
        keys=tuple(k for (k, _), _ in events),
        kinds=tuple(kind for (_, kind), _ in events),
        versions=tuple(v for _, v in events),
    )


@dataclass(frozen=True, slots=True)
class CompiledAffected:
    """One ``affected[]`` entry ready to evaluate versions of its package."""

    ecosystem: str
    scheme: Scheme | None
    versions: frozenset[str]
    version_keys: tuple[Any, ...]
    ranges: tuple[CompiledRange, ...]

    def evaluate(self, version: str, key_of: KeyOf | None = None) -> Evaluation:
        """OSV §Evaluation of *version* against this entry (``IncludedInVersions || IncludedInRanges``).

        *key_of* gives a version's key under a scheme; an entry :func:`ranked` for its package takes
        the ranks that entry's keys were replaced by (see :class:`Ranks`)."""
        if version in self.versions:
            return Evaluation(Verdict.AFFECTED)
        if key_of is None:
            key_of = _version_key
        eco_key: Any = None
        eco_error: str | None = None
        if self.scheme is not None:
            try:
                eco_key = key_of(self.scheme, version)
            except InvalidVersion:
                eco_error = f"{version[:80]!r} is not a {self.scheme.name} version"
        if eco_key is not None and self.version_keys:
            # a listed version equal in the ecosystem's ordering ("1.0" listed, "1.0.0" installed)
            i = bisect.bisect_left(self.version_keys, eco_key)
            if i < len(self.version_keys) and self.version_keys[i] == eco_key:
                return Evaluation(Verdict.AFFECTED)
        unknown: str | None = None
        for range_ in self.ranges:
            if range_.skipped:
                continue  # never "return": a later range may still say affected
            if range_.error is not None:
                unknown = unknown or range_.error
                continue
            if range_.type is RangeType.SEMVER:
                try:
                    key: Any = key_of(SEMVER, version)
                except InvalidVersion:
                    unknown = unknown or f"{version[:80]!r} is not a SemVer 2.0.0 version"
                    continue
            elif eco_key is not None:
                key = eco_key
            else:
                unknown = unknown or eco_error
                continue
            if range_.contains(key):
                return Evaluation(Verdict.AFFECTED, fixed=range_.fixes_after(key))
        if unknown is not None:
            return Evaluation(Verdict.UNKNOWN, reason=unknown)
        return Evaluation(Verdict.NOT_AFFECTED)


def sole_range(entry: CompiledAffected) -> CompiledRange | None:
    """The range that alone decides *entry* for any version its scheme parses: no versions listed
    and one ECOSYSTEM range that compiled. §Evaluation then reduces to that range's walk (affected
    when :meth:`CompiledRange.contains` the version's key, with :meth:`CompiledRange.fixes_after`;
    not affected otherwise); a version the scheme refuses still needs :meth:`CompiledAffected.evaluate`."""
    if entry.versions or entry.scheme is None or len(entry.ranges) != 1:
        return None
    only = entry.ranges[0]
    if only.type is not RangeType.ECOSYSTEM or only.error is not None or only.scheme != entry.scheme:
        return None
    return only


def compile_affected(affected: Affected, ecosystem: str) -> CompiledAffected:
    """Compile an affected entry whose package is in *ecosystem* (OSV ecosystem, suffix allowed)."""
    scheme = scheme_for(ecosystem)
    keys: list[tuple[int, Any]] = []
    if scheme is not None:
        for listed in affected.versions:
            try:
                keys.append(_version_key(scheme, listed))
            except InvalidVersion:
                continue  # still matched by exact string
    keys.sort()
    return CompiledAffected(
        ecosystem=ecosystem,
        scheme=scheme,
        versions=frozenset(affected.versions),
        version_keys=tuple(keys),
        ranges=tuple(compile_range(r, ecosystem) for r in affected.ranges),
    )


#: A version's key under a scheme (raises :class:`InvalidVersion`).
KeyOf = Callable[[Scheme, str], Any]


class Ranks:
    """The event and listed-version keys of one package's entries, per scheme, replaced by their
    ranks: even integers in sorted order (equal keys share one). A version's rank is the rank of an
    equal key, or the odd integer between its neighbours; ranks compare exactly as the keys do, so
    the §Evaluation walk over ranks gives the same verdicts, with one ordering search per version
    and scheme instead of one per entry (univers comparisons are slow: a package with hundreds of
    advisories paid for each). Keys are gathered by their version strings (keys of some schemes
    cannot be hashed; the strings repeat across a package's advisories)."""

    __slots__ = ("_memo", "_sorted")

    def __init__(self, entries: Iterable[CompiledAffected]) -> None:
        by_text: dict[Scheme, dict[str, Any]] = {}
        for entry in entries:
            if entry.scheme is not None:
                found = by_text.setdefault(entry.scheme, {})
                for text in entry.versions:
                    with contextlib.suppress(InvalidVersion):
                        found.setdefault(text, _version_key(entry.scheme, text))
            for r in entry.ranges:
                if r.scheme is not None and r.error is None:
                    found = by_text.setdefault(r.scheme, {})
                    for key, text in zip(r.keys, r.versions, strict=True):
                        found.setdefault(_text(key, text), key)
        self._sorted: dict[Scheme, list[Any]] = {}
        for scheme, found in by_text.items():
            distinct: list[Any] = []
            for key in sorted(found.values()):
                if not distinct or distinct[-1] != key:
                    distinct.append(key)
            self._sorted[scheme] = distinct
        self._memo: dict[tuple[Scheme, str], int | InvalidVersion] = {}

    def _rank(self, scheme: Scheme, key: Any) -> int:
        table = self._sorted.get(scheme, [])
        i = bisect.bisect_left(table, key)
        return 2 * i if i < len(table) and table[i] == key else 2 * i - 1

    def key_of(self, scheme: Scheme, version: str) -> int:
        """A version's rank under *scheme* (memoised: a package version is asked once per entry)."""
        memo = self._memo.get((scheme, version))
        if memo is None:
            try:
                memo = self._rank(scheme, _version_key(scheme, version))
            except InvalidVersion as exc:
                memo = exc
            self._memo[(scheme, version)] = memo
        if isinstance(memo, InvalidVersion):
            raise memo
        return memo

    def _ranked_key(self, scheme: Scheme, key: Any, text: str) -> int:
        if key == BOTTOM:
            return self._rank(scheme, key)
        return self.key_of(scheme, text)

    def ranked(self, entry: CompiledAffected) -> CompiledAffected:
        """*entry* with its keys replaced by their ranks (evaluate it with :meth:`key_of`)."""
        ranges = tuple(
            r
            if r.scheme is None or r.error is not None
            else replace(
                r,
                keys=tuple(self._ranked_key(r.scheme, k, t) for k, t in zip(r.keys, r.versions, strict=True)),
            )
            for r in entry.ranges
        )
        version_keys: tuple[int, ...] = ()
        if entry.scheme is not None:
            scheme = entry.scheme
            ranks: list[int] = []
            for text in entry.versions:
                with contextlib.suppress(InvalidVersion):
                    ranks.append(self.key_of(scheme, text))
            version_keys = tuple(sorted(ranks))
        return replace(entry, version_keys=version_keys, ranges=ranges)


def _text(key: Any, text: str) -> str:
    # ``introduced: "0"`` is BOTTOM, not the version "0" a ``fixed`` may name.
    return "\x00bottom" if key == BOTTOM else text
