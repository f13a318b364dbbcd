"""Version orderings per OSV ecosystem: which version comes first, by each ecosystem's own rules.

OSV ``ECOSYSTEM`` ranges are ordered by "the ecosystem's own logic" and ``SEMVER`` ranges by SemVer
2.0.0 precedence (OSV schema §affected[].ranges[].type). :func:`scheme_for` gives the ordering of an
ecosystem; :data:`SEMVER` is the one ``SEMVER`` ranges use whatever the ecosystem.

Invariants:

- every scheme is a total order on the versions it parses: for parsed ``a`` and ``b`` exactly one of
  ``a < b``, ``a == b``, ``b < a`` holds (univers breaks this for some inputs; see below);
- a string a scheme cannot read raises :class:`InvalidVersion`; it is never coerced into a different
  version (``1.2`` is not silently SemVer ``1.2.0``), since a coerced version is compared wrongly;
- an ecosystem without a known ordering has no scheme (``scheme_for`` returns ``None``): its advisories
  can still match through explicit ``versions`` lists, and ranges are reported as undecidable.

Where univers (32.0.1) disagrees with an ecosystem's own rules, forewarn uses its own comparator
(``origin="forewarn"``); docs/matching.md lists each disagreement and tests/clearinghouse/matching/
test_univers_gaps.py pins it:

- SemVer (npm, crates.io, Go, Hex, ...): univers coerces non-SemVer strings (``1.2``, ``01.2.3``) and
  orders build metadata, leaving ``1.0.0+a`` neither below, above nor equal to ``1.0.0`` (SemVer §10:
  build metadata does not count);
- PyPI: univers refuses every version that is not PEP 440 (``2004d``), which OSV orders as a legacy
  version before all PEP 440 ones, and deletes white space (``1.0 beta`` becomes ``1.0b0``);
- Maven: ``release`` is not an alias of the release version, and ``.qualifier`` is not ``-qualifier``
  (Maven 3.9);
- Debian/Ubuntu: ``==`` compares strings, so ``1.0`` and ``1.00`` (one version for dpkg) are neither
  equal nor ordered;
- Alpine (apk): univers uses Gentoo's rules: it refuses ``_git``/``_svn``/``_cvs``/``_hg`` suffixes,
  ``~hash`` and leading zeros, and orders a bare ``_p``, leading-zero parts and ``-r0`` differently
  from apk-tools;
- Packagist: univers treats Composer versions as SemVer (``RC1`` below ``beta1``, ``patch1`` below the
  release, ``dev-master`` refused);
- Pub, CRAN, Hackage: univers has no scheme.

univers orders NuGet, RubyGems, RPM and Conan versions as those ecosystems do, and forewarn uses it
there (RPM is checked against a reference ``rpmvercmp`` in the tests). RPM epochs are ordered right;
what goes wrong is upstream: a purl carries the epoch in its ``epoch=`` qualifier, which
:func:`~forewarn.clearinghouse.inventory.names.from_purl` puts back into the version.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, total_ordering
from typing import Any

from forewarn.clearinghouse.inventory.names import split_ecosystem

__all__ = ["SEMVER", "InvalidVersion", "Scheme", "scheme_for", "schemes"]

#: Longest version string any scheme reads (the advisory model's bound).
MAX_VERSION_CHARS = 1_024


class InvalidVersion(ValueError):
    """A string that is not a version of the scheme asked."""


@dataclass(frozen=True, slots=True, eq=False)
class Scheme:
    """A version ordering: ``parse`` turns a version string into a totally ordered key."""

    name: str
    origin: str  # "forewarn" (own comparator) or "univers"
    _parse: Callable[[str], Any]

    def parse(self, text: str) -> Any:
        """The ordering key of *text*; raises :class:`InvalidVersion`."""
        return _parse_cached(self, text)

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as *a* sorts before, with or after *b*."""
        ka, kb = self.parse(a), self.parse(b)
        return -1 if ka < kb else (1 if kb < ka else 0)

    def __repr__(self) -> str:
        return f"Scheme({self.name!r})"


@lru_cache(maxsize=131_072)
def _parse_cached(scheme: Scheme, text: str) -> Any:
    # No ecosystem's versions contain white space; univers would delete it ("1.0 beta" → "1.0beta").
    if not text or len(text) > MAX_VERSION_CHARS or any(c.isspace() for c in text):
        raise InvalidVersion(f"{text[:80]!r} is not a {scheme.name} version")
    try:
        return scheme._parse(text)
    except InvalidVersion:
        raise
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InvalidVersion(f"{text[:80]!r} is not a {scheme.name} version") from exc


@total_ordering
class _CmpKey:
    """An ordering key from a three-way comparison function (for orders that are not tuple orders)."""

    __slots__ = ("_cmp", "_value")

    def __init__(self, value: Any, cmp: Callable[[Any, Any], int]) -> None:
        self._value = value
        self._cmp = cmp

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _CmpKey) and self._cmp(self._value, other._value) == 0

    def __lt__(self, other: _CmpKey) -> bool:
        return self._cmp(self._value, other._value) < 0

    def __hash__(self) -> int:  # keys are compared, never hashed; equal keys may differ in form
        raise TypeError("version keys are not hashable")

    def __repr__(self) -> str:
        return f"<{self._value!r}>"


# --------------------------------------------------------------------------------------------------
# SemVer 2.0.0 (semver.org §2, §9-§11) and its relatives
# --------------------------------------------------------------------------------------------------

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)

PreKey = tuple[tuple[int, int, str], ...]


def _identifiers(text: str | None) -> PreKey:
    # §11.4: numeric identifiers compare numerically and sort before alphanumeric ones (ASCII order).
    if not text:
        return ()
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in text.split("."))


def _semver_parts(text: str) -> tuple[int, int, int, str | None, str | None]:
    m = _SEMVER.match(text)
    if m is None:
        raise InvalidVersion(f"{text[:80]!r} is not a SemVer 2.0.0 version")
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5)


def _semver_key(text: str) -> tuple[int, int, int, int, PreKey]:
    major, minor, patch, pre, _build = _semver_parts(text)
    # §11.3: a release sorts after all its pre-releases; §10: build metadata is ignored.
    return (major, minor, patch, 0 if pre else 1, _identifiers(pre))


def _semver_loose_key(text: str) -> tuple[int, int, int, int, PreKey]:
    """SemVer as package managers write it: one leading ``v`` (Go, Swift tags) or ``=`` (npm) allowed."""
    if text[:1] in ("v", "="):
        text = text[1:]
    return _semver_key(text)


def _pub_key(text: str) -> tuple[tuple[int, int, int, int, PreKey], int, PreKey]:
    # pub_semver: like SemVer, but a build suffix sorts after the version without one, compared like
    # a pre-release (1.0.0-pre < 1.0.0-pre+build < 1.0.0 < 1.0.0+build).
    major, minor, patch, pre, build = _semver_parts(text)
    return ((major, minor, patch, 0 if pre else 1, _identifiers(pre)), 1 if build else 0, _identifiers(build))


_SEMVER_LIKE = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-.]?((?:[0-9A-Za-z]+)(?:[.-][0-9A-Za-z]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)


def _semver_like_key(text: str) -> tuple[int, int, int, int, PreKey]:
    """Versions that follow SemVer's shape loosely (``v1``, ``1.2``, ``1.2.3-rc1``): missing parts are 0."""
    m = _SEMVER_LIKE.match(text)
    if m is None:
        raise InvalidVersion(f"{text[:80]!r} is not a version")
    pre = m.group(4)
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), 0 if pre else 1,
            _identifiers(pre.replace("-", ".") if pre else None))  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Dotted integers: Hackage (Cabal's Data.Version), CRAN/Bioconductor (R's package_version)
# --------------------------------------------------------------------------------------------------


def _hackage_key(text: str) -> tuple[int, ...]:
    # Cabal: a non-empty list of naturals, compared lexicographically ([1,2] < [1,2,0]).
    if not re.fullmatch(r"\d+(?:\.\d+)*", text):
        raise InvalidVersion(f"{text[:80]!r} is not a Hackage version")
    return tuple(int(p) for p in text.split("."))


def _cran_key(text: str) -> tuple[int, ...]:
    # R's package_version: at least two integers separated by '.' or '-' ("1.2-3" is 1.2.3).
    if not re.fullmatch(r"\d+(?:[.-]\d+)+", text):
        raise InvalidVersion(f"{text[:80]!r} is not an R package version")
    return tuple(int(p) for p in re.split(r"[.-]", text))


# --------------------------------------------------------------------------------------------------
# PyPI: PEP 440 through univers, legacy versions as pip's packaging < 22 ordered them
# --------------------------------------------------------------------------------------------------

_LEGACY_PART = re.compile(r"(\d+|[a-z]+|\.|-)")
_LEGACY_MAP = {"pre": "c", "preview": "c", "-": "final-", "rc": "c", "dev": "@"}


def _legacy_parts(text: str) -> tuple[str, ...]:
    """setuptools' historical ordering (packaging.version.LegacyVersion), which OSV's PyPI ordering
    keeps for non-PEP 440 strings; every legacy version sorts before every PEP 440 version."""
    parts: list[str] = []
    for raw in _LEGACY_PART.split(text.lower()):
        part = _LEGACY_MAP.get(raw, raw)
        if not part or part == ".":
            continue
        piece = part.zfill(8) if part[:1].isdigit() else "*" + part
        if piece.startswith("*"):
            if piece < "*final":
                while parts and parts[-1] == "*final-":
                    parts.pop()
            while parts and parts[-1] == "00000000":
                parts.pop()
        parts.append(piece)
    parts.append("*final")
    return tuple(parts)


def _pypi_key(text: str) -> tuple[int, Any]:
    from univers.versions import InvalidVersion as UniversInvalid
    from univers.versions import PypiVersion

    try:
        return (1, PypiVersion(text))
    except UniversInvalid:
        return (0, _legacy_parts(text))


# --------------------------------------------------------------------------------------------------
# Maven: "Version Order Specification" (maven.apache.org/pom.html), as Maven 3.9 implements it
# --------------------------------------------------------------------------------------------------

_MAVEN_KNOWN = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_MAVEN_ALIASES = {"cr": "rc", "ga": "", "final": "", "release": ""}
_MAVEN_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
MavenToken = tuple[str, int | str]  # (prefix, value): int for numbers, str for qualifiers


def _maven_tokens(text: str) -> tuple[MavenToken, ...]:
    """Tokens between '.', '-' and digit/letter transitions (a transition counts as '-'), each with the
    separator before it; qualifiers always carry '-' (Maven 3.9 reads ".qualifier" as "-qualifier")."""
    tokens: list[MavenToken] = []
    parts = re.split(r"([.-])", text.lower())
    for k in range(0, len(parts), 2):
        separator = "" if k == 0 else parts[k - 1]
        pieces = re.findall(r"\d+|\D+", parts[k]) or [""]
        for j, piece in enumerate(pieces):
            prefix = separator if j == 0 else "-"
            value: int | str
            if not piece:
                value = 0  # empty tokens are "0"
            elif piece.isdigit():
                value = int(piece)
            else:
                # "a", "b", "m" stand for alpha, beta, milestone only when a number follows directly
                word = _MAVEN_SHORT.get(piece, piece) if j + 1 < len(pieces) else piece
                value = _MAVEN_ALIASES.get(word, word)
                prefix = "-"
            tokens.append((prefix, value))
    return _maven_trim(tokens)


def _maven_null(token: MavenToken) -> bool:
    return token[1] == 0 or token[1] == ""


def _maven_trim(tokens: list[MavenToken]) -> tuple[MavenToken, ...]:
    # Trailing "null" values (0, "", final, ga) are trimmed from the end, then again before each
    # remaining hyphen, from end to start.
    out = list(tokens)
    i = len(out) - 1
    while i > 0:
        if _maven_null(out[i]):
            out.pop(i)
            i -= 1
            continue
        while i >= 0 and out[i][0] != "-":
            i -= 1
        i -= 1
    return tuple(out)


def _maven_qualifier_rank(value: str) -> tuple[int, str]:
    # alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp < others (lexical)
    if value in _MAVEN_KNOWN:
        return (_MAVEN_KNOWN.index(value), "")
    return (len(_MAVEN_KNOWN), value)


def _maven_token_cmp(a: MavenToken, b: MavenToken) -> int:
    (pa, va), (pb, vb) = a, b
    if pa == pb:
        if isinstance(va, int) and isinstance(vb, int):
            return (va > vb) - (va < vb)
        if isinstance(va, int) or isinstance(vb, int):
            return 1 if isinstance(va, int) else -1  # a number sorts after a qualifier at the same place
        ra, rb = _maven_qualifier_rank(va), _maven_qualifier_rank(vb)
        return (ra > rb) - (ra < rb)
    # "-qualifier" < "-number" < ".number" (qualifiers always carry "-", see _maven_tokens)
    order = {("-", False): 0, ("-", True): 1, (".", True): 2, ("", True): 2, ("", False): 0}
    oa, ob = order[(pa, isinstance(va, int))], order[(pb, isinstance(vb, int))]
    return (oa > ob) - (oa < ob)


def _maven_cmp(a: tuple[MavenToken, ...], b: tuple[MavenToken, ...]) -> int:
    for i in range(max(len(a), len(b))):
        if i < len(a) and i < len(b):
            ta, tb = a[i], b[i]
        elif i < len(a):
            ta = a[i]
            tb = (ta[0], 0 if ta[0] == "." else "")  # padding: "0" after ".", "" after "-"
        else:
            tb = b[i]
            ta = (tb[0], 0 if tb[0] == "." else "")
        result = _maven_token_cmp(ta, tb)
        if result:
            return result
    return 0


def _maven_key(text: str) -> _CmpKey:
    return _CmpKey(_maven_tokens(text), _maven_cmp)


# --------------------------------------------------------------------------------------------------
# dpkg (deb-version(7)): Debian, Ubuntu, Echo; opam uses the same string comparison
# --------------------------------------------------------------------------------------------------


def _dpkg_order(c: str) -> int:
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256 if c else 0


def dpkg_verrevcmp(a: str, b: str) -> int:
    """dpkg's comparison of an upstream version or revision (lib/dpkg/version.c ``verrevcmp``)."""
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and not a[i].isdigit()) or (j < lb and not b[j].isdigit()):
            ac = _dpkg_order(a[i] if i < la else "")
            bc = _dpkg_order(b[j] if j < lb else "")
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and j < lb and a[i].isdigit() and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and a[i].isdigit():
            return 1
        if j < lb and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


def _deb_cmp(a: tuple[int, str, str], b: tuple[int, str, str]) -> int:
    if a[0] != b[0]:
        return -1 if a[0] < b[0] else 1
    return dpkg_verrevcmp(a[1], b[1]) or dpkg_verrevcmp(a[2], b[2])


def _deb_key(text: str) -> _CmpKey:
    # [epoch:]upstream[-revision]; the revision follows the last hyphen (deb-version(7))
    epoch, _, rest = text.partition(":") if re.match(r"^\d+:", text) else ("", "", text)
    upstream, hyphen, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    if (
        not upstream
        or not re.fullmatch(r"[A-Za-z0-9.+~:-]+", upstream)
        or (hyphen and not re.fullmatch(r"[A-Za-z0-9.+~]+", revision))
    ):
        raise InvalidVersion(f"{text[:80]!r} is not a Debian version")
    if ":" in upstream:
        raise InvalidVersion(f"{text[:80]!r} is not a Debian version")
    return _CmpKey((int(epoch or 0), upstream, revision), _deb_cmp)


def _opam_key(text: str) -> _CmpKey:
    # opam compares whole version strings with Debian's algorithm (OpamVersionCompare).
    return _CmpKey(text, dpkg_verrevcmp)


# --------------------------------------------------------------------------------------------------
# apk (apk-tools src/version.c): Alpine, Wolfi, Chainguard, Alpaquita, MinimOS, BellSoft
# --------------------------------------------------------------------------------------------------

# token kinds in the order apk-tools declares them (the order decides "which version is longer")
_T_INITIAL, _T_DIGIT, _T_LETTER, _T_SUFFIX, _T_SUFFIX_NO, _T_HASH, _T_REVISION, _T_END = range(8)
_APK_SUFFIXES = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1, "cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}
ApkToken = tuple[int, int | str]
_APK_TOKEN = re.compile(r"(\d+)|\.(\d+)|([a-z])|_([a-z]+)|~([0-9a-f]+)|-r(\d+)")


def _apk_tokens(text: str) -> tuple[ApkToken, ...]:
    """Alpine version: digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}; anything else is invalid."""
    tokens: list[ApkToken] = []
    pos, last = 0, -1
    while pos < len(text):
        m = _APK_TOKEN.match(text, pos)
        if m is None:
            raise InvalidVersion(f"{text[:80]!r} is not an apk version")
        initial, dotted, letter, suffix, commit, revision = m.groups()
        if initial is not None:
            if last == -1:
                kind, value = _T_INITIAL, initial
            elif last == _T_SUFFIX:
                kind, value = _T_SUFFIX_NO, initial
            else:
                raise InvalidVersion(f"{text[:80]!r} is not an apk version")
        elif dotted is not None:
            if last not in (_T_INITIAL, _T_DIGIT):
                raise InvalidVersion(f"{text[:80]!r} is not an apk version")
            kind, value = _T_DIGIT, dotted
        elif letter is not None:
            if last not in (_T_INITIAL, _T_DIGIT):
                raise InvalidVersion(f"{text[:80]!r} is not an apk version")
            kind, value = _T_LETTER, letter
        elif suffix is not None:
            if last in (-1, _T_HASH, _T_REVISION) or suffix not in _APK_SUFFIXES:
                raise InvalidVersion(f"{text[:80]!r} is not an apk version")
            kind, value = _T_SUFFIX, suffix
        elif commit is not None:
            if last in (-1, _T_HASH, _T_REVISION):
                raise InvalidVersion(f"{text[:80]!r} is not an apk version")
            kind, value = _T_HASH, commit
        else:
            if last in (-1, _T_REVISION):
                raise InvalidVersion(f"{text[:80]!r} is not an apk version")
            kind, value = _T_REVISION, revision
        tokens.append((kind, value))
        last, pos = kind, m.end()
    if not tokens:
        raise InvalidVersion(f"{text[:80]!r} is not an apk version")
    return tuple(tokens)


def _apk_token_cmp(kind: int, a: str, b: str) -> int:
    if kind == _T_DIGIT and (a[0] == "0" or b[0] == "0"):
        return (a > b) - (a < b)  # a leading zero: string comparison, as Gentoo's spec says
    if kind in (_T_INITIAL, _T_DIGIT, _T_SUFFIX_NO, _T_REVISION):
        x, y = int(a), int(b)
    elif kind == _T_SUFFIX:
        x, y = _APK_SUFFIXES[a], _APK_SUFFIXES[b]
    elif kind == _T_LETTER:
        x, y = ord(a), ord(b)
    else:
        return (a > b) - (a < b)
    return (x > y) - (x < y)


def _apk_cmp(a: tuple[ApkToken, ...], b: tuple[ApkToken, ...]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n][0] == b[n][0]:
        result = _apk_token_cmp(a[n][0], str(a[n][1]), str(b[n][1]))
        if result:
            return result
        n += 1
    ka = a[n][0] if n < len(a) else _T_END
    kb = b[n][0] if n < len(b) else _T_END
    if ka == kb:
        return 0
    # the longer version is newer, unless what it has more of is a pre-release suffix
    if ka == _T_SUFFIX and _APK_SUFFIXES[str(a[n][1])] < 0:
        return -1
    if kb == _T_SUFFIX and _APK_SUFFIXES[str(b[n][1])] < 0:
        return 1
    return -1 if ka > kb else 1


def _apk_key(text: str) -> _CmpKey:
    return _CmpKey(_apk_tokens(text), _apk_cmp)


# --------------------------------------------------------------------------------------------------
# Packagist: PHP's version_compare() (php-src ext/standard/versioning.c), which Composer compares with
# --------------------------------------------------------------------------------------------------

# In the order php-src looks them up; a part matches the first name it starts with ("patch" is "p").
_PHP_SPECIAL = (("dev", 0), ("alpha", 1), ("a", 1), ("beta", 2), ("b", 2), ("RC", 3), ("rc", 3), ("#", 4),
                ("pl", 5), ("p", 5))  # fmt: skip


def _php_canonical(text: str) -> tuple[str, ...]:
    # php-src ext/standard/versioning.c: '-', '_', '+' become '.', a '.' goes between digits and
    # non-digits; OSV drops one leading "v" first.
    text = text[1:] if text.startswith("v") else text
    text = re.sub(r"[-_+]", ".", text)
    text = re.sub(r"([^\d.])(\d)", r"\1.\2", text)
    text = re.sub(r"(\d)([^\d.])", r"\1.\2", text)
    return tuple(text.split("."))


def _php_form(part: str) -> int:
    return next((order for name, order in _PHP_SPECIAL if part.startswith(name)), -1)


def _php_special(a: str, b: str) -> int:
    # any string not listed < dev < alpha = a < beta = b < RC = rc < # (a number) < pl = p
    x, y = _php_form(a), _php_form(b)
    return (x > y) - (x < y)


def _php_cmp(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    for x, y in zip(a, b, strict=False):
        if x.isdigit() and y.isdigit():
            result = (int(x) > int(y)) - (int(x) < int(y))
        elif not x.isdigit() and not y.isdigit():
            result = _php_special(x, y)
        else:
            result = _php_special("#", y) if x.isdigit() else _php_special(x, "#")
        if result:
            return result
    if len(a) > len(b):
        return 1 if a[len(b)].isdigit() else _php_cmp(a[len(b) :], ("#",))
    if len(a) < len(b):
        return -1 if b[len(a)].isdigit() else _php_cmp(("#",), b[len(a) :])
    return 0


def _packagist_key(text: str) -> _CmpKey:
    return _CmpKey(_php_canonical(text), _php_cmp)


# --------------------------------------------------------------------------------------------------
# univers, where it agrees with the ecosystem
# --------------------------------------------------------------------------------------------------


def _univers(class_name: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        from univers import versions

        cls = getattr(versions, class_name)
        try:
            return cls(text)
        except versions.InvalidVersion as exc:
            raise InvalidVersion(str(exc)[:200]) from None

    return parse


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------

SEMVER = Scheme("SemVer 2.0.0", "forewarn", _semver_loose_key)
_SEMVER_LIKE_SCHEME = Scheme("SemVer-like", "forewarn", _semver_like_key)
_DPKG = Scheme("dpkg", "forewarn", _deb_key)
_RPM = Scheme("RPM", "univers", _univers("RpmVersion"))
_APK_SCHEME = Scheme("apk", "forewarn", _apk_key)

_SCHEMES: dict[str, Scheme] = {
    "npm": SEMVER,
    "crates.io": SEMVER,
    "Go": SEMVER,
    "Hex": SEMVER,
    "SwiftURL": SEMVER,
    "Bitnami": SEMVER,
    "Julia": SEMVER,
    "GitHub Actions": _SEMVER_LIKE_SCHEME,
    "VSCode": _SEMVER_LIKE_SCHEME,
    "GHC": _SEMVER_LIKE_SCHEME,
    "PyPI": Scheme("PEP 440 (legacy versions first)", "forewarn+univers", _pypi_key),
    "Maven": Scheme("Maven", "forewarn", _maven_key),
    "NuGet": Scheme("NuGet", "univers", _univers("NugetVersion")),
    "RubyGems": Scheme("RubyGems", "univers", _univers("RubygemsVersion")),
    "ConanCenter": Scheme("Conan", "univers", _univers("ConanVersion")),
    "Packagist": Scheme("PHP version_compare", "forewarn", _packagist_key),
    "Pub": Scheme("pub_semver", "forewarn", _pub_key),
    "CRAN": Scheme("R package_version", "forewarn", _cran_key),
    "Bioconductor": Scheme("R package_version", "forewarn", _cran_key),
    "Hackage": Scheme("Cabal version", "forewarn", _hackage_key),
    "opam": Scheme("opam", "forewarn", _opam_key),
    "Debian": _DPKG,
    "Ubuntu": _DPKG,
    "Echo": _DPKG,
    **dict.fromkeys(
        (
            "Red Hat",
            "AlmaLinux",
            "Rocky Linux",
            "SUSE",
            "openSUSE",
            "Mageia",
            "openEuler",
            "Azure Linux",
            "Photon OS",
        ),
        _RPM,
    ),
    **dict.fromkeys(
        ("Alpine", "Wolfi", "Chainguard", "Alpaquita", "MinimOS", "BellSoft Hardened Containers"), _APK_SCHEME
    ),
}


def scheme_for(ecosystem: str) -> Scheme | None:
    """The version ordering of *ecosystem* (suffix ignored), or ``None`` when forewarn knows none
    (Android, Linux, OSS-Fuzz, GIT, Kubernetes, ...: their advisories match through ``versions``)."""
    return _SCHEMES.get(split_ecosystem(ecosystem)[0])


def schemes() -> dict[str, Scheme]:
    """Every ecosystem with an ordering, and its scheme (for documentation and tests)."""
    return dict(_SCHEMES)
