"""The internal advisory model: its invariants, CVSS scoring, alias symmetry, limits, strict JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories._semver import parse_semver
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, pointer
from forewarn.clearinghouse.advisories.jsondoc import MAX_DEPTH, parse_json

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


def locs(exc: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    return [(tuple(e["loc"]), str(e["msg"])) for e in exc.errors()]


# --- SemVer -------------------------------------------------------------------------------------


def test_semver_precedence_follows_semver_org_section_11() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ]
    parsed = [parse_semver(v) for v in ordered]
    assert all(p is not None for p in parsed)
    assert parsed == sorted(parsed)  # type: ignore[type-var]
    assert parse_semver("1.0.0+build.1") == parse_semver("1.0.0")


@pytest.mark.parametrize("text", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01", ""])
def test_semver_rejects_what_is_not_semver(text: str) -> None:
    assert parse_semver(text) is None


# --- Severities ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "vector", "score", "rating"),
    [
        ("CVSS_V3", V31, 9.8, "CRITICAL"),
        ("CVSS_V3", "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N", 6.8, "MEDIUM"),
        ("CVSS_V4", V40, 9.3, "CRITICAL"),
        ("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, "HIGH"),
        ("Ubuntu", "medium", None, "MEDIUM"),
    ],
)
def test_severity_is_scored_with_the_cvss_library(
    type_: str, vector: str, score: float | None, rating: str
) -> None:
    sev = s.Severity(type=type_, score=vector)
    assert sev.base_score == score
    assert sev.rating == rating


@pytest.mark.parametrize(
    ("type_", "vector", "needle"),
    [
        ("CVSS_V3", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "malformed CVSS 3.1 vector"),
        ("CVSS_V3", "CVSS:3.1/AV:N", "malformed CVSS 3.1 vector"),
        ("CVSS_V3", V40, "starts with CVSS:3.0/ or CVSS:3.1/"),
        ("CVSS_V4", V31, "starts with CVSS:4.0/"),
        ("CVSS_V4", "CVSS:4.0/AV:N/AC:L", "malformed CVSS 4.0 vector"),
        ("CVSS_V2", V31, "no CVSS: prefix"),
        ("Ubuntu", "urgent", "Ubuntu priority"),
    ],
)
def test_malformed_vectors_are_refused_naming_the_field(type_: str, vector: str, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        s.Severity(type=type_, score=vector)
    ((loc, msg),) = locs(info.value)
    assert loc == ("score",)
    assert needle in msg


def test_a_base_score_that_contradicts_the_vector_is_refused() -> None:
    assert s.Severity(type="CVSS_V3", score=V31, base_score=9.8).base_score == 9.8
    with pytest.raises(ValidationError, match=r"does not match 9\.8"):
        s.Severity(type="CVSS_V3", score=V31, base_score=5.0)


# --- Packages and ranges ------------------------------------------------------------------------


def test_ecosystems_are_osv_defined_with_optional_suffix() -> None:
    assert s.Package(ecosystem="Debian:12", name="openssl").ecosystem_suffix == "12"
    assert s.Package(ecosystem="Maven:https://maven.google.com", name="a:b").base_ecosystem == "Maven"
    for bad in ("Debain", "npm:", "pypi"):
        with pytest.raises(ValidationError) as info:
            s.Package(ecosystem=bad, name="x")
        assert locs(info.value)[0][0] == ("ecosystem",)


def ev(kind: str, version: str) -> dict[str, str]:
    return {"kind": kind, "version": version}


SHA_A = "a" * 40
SHA_B = "b" * 40


@pytest.mark.parametrize(
    ("range_", "needle"),
    [
        ({"type": "ECOSYSTEM", "events": [ev("fixed", "1.0")]}, "at least one 'introduced'"),
        (
            {
                "type": "ECOSYSTEM",
                "events": [ev("introduced", "0"), ev("fixed", "1"), ev("last_affected", "2")],
            },
            "must not both appear",
        ),
        ({"type": "GIT", "events": [ev("introduced", SHA_A)]}, "repo: a GIT range needs"),
        (
            {"type": "GIT", "repo": "https://g.example/r", "events": [ev("introduced", "abc123")]},
            "not a full commit hash",
        ),
        (
            {"type": "SEMVER", "events": [ev("introduced", "2.0.0"), ev("fixed", "1.0.0")]},
            "comes before every introduced",
        ),
        ({"type": "SEMVER", "events": [ev("introduced", "1.0"), ev("fixed", "2.0.0")]}, "not a SemVer 2.0.0"),
        # An introduced "0" must not stop the other events from being checked.
        ({"type": "SEMVER", "events": [ev("introduced", "0"), ev("fixed", "1.0")]}, "not a SemVer 2.0.0"),
        (
            {"type": "ECOSYSTEM", "events": [ev("introduced", "1.2"), ev("fixed", "1.2")]},
            "both introduced and fixed",
        ),
        ({"type": "ECOSYSTEM", "events": []}, "at least 1 item"),
    ],
)
def test_contradictory_ranges_are_refused(range_: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        s.Range.model_validate(range_)


def test_unsorted_but_coherent_ranges_are_accepted() -> None:
    # OSV §Evaluation sorts events; GitHub writes them unsorted (ghsa-equals_with_patch).
    events = [ev("introduced", "0"), ev("introduced", "2.0.0"), ev("fixed", "2.0.1"), ev("fixed", "1.3.2")]
    assert len(s.Range.model_validate({"type": "SEMVER", "events": events}).events) == 4
    git = {
        "type": "GIT",
        "repo": "https://g.example/r",
        "events": [ev("introduced", "0"), ev("fixed", SHA_B)],
    }
    assert s.Range.model_validate(git).repo == "https://g.example/r"


def test_an_affected_entry_names_something() -> None:
    with pytest.raises(ValidationError, match="names a package, a product"):
        s.Affected()
    assert s.Affected(product_name="Widget 3").status is s.ProductStatus.KNOWN_AFFECTED


# --- Advisories -----------------------------------------------------------------------------------


def test_aliases_never_repeat_nor_contain_the_id() -> None:
    adv = s.Advisory(id="GHSA-x", aliases=["CVE-1", "GHSA-x", "CVE-1", "PYSEC-2"], modified=NOW)
    assert adv.aliases == ("CVE-1", "PYSEC-2")
    assert adv.all_ids() == ("GHSA-x", "CVE-1", "PYSEC-2")
    assert adv.cve_ids() == ("CVE-1",)


def test_merge_aliases_is_symmetric_and_keeps_every_id() -> None:
    a = s.Advisory(id="GHSA-a", aliases=["CVE-1"], modified=NOW)
    b = s.Advisory(id="PYSEC-b", aliases=["CVE-1", "OSV-c"], modified=NOW)
    c = s.Advisory(id="OSV-z", modified=NOW)
    assert a.is_alias_of(b) and b.is_alias_of(a)
    assert not a.is_alias_of(c)
    merged_a, merged_b = s.merge_aliases(a, b), s.merge_aliases(b, a)
    assert set(merged_a.all_ids()) == set(merged_b.all_ids()) == {"GHSA-a", "CVE-1", "PYSEC-b", "OSV-c"}
    assert merged_a.id == "GHSA-a" and merged_b.id == "PYSEC-b"


def test_timestamps_carry_a_time_zone_and_are_held_in_utc() -> None:
    east = timezone(timedelta(hours=2))
    adv = s.Advisory(id="GHSA-a", modified=datetime(2025, 1, 1, 12, tzinfo=east))
    assert adv.modified == datetime(2025, 1, 1, 10, tzinfo=UTC) and adv.modified.tzinfo is UTC
    with pytest.raises(ValidationError, match="time zone"):
        s.Advisory(id="GHSA-a", modified=datetime(2025, 1, 1))  # noqa: DTZ001, RUF100 - the point of the test
    assert (
        s.format_timestamp(datetime(2025, 1, 1, 10, 0, 0, 600000, tzinfo=UTC)) == "2025-01-01T10:00:00.600Z"
    )
    assert (
        s.format_timestamp(datetime(2025, 1, 1, 10, 0, 0, 123456, tzinfo=UTC))
        == "2025-01-01T10:00:00.123456Z"
    )


def test_severity_is_set_once_per_advisory_or_per_package() -> None:
    sev = s.Severity(type="CVSS_V3", score=V31)
    pkg = s.Package(ecosystem="npm", name="left-pad")
    with pytest.raises(ValidationError, match="not both"):
        s.Advisory(
            id="GHSA-a", modified=NOW, severities=[sev], affected=[s.Affected(package=pkg, severities=[sev])]
        )


def test_identifiers_are_printable_without_spaces() -> None:
    for bad in ("", "GHSA a", "GHSA-\x00", "x" * 256):
        with pytest.raises(ValidationError) as info:
            s.Advisory(id=bad, modified=NOW)
        assert locs(info.value)[0][0] == ("id",)


def test_lists_are_bounded() -> None:
    with pytest.raises(ValidationError, match="at most 10000"):
        s.Advisory(id="GHSA-a", modified=NOW, aliases=[f"CVE-2024-{i:05d}" for i in range(s.MAX_ITEMS + 1)])


def test_model_vulnerability_fields() -> None:
    ai = s.ModelVulnerability(
        attack_class="prompt_injection", affected_models=["org/m-1", "org/m-1", "org/m-2"]
    )
    assert ai.affected_models == ("org/m-1", "org/m-2")
    with pytest.raises(ValidationError):
        s.ModelVulnerability(attack_class="mind_control", affected_models=["org/m"])
    with pytest.raises(ValidationError):
        s.ModelVulnerability(attack_class="jailbreak", affected_models=[])


def test_models_are_frozen() -> None:
    adv = s.Advisory(id="GHSA-a", modified=NOW)
    with pytest.raises(ValidationError):
        adv.id = "GHSA-b"  # type: ignore[misc]


def test_tlp_order_and_most_restrictive() -> None:
    assert [t.rank for t in s.Tlp] == [0, 1, 2, 3, 4]
    assert s.most_restrictive_tlp([s.Tlp.GREEN, None, s.Tlp.AMBER_STRICT, s.Tlp.AMBER]) is s.Tlp.AMBER_STRICT
    assert s.most_restrictive_tlp([None]) is None


def test_product_trees_list_every_product() -> None:
    tree = s.ProductTree.model_validate(
        {
            "branches": [
                {
                    "category": "vendor",
                    "name": "V",
                    "branches": [
                        {
                            "category": "product_name",
                            "name": "P",
                            "product": {"name": "V P", "product_id": "P 1"},
                        }
                    ],
                }
            ],
            "full_product_names": [{"name": "Q", "product_id": "Q1"}],
            "relationships": [
                {
                    "category": "installed_on",
                    "product_reference": "Q1",
                    "relates_to_product_reference": "P 1",
                    "full_product_name": {"name": "Q on P", "product_id": "Q1-on-P1"},
                }
            ],
        }
    )
    assert set(tree.products()) == {"P 1", "Q1", "Q1-on-P1"}


# --- Strict JSON ----------------------------------------------------------------------------------


def test_parse_json_refuses_ambiguous_or_hostile_documents() -> None:
    assert parse_json(b'{"a": 1}', max_bytes=100) == {"a": 1}
    cases = {
        b'{"id": "a", "id": "b"}': "duplicate key 'id'",
        b'{"a": NaN}': "NaN is not JSON",
        b"[1, 2]": "expected an object",
        b"\xff\xfe": "not UTF-8",
        b'{"a": ': "not valid JSON",
        ("[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)).encode(): "expected an object",
        ('{"a":' * (MAX_DEPTH + 5) + "1" + "}" * (MAX_DEPTH + 5)).encode(): f"more than {MAX_DEPTH} levels",
        b'{"a": "' + b"x" * 200 + b'"}': "the limit is 100",
    }
    for raw, needle in cases.items():
        with pytest.raises(InvalidAdvisory) as info:
            parse_json(raw, max_bytes=100 if b"xxxx" in raw else 10_000)
        assert needle in str(info.value), raw[:40]


def test_json_pointers_escape_per_rfc_6901() -> None:
    assert pointer("a/b", "m~n", 0) == "/a~1b/m~0n/0"


def test_invalid_advisory_keeps_a_bounded_list_of_problems() -> None:
    from forewarn.core.errors import Problem

    err = InvalidAdvisory("bad", problems=[Problem(f"/x/{i}", "no") for i in range(500)])
    assert len(err.problems) == 101 and "400 more" in err.problems[-1].message
    assert isinstance(err, ValueError)
    assert str(err.with_source("upload.json")).startswith("upload.json: bad: /x/0: no")


# --- Start-up cost (CONVENTIONS §14) ----------------------------------------------------------------


def test_importing_the_codecs_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "import forewarn.clearinghouse.advisories.schemas, forewarn.clearinghouse.advisories.osv\n"
        "import forewarn.clearinghouse.advisories.csaf, forewarn.clearinghouse.advisories.cve5\n"
        "import forewarn.clearinghouse.advisories.kev, forewarn.clearinghouse.advisories.csaf_checks\n"
        "print(sorted(m for m in ('cvss', 'csaf', 'jsonschema') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603, RUF100
    assert json.loads(out.stdout.replace("'", '"')) == []
