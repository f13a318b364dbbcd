"""Intake: formats are recognised from content, SARIF and garak reports become candidate advisories,
the plain-language form becomes an advisory, and a corpus of bad documents is refused by name and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
from forewarn.clearinghouse.advisories.garak import attack_class_of
from forewarn.clearinghouse.advisories.intake import Limits, advisory_from_form, detect_format, parse_document
from forewarn.clearinghouse.advisories.records import ReportForm, SourceFormat

from .conftest import osv_doc, raw

FIXTURES = Path(__file__).parent / "fixtures"

#: Each bad document → (the JSON Pointer of a problem, words of its message).
BAD = {
    "truncated.json": ("", "not valid JSON"),
    "duplicate-key.json": ("", "duplicate key 'id'"),
    "not-utf8.json": ("", "not UTF-8"),
    "not-an-object.json": ("", "not a JSON object"),
    "unrecognised.json": ("", "unrecognised document"),
    "kev-catalogue.json": ("/catalogVersion", "KEV catalogue"),
    "fixed-before-introduced.json": ("/affected/0/ranges/0", "comes before every introduced"),
    "unknown-ecosystem.json": ("/affected/0/package/ecosystem", "does not match"),
    "missing-modified.json": ("", "'modified' is a required property"),
    "bad-cvss.json": ("/severity/0/score", "malformed CVSS 3.1 vector"),
    "csaf-wrong-version.json": ("/document/csaf_version", "CSAF 2.0 JSON Schema"),
    "cve-bad-id.json": ("/cveMetadata/cveId", "must look like"),
    "sarif-wrong-version.sarif": ("/version", "only SARIF 2.1.0"),
    "sarif-bad-result.sarif": ("/runs/0/results/0/level", "must be one of"),
    "garak-no-init.jsonl": ("/lines", "no init line"),
    "garak-bad-lines.jsonl": ("/lines/2/passed", "9 passed of 5"),
}


def test_the_corpus_covers_every_bad_file() -> None:
    assert {p.name for p in (FIXTURES / "bad").iterdir()} == set(BAD)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_documents_are_refused_by_name_and_field(name: str) -> None:
    field, words = BAD[name]
    with pytest.raises(InvalidAdvisory) as info:
        parse_document((FIXTURES / "bad" / name).read_bytes(), filename=name)
    error = info.value
    assert error.message.startswith(f"{name}: ")
    text = error.message + " " + " ".join(f"{p.field} {p.message}" for p in error.problems)
    assert any(p.field == field for p in error.problems), [str(p) for p in error.problems]
    assert words in text


def test_limits_are_checked_before_parsing() -> None:
    with pytest.raises(InvalidAdvisory, match="too large"):
        parse_document(raw(osv_doc()), filename="big.json", limits=Limits(max_bytes=100))
    two = (FIXTURES / "garak.report.jsonl").read_bytes()
    with pytest.raises(InvalidAdvisory, match="too many vulnerabilities"):
        parse_document(two, filename="g.jsonl", limits=Limits(max_advisories=1))
    with pytest.raises(InvalidAdvisory, match="too long"):
        parse_document(two, filename="g.jsonl", limits=Limits(max_lines=3))


def test_a_declared_format_is_checked_not_trusted() -> None:
    with pytest.raises(InvalidAdvisory, match="declared csaf but this is osv"):
        parse_document(raw(osv_doc()), filename="x.json", declared=SourceFormat.CSAF)
    assert parse_document(raw(osv_doc()), declared=SourceFormat.OSV).format is SourceFormat.OSV


def test_formats_are_recognised_from_content() -> None:
    assert detect_format(raw(osv_doc())) is SourceFormat.OSV
    assert detect_format((FIXTURES / "scan.sarif").read_bytes()) is SourceFormat.SARIF
    assert detect_format((FIXTURES / "garak.report.jsonl").read_bytes()) is SourceFormat.GARAK
    assert detect_format((FIXTURES / "cve5-published.json").read_bytes()) is SourceFormat.CVE5


def test_sarif_failing_rules_become_advisories_without_snippets() -> None:
    parsed = parse_document((FIXTURES / "scan.sarif").read_bytes(), filename="scan.sarif")
    (advisory,) = parsed.advisories  # the note-level rule and the suppressed result are not findings
    assert advisory.id.startswith("x_SARIF-")
    assert advisory.summary == "Uncontrolled data used in path expression (CodeQL)"
    assert advisory.cwes == ("CWE-22", "CWE-73")
    assert advisory.details is not None and "portal/files.py:42" in advisory.details
    assert "tests/fixture.py" not in advisory.details  # suppressed
    assert "SECRET_TOKEN" not in json.dumps(advisory.model_dump(mode="json"))  # snippets never copied
    assert advisory.database_specific == {
        "sarif": {
            "tool": "CodeQL",
            "rule_id": "py/path-injection",
            "levels": ["error", "warning"],
            "results": 2,
            "tool_version": "2.19.0",
            "security_severity": "7.5",
        }
    }
    (affected,) = advisory.affected
    assert affected.product_name == "https://git.example.org/hospital/portal"
    again = parse_document((FIXTURES / "scan.sarif").read_bytes())
    assert again.advisories[0].id == advisory.id  # the same scan maps to the same id


def test_garak_failed_probes_become_model_vulnerabilities_without_prompts() -> None:
    parsed = parse_document((FIXTURES / "garak.report.jsonl").read_bytes(), filename="garak.report.jsonl")
    by_probe = {a.database_specific["garak"]["probe"]: a for a in parsed.advisories if a.database_specific}
    assert set(by_probe) == {"promptinject.HijackHateHumans", "leakreplay.LiteratureCloze"}  # dan passed
    injection = by_probe["promptinject.HijackHateHumans"]
    assert injection.ai == s.ModelVulnerability(
        attack_class=s.AttackClass.PROMPT_INJECTION, affected_models=("atlas-7b-chat",)
    )
    assert "39 of 100" in (injection.summary or "")
    assert injection.modified == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    dumped = json.dumps([a.model_dump(mode="json") for a in parsed.advisories])
    assert "PLANTED-CANARY-7731" not in dumped  # attempts (prompts, outputs) are never kept
    assert attack_class_of("dan.Dan_11_0") is s.AttackClass.JAILBREAK
    assert attack_class_of("probes.packagehallucination.Python") is s.AttackClass.MODEL_SUPPLY_CHAIN
    assert attack_class_of("something.New") is s.AttackClass.OTHER


def test_the_plain_language_form() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    package = advisory_from_form(
        ReportForm(
            what_happened="Uploading a crafted file crashes the server.\nSteps: ...",
            affected_kind="package",
            product="requests",
            ecosystem="PyPI",
            versions="2.31.0, 2.32.0",
        ),
        received=now,
        token="abc",
    )
    assert package.id == "x_FWR-abc" and package.summary == "Uploading a crafted file crashes the server."
    assert package.affected[0].package == s.Package(ecosystem="PyPI", name="requests")
    assert package.affected[0].versions == ("2.31.0", "2.32.0")
    product = advisory_from_form(
        ReportForm(what_happened="The badge reader opens for any card.", product="DoorPro", vendor="Acme"),
        received=now,
        token="def",
    )
    assert (product.affected[0].product_name, product.affected[0].vendor) == ("DoorPro", "Acme")
    with pytest.raises(ValueError, match="not an ecosystem"):
        ReportForm(what_happened="Something is wrong here.", product="x", ecosystem="CobolHub")
