"""Version orderings per ecosystem, against each ecosystem's own rules: ordered lists and equalities from
the specifications (semver.org §11, PEP 440, Maven's ComparableVersionTest, deb-version(7), rpm, apk-tools,
php-src, pub_semver, R, Cabal), and property tests against independent oracles (semantic_version for
SemVer, dpkg itself for Debian, a reference rpmvercmp for RPM)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forewarn.clearinghouse.matching.versions import SEMVER, InvalidVersion, Scheme, scheme_for, schemes


def scheme(ecosystem: str) -> Scheme:
    found = scheme_for(ecosystem)
    assert found is not None
    return found


DPKG = scheme("Debian")
RPM = scheme("Red Hat")


def ascending(ecosystem: str, versions: list[str]) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    for i, low in enumerate(versions):
        for high in versions[i + 1 :]:
            assert scheme.compare(low, high) == -1, f"{ecosystem}: expected {low} < {high}"
            assert scheme.compare(high, low) == 1, f"{ecosystem}: expected {high} > {low}"


def equal(ecosystem: str, pairs: list[tuple[str, str]]) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    for a, b in pairs:
        assert scheme.compare(a, b) == 0, f"{ecosystem}: expected {a} == {b}"


def invalid(ecosystem: str, versions: list[str]) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    for text in versions:
        with pytest.raises(InvalidVersion):
            scheme.parse(text)


# --------------------------------------------------------------------------------------------------
# SemVer 2.0.0 (npm, crates.io, Go, Hex, ...; and every SEMVER range)
# --------------------------------------------------------------------------------------------------


def test_semver_precedence() -> None:
    # semver.org §11.4's example, then the numeric parts
    ascending(
        "npm",
        [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "1.10.0",
            "2.0.0-0",
            "2.0.0",
        ],
    )
    equal("npm", [("1.0.0+build.1", "1.0.0+build.2"), ("1.0.0", "1.0.0+x"), ("1.0.0-rc.1+a", "1.0.0-rc.1")])
    equal("Go", [("v1.2.3", "1.2.3"), ("v2.0.0+incompatible", "v2.0.0")])
    ascending(
        "Go", ["v0.0.0-20200101000000-abcdefabcdef", "v0.0.1", "v1.0.0-20200101000000-abcdefabcdef", "v1.0.0"]
    )
    invalid("npm", ["1.2", "01.2.3", "1.2.3.4", "1.0.0-01", "1.0.0-", "1.0.0+", " 1.0.0", "v", "1.0.0 "])


def test_semver_loose_prefix_is_one_v_or_equals() -> None:
    assert SEMVER.compare("=1.0.0", "v1.0.0") == 0
    with pytest.raises(InvalidVersion):
        SEMVER.parse("vv1.0.0")


NUMBER = st.integers(min_value=0, max_value=30).map(str)
IDENT = st.one_of(NUMBER, st.text("abcxyzABC-", min_size=1, max_size=4).filter(lambda s: not s.isdigit()))
SEMVERS = st.builds(
    lambda ma, mi, pa, pre: f"{ma}.{mi}.{pa}" + (f"-{'.'.join(pre)}" if pre else ""),
    NUMBER,
    NUMBER,
    NUMBER,
    st.lists(IDENT, max_size=3),
)


@given(SEMVERS, SEMVERS)
def test_semver_agrees_with_semantic_version(a: str, b: str) -> None:
    import semantic_version

    x, y = semantic_version.Version(a), semantic_version.Version(b)
    expected = -1 if x < y else (1 if y < x else 0)
    assert SEMVER.compare(a, b) == expected


@given(SEMVERS, st.text("abc123.-", min_size=1, max_size=6).filter(lambda s: all(s.split("."))))
def test_semver_ignores_build_metadata(version: str, build: str) -> None:
    assert SEMVER.compare(version, f"{version}+{build}") == 0


# --------------------------------------------------------------------------------------------------
# PyPI: PEP 440, legacy versions first
# --------------------------------------------------------------------------------------------------


def test_pep440_ordering() -> None:
    ascending(
        "PyPI",
        [
            "0.1",
            "1.0.dev0",
            "1.0a1",
            "1.0a2.dev1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+local",
            "1.0.post1",
            "1.1",
            "2.0",
            "1!0.1",
        ],
    )
    equal("PyPI", [("1.0", "1.0.0"), ("1.0rc1", "1.0-rc.1"), ("1.0.0-beta.1", "1.0.0b1"), ("v1.0", "1.0")])


def test_legacy_pypi_versions_sort_before_pep440_ones() -> None:
    # pip's packaging < 22 (LegacyVersion), which OSV keeps for PyPI records with such versions
    ascending("PyPI", ["1.0-legacy", "2004d", "2004e", "2005.x", "0.0.1", "1.0"])
    invalid("PyPI", ["1.0 beta"])


# --------------------------------------------------------------------------------------------------
# Maven (Apache Maven 3.9 ComparableVersionTest's ordered lists and equalities)
# --------------------------------------------------------------------------------------------------

MAVEN_QUALIFIERS = [
    "1-alpha2snapshot",
    "1-alpha2",
    "1-alpha-123",
    "1-beta-2",
    "1-beta123",
    "1-m2",
    "1-m11",
    "1-rc",
    "1-cr2",
    "1-rc123",
    "1-SNAPSHOT",
    "1",
    "1-sp",
    "1-sp2",
    "1-sp123",
    "1-abc",
    "1-def",
    "1-pom-1",
    "1-1-snapshot",
    "1-1",
    "1-2",
    "1-123",
]
MAVEN_NUMBERS = [
    "2.0",
    "2.0.a",
    "2-1",
    "2.0.2",
    "2.0.123",
    "2.1.0",
    "2.1-a",
    "2.1b",
    "2.1-c",
    "2.1-1",
    "2.1.0.1",
    "2.2",
    "2.123",
    "11.a2",
    "11.a11",
    "11.b2",
    "11.b11",
    "11.m2",
    "11.m11",
    "11",
    "11.a",
    "11b",
    "11c",
    "11m",
]


def test_maven_ordering() -> None:
    ascending("Maven", MAVEN_QUALIFIERS)
    ascending("Maven", MAVEN_NUMBERS)
    ascending("Maven", ["1-sp-1", "1-ga-1", "1.1"])
    ascending("Maven", ["1-foo2", "1-foo10"])
    ascending("Maven", ["4.9.9.RELEASE", "5.0.0.RELEASE", "5.0.1"])
    ascending("Maven", ["6.1.0rc3", "6.1.0", "6.1H.5-beta"])


def test_maven_equalities() -> None:
    equal(
        "Maven",
        [
            ("1", "1.0"),
            ("1", "1.0.0"),
            ("1", "1-0"),
            ("1", "1.0-0"),
            ("1a", "1-a"),
            ("1a", "1.0.0-a"),
            ("1.0x", "1-x"),
            ("1ga", "1"),
            ("1release", "1"),
            ("1final", "1"),
            ("1cr", "1rc"),
            ("1a1", "1-alpha-1"),
            ("1b2", "1-beta-2"),
            ("1m3", "1-milestone-3"),
            ("1X", "1x"),
            ("1RELEASE", "1"),
            ("1m3", "1MILESTONE3"),
            ("1.foo", "1-foo"),
            ("2.0.0.Final", "2.0.0"),
            ("1-ga-1", "1-1"),
        ],
    )


# --------------------------------------------------------------------------------------------------
# Debian (deb-version(7)), checked against dpkg itself when it is installed
# --------------------------------------------------------------------------------------------------


def test_debian_ordering() -> None:
    ascending(
        "Debian",
        [
            "0.9",
            "1.0~~",
            "1.0~rc1",
            "1.0",
            "1.0-0.1",
            "1.0-1",
            "1.0-1ubuntu1",
            "1.0-1+deb11u1",
            "1.0a",
            "1.0+b1",
            "1.0.1",
            "1:0.1",
        ],
    )
    equal(
        "Ubuntu", [("1.0", "1.00"), ("1.0-0", "1.0"), ("0:1.0", "1.0"), ("1.0-01", "1.0-1"), ("1.01", "1.1")]
    )
    invalid("Debian", ["1.0 1", "a:1.0", "1.0-", "1.0-a_b"])


DEB_VERSIONS = st.builds(
    lambda epoch, upstream, revision: f"{epoch}{upstream}{revision}",
    st.sampled_from(["", "", "1:", "0:"]),
    st.from_regex(r"[0-9][0-9a-z.+~]{0,6}", fullmatch=True),
    st.sampled_from(["", "-1", "-0", "-1+b1", "-2ubuntu1", "-1~bpo1", "-0.1"]),
)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DEB_VERSIONS, DEB_VERSIONS)
def test_debian_agrees_with_dpkg(a: str, b: str) -> None:
    def holds(op: str) -> bool:
        return subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0

    expected = -1 if holds("lt") else (1 if holds("gt") else 0)
    assert DPKG.compare(a, b) == expected


# --------------------------------------------------------------------------------------------------
# RPM (univers), checked against a reference rpmvercmp
# --------------------------------------------------------------------------------------------------


def rpmvercmp(a: str, b: str) -> int:
    """rpm's rpmio/rpmvercmp.c, transcribed: ``~`` sorts before everything, ``^`` after the end only."""
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not (a[i].isascii() and a[i].isalnum()) and a[i] not in "~^":
            i += 1
        while j < len(b) and not (b[j].isascii() and b[j].isalnum()) and b[j] not in "~^":
            j += 1
        ca, cb = a[i : i + 1], b[j : j + 1]
        if "~" in (ca, cb):
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if "^" in (ca, cb):
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (ca and cb):
            break
        kind = str.isdigit if ca.isdigit() else str.isalpha
        si, sj = i, j
        while i < len(a) and a[i].isascii() and kind(a[i]):
            i += 1
        while j < len(b) and b[j].isascii() and kind(b[j]):
            j += 1
        sa, sb = a[si:i], b[sj:j]
        if not sb:
            return 1 if kind is str.isdigit else -1
        if kind is str.isdigit:
            sa, sb = sa.lstrip("0"), sb.lstrip("0")
            if len(sa) != len(sb):
                return 1 if len(sa) > len(sb) else -1
        if sa != sb:
            return 1 if sa > sb else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def evr_cmp(a: str, b: str) -> int:
    def split(text: str) -> tuple[int, str, str]:
        epoch, colon, rest = text.partition(":")
        if not colon:
            epoch, rest = "0", text
        version, _, release = rest.partition("-")
        return int(epoch), version, release

    (ea, va, ra), (eb, vb, rb) = split(a), split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return rpmvercmp(va, vb) or rpmvercmp(ra, rb)


def test_rpm_ordering() -> None:
    ascending(
        "Red Hat",
        [
            "0.9-1",
            "1.0~rc1-1",
            "1.0-1",
            "1.0-1.el8",
            "1.0-1.el8_7",
            "1.0-2",
            "1.0^git1-1",
            "1.0a-1",
            "1.0.1-1",
            "1:0.1-1",
        ],
    )
    equal("AlmaLinux", [("1.01-1", "1.1-1"), ("0:1.0-1", "1.0-1"), ("1.0a-1", "1.0.a-1")])


RPM_VERSIONS = st.builds(
    lambda epoch, version, release: f"{epoch}{version}{release}",
    st.sampled_from(["", "", "1:", "2:"]),
    st.from_regex(r"[0-9][0-9a-z.~^_+]{0,6}", fullmatch=True),
    st.from_regex(r"(-[0-9a-z._~^]{1,5})?", fullmatch=True),
)


@given(RPM_VERSIONS, RPM_VERSIONS)
def test_rpm_agrees_with_rpmvercmp(a: str, b: str) -> None:
    assert RPM.compare(a, b) == evr_cmp(a, b)


# --------------------------------------------------------------------------------------------------
# apk (apk-tools src/version.c)
# --------------------------------------------------------------------------------------------------


def test_apk_ordering() -> None:
    ascending(
        "Alpine",
        [
            "1.0_alpha",
            "1.0_alpha1",
            "1.0_beta",
            "1.0_pre1",
            "1.0_rc1",
            "1.0",
            "1.0-r1",
            "1.0-r10",
            "1.0_cvs1",
            "1.0_svn1",
            "1.0_git20200101",
            "1.0_hg1",
            "1.0_p",
            "1.0_p0",
            "1.0_p9",
            "1.0_p10",
            "1.0a",
            "1.0b",
            "1.0.1",
            "1.01.1",
            "1.1",
            "2",
        ],
    )
    ascending("Wolfi", ["0.06", "0.060", "0.6"])
    ascending("Chainguard", ["1.0-r0", "1.0~abc-r0", "1.0~abd-r0"])
    equal("Alpine", [("1.2.3-r0", "1.2.3-r0"), ("3.1.4-r5", "3.1.4-r05")])
    invalid("Alpine", ["1.0_foo", "1.0-rc1", "a1.0", "1.0-r1-r2", "1.0~xyz", "1..0", ""])


# --------------------------------------------------------------------------------------------------
# The others
# --------------------------------------------------------------------------------------------------


def test_packagist_is_php_version_compare() -> None:
    ascending(
        "Packagist",
        [
            "1.0.0-dev",
            "1.0.0-alpha1",
            "1.0.0-a2",
            "1.0.0-beta2",
            "1.0.0-RC1",
            "1.0.0-rc2",
            "1.0.0",
            "1.0.0.1",
            "1.0.0-patch1",
            "1.0.0-pl2",
        ],
    )
    ascending("Packagist", ["dev-master", "5.2", "5.2.0", "5.10"])
    equal("Packagist", [("v2.0", "2.0"), ("1.0a1", "1.0-alpha1"), ("1.0.0-beta1", "1.0.0.b.1")])


def test_pub_orders_builds_after_releases() -> None:
    ascending("Pub", ["1.0.0-pre", "1.0.0-pre+build", "1.0.0", "1.0.0+build", "1.0.0+build.2", "1.0.1"])


def test_cran_and_hackage() -> None:
    ascending("CRAN", ["1.2", "1.2-1", "1.2-2", "1.2.10", "1.10-0"])
    equal("Bioconductor", [("1.2-3", "1.2.3")])
    invalid("CRAN", ["1", "1.2a"])
    ascending("Hackage", ["1", "1.0", "1.0.0.1", "1.2", "1.10"])
    invalid("Hackage", ["1.0-rc1", "v1"])


def test_nuget_and_rubygems_through_univers() -> None:
    ascending(
        "NuGet", ["1.0.0-alpha", "1.0.0-alpha.2", "1.0.0-alpha.10", "1.0.0-beta", "1.0.0", "1.0.0.1", "1.0.1"]
    )
    equal(
        "NuGet",
        [("1.0.0-Beta", "1.0.0-beta"), ("1.0.0.0", "1.0.0"), ("1.0.0+meta", "1.0.0"), ("1.0", "1.0.0")],
    )
    ascending("RubyGems", ["1.0.0.a", "1.0.0.b1", "1.0.0.pre", "1.0.0.rc1", "1.0.0", "1.0.0.1", "1.1"])
    equal("RubyGems", [("1.0", "1.0.0"), ("1.0.0-rc1", "1.0.0.pre.rc1")])


def test_semver_like_and_opam() -> None:
    ascending("GitHub Actions", ["v1", "v1.1", "1.9.9", "v2-beta", "v2", "2.0.1"])
    equal("GitHub Actions", [("v2", "2.0.0"), ("2.1", "v2.1.0")])
    ascending("opam", ["0.9", "1.0~beta1", "1.0", "1.0.1", "v0.15.0"])


def test_ecosystems_without_an_ordering() -> None:
    for ecosystem in ("Android", "Linux", "OSS-Fuzz", "GIT", "Kubernetes", "Root"):
        assert scheme_for(ecosystem) is None
    assert scheme_for("Debian:11") is scheme_for("Debian")
    assert {s.origin for s in schemes().values()} <= {"forewarn", "forewarn+univers", "univers"}


@pytest.mark.parametrize("ecosystem", sorted(schemes()))
def test_every_scheme_refuses_oversized_and_padded_input(ecosystem: str) -> None:
    invalid(ecosystem, ["1" * 2000, " 1.0", "1.0\n", ""])
