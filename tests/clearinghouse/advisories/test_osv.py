"""OSV codec: public records round-trip, exports pass the official OSV schema, forewarn's own schema
agrees with the official one, bad records are refused at the right path, and a property test."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.clearinghouse.advisories.edits import edit

from forewarn.clearinghouse.advisories import osv
from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory

TESTDATA = Path(__file__).resolve().parents[4] / "shared" / "testdata"
OSV_DIR = TESTDATA / "osv"
SAMPLES = sorted(p for p in OSV_DIR.glob("*.json") if p.name != "schema.json") if OSV_DIR.is_dir() else []

needs_testdata = pytest.mark.skipif(not SAMPLES, reason="public test data (../shared/testdata/osv) is absent")


@lru_cache(maxsize=1)
def official_validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads((OSV_DIR / "schema.json").read_text()))


def ours_validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(osv.osv_schema())


def normalized(record: dict[str, Any]) -> Any:
    """A record without what carries no information: schema_version, empty lists and objects."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items() if k != "schema_version" and v not in ([], {}, None)}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and value.endswith("Z") and value[:4].isdigit() and "T" in value:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value

    return walk(record)


def sample(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((OSV_DIR / name).read_text())
    return doc


# --- Public records ---------------------------------------------------------------------------------


def test_forewarns_schema_is_a_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(osv.osv_schema())


def test_schema_and_model_know_the_same_ecosystems() -> None:
    pattern = osv.osv_schema()["$defs"]["ecosystem"]["pattern"]
    names = {n.replace("\\.", ".") for n in pattern.removeprefix("^(").removesuffix(")(:.+)?$").split("|")}
    assert names == s.OSV_ECOSYSTEMS


@needs_testdata
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_public_records_round_trip_and_exports_pass_the_official_schema(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert not list(official_validator().iter_errors(doc))
    advisory = osv.from_osv(doc)
    out = osv.to_osv(advisory)
    assert not list(official_validator().iter_errors(out)), path.name
    assert out["schema_version"] == osv.OSV_SCHEMA_VERSION
    assert normalized(out) == normalized(doc)
    assert osv.from_osv(out) == advisory


@needs_testdata
def test_what_the_records_say_is_in_the_model() -> None:
    go = osv.from_osv(sample("GO-2024-2963.json"))
    assert go.aliases == ("CVE-2024-24791",)
    (entry,) = go.affected
    assert entry.package is not None and (entry.package.ecosystem, entry.package.name) == ("Go", "stdlib")
    assert [(e.kind.value, e.version) for e in entry.ranges[0].events] == [
        ("introduced", "0"),
        ("fixed", "1.21.12"),
        ("introduced", "1.22.0-0"),
        ("fixed", "1.22.5"),
    ]
    assert entry.ecosystem_specific is not None and "imports" in entry.ecosystem_specific
    assert [c.name for c in go.credits] == ["Geoff Franks"]
    assert go.references[0].type is s.ReferenceType.FIX

    withdrawn = osv.from_osv(sample("ghsa-withdrawn.osv.json"))
    assert withdrawn.withdrawn == datetime(2018, 10, 11, 17, 29, 49, tzinfo=UTC)
    assert osv.from_osv(sample("ghsa-pypi_normalize.osv.json")).cwes == ("CWE-601",)


@needs_testdata
def test_forewarns_schema_accepts_every_public_record() -> None:
    for path in SAMPLES:
        assert not list(ours_validator().iter_errors(json.loads(path.read_text()))), path.name


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path: list[str | int]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


EVENTS: list[str | int] = ["affected", 0, "ranges", 0, "events"]
MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "no id": _delete(["id"]),
    "no modified": _delete(["modified"]),
    "unknown id prefix": _set(["id"], "NOPE-2024-1"),
    "unknown ecosystem": _set(["affected", 0, "package", "ecosystem"], "Debain"),
    "package without name": _delete(["affected", 0, "package", "name"]),
    "no introduced": _set(EVENTS, [{"fixed": "1.0.0"}]),
    "two keys in an event": _set(EVENTS, [{"introduced": "0", "fixed": "1.0.0"}]),
    "fixed and last_affected": _set(EVENTS, [{"introduced": "0"}, {"fixed": "1"}, {"last_affected": "2"}]),
    "GIT without repo": _set(["affected", 0, "ranges", 0, "type"], "GIT"),
    "GIT short hash": _set(
        ["affected", 0, "ranges", 0],
        {"type": "GIT", "repo": "https://g.example/r", "events": [{"introduced": "abc123"}]},
    ),
    "unknown range type": _set(["affected", 0, "ranges", 0, "type"], "SEMVERISH"),
    "unknown reference type": _set(["references", 0, "type"], "BLOG"),
    "unknown top-level key": _set(["vulnerability"], True),
    "aliases not a list": _set(["aliases"], "CVE-2024-1"),
    "credit without name": _set(["credits"], [{"contact": ["https://x.example"]}]),
    "unknown credit type": _set(["credits"], [{"name": "A", "type": "HERO"}]),
    "severity at both levels": lambda d: d.update(
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        affected=[{**d["affected"][0], "severity": [{"type": "Ubuntu", "score": "low"}]}, *d["affected"][1:]],
    ),
    "CVSS_V3 with a v2 vector": _set(
        ["severity"], [{"type": "CVSS_V3", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}]
    ),
    "Ubuntu priority unknown": _set(["severity"], [{"type": "Ubuntu", "score": "urgent"}]),
    "unknown severity type": _set(["severity"], [{"type": "CVSS_V5", "score": "x"}]),
    "database_specific not an object": _set(["database_specific"], ["x"]),
}


@needs_testdata
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_forewarns_schema_agrees_with_the_official_one(mutation: str) -> None:
    for path in SAMPLES:
        doc = copy.deepcopy(json.loads(path.read_text()))
        MUTATIONS[mutation](doc)
        official = not list(official_validator().iter_errors(doc))
        ours = not list(ours_validator().iter_errors(doc))
        assert official is False, (mutation, path.name)
        assert ours is official, (mutation, path.name)


# --- Bad records --------------------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "schema_version": "1.7.0",
    "id": "GHSA-aaaa-bbbb-cccc",
    "modified": "2024-01-01T00:00:00Z",
    "affected": [
        {
            "package": {"ecosystem": "npm", "name": "left-pad"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.3.0"}]}],
        }
    ],
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
}


def problems_of(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidAdvisory) as info:
        osv.from_osv(doc)
    return [(p.field, p.message) for p in info.value.problems]


def with_(path: list[str | int], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    _set(path, value)(doc)
    return doc


def test_good_record_is_accepted() -> None:
    advisory = osv.from_osv(GOOD)
    assert advisory.severities[0].base_score == 9.8


@pytest.mark.parametrize(
    ("doc", "path", "needle"),
    [
        (with_(["aliases"], "CVE-2024-1"), "/aliases", "is not of type"),
        (with_(["modified"], 1700000000), "/modified", "is not of type 'string'"),
        (with_(["modified"], "yesterday"), "/modified", "does not match"),
        (
            with_(["affected", 0, "package", "ecosystem"], "Debain"),
            "/affected/0/package/ecosystem",
            "does not match",
        ),
        (
            with_(["severity", 0, "score"], "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            "/severity/0/score",
            "malformed CVSS 3.1 vector",
        ),
        (with_(["severity", 0, "score"], "CVSS:3.1/AV:N"), "/severity/0/score", "malformed CVSS 3.1 vector"),
        (
            with_(["affected", 0, "ranges", 0, "events"], [{"introduced": "2.0.0"}, {"fixed": "1.0.0"}]),
            "/affected/0/ranges/0",
            "comes before every introduced",
        ),
        (
            with_(["affected", 0, "ranges", 0, "events"], [{"introduced": "1.0"}]),
            "/affected/0/ranges/0",
            "not a SemVer",
        ),
        (
            with_(["affected", 0, "ranges", 0, "events", 1], {"fixed": "\x01"}),
            "/affected/0/ranges/0/events/1/fixed",
            "should match pattern",
        ),
        (with_(["references"], [{"type": "WEB", "url": "not a url"}]), "/references/0/url", "does not match"),
        (
            with_(["database_specific"], {"forewarn": {"tlp": "PURPLE"}}),
            "/database_specific/forewarn/tlp",
            "must be one of",
        ),
        (
            with_(
                ["database_specific"], {"forewarn": {"ai": {"attack_class": "x", "affected_models": ["m"]}}}
            ),
            "/database_specific/forewarn/ai/attack_class",
            "Input should be",
        ),
    ],
)
def test_bad_records_are_refused_naming_the_path(doc: dict[str, Any], path: str, needle: str) -> None:
    problems = problems_of(doc)
    assert any(p == path and needle in m for p, m in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    doc = with_(["severity", 0, "score"], "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    doc["affected"][0]["ranges"][0]["events"] = [{"introduced": "2.0.0"}, {"fixed": "1.0.0"}]
    assert {p for p, _ in problems_of(doc)} == {"/severity/0/score", "/affected/0/ranges/0"}


def test_counts_are_limited_before_the_schema_runs() -> None:
    doc = with_(["affected"], [{"package": {"ecosystem": "npm", "name": "x"}}] * (s.MAX_AFFECTED + 1))
    assert problems_of(doc) == [("/affected", f"{s.MAX_AFFECTED + 1} items; the limit is {s.MAX_AFFECTED}")]


def test_loads_refuses_malformed_json_and_names_the_problem() -> None:
    with pytest.raises(InvalidAdvisory, match="duplicate key 'id'"):
        osv.loads_osv(b'{"id": "GHSA-a", "id": "GHSA-b", "modified": "2024-01-01T00:00:00Z"}')
    with pytest.raises(InvalidAdvisory, match="too large"):
        osv.loads_osv(b" " * (s.MAX_DOCUMENT_BYTES + 1))
    assert osv.loads_osv(json.dumps(GOOD)).id == "GHSA-aaaa-bbbb-cccc"


def test_export_refuses_an_id_osv_does_not_know() -> None:
    advisory = s.Advisory(id="FOREWARN-2025-0001", modified=datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidAdvisory) as info:
        osv.to_osv(advisory)
    assert info.value.problems[0].field == "/id"
    assert (
        osv.to_osv(advisory.model_copy(update={"id": "x_FOREWARN-2025-0001"}))["id"] == "x_FOREWARN-2025-0001"
    )


def test_what_osv_cannot_carry_is_left_out() -> None:
    pkg = s.Package(ecosystem="PyPI", name="promptkit")
    advisory = s.Advisory(
        id="PYSEC-2025-1",
        modified=datetime(2025, 1, 1, tzinfo=UTC),
        affected=(
            s.Affected(
                package=pkg,
                ranges=(s.Range(type="ECOSYSTEM", events=({"kind": "introduced", "version": "0"},)),),
            ),
            s.Affected(package=pkg, status=s.ProductStatus.FIXED, versions=("2.0",)),
            s.Affected(product_id="CSAFPID-1", product_name="Widget"),
        ),
        remediations=(s.Remediation(category="vendor_fix", details="Upgrade."),),
        notes=(s.Note(category="faq", text="Q?"),),
    )
    out = osv.to_osv(advisory)
    assert len(out["affected"]) == 1 and "versions" not in out["affected"][0]
    assert not {"remediations", "notes"} & set(out)


def test_forewarn_fields_travel_in_database_specific() -> None:
    advisory = s.Advisory(
        id="GHSA-aaaa-bbbb-cccc",
        modified=datetime(2025, 1, 1, tzinfo=UTC),
        tlp=s.Tlp.AMBER_STRICT,
        cwes=("CWE-1427",),
        ai=s.ModelVulnerability(attack_class="jailbreak", affected_models=("org/model-7b",)),
        database_specific={"source": "report"},
    )
    out = osv.to_osv(advisory)
    assert out["database_specific"] == {
        "source": "report",
        "forewarn": {
            "tlp": "AMBER+STRICT",
            "ai": {"attack_class": "jailbreak", "affected_models": ["org/model-7b"]},
            "cwes": ["CWE-1427"],
        },
    }
    assert osv.from_osv(out) == advisory


# --- Property: internal -> OSV -> internal is the identity on what OSV carries -----------------------

_TEXT = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30)
_VECTORS = [
    ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
    ("CVSS_V3", "CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N"),
    ("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
    ("CVSS_V2", "AV:N/AC:M/Au:N/C:P/I:N/A:N"),
    ("Ubuntu", "low"),
]
_severities = st.lists(st.sampled_from(_VECTORS), max_size=2, unique=True).map(
    lambda vs: tuple(s.Severity(type=t, score=v) for t, v in vs)
)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), _TEXT)
_json_obj = st.dictionaries(
    st.sampled_from(["a", "b", "source", "url"]), _json_scalar, min_size=1, max_size=3
)
_semver = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30)).map(
    lambda t: ".".join(map(str, t))
)
_sha = st.text("0123456789abcdef", min_size=40, max_size=40)


@st.composite
def _range(draw: st.DrawFn) -> s.Range:
    kind = draw(st.sampled_from(["SEMVER", "ECOSYSTEM", "GIT"]))
    if kind == "GIT":
        shas = draw(st.lists(_sha, min_size=1, max_size=3, unique=True))
        events = [("introduced", shas[0]), *(("fixed", x) for x in shas[1:])]
        return s.Range(
            type="GIT",
            repo="https://git.example.org/r.git",
            events=tuple(s.Event(kind=k, version=v) for k, v in events),
        )
    if kind == "SEMVER":
        from forewarn.clearinghouse.advisories._semver import parse_semver

        versions = sorted(
            set(draw(st.lists(_semver, min_size=1, max_size=5))), key=lambda v: parse_semver(v) or 0
        )
    else:
        versions = draw(
            st.lists(
                st.from_regex(r"[1-9][0-9a-z.+~-]{0,8}", fullmatch=True), min_size=1, max_size=5, unique=True
            )
        )
    end = draw(st.sampled_from(["fixed", "last_affected"]))
    timeline = [s.Event(kind="introduced" if i % 2 == 0 else end, version=v) for i, v in enumerate(versions)]
    if draw(st.booleans()):
        timeline.insert(0, s.Event(kind="introduced", version="0"))
        if len(timeline) > 1 and timeline[1].kind == "introduced":
            timeline.pop(1)
    return s.Range(type=kind, events=tuple(timeline), database_specific=draw(st.none() | _json_obj))


_packages = st.builds(
    s.Package,
    ecosystem=st.sampled_from(
        ["npm", "PyPI", "Go", "Maven", "crates.io", "Debian:12", "RubyGems", "Ubuntu:22.04:LTS"]
    ),
    name=st.from_regex(r"[a-z][a-z0-9_.:/-]{0,20}", fullmatch=True),
    purl=st.none() | st.just("pkg:generic/thing"),
)


@st.composite
def advisories(draw: st.DrawFn) -> s.Advisory:
    per_package = draw(st.booleans())
    affected = draw(
        st.lists(
            st.builds(
                s.Affected,
                package=_packages,
                ranges=st.lists(_range(), max_size=3).map(tuple),
                versions=st.lists(_TEXT, max_size=3).map(tuple),
                severities=_severities if per_package else st.just(()),
                ecosystem_specific=st.none() | _json_obj,
                database_specific=st.none() | _json_obj,
            ),
            max_size=3,
        ).map(tuple)
    )
    # hypothesis takes naive bounds and attaches the time zone itself
    low, high = datetime(2000, 1, 1), datetime(2100, 1, 1)  # noqa: DTZ001, RUF100
    stamp = st.datetimes(min_value=low, max_value=high, timezones=st.just(UTC))
    return s.Advisory(
        id=draw(
            st.from_regex(r"(GHSA|PYSEC|OSV|RUSTSEC|GO|CVE)-[0-9a-z]{1,8}(-[0-9a-z]{1,8})?", fullmatch=True)
        ),
        aliases=draw(
            st.lists(st.from_regex(r"CVE-20[0-9]{2}-[0-9]{4,6}", fullmatch=True), max_size=3, unique=True)
        ),
        related=draw(
            st.lists(st.from_regex(r"OSV-[0-9]{4}-[0-9]{1,4}", fullmatch=True), max_size=2, unique=True)
        ),
        upstream=draw(
            st.lists(st.from_regex(r"CVE-19[0-9]{2}-[0-9]{4}", fullmatch=True), max_size=2, unique=True)
        ),
        summary=draw(st.none() | _TEXT),
        details=draw(st.none() | st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=200)),
        published=draw(st.none() | stamp),
        modified=draw(stamp),
        withdrawn=draw(st.none() | stamp),
        affected=affected,
        severities=() if per_package else draw(_severities),
        cwes=draw(st.lists(st.integers(1, 1500).map(lambda n: f"CWE-{n}"), max_size=3, unique=True)),
        references=draw(
            st.lists(
                st.builds(
                    s.Reference,
                    url=st.from_regex(r"https://example\.org/[a-z0-9/]{0,20}", fullmatch=True),
                    type=st.sampled_from(list(s.ReferenceType)),
                ),
                max_size=3,
            )
        ),
        credits=draw(
            st.lists(
                st.builds(
                    s.Credit,
                    name=_TEXT,
                    contact=st.lists(st.just("https://example.org/me"), max_size=1).map(tuple),
                    type=st.none() | st.sampled_from(list(s.CreditType)),
                ),
                max_size=2,
            )
        ),
        tlp=draw(st.none() | st.sampled_from(list(s.Tlp))),
        ai=draw(
            st.none()
            | st.builds(
                s.ModelVulnerability,
                attack_class=st.sampled_from(list(s.AttackClass)),
                affected_models=st.lists(
                    st.from_regex(r"[a-z]{1,8}/[a-z0-9.-]{1,12}", fullmatch=True),
                    min_size=1,
                    max_size=3,
                    unique=True,
                ).map(tuple),
            )
        ),
        database_specific=draw(st.none() | _json_obj),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(advisories())
def test_internal_to_osv_to_internal_is_the_identity(advisory: s.Advisory) -> None:
    out = osv.to_osv(advisory)
    assert osv.from_osv(json.loads(json.dumps(out))) == advisory
    if SAMPLES:
        assert not list(official_validator().iter_errors(out))


# --- Robustness: any edit of a valid record is either accepted or refused with InvalidAdvisory ------

_ODD_VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [
        None,
        0,
        -1,
        1.5e308,
        True,
        "",
        "x" * 300,
        "\x00",
        "CVE-2024-1",
        [],
        {},
        [{}],
        {"introduced": "0"},
        ["a"],
    ]
)


@needs_testdata
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_edited_records_are_accepted_or_refused_cleanly(data: st.DataObject) -> None:
    doc = json.loads(data.draw(st.sampled_from(SAMPLES)).read_text())
    edited = edit(data, doc, _ODD_VALUES)
    refused = None
    try:
        advisory = osv.from_osv(edited)
    except InvalidAdvisory as exc:
        refused = exc.problems
    else:
        out = osv.to_osv(advisory)
        assert not list(official_validator().iter_errors(out))
    if refused is not None:
        assert refused and all(p.field == "" or p.field.startswith("/") for p in refused)
