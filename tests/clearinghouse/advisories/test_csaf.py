"""CSAF 2.0 codec: OASIS examples round-trip, every export passes the CSAF 2.0 schema and mandatory
tests, the mandatory tests catch the OASIS failing test cases, and bad documents are refused by path."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.clearinghouse.advisories.edits import edit

from forewarn.clearinghouse.advisories import _purl, csaf, osv
from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.csaf_checks import check_csaf, cwe_name
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory

TESTDATA = Path(__file__).resolve().parents[4] / "shared" / "testdata"
CSAF_DIR = TESTDATA / "csaf"
OSV_DIR = TESTDATA / "osv"
SAMPLES = sorted(p for p in CSAF_DIR.glob("*.json") if "schema" not in p.name) if CSAF_DIR.is_dir() else []
OSV_SAMPLES = sorted(p for p in OSV_DIR.glob("*.json") if p.name != "schema.json") if OSV_DIR.is_dir() else []

needs_testdata = pytest.mark.skipif(
    not SAMPLES, reason="public test data (../shared/testdata/csaf) is absent"
)
needs_osv = pytest.mark.skipif(not OSV_SAMPLES, reason="public test data (../shared/testdata/osv) is absent")

PUBLISHER = s.Publisher(
    category="coordinator",
    name="Treasury AI Cybersecurity Clearinghouse",
    namespace="https://clearinghouse.example.gov",
)
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def normalized(doc: Any) -> Any:
    """Compare what a document says, not how: timestamps as instants, CVSS objects by vector and score."""
    if isinstance(doc, dict):
        if "vectorString" in doc:
            return ("cvss", doc["vectorString"], float(doc["baseScore"]))
        return {k: normalized(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [normalized(v) for v in doc]
    if isinstance(doc, str) and len(doc) >= 20 and doc[4] == "-" and doc[10] == "T":
        try:
            return datetime.fromisoformat(doc.replace("Z", "+00:00"))
        except ValueError:
            return doc
    return doc


# --- OASIS examples -------------------------------------------------------------------------------


@needs_testdata
def test_the_shipped_csaf_schema_is_the_oasis_one() -> None:
    shipped = json.loads(resources.files("csaf.csaf.v20").joinpath("schema/csaf.json").read_text())
    assert shipped == json.loads((CSAF_DIR / "csaf_json_schema.json").read_text())


@needs_testdata
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_oasis_examples_round_trip_and_exports_pass_validation(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert check_csaf(doc) == []
    parsed = csaf.from_csaf(doc)
    assert len(parsed.advisories) == len(doc.get("vulnerabilities", []))
    out = csaf.to_csaf(parsed.advisories, publication=parsed.publication)
    assert check_csaf(out) == []
    assert normalized(out) == normalized(doc)
    again = csaf.from_csaf(out)
    assert again == parsed


@needs_testdata
def test_what_a_red_hat_advisory_says_is_in_the_model() -> None:
    parsed = csaf.from_csaf(json.loads((CSAF_DIR / "rhsa-2021_5186.json").read_text()))
    pub = parsed.publication
    assert (pub.id, pub.category, pub.tlp, pub.status) == (
        "RHSA-2021:5186",
        "csaf_security_advisory",
        s.Tlp.CLEAR,
        s.DocumentStatus.FINAL,
    )
    assert pub.publisher.name == "Red Hat Product Security" and len(pub.revision_history) == 1
    first, second = parsed.advisories
    assert first.id == "CVE-2021-4104" and first.cwes == ("CWE-20",) and first.tlp is s.Tlp.CLEAR
    assert first.system_ids[0].system_name == "Red Hat Bugzilla"
    assert (
        first.details
        == "log4j: Remote code execution in Log4j 1.x when application is configured to use JMSAppender"
    )
    statuses = {(a.product_id.split(":")[1], a.status.value) for a in first.affected if a.product_id}
    assert ("openshift4/ose-metering-hive", "fixed") in statuses
    assert first.remediations[0].category is s.RemediationCategory.VENDOR_FIX
    assert second.threats[0].details == "Critical"


@needs_testdata
def test_what_a_vex_document_says_is_in_the_model() -> None:
    parsed = csaf.from_csaf(json.loads((CSAF_DIR / "2022-evd-uc-04-001.json").read_text()))
    (advisory,) = parsed.advisories
    assert advisory.severities[0].base_score == 10.0
    assert advisory.severities[0].product_ids == ("CSAFPID-0002", "CSAFPID-0003", "CSAFPID-0004")
    by_id = {a.product_id: a for a in advisory.affected}
    ranged = by_id["CSAFPID-0004"]
    assert ranged.vendor == "Example Company"
    # "vers:generic/>=2.9|<=4.1" becomes an OSV-style range on the product
    assert [(e.kind.value, e.version) for e in ranged.ranges[0].events] == [
        ("introduced", "2.9"),
        ("last_affected", "4.1"),
    ]
    vex = csaf.from_csaf(json.loads((CSAF_DIR / "sec-vex-2022-0001.json").read_text()))
    assert {a.flags[0].label for a in vex.advisories} == {s.FlagLabel.COMPONENT_NOT_PRESENT}
    assert {a.affected[0].status for a in vex.advisories} == {s.ProductStatus.KNOWN_NOT_AFFECTED}


# --- The mandatory tests, on the OASIS test-case corpus the csaf package carries ------------------

_CORPUS = resources.files("csaf.csaf.v20").joinpath("data/mandatory")
CORPUS = (
    sorted((p for p in _CORPUS.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
    if _CORPUS.is_dir()
    else []
)


@pytest.mark.skipif(not CORPUS, reason="the csaf package ships no test-case corpus")
def test_mandatory_tests_fail_every_failing_test_case_and_pass_every_valid_one() -> None:
    # OASIS names its test cases ...-6-1-<test>-<nn>: nn from 01 fail the test, from 11 pass it.
    wrong = []
    for case in CORPUS:
        expect_valid = not case.name.rsplit("-", 1)[1].startswith("0")
        problems = check_csaf(json.loads(case.read_text()))
        if expect_valid == bool(problems):
            wrong.append(case.name)
    assert len(CORPUS) > 100
    assert wrong == []


@needs_testdata
@pytest.mark.parametrize(
    ("edit", "path", "needle"),
    [
        (
            lambda d: d["vulnerabilities"][0]["product_status"]["known_affected"].append("CSAFPID-9999"),
            "/vulnerabilities/0/product_status/known_affected/3",
            "§6.1.1",
        ),
        (
            lambda d: d["vulnerabilities"][0]["product_status"].update(known_not_affected=["CSAFPID-0002"]),
            "",
            "§6.1.6",
        ),
        (
            lambda d: d["vulnerabilities"][0]["scores"][0]["cvss_v3"].update(baseScore=3.1),
            "/vulnerabilities/0/scores/0/cvss_v3",
            "§6.1.9",
        ),
        (
            lambda d: d["vulnerabilities"][0]["scores"][0]["cvss_v3"].update(vectorString="CVSS:3.1/AV:Q"),
            "/vulnerabilities/0/scores/0/cvss_v3/vectorString",
            "JSON Schema",
        ),
        (lambda d: d["document"]["tracking"].update(version="2"), "", "§6.1.16"),
        (lambda d: d["document"]["tracking"].update(id=42), "/document/tracking/id", "JSON Schema"),
        (lambda d: d["document"].update(category="csaf_vex_not"), "/document/category", "§6.1.26"),
    ],
)
def test_bad_documents_are_refused_naming_the_path(edit: Any, path: str, needle: str) -> None:
    doc = json.loads((CSAF_DIR / "2022-evd-uc-04-001.json").read_text())
    edit(doc)
    with pytest.raises(InvalidAdvisory) as info:
        csaf.from_csaf(doc)
    problems = [(p.field, p.message) for p in info.value.problems]
    assert any(needle in m and (not path or p.startswith(path)) for p, m in problems), problems


def test_limits_are_checked_before_validation() -> None:
    deep: dict[str, Any] = {"category": "vendor", "name": "v"}
    node = deep
    for _ in range(s.MAX_BRANCH_DEPTH + 2):
        node["branches"] = [{"category": "vendor", "name": "v"}]
        node = node["branches"][0]
    with pytest.raises(InvalidAdvisory, match="exceeds a limit") as info:
        csaf.from_csaf({"document": {}, "product_tree": {"branches": [deep]}})
    assert "deeper than" in info.value.problems[0].message
    with pytest.raises(InvalidAdvisory, match="exceeds a limit"):
        csaf.from_csaf({"document": {}, "vulnerabilities": [{}] * (s.MAX_VULNERABILITIES + 1)})


# --- Exports of advisories from other sources --------------------------------------------------------


@needs_osv
@pytest.mark.parametrize("path", OSV_SAMPLES, ids=lambda p: p.name)
def test_osv_records_export_as_valid_csaf_and_their_packages_come_back(path: Path) -> None:
    advisory = osv.from_osv(json.loads(path.read_text()))
    out = csaf.to_csaf(advisory, publisher=PUBLISHER)
    assert check_csaf(out) == []
    back = csaf.from_csaf(out)
    (again,) = back.advisories
    assert again.id == advisory.id and set(again.aliases) == set(advisory.aliases)
    assert again.withdrawn == advisory.withdrawn and again.details == advisory.details
    assert again.cwes == advisory.cwes[:1]
    assert {a.package for a in again.affected} == {
        a.package.model_copy(
            update={"purl": a.package.purl or _purl.purl_for_package(a.package.ecosystem, a.package.name)}
        )
        for a in advisory.affected
        if a.package
    }
    assert all(a.ranges for a in again.affected)  # every interval came back as a range


@needs_osv
def test_exported_ranges_are_the_osv_intervals_in_order() -> None:
    advisory = osv.from_osv(json.loads((OSV_DIR / "ghsa-equals_with_patch.osv.json").read_text()))
    out = csaf.to_csaf(advisory, publisher=PUBLISHER)
    names = []
    stack = list(out["product_tree"]["branches"])
    while stack:
        branch = stack.pop(0)
        if branch["category"] == "product_version_range":
            names.append(branch["name"])
        stack.extend(branch.get("branches", []))
    assert names == ["vers:npm/<1.3.2", "vers:npm/>=2.0.0|<2.0.1"]


def model_advisory(**extra: Any) -> s.Advisory:
    fields: dict[str, Any] = {
        "id": "x_FW-2025-0007",
        "aliases": ("CVE-2025-10001",),
        "summary": "Indirect prompt injection through retrieved documents",
        "details": "Instructions hidden in retrieved web pages override the operator's system prompt.",
        "published": NOW,
        "modified": NOW,
        "cwes": ("CWE-1427",),
        "severities": (
            s.Severity(type="CVSS_V3", score="CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:N"),
            s.Severity(
                type="CVSS_V4", score="CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N"
            ),
        ),
        "affected": (
            s.Affected(
                package=s.Package(ecosystem="PyPI", name="agent-runtime"),
                ranges=(
                    s.Range(
                        type="ECOSYSTEM",
                        events=(
                            s.Event(kind="introduced", version="0"),
                            s.Event(kind="fixed", version="1.4.2"),
                        ),
                    ),
                ),
            ),
        ),
        "remediations": (s.Remediation(category="vendor_fix", details="Upgrade agent-runtime to 1.4.2."),),
        "ai": s.ModelVulnerability(attack_class="prompt_injection", affected_models=("lab/frontier-1",)),
        "tlp": s.Tlp.CLEAR,
    }
    fields.update(extra)
    return s.Advisory(**fields)


def test_a_model_vulnerability_exports_and_comes_back() -> None:
    advisory = model_advisory()
    out = csaf.to_csaf(advisory, publisher=PUBLISHER)
    assert check_csaf(out) == []
    vuln = out["vulnerabilities"][0]
    assert vuln["cve"] == "CVE-2025-10001"
    assert vuln["ids"] == [{"system_name": "x_FW", "text": "x_FW-2025-0007"}]
    assert vuln["cwe"] == {"id": "CWE-1427", "name": cwe_name("CWE-1427")}
    assert [list(x) for x in vuln["scores"]] == [["products", "cvss_v3"]]  # CVSS v4.0 stays internal
    assert out["document"]["distribution"]["tlp"]["label"] == "WHITE"
    assert out["document"]["tracking"]["id"] == "x_FW-2025-0007"
    (back,) = csaf.from_csaf(out).advisories
    assert back.id == advisory.id and back.ai == advisory.ai and back.tlp is s.Tlp.CLEAR
    assert back.remediations[0].product_ids  # filled with the affected products (§6.1.29)
    model_products = [a for a in back.affected if a.product_name == "lab/frontier-1"]
    assert model_products and model_products[0].status is s.ProductStatus.KNOWN_AFFECTED


@pytest.mark.parametrize(
    ("tlp", "label"),
    [(s.Tlp.CLEAR, "WHITE"), (s.Tlp.GREEN, "GREEN"), (s.Tlp.AMBER, "AMBER"), (s.Tlp.RED, "RED")],
)
def test_tlp_maps_to_csaf_2_0_labels(tlp: s.Tlp, label: str) -> None:
    out = csaf.to_csaf(model_advisory(tlp=tlp), publisher=PUBLISHER)
    assert out["document"]["distribution"]["tlp"]["label"] == label
    assert csaf.from_csaf(out).publication.tlp is tlp


def test_amber_strict_is_refused_unless_marked_red() -> None:
    advisory = model_advisory(tlp=s.Tlp.AMBER_STRICT)
    with pytest.raises(InvalidAdvisory, match=r"AMBER\+STRICT has no CSAF 2\.0 label") as info:
        csaf.to_csaf(advisory, publisher=PUBLISHER)
    assert info.value.problems[0].field == "/document/distribution/tlp/label"
    out = csaf.to_csaf(advisory, publisher=PUBLISHER, amber_strict="red")
    assert out["document"]["distribution"]["tlp"]["label"] == "RED"
    assert "TLP:AMBER+STRICT" in out["document"]["distribution"]["text"]
    assert csaf.from_csaf(out).advisories[0].tlp is s.Tlp.RED  # the label rules on import: fail closed


def test_the_most_restrictive_tlp_marks_the_document() -> None:
    pub = csaf.from_csaf(csaf.to_csaf(model_advisory(), publisher=PUBLISHER)).publication
    out = csaf.to_csaf([model_advisory(tlp=s.Tlp.AMBER)], publication=pub)
    assert out["document"]["distribution"]["tlp"]["label"] == "AMBER"


def test_a_vex_export_passes_the_vex_profile() -> None:
    advisory = s.Advisory(
        id="CVE-2025-10002",
        summary="Model weights loader executes pickled code",
        details="Loading a crafted checkpoint runs arbitrary code.",
        modified=NOW,
        affected=(
            s.Affected(product_id="WIDGET-1", product_name="Widget AI 1.0", status="known_affected"),
            s.Affected(product_id="WIDGET-2", product_name="Widget AI 2.0", status="known_not_affected"),
            s.Affected(product_id="WIDGET-3", product_name="Widget AI 3.0", status="fixed"),
        ),
        remediations=(
            s.Remediation(
                category="workaround", details="Load only signed checkpoints.", product_ids=("WIDGET-1",)
            ),
        ),
        flags=(s.Flag(label="vulnerable_code_not_present"),),
    )
    out = csaf.to_csaf(advisory, publisher=PUBLISHER, category="csaf_vex")
    assert out["document"]["category"] == "csaf_vex"
    assert out["vulnerabilities"][0]["flags"][0]["product_ids"] == ["WIDGET-2"]
    assert check_csaf(out) == []
    assert {a.product_id: a.status for a in csaf.from_csaf(out).advisories[0].affected} == {
        "WIDGET-1": s.ProductStatus.KNOWN_AFFECTED,
        "WIDGET-2": s.ProductStatus.KNOWN_NOT_AFFECTED,
        "WIDGET-3": s.ProductStatus.FIXED,
    }


def test_an_export_that_would_be_invalid_is_refused_naming_the_path() -> None:
    advisory = model_advisory(
        remediations=(
            s.Remediation(category="vendor_fix", details="Upgrade.", product_ids=("NO-SUCH-PRODUCT",)),
        )
    )
    with pytest.raises(InvalidAdvisory) as info:
        csaf.to_csaf(advisory, publisher=PUBLISHER)
    assert any(
        p.field == "/vulnerabilities/0/remediations/0/product_ids/0" and "§6.1.1" in p.message
        for p in info.value.problems
    )
    vex_without_action = model_advisory(remediations=())
    with pytest.raises(InvalidAdvisory, match=r"CSAF 2\.0 validation") as info:
        csaf.to_csaf(vex_without_action, publisher=PUBLISHER, category="csaf_vex")
    assert any("§6.1.27" in p.message for p in info.value.problems)


def test_exports_need_a_publisher_or_a_publication() -> None:
    with pytest.raises(InvalidAdvisory, match="needs a publisher"):
        csaf.to_csaf(model_advisory())
    with pytest.raises(InvalidAdvisory, match="needs a publication"):
        csaf.to_csaf([model_advisory(), model_advisory(id="x_FW-2025-0008", aliases=())], publisher=PUBLISHER)


def test_several_advisories_share_one_document() -> None:
    first = csaf.from_csaf(csaf.to_csaf(model_advisory(), publisher=PUBLISHER))
    second = model_advisory(id="x_FW-2025-0008", aliases=("CVE-2025-10003",), ai=None)
    out = csaf.to_csaf([*first.advisories, second], publication=first.publication)
    assert [v["cve"] for v in out["vulnerabilities"]] == ["CVE-2025-10001", "CVE-2025-10003"]
    assert check_csaf(out) == []
    # the same package in both: one product, referenced twice (§6.1.2 would fail on a second definition)


def test_one_cve_in_two_vulnerabilities_is_refused() -> None:
    first = csaf.from_csaf(csaf.to_csaf(model_advisory(), publisher=PUBLISHER))
    clash = model_advisory(id="x_FW-2025-0009")
    with pytest.raises(InvalidAdvisory) as info:
        csaf.to_csaf([*first.advisories, clash], publication=first.publication)
    assert any("§6.1.23" in p.message for p in info.value.problems)


# --- vers and purl helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vers", "intervals", "exact"),
    [
        ("vers:npm/<1.3.2", [_purl.Interval(None, "1.3.2")], []),
        ("vers:npm/>=2.0.0|<2.0.1", [_purl.Interval("2.0.0", "2.0.1")], []),
        ("vers:generic/>=2.9|<=4.1", [_purl.Interval("2.9", "4.1", True)], []),
        ("vers:pypi/1.0|>=2.0", [_purl.Interval("2.0", None)], ["1.0"]),
        ("vers:gem/*", [_purl.Interval(None, None)], []),
    ],
)
def test_vers_is_read_into_intervals(vers: str, intervals: list[_purl.Interval], exact: list[str]) -> None:
    parsed = _purl.parse_vers(vers)
    assert parsed is not None and parsed[1:] == (intervals, exact)


@pytest.mark.parametrize("text", ["vers:npm/>1.0", "vers:npm/!=1.0", "npm/<1", "vers:/<1", "vers:npm/"])
def test_vers_that_osv_cannot_say_is_not_read(text: str) -> None:
    assert _purl.parse_vers(text) is None


@pytest.mark.parametrize(
    ("ecosystem", "name", "purl"),
    [
        ("npm", "@types/node", "pkg:npm/%40types/node"),
        ("Maven", "org.apache.logging.log4j:log4j-core", "pkg:maven/org.apache.logging.log4j/log4j-core"),
        ("Go", "golang.org/x/net", "pkg:golang/golang.org/x/net"),
        ("PyPI", "Products.PluggableAuthService", "pkg:pypi/products-pluggableauthservice"),
        ("crates.io", "http", "pkg:cargo/http"),
    ],
)
def test_packages_and_purls_map_both_ways(ecosystem: str, name: str, purl: str) -> None:
    assert _purl.purl_for_package(ecosystem, name) == purl
    parsed = _purl.parse_purl(purl + "@1.0.0?arch=x86_64")
    assert parsed is not None and parsed.version == "1.0.0"
    expected = _purl.normalize_pypi_name(name) if ecosystem == "PyPI" else name
    assert _purl.ecosystem_for_purl(parsed) == (ecosystem, expected)
    assert _purl.strip_version(purl + "@1.0.0?arch=x86_64") == purl + "?arch=x86_64"


_versions = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=6, unique=True
).map(lambda vs: [".".join(map(str, v)) for v in sorted(vs)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_versions, st.sampled_from(["fixed", "last_affected"]), st.booleans())
def test_semver_ranges_survive_csaf_as_intervals(versions: list[str], end: str, shuffle: bool) -> None:
    events = [s.Event(kind="introduced" if i % 2 == 0 else end, version=v) for i, v in enumerate(versions)]
    if shuffle:
        events.reverse()  # OSV does not require sorted events; the export sorts SemVer ones
    advisory = model_advisory(
        ai=None,
        affected=(
            s.Affected(
                package=s.Package(ecosystem="npm", name="pkg"),
                ranges=(s.Range(type="SEMVER", events=tuple(events)),),
            ),
        ),
    )
    out = csaf.to_csaf(advisory, publisher=PUBLISHER)
    (back,) = csaf.from_csaf(copy.deepcopy(out)).advisories
    got = [(e.kind.value, e.version) for a in back.affected for r in a.ranges for e in r.events]
    expected = [(e.kind.value, e.version) for e in sorted(events, key=lambda e: versions.index(e.version))]
    assert [g for g in got if g != ("introduced", "0")] == expected


# --- Robustness: any edit of a valid document is either accepted or refused with InvalidAdvisory ----

_ODD_VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [
        None,
        0,
        -1,
        True,
        "",
        "x" * 300,
        "CVE-2024-1",
        "CSAFPID-0001",
        "2022-03-03T11:00:00.000Z",
        [],
        {},
        [{}],
        ["a"],
    ]
)


@needs_testdata
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_edited_documents_are_accepted_or_refused_cleanly(data: st.DataObject) -> None:
    doc = json.loads(data.draw(st.sampled_from(SAMPLES)).read_text())
    refused = None
    try:
        parsed = csaf.from_csaf(edit(data, doc, _ODD_VALUES))
    except InvalidAdvisory as exc:
        refused = exc.problems
    else:
        out = csaf.to_csaf(parsed.advisories, publication=parsed.publication)
        assert check_csaf(out) == []
    if refused is not None:
        assert refused and all(p.field == "" or p.field.startswith("/") for p in refused)
