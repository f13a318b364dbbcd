"""CVE JSON 5 → internal: what a record says lands in the model, and bad records are refused by path."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.clearinghouse.advisories.edits import edit

from forewarn.clearinghouse.advisories import csaf, cve5, osv
from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PUBLISHER = s.Publisher(
    category="coordinator", name="Clearinghouse", namespace="https://clearinghouse.example.gov"
)


def record(name: str = "cve5-published.json") -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def events(entry: s.Affected) -> list[list[tuple[str, str]]]:
    return [[(e.kind.value, e.version) for e in r.events] for r in entry.ranges]


def test_a_published_record_becomes_an_advisory() -> None:
    adv = cve5.loads_cve5((FIXTURES / "cve5-published.json").read_bytes())
    assert adv.id == "CVE-2024-99001"
    assert adv.summary == "Prompt template injection in promptkit allows instruction override"
    assert adv.details is not None and adv.details.startswith("promptkit before 2.4.1")  # English chosen
    assert adv.published == datetime(2024, 4, 2, 14, 30, tzinfo=UTC)
    assert adv.modified == datetime(2024, 5, 10, 8, 15, 27, 512000, tzinfo=UTC)
    assert adv.withdrawn is None
    assert adv.cwes == ("CWE-1427", "CWE-74")
    assert [(x.type.value, x.base_score) for x in adv.severities] == [("CVSS_V3", 8.1), ("CVSS_V4", 8.6)]
    assert [r.type for r in adv.references] == [
        s.ReferenceType.FIX,
        s.ReferenceType.ADVISORY,
        s.ReferenceType.WEB,
    ]
    assert [(c.name, c.type) for c in adv.credits] == [
        ("Jordan Rivera", s.CreditType.FINDER),
        ("Example Org PSIRT", s.CreditType.COORDINATOR),
    ]
    assert [r.category for r in adv.remediations] == [
        s.RemediationCategory.VENDOR_FIX,
        s.RemediationCategory.WORKAROUND,
    ]


def test_versions_become_osv_ranges() -> None:
    pypi, server, core, lite = cve5.from_cve5(record()).affected
    # collectionURL + packageName name an OSV package (PyPI names normalised, OSV §Defined ecosystems)
    assert pypi.package == s.Package(ecosystem="PyPI", name="promptkit", purl="pkg:pypi/promptkit")
    assert (pypi.ranges[0].type, events(pypi), pypi.versions) == (
        s.RangeType.SEMVER,
        [[("introduced", "2.0.0"), ("fixed", "2.4.1")]],
        ("1.9.7",),
    )
    # "changes" to unaffected inside a "<=" range: the fix ends the interval, the moot bound is dropped
    assert server.package is None and server.vendor == "Example Org" and server.cpe is not None
    assert events(server) == [[("introduced", "0"), ("fixed", "3.1.5")]]
    assert (
        core.ranges[0].type is s.RangeType.GIT
        and core.ranges[0].repo == "https://git.example.org/promptkit/core.git"
    )
    assert lite.status is s.ProductStatus.KNOWN_NOT_AFFECTED and not lite.ranges


@pytest.mark.parametrize(
    ("versions", "default", "expected"),
    [
        (
            [{"version": "1.0", "lessThanOrEqual": "1.4", "status": "affected", "versionType": "maven"}],
            "unaffected",
            [[("introduced", "1.0"), ("last_affected", "1.4")]],
        ),
        ([{"version": "0", "lessThan": "*", "status": "affected"}], "unaffected", [[("introduced", "0")]]),
        (
            [{"version": "2.0", "lessThan": "*", "status": "unaffected"}],
            "affected",
            [[("introduced", "0"), ("fixed", "2.0")]],
        ),
        (
            [
                {
                    "version": "1.0",
                    "lessThanOrEqual": "3.0",
                    "status": "affected",
                    "changes": [{"at": "1.5", "status": "unaffected"}, {"at": "2.0", "status": "affected"}],
                }
            ],
            "unaffected",
            [[("introduced", "1.0"), ("fixed", "1.5")], [("introduced", "2.0"), ("last_affected", "3.0")]],
        ),
    ],
)
def test_version_forms(
    versions: list[dict[str, Any]], default: str, expected: list[list[tuple[str, str]]]
) -> None:
    doc = record()
    doc["containers"]["cna"]["affected"] = [
        {"vendor": "v", "product": "p", "defaultStatus": default, "versions": versions}
    ]
    (entry,) = cve5.from_cve5(doc).affected
    assert events(entry) == expected


def test_a_rejected_record_is_a_withdrawn_advisory() -> None:
    adv = cve5.from_cve5(record("cve5-rejected.json"))
    assert adv.withdrawn == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert adv.details == "This candidate is a duplicate of CVE-2024-99001."


def test_a_converted_record_exports_to_osv_and_csaf() -> None:
    adv = cve5.from_cve5(record())
    out = osv.to_osv(adv)
    assert [a.get("package", {}).get("name") for a in out["affected"]] == [
        "promptkit",
        None,
    ]  # GIT-only entry kept
    assert osv.from_osv(out).severities == adv.severities
    doc = csaf.to_csaf(adv, publisher=PUBLISHER)
    assert doc["vulnerabilities"][0]["cve"] == "CVE-2024-99001"


def mutated(path: list[str | int], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(record())
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


CNA = ["containers", "cna"]


@pytest.mark.parametrize(
    ("doc", "path", "needle"),
    [
        (mutated(["dataType"], "CVE_RECORD_X"), "/dataType", "CVE_RECORD"),
        (mutated(["dataVersion"], "4.0"), "/dataVersion", "5.x"),
        (mutated(["cveMetadata", "cveId"], "CVE-24-1"), "/cveMetadata/cveId", "CVE-2024-12345"),
        (mutated(["cveMetadata", "state"], "RESERVED"), "/cveMetadata/state", "PUBLISHED or REJECTED"),
        (mutated(["containers"], []), "/containers", "expected an object"),
        (mutated([*CNA, "affected"], {"vendor": "x"}), "/containers/cna/affected", "expected an array"),
        (
            mutated([*CNA, "affected", 0, "versions", 0, "lessThan"], 2.4),
            "/containers/cna/affected/0/versions/0/lessThan",
            "expected a string",
        ),
        (
            mutated([*CNA, "affected", 0, "versions", 0, "status"], "broken"),
            "/containers/cna/affected/0/versions/0/status",
            "affected, unaffected or unknown",
        ),
        (
            mutated([*CNA, "affected", 0, "versions", 0, "lessThan"], "1.0.0"),
            "/containers/cna/affected/0/versions",
            "comes before every introduced",
        ),
        (
            mutated([*CNA, "metrics", 0, "cvssV3_1", "vectorString"], "CVSS:3.1/AV:N/AC:X"),
            "/containers/cna/metrics/0/cvssV3_1/vectorString",
            "malformed CVSS 3.1 vector",
        ),
        (
            mutated([*CNA, "metrics", 0, "cvssV3_1", "baseScore"], 2.0),
            "/containers/cna/metrics/0/cvssV3_1",
            "does not match 8.1",
        ),
        (
            mutated([*CNA, "references", 0, "url"], "not a url"),
            "/containers/cna/references/0/url",
            "absolute URL",
        ),
        (mutated(["cveMetadata", "datePublished"], "last Tuesday"), "/cveMetadata/datePublished", "datetime"),
    ],
)
def test_bad_records_are_refused_naming_the_path(doc: dict[str, Any], path: str, needle: str) -> None:
    with pytest.raises(InvalidAdvisory) as info:
        cve5.from_cve5(doc)
    problems = [(p.field, p.message) for p in info.value.problems]
    assert any(p == path and needle in m for p, m in problems), problems


def test_malformed_json_is_refused() -> None:
    with pytest.raises(InvalidAdvisory, match="not valid JSON"):
        cve5.loads_cve5(b'{"dataType": "CVE_RECORD",')


# --- Robustness: any edit of a valid record is either accepted or refused with InvalidAdvisory ------


_ODD_VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [None, 0, -1, True, "", "x" * 300, "\x00", "*", "CVE-2024-1", "2024-01-01T00:00:00Z", [], {}, [{}], ["a"]]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_edited_records_are_accepted_or_refused_cleanly(data: st.DataObject) -> None:
    doc = record(data.draw(st.sampled_from(["cve5-published.json", "cve5-rejected.json"])))
    refused = None
    try:
        advisory = cve5.from_cve5(edit(data, doc, _ODD_VALUES))
    except InvalidAdvisory as exc:
        refused = exc.problems
    else:
        assert advisory.id.startswith("CVE-")
    if refused is not None:
        assert refused and all(p.field == "" or p.field.startswith("/") for p in refused)
