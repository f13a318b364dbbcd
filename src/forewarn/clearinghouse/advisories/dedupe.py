"""De-duplication: which advisories may describe the same vulnerability (pure).

Two signals, as the issue asks: a shared id (OSV §aliases: aliases are the same vulnerability,
symmetric and transitive), or the same package with affected ranges that overlap. They are
*suggestions* for an analyst, who decides; so the range test leans towards reporting overlap:

- versions compare as SemVer when both parse (OSV §SEMVER), else by a natural order (runs of
  digits as numbers, the rest as text), which is right for most ecosystems' common versions
  but not for every rule of every ecosystem (Maven qualifiers, Debian epochs and tildes);
- a package entry with neither ranges nor versions affects every version; GIT ranges (commit
  hashes) cannot be ordered and are taken to overlap any range of the same package;
- ``limit`` events narrow nothing here (OSV §Evaluation: they bound a search, not the range).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories._semver import parse_semver

__all__ = ["Interval", "affected_intervals", "overlapping_packages", "package_keys"]


def package_key(package: s.Package) -> str:
    """``Ecosystem/name`` without the ecosystem's suffix (``Debian:12`` and ``Debian:11`` share fixes)."""
    name = (
        package.name.lower()
        if package.base_ecosystem in ("PyPI", "npm", "NuGet", "Packagist")
        else package.name
    )
    return f"{package.base_ecosystem}/{name}"[:400]


def package_keys(advisory: s.Advisory) -> list[str]:
    keys = [package_key(a.package) for a in advisory.affected if a.package is not None]
    return list(dict.fromkeys(keys))


_PART = re.compile(r"(\d+)")


def _natural(version: str) -> tuple[Any, ...]:
    out: list[Any] = []
    for chunk in _PART.split(version):
        if not chunk:
            continue
        out.append((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk))
    return tuple(out)


def _key(version: str) -> tuple[int, Any]:
    if version == "0":
        return (0, ())
    parsed = parse_semver(version)
    if parsed is not None:
        return (1, parsed)
    return (2, _natural(version))


def _less(a: str, b: str) -> bool:
    ka, kb = _key(a), _key(b)
    if ka[0] == kb[0]:
        return bool(ka[1] < kb[1])
    if ka[0] == 0 or kb[0] == 0:
        return ka[0] < kb[0]
    return _natural(a) < _natural(b)  # one SemVer, one not: compare both naturally


@dataclass(frozen=True)
class Interval:
    """``[start, end)`` (or ``[start, end]`` when ``inclusive``); ``None`` is unbounded; ``exact`` lists
    single versions; ``everything`` when it cannot be narrowed (GIT ranges, no ranges at all)."""

    start: str | None = None
    end: str | None = None
    inclusive: bool = False
    everything: bool = False

    def contains(self, version: str) -> bool:
        if self.everything:
            return True
        if self.start is not None and self.start != "0" and _less(version, self.start):
            return False
        if self.end is None:
            return True
        return not _less(self.end, version) and (self.inclusive or version != self.end)

    def overlaps(self, other: Interval) -> bool:
        if self.everything or other.everything:
            return True
        return _before_end(self.start, other) and _before_end(other.start, self)


def _before_end(start: str | None, interval: Interval) -> bool:
    """Whether a range starting at *start* begins before *interval* ends."""
    if interval.end is None:
        return True
    if start is None or start == "0":
        return True
    return _less(start, interval.end) or (interval.inclusive and start == interval.end)


def _range_intervals(range_: s.Range) -> list[Interval]:
    if range_.type is s.RangeType.GIT:
        return [Interval(everything=True)]
    events = [e for e in range_.events if e.kind is not s.EventKind.LIMIT]
    events.sort(key=lambda e: _key(e.version))
    out: list[Interval] = []
    start: str | None = None
    for event in events:
        if event.kind is s.EventKind.INTRODUCED:
            if start is None:
                start = event.version
        elif start is not None:
            out.append(Interval(start, event.version, inclusive=event.kind is s.EventKind.LAST_AFFECTED))
            start = None
    if start is not None:
        out.append(Interval(start, None))
    return out


def affected_intervals(entry: s.Affected) -> tuple[list[Interval], list[str]]:
    """The intervals and explicit versions one affected entry covers."""
    intervals = [i for r in entry.ranges for i in _range_intervals(r)]
    if not intervals and not entry.versions:
        intervals = [Interval(everything=True)]
    return intervals, list(entry.versions)


def _covers_overlap(a: tuple[list[Interval], list[str]], b: tuple[list[Interval], list[str]]) -> bool:
    (ia, va), (ib, vb) = a, b
    if set(va) & set(vb):
        return True
    if any(x.overlaps(y) for x in ia for y in ib):
        return True
    return any(i.contains(v) for i in ia for v in vb) or any(i.contains(v) for i in ib for v in va)


def overlapping_packages(a: s.Advisory, b: s.Advisory) -> list[str]:
    """The packages both advisories name whose affected versions overlap."""

    def by_package(adv: s.Advisory) -> dict[str, list[tuple[list[Interval], list[str]]]]:
        out: dict[str, list[tuple[list[Interval], list[str]]]] = {}
        for entry in adv.affected:
            if entry.package is not None and entry.status in s.AFFECTED_STATUSES:
                out.setdefault(package_key(entry.package), []).append(affected_intervals(entry))
        return out

    left, right = by_package(a), by_package(b)
    found = []
    for key in left.keys() & right.keys():
        if any(_covers_overlap(x, y) for x in left[key] for y in right[key]):
            found.append(key)
    return sorted(found)


def shared_ids(a: Iterable[str], b: Iterable[str]) -> list[str]:
    return sorted(set(a) & set(b))
