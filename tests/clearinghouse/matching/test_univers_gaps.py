"""Where univers 32 disagrees with an ecosystem's own rules, and what forewarn answers instead.

Each case states the ecosystem's answer (forewarn's), and pins univers' different one. When univers
changes (an upgrade fixes a gap), the univers half fails: update docs/matching.md "univers gaps" and,
if univers is now right, consider letting it order that ecosystem again.
"""

from __future__ import annotations

from typing import Any

import pytest

from forewarn.clearinghouse.matching.versions import InvalidVersion, scheme_for


def univers_cmp(cls_name: str, a: str, b: str) -> Any:
    """-1/0/1, "?" when univers says neither <, > nor ==, "invalid" when it refuses a version."""
    from univers import versions

    cls = getattr(versions, cls_name)
    try:
        x, y = cls(a), cls(b)
    except (versions.InvalidVersion, ValueError):
        return "invalid"
    if x < y:
        return -1
    if y < x:
        return 1
    return 0 if x == y else "?"


GAPS = [
    # ecosystem, univers class, a, b, the ecosystem's answer, univers' answer, why
    ("npm", "SemverVersion", "1.0.0+a", "1.0.0", 0, "?", "SemVer §10: build metadata has no precedence"),
    ("npm", "SemverVersion", "1.0.0-rc.1+b1", "1.0.0-rc.1", 0, "?", "SemVer §10"),
    ("Go", "GolangVersion", "v2.0.0+incompatible", "v2.0.0", 0, "?", "Go: +incompatible is build metadata"),
    ("npm", "SemverVersion", "1.2", "1.2.0", "invalid", 0, "not SemVer; univers coerces it to 1.2.0"),
    ("npm", "SemverVersion", "01.2.3", "1.2.3", "invalid", 0, "SemVer §2: no leading zeros"),
    ("PyPI", "PypiVersion", "2004d", "1.0", -1, "invalid", "legacy versions sort before PEP 440 ones"),
    ("PyPI", "PypiVersion", "1.0 beta", "1.0b0", "invalid", 0, "univers deletes white space"),
    (
        "Maven",
        "MavenVersion",
        "1.0.RELEASE",
        "1.0",
        0,
        1,
        "Maven: release is an alias of the release version",
    ),
    ("Maven", "MavenVersion", "1release", "1", 0, 1, "same"),
    ("Maven", "MavenVersion", "2.0.a", "2-1", -1, 1, "Maven 3.9 reads .qualifier as -qualifier"),
    ("Maven", "MavenVersion", "1.foo", "1-foo", 0, -1, "same"),
    ("Debian", "DebianVersion", "1.0", "1.00", 0, "?", "dpkg: 1.0 and 1.00 are one version"),
    ("Debian", "DebianVersion", "1.0-1", "1.0-01", 0, "?", "same, in the revision"),
    ("Debian", "DebianVersion", "a1", "1", 1, "invalid", "dpkg compares versions not starting with a digit"),
    ("Alpine", "AlpineLinuxVersion", "1.0_git20200101", "1.0", 1, "invalid", "apk: _git is a post-release"),
    (
        "Alpine",
        "AlpineLinuxVersion",
        "1.0_cvs1",
        "1.0_svn1",
        -1,
        "invalid",
        "apk: _cvs < _svn < _git < _hg < _p",
    ),
    ("Alpine", "AlpineLinuxVersion", "1.0~abc123-r0", "1.0-r0", 1, "invalid", "apk: ~commit-hash"),
    ("Alpine", "AlpineLinuxVersion", "006", "1.0.0", 1, "invalid", "apk: leading zeros are allowed"),
    ("Alpine", "AlpineLinuxVersion", "1.0_p", "1.0_p0", -1, 0, "apk: a bare _p sorts before _p0"),
    ("Alpine", "AlpineLinuxVersion", "0.060", "0.06", 1, 0, "apk: leading-zero parts compare as strings"),
    ("Alpine", "AlpineLinuxVersion", "1.0-r0", "1.0", 1, 0, "apk: the version with a revision is longer"),
    ("Packagist", "ComposerVersion", "1.0.0-RC1", "1.0.0-beta1", 1, -1, "PHP: beta < RC"),
    ("Packagist", "ComposerVersion", "1.0-patch1", "1.0", 1, -1, "PHP: patch (p) sorts after the release"),
    ("Packagist", "ComposerVersion", "1.0.0-dev", "1.0.0-alpha", -1, 1, "PHP: dev < alpha"),
    ("Packagist", "ComposerVersion", "1.0.0-alpha1", "1.0.0-a1", 0, 1, "PHP: a is alpha"),
    ("Packagist", "ComposerVersion", "2.1.4.5", "2.1.4", 1, "?", "PHP: four parts"),
    ("Packagist", "ComposerVersion", "dev-master", "1.0", -1, "invalid", "Composer branch versions"),
]


@pytest.mark.parametrize(
    ("ecosystem", "cls", "a", "b", "ours", "theirs", "why"), GAPS, ids=[f"{g[0]}:{g[2]}" for g in GAPS]
)
def test_univers_gap(ecosystem: str, cls: str, a: str, b: str, ours: Any, theirs: Any, why: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    if ours == "invalid":
        with pytest.raises(InvalidVersion):
            scheme.compare(a, b)
    else:
        assert scheme.compare(a, b) == ours, why
    assert univers_cmp(cls, a, b) == theirs, f"univers changed ({why}): update docs/matching.md"


def test_univers_has_no_pub_cran_or_hackage_scheme() -> None:
    from univers.version_range import RANGE_CLASS_BY_SCHEMES

    assert {"pub", "cran", "hackage"}.isdisjoint(RANGE_CLASS_BY_SCHEMES)
    assert (
        scheme_for("Pub") is not None and scheme_for("CRAN") is not None and scheme_for("Hackage") is not None
    )


def test_rpm_epochs_travel_outside_the_purl_version() -> None:
    """univers orders epochs right; the gap is that a purl carries the epoch in ``epoch=``, so the purl's
    version alone would compare as epoch 0. forewarn puts it back when it reads the purl."""
    from forewarn.clearinghouse.inventory.names import from_purl

    assert univers_cmp("RpmVersion", "1:1.0-1", "2.0-1") == 1
    rpm = scheme_for("Red Hat")
    assert rpm is not None
    found = from_purl("pkg:rpm/redhat/openssl@1.1.1k-7.el8?epoch=1")
    assert found.version == "1:1.1.1k-7.el8"
    assert rpm.compare(found.version or "", "1.1.1k-9.el8") == 1
