"""VEX: CycloneDX VEX, OpenVEX and CSAF VEX read into statements, and applied at match time (not_affected
and fixed suppress with their justification; the latest applicable statement decides)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import testdata as shared

from forewarn.clearinghouse.advisories.csaf import loads_csaf
from forewarn.clearinghouse.advisories.osv import from_osv
from forewarn.clearinghouse.advisories.schemas import Advisory
from forewarn.clearinghouse.inventory.sbom import parse_sbom
from forewarn.clearinghouse.inventory.schemas import Component
from forewarn.clearinghouse.matching import vex
from forewarn.clearinghouse.matching.engine import AdvisoryIndex, match_components
from forewarn.clearinghouse.matching.vex import VexIndex, VexStatement, VexStatus, parse_vex
from forewarn.core.errors import InvalidInput

HERE = Path(__file__).parent
SPDX = HERE.parent / "inventory" / "fixtures" / "sbom-2.3.spdx.json"


def read_csaf(raw: bytes) -> tuple[Any, Any]:
    document = loads_csaf(raw)
    return document.publication, document.advisories


def statements(name: str) -> list[VexStatement]:
    return parse_vex((HERE / "fixtures" / name).read_bytes(), read_csaf=read_csaf)


def osv(id_: str, aliases: list[str], ecosystem: str, name: str, fixed: str) -> Advisory:
    return from_osv(
        {
            "schema_version": "1.7.4",
            "id": id_,
            "aliases": aliases,
            "modified": "2024-01-01T00:00:00Z",
            "affected": [
                {
                    "package": {"ecosystem": ecosystem, "name": name},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                }
            ],
        }
    )


LOG4SHELL = osv(
    "GHSA-jfh8-c2jp-5v3q", ["CVE-2021-44228"], "Maven", "org.apache.logging.log4j:log4j-core", "2.15.0"
)
REQUESTS = osv("GHSA-j8r2-6x86-q33q", ["CVE-2023-32681"], "PyPI", "requests", "2.31.0")


def scan(statements_: list[VexStatement]) -> dict[str, Any]:
    inventory = parse_sbom(SPDX.read_bytes())
    report = match_components(
        AdvisoryIndex.build([LOG4SHELL, REQUESTS]), inventory.components, vex=VexIndex(statements_)
    )
    return {
        "open": sorted(m.advisory.id for m in report.matches),
        "suppressed": {
            m.advisory.id: (m.vex.status.value, m.vex.justification) for m in report.suppressed if m.vex
        },
    }


def test_without_vex_both_advisories_match() -> None:
    assert scan([]) == {"open": ["GHSA-j8r2-6x86-q33q", "GHSA-jfh8-c2jp-5v3q"], "suppressed": {}}


def test_openvex_subcomponents_aliases_and_the_latest_statement() -> None:
    found = statements("openvex.json")
    assert [(s.vulnerability, s.status, s.products) for s in found] == [
        ("CVE-2021-44228", VexStatus.NOT_AFFECTED, ("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",)),
        ("CVE-2023-32681", VexStatus.FIXED, ("pkg:pypi/requests",)),
        ("CVE-2023-32681", VexStatus.UNDER_INVESTIGATION, ("pkg:pypi/requests@2.25.0",)),
    ]
    assert found[0].impact and found[0].timestamp == datetime(2024, 3, 1, 12, tzinfo=UTC)
    # "fixed" (5 March, every version) is later than "under_investigation" (2 March, 2.25.0): it decides
    assert scan(found) == {
        "open": [],
        "suppressed": {
            "GHSA-jfh8-c2jp-5v3q": ("not_affected", "vulnerable_code_not_in_execute_path"),
            "GHSA-j8r2-6x86-q33q": ("fixed", None),
        },
    }
    earlier_fix = [found[0], replace(found[1], timestamp=datetime(2024, 1, 1, tzinfo=UTC)), found[2]]
    assert scan(earlier_fix)["open"] == ["GHSA-j8r2-6x86-q33q"]  # now "under_investigation" decides


def test_cyclonedx_vex_by_purl_and_by_bom_link() -> None:
    found = statements("cyclonedx-vex.json")
    assert [(s.vulnerability, s.status) for s in found] == [
        ("CVE-2021-44228", VexStatus.NOT_AFFECTED),
        ("CVE-2023-32681", VexStatus.FIXED),
        ("CVE-2024-0001", VexStatus.AFFECTED),
    ]  # CVE-2024-0002 has no analysis: it states nothing
    assert found[1].products == ("SPDXRef-requests",) and found[1].action == "update"
    assert scan(found) == {
        "open": [],
        "suppressed": {
            "GHSA-jfh8-c2jp-5v3q": ("not_affected", "code_not_reachable"),
            "GHSA-j8r2-6x86-q33q": ("fixed", None),
        },
    }


def test_csaf_vex_with_flags_and_threats() -> None:
    found = statements("csaf-vex.json")
    assert [(s.vulnerability, s.status, s.justification) for s in found] == [
        ("CVE-2021-44228", VexStatus.NOT_AFFECTED, "vulnerable_code_not_in_execute_path"),
        ("CVE-2023-32681", VexStatus.AFFECTED, None),
    ]
    assert found[0].impact == "The gateway never logs attacker-controlled input."
    assert scan(found) == {
        "open": ["GHSA-j8r2-6x86-q33q"],
        "suppressed": {"GHSA-jfh8-c2jp-5v3q": ("not_affected", "vulnerable_code_not_in_execute_path")},
    }


def test_public_cyclonedx_vulnerability_sample_suppresses_by_alias() -> None:
    raw = shared("cyclonedx", "valid-vulnerability-1.6.json").read_bytes()
    (statement,) = parse_vex(raw)
    assert statement.status is VexStatus.NOT_AFFECTED and statement.justification == "code_not_reachable"
    assert "CVE-2018-7489" in statement.aliases
    inventory = parse_sbom(raw)
    advisory = osv(
        "GHSA-4w82-r329-3q67",
        ["CVE-2018-7489"],
        "Maven",
        "com.fasterxml.jackson.core:jackson-databind",
        "2.9.5",
    )
    report = match_components(
        AdvisoryIndex.build([advisory]), inventory.components, vex=VexIndex([statement])
    )
    assert not report.matches and [m.advisory.id for m in report.suppressed] == ["GHSA-4w82-r329-3q67"]


def test_public_csaf_vex_sample_names_products_without_purls() -> None:
    found = parse_vex(shared("csaf", "sec-vex-2022-0001.json").read_bytes(), read_csaf=read_csaf)
    assert {s.vulnerability for s in found} >= {"CVE-2021-44228"}
    assert all(s.status is VexStatus.NOT_AFFECTED and s.products == () for s in found)


def test_statements_apply_to_the_same_package_and_version_only() -> None:
    component = Component(
        location="/x",
        ecosystem="Maven",
        package="org.apache.logging.log4j:log4j-core",
        version="2.14.1",
        purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
    )

    def statement(product: str, vuln: str = "CVE-2021-44228") -> VexStatement:
        return VexStatement(vuln, VexStatus.NOT_AFFECTED, (product,), justification="component_not_present")

    index = VexIndex(
        [
            statement("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.0"),  # another version
            statement("pkg:maven/org.apache.logging.log4j/log4j-api@2.14.1"),  # another package
            statement(
                "pkg:maven/org.apache.logging.log4j/log4j-core", vuln="CVE-2099-1"
            ),  # another vulnerability
        ]
    )
    assert index.suppressing(component, LOG4SHELL) is None
    applies = VexIndex([statement("pkg:maven/ORG.apache.logging.log4j/log4j-core@2.14.1")])
    assert applies.suppressing(component, LOG4SHELL) is not None
    csv_row = Component(location="line 2", ecosystem="Maven", package=component.package, version="2.14.1")
    assert applies.suppressing(csv_row, LOG4SHELL) is not None  # the same OSV package, without a purl
    affected = VexIndex([VexStatement("GHSA-jfh8-c2jp-5v3q", VexStatus.AFFECTED, (component.purl or "",))])
    assert affected.decisive(component, LOG4SHELL) is not None
    assert affected.suppressing(component, LOG4SHELL) is None


def openvex(**statement: Any) -> bytes:
    base = {"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:npm/a"}], "status": "fixed"}
    return json.dumps(
        {"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{**base, **statement}]}
    ).encode()


def cyclonedx_vex(analysis: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "version": 1,
            "vulnerabilities": [
                {"id": "CVE-1", "analysis": analysis, "affects": [{"ref": "pkg:npm/a@1.0.0"}]}
            ],
        }
    ).encode()


BAD = [
    ("not JSON", b"not json", "not valid JSON", ""),
    ("unknown", b'{"hello": 1}', "not a VEX document", ""),
    (
        "openvex empty",
        b'{"@context": "https://openvex.dev/ns/v0.2.0", "statements": []}',
        "no statements",
        "/statements",
    ),
    ("openvex status", openvex(status="fine"), "must be one of", "/statements/0/status"),
    (
        "openvex not_affected",
        openvex(status="not_affected"),
        "justification or an impact_statement",
        "/statements/0",
    ),
    (
        "openvex justification",
        openvex(status="not_affected", justification="trust me"),
        "not an OpenVEX",
        "/statements/0/justification",
    ),
    ("openvex product", openvex(products=[{"name": "x"}]), "needs an @id", "/statements/0/products/0"),
    ("openvex timestamp", openvex(timestamp="yesterday"), "RFC 3339", "/statements/0/timestamp"),
    ("openvex vulnerability", openvex(vulnerability={}), "required", "/statements/0/vulnerability/name"),
    (
        "cyclonedx not_affected",
        cyclonedx_vex({"state": "not_affected"}),
        "justification or a detail",
        "/vulnerabilities/0/analysis",
    ),
    ("cyclonedx schema", cyclonedx_vex({"state": "fine"}), "fine", "/vulnerabilities/0/analysis/state"),
    ("csaf unreadable", b'{"document": {"csaf_version": "2.0"}}', "", "/document"),
]


@pytest.mark.parametrize(("what", "raw", "message", "where"), BAD, ids=[b[0] for b in BAD])
def test_bad_vex_is_refused_at_its_place(what: str, raw: bytes, message: str, where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_vex(raw, read_csaf=read_csaf if what != "csaf unreadable" else None)
    assert message in str(caught.value)
    assert not where or any(p.field == where for p in caught.value.problems), caught.value.problems


def test_csaf_vex_is_validated_by_the_csaf_codec() -> None:
    with pytest.raises(InvalidInput):
        parse_vex(b'{"document": {"csaf_version": "2.0"}}', read_csaf=read_csaf)


def test_vex_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vex, "MAX_VEX_BYTES", 10)
    with pytest.raises(InvalidInput, match="too large"):
        parse_vex(openvex())
