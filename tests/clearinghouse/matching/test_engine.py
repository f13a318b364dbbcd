"""The matcher: the index by (ecosystem, package), withdrawn and revised advisories, the ecosystem suffix
rule, source packages of distribution binaries, one evaluation per distinct package version, and
undecidable evaluations reported rather than dropped."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
from forewarn.clearinghouse.advisories.osv import from_osv
from forewarn.clearinghouse.advisories.schemas import Advisory, Affected, Package, ProductStatus
from forewarn.clearinghouse.inventory.sbom import parse_sbom
from forewarn.clearinghouse.inventory.schemas import Component
from forewarn.clearinghouse.matching.engine import (
    AdvisoryIndex,
    PackageVersion,
    match_components,
    package_keys,
    suffixes_compatible,
)

FIXTURES = Path(__file__).parents[1] / "inventory" / "fixtures"


def record(
    id_: str,
    ecosystem: str,
    name: str,
    events: list[dict[str, str]] | None = None,
    *,
    versions: list[str] | None = None,
    range_type: str = "ECOSYSTEM",
    modified: str = "2024-01-01T00:00:00Z",
    **extra: Any,
) -> Advisory:
    entry: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events is not None:
        entry["ranges"] = [{"type": range_type, "events": events}]
    if versions is not None:
        entry["versions"] = versions
    return from_osv(
        {"schema_version": "1.7.4", "id": id_, "modified": modified, "affected": [entry], **extra}
    )


def component(ecosystem: str, package: str, version: str, **extra: Any) -> Component:
    return Component(location=f"/{package}", ecosystem=ecosystem, package=package, version=version, **extra)


def matched(index: AdvisoryIndex, *components: Component) -> set[tuple[str, str, str]]:
    report = match_components(index, list(components))
    return {(m.component.package or "", m.advisory.id, m.via) for m in report.matches}


FIXED_IN_U4 = [{"introduced": "0"}, {"fixed": "1.1.1n-0+deb11u4"}]


def test_index_keys_and_lookup() -> None:
    advisory = record(
        "GHSA-1", "PyPI", "Products.PluggableAuthService", [{"introduced": "0"}, {"fixed": "2.6.1"}]
    )
    assert package_keys(advisory) == {("PyPI", "products-pluggableauthservice")}
    index = AdvisoryIndex.build([advisory])
    assert len(index) == 1 and "GHSA-1" in index
    assert index.has_package("PyPI", "products-pluggableauthservice")
    assert matched(index, component("PyPI", "products-pluggableauthservice", "2.6.0")) == {
        ("products-pluggableauthservice", "GHSA-1", "package")
    }
    assert not matched(index, component("PyPI", "products-pluggableauthservice", "2.6.1"))
    assert not matched(index, component("npm", "products-pluggableauthservice", "2.6.0"))


def test_withdrawn_advisories_are_not_indexed_and_withdraw_earlier_revisions() -> None:
    live = record("GHSA-2", "npm", "left-pad", [{"introduced": "0"}])
    withdrawn = record(
        "GHSA-2",
        "npm",
        "left-pad",
        [{"introduced": "0"}],
        modified="2024-02-01T00:00:00Z",
        withdrawn="2024-02-01T00:00:00Z",
    )
    assert package_keys(withdrawn) == set()
    index = AdvisoryIndex.build([live])
    assert matched(index, component("npm", "left-pad", "1.0.0"))
    assert index.add(withdrawn) is False
    assert "GHSA-2" not in index and not matched(index, component("npm", "left-pad", "1.0.0"))


def test_revisions_replace_older_ones_and_never_newer_ones() -> None:
    old = record("GHSA-3", "npm", "qs", [{"introduced": "0"}, {"fixed": "6.7.3"}])
    new = record(
        "GHSA-3", "npm", "qs", [{"introduced": "0"}, {"fixed": "6.7.1"}], modified="2024-03-01T00:00:00Z"
    )
    index = AdvisoryIndex.build([old, new])
    assert not matched(index, component("npm", "qs", "6.7.2"))
    assert index.add(old) is False  # older than the one held
    assert not matched(index, component("npm", "qs", "6.7.2"))
    index.remove("GHSA-3")
    assert len(index) == 0 and not index.has_package("npm", "qs")


def test_only_affected_statuses_are_indexed() -> None:
    affected = Affected(package=Package(ecosystem="npm", name="a"), versions=("1.0.0",))
    not_affected = Affected(
        package=Package(ecosystem="npm", name="b"),
        versions=("1.0.0",),
        status=ProductStatus.KNOWN_NOT_AFFECTED,
    )
    fixed = Affected(
        package=Package(ecosystem="npm", name="c"), versions=("1.0.0",), status=ProductStatus.FIXED
    )
    product_only = Affected(product_id="CSAFPID-1", product_name="Appliance 4")
    advisory = Advisory(
        id="CSAF-1", modified="2024-01-01T00:00:00Z", affected=(affected, not_affected, fixed, product_only)
    )
    assert package_keys(advisory) == {("npm", "a")}
    index = AdvisoryIndex.build([advisory])
    assert matched(index, *(component("npm", n, "1.0.0") for n in "abc")) == {("a", "CSAF-1", "package")}


@pytest.mark.parametrize(
    ("advisory_ecosystem", "component_ecosystem", "applies"),
    [
        ("Debian:11", "Debian:11", True),
        ("Debian:11", "Debian:12", False),
        ("Debian:11", "Debian", True),
        ("Debian", "Debian:12", True),
        ("Ubuntu:Pro:22.04:LTS", "Ubuntu:22.04", True),
        ("Ubuntu:22.04:LTS", "Ubuntu:24.04", False),
        ("Alpine:v3.19", "Alpine:v3.19", True),
        ("Alpine:v3.18", "Alpine:v3.19", False),
        ("Maven:https://maven.google.com", "Maven", True),
    ],
)
def test_ecosystem_suffix_rule(advisory_ecosystem: str, component_ecosystem: str, applies: bool) -> None:
    name = "com.google:lib" if advisory_ecosystem.startswith("Maven") else "pkg"
    index = AdvisoryIndex.build([record("OSV-2024-1", advisory_ecosystem, name, versions=["1.0"])])
    assert bool(matched(index, component(component_ecosystem, name, "1.0"))) is applies


def test_suffix_rule_helper() -> None:
    assert suffixes_compatible("Debian", None, "11") and suffixes_compatible("Debian", "11", None)
    assert not suffixes_compatible("Debian", "11", "12")
    assert suffixes_compatible("Maven", "https://a", "https://b")


def test_distribution_binaries_match_through_their_source_package() -> None:
    inventory = parse_sbom((FIXTURES / "debian-1.6.json").read_bytes())
    advisories = [
        record("DSA-5343-1", "Debian:11", "openssl", FIXED_IN_U4),
        record("DSA-5000-1", "Debian:12", "openssl", FIXED_IN_U4),  # another release: not ours
        record("DLA-3000-1", "Debian:11", "glibc", [{"introduced": "0"}, {"fixed": "2.31-13+deb11u6"}]),
        record("DSA-1-1", "Debian:11", "zlib", [{"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-2+deb11u2"}]),
        record("ALPINE-CVE-1", "Alpine:v3.19", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r6"}]),
        record("RHSA-2023:1", "Red Hat", "openssl", [{"introduced": "0"}, {"fixed": "1:1.1.1k-9.el8_7"}]),
    ]
    report = match_components(AdvisoryIndex.build(advisories), inventory.components)
    found = {(m.component.package, m.advisory.id, m.via, m.fixed) for m in report.matches}
    assert found == {
        ("libssl1.1", "DSA-5343-1", "source", ("1.1.1n-0+deb11u4",)),
        ("openssl", "DSA-5343-1", "package", ("1.1.1n-0+deb11u4",)),
        ("libc6", "DLA-3000-1", "source", ("2.31-13+deb11u6",)),
        ("libcrypto3", "ALPINE-CVE-1", "source", ("3.1.4-r6",)),
        ("openssl-libs", "RHSA-2023:1", "source", ("1:1.1.1k-9.el8_7",)),
    }
    # a matcher that looks at binary names only misses every one found "via source"
    binary_only = [
        c.model_copy(update={"source_package": None, "source_version": None}) for c in inventory.components
    ]
    report = match_components(AdvisoryIndex.build(advisories), binary_only)
    assert {(m.component.package, m.advisory.id) for m in report.matches} == {("openssl", "DSA-5343-1")}


def test_package_and_source_hits_of_one_advisory_are_one_match() -> None:
    index = AdvisoryIndex.build([record("OSV-2024-2", "Debian", "openssl", versions=["1.0-1"])])
    both = component("Debian", "openssl", "1.0-1", source_package="openssl", source_version="1.0-1")
    renamed = component("Debian", "openssl", "1.0-1", source_package="openssl-src")
    index.add(record("OSV-2024-3", "Debian", "openssl-src", versions=["1.0-1"]))
    report = match_components(index, [both, renamed])
    assert [(m.component is both, m.advisory.id, m.via) for m in report.matches] == [
        (True, "OSV-2024-2", "package"),
        (False, "OSV-2024-2", "package"),
        (False, "OSV-2024-3", "source"),
    ]


def test_each_distinct_package_version_is_evaluated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    index = AdvisoryIndex.build(
        [record("OSV-2024-4", "npm", "lodash", [{"introduced": "0"}, {"fixed": "4.17.21"}])]
    )
    calls: list[PackageVersion] = []
    real = AdvisoryIndex.evaluate

    def spy(self: AdvisoryIndex, target: PackageVersion) -> Any:
        calls.append(target)
        return real(self, target)

    monkeypatch.setattr(AdvisoryIndex, "evaluate", spy)
    components = [component("npm", "lodash", "4.17.20") for _ in range(500)]
    components += [component("npm", "lodash", "4.17.21") for _ in range(500)]
    report = match_components(index, components)
    assert len(report.matches) == 500 and report.evaluated == 2
    assert sorted(c.version for c in calls) == ["4.17.20", "4.17.21"]


def test_undecidable_evaluations_are_reported() -> None:
    index = AdvisoryIndex.build(
        [
            record("OSV-2024-10", "Linux", "Kernel", [{"introduced": "5.10"}, {"fixed": "5.10.100"}]),
            record("OSV-2024-11", "npm", "weird", [{"introduced": "1.0.0"}], range_type="SEMVER"),
        ]
    )
    report = match_components(
        index, [component("Linux", "Kernel", "5.10.50"), component("npm", "weird", "1.0")]
    )
    assert not report.matches
    assert {(u.component.package, u.advisory_id) for u in report.undetermined} == {
        ("Kernel", "OSV-2024-10"),
        ("weird", "OSV-2024-11"),
    }
    assert "no version ordering" in report.undetermined[0].reason


def test_unscannable_components_are_ignored_by_the_matcher() -> None:
    index = AdvisoryIndex.build([record("OSV-2024-5", "npm", "a", [{"introduced": "0"}])])
    nameless = Component(location="/x", name="a")
    assert match_components(index, [nameless]).matches == ()


def test_ranked_packages_follow_additions_and_removals() -> None:
    """A package's ranks (built at its first evaluation, or by ``rank_all``) are rebuilt when one of
    its advisories is added, revised or removed: a new event version ranks among the others."""
    index = AdvisoryIndex.build(
        [record("GHSA-r1", "PyPI", "rankedlib", [{"introduced": "1.0"}, {"fixed": "1.5"}])]
    )
    index.rank_all()
    assert matched(index, component("PyPI", "rankedlib", "1.2")) == {("rankedlib", "GHSA-r1", "package")}
    assert not matched(index, component("PyPI", "rankedlib", "1.7"))
    index.add(record("GHSA-r2", "PyPI", "rankedlib", [{"introduced": "1.6"}, {"fixed": "1.8"}]))
    assert matched(index, component("PyPI", "rankedlib", "1.7")) == {("rankedlib", "GHSA-r2", "package")}
    index.add(
        record(
            "GHSA-r1",
            "PyPI",
            "rankedlib",
            [{"introduced": "1.3"}, {"fixed": "1.5"}],
            modified="2024-02-01T00:00:00Z",
        )
    )
    assert not matched(index, component("PyPI", "rankedlib", "1.2"))  # the revision narrowed it
    index.remove("GHSA-r2")
    assert not matched(index, component("PyPI", "rankedlib", "1.7"))


_VERSIONS = [
    "0",
    "1.0",
    "1.0.0",
    "1.2",
    "1.2.1",
    "1.10",
    "2.0rc1",
    "2.0",
    "2.0.post1",
    "3!1.0",
    "not a version",
]


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(
        st.tuples(
            st.lists(
                st.tuples(
                    st.sampled_from(["introduced", "fixed", "last_affected"]), st.sampled_from(_VERSIONS)
                ),
                min_size=1,
                max_size=4,
            ),
            st.lists(st.sampled_from(_VERSIONS), max_size=2),  # versions listed (then not a sole range)
            st.booleans(),  # a second, SEMVER range (then not a sole range either)
        ),
        min_size=1,
        max_size=6,
    ),
    version=st.sampled_from([*_VERSIONS, "1.1", "1.5", "9"]),
)
def test_the_ranked_index_agrees_with_each_entry_evaluated_alone(
    entries: list[tuple[list[tuple[str, str]], list[str], bool]], version: str
) -> None:
    """The index's evaluation (ranks, and one ranking per version for entries that are a single
    ECOSYSTEM range) gives what each advisory's entry says evaluated on its own (OSV §Evaluation)."""
    from forewarn.clearinghouse.matching.ranges import Verdict, compile_affected

    advisories = []
    for n, (events, listed, semver) in enumerate(entries):
        walk = [{"introduced": events[0][1]}, *({k: v} for k, v in events[1:])]  # OSV: one introduced
        ranges: list[dict[str, Any]] = [{"type": "ECOSYSTEM", "events": walk}]
        if semver:
            ranges.append({"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]})
        affected = {"package": {"ecosystem": "PyPI", "name": "proplib"}, "ranges": ranges, "versions": listed}
        doc = {"schema_version": "1.7.4", "id": f"GHSA-p{n}", "modified": "2024-01-01T00:00:00Z"}
        with contextlib.suppress(InvalidAdvisory):  # a walk the record's checks refuse is not indexed
            advisories.append(from_osv({**doc, "affected": [affected]}))
    assume(advisories)
    index = AdvisoryIndex.build(advisories)
    got = {
        f.advisory_id: (f.evaluation.verdict, f.evaluation.fixed, f.evaluation.reason)
        for f in index.evaluate(PackageVersion("PyPI", "proplib", version))
    }
    want = {}
    for advisory in advisories:
        evaluation = compile_affected(advisory.affected[0], "PyPI").evaluate(version)
        if evaluation.verdict is not Verdict.NOT_AFFECTED:
            want[advisory.id] = (evaluation.verdict, evaluation.fixed, evaluation.reason)
    assert got == want
