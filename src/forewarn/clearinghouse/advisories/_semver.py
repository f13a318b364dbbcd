"""Semantic Versioning 2.0.0 parsing and precedence (semver.org §2, §9-§11), for OSV ``SEMVER`` ranges.

Only what the advisory model needs to check a range for contradictions (OSV schema
§affected[].ranges[].type: ``SEMVER`` versions are SemVer 2.0.0 without a leading ``v``). The
ecosystem orderings used for matching live in ``clearinghouse.matching``.
"""

from __future__ import annotations

import re
from functools import total_ordering

__all__ = ["SemVer", "parse_semver"]

# semver.org's own regular expression, in verbose form.
_SEMVER = re.compile(
    r"""
    ^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)
    (?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?
    (?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$
    """,
    re.VERBOSE,
)


@total_ordering
class SemVer:
    """A parsed semantic version, ordered by SemVer precedence (build metadata is ignored, §10)."""

    __slots__ = ("major", "minor", "patch", "prerelease")

    def __init__(self, major: int, minor: int, patch: int, prerelease: tuple[str, ...]) -> None:
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # §11.3: a version without pre-release sorts after every pre-release of it;
        # §11.4: numeric identifiers sort numerically and before alphanumeric ones.
        ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        pre = "-" + ".".join(self.prerelease) if self.prerelease else ""
        return f"SemVer('{self.major}.{self.minor}.{self.patch}{pre}')"


def parse_semver(text: str) -> SemVer | None:
    """The version *text* denotes, or ``None`` when it is not SemVer 2.0.0."""
    m = _SEMVER.match(text)
    if m is None or len(text) > 256:
        return None
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return SemVer(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)
