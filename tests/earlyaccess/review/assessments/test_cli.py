"""``forewarn assessments`` end to end: real commands in subprocesses on a fresh data dir (embedded
PostgreSQL). A lab opens a window, a coordinator grants an agency and plans a workstream, a reviewer
files a finding and imports a garak report, the coordinator triages, and the report comes out as
JSON and as a PDF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.earlyaccess.review.assessments import world
from tests.earlyaccess.review.assessments.test_api import pdf_pages

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"


def forewarn(data_dir: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {
        "COLUMNS": "200",
        "FOREWARN_LOG_JSON": "false",
        "UPSTREAM_KEY": "sk-test-upstream",
        # The model here has no determination (the benchmark's CLI tests run those): a programme that
        # lets labs open a window before one.
        "FOREWARN_REVIEW_REQUIRE_COVERED": "false",
    }
    out = subprocess.run(
        [sys.executable, "-m", "forewarn.cli.main", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if ok:
        assert out.returncode == 0, f"{args}: {out.stderr}"
    return out


def test_assessments_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    forewarn(data, "org", "create", "Wren Labs", "--kind", "lab")
    forewarn(data, "org", "create", "CISA", "--kind", "agency", "--code", "CISA")
    for email, org, role in (
        ("lead@wren.test", "Wren Labs", "safety_lead"),
        ("coord@cisa.test", "CISA", "assessment_coordinator"),
        ("red@cisa.test", "CISA", "reviewer"),
    ):
        forewarn(
            data, "user", "create", email, "--name", "P", "--org", org, "--role", role, "--password", PASSWORD
        )
    agreement = tmp_path / "agreement.md"
    agreement.write_text("Voluntary early access; withdraw at any time.", encoding="utf-8")
    published = json.loads(
        forewarn(
            data, "review", "agreement", "publish", str(agreement), "--title", "Agreement v1", "--json"
        ).stdout
    )
    forewarn(data, "review", "agreement", "sign", str(published["version"]), "--as", "lead@wren.test")
    model = json.loads(
        forewarn(
            data, "benchmark", "model", "register", "--name", "wren", "--version", "1.0", "--family", "wren",
            "--release", "2027-02-01", "--mode", "remote", "--base-url", "http://127.0.0.1:9/v1",
            "--model", "wren", "--as", "lead@wren.test", "--json",
        ).stdout
    )  # fmt: skip
    window = json.loads(
        forewarn(data, "review", "windows", "open", model["id"], "--as", "lead@wren.test", "--json").stdout
    )["id"]
    forewarn(
        data,
        "review",
        "windows",
        "credential",
        window,
        "--credential-env",
        "UPSTREAM_KEY",
        "--as",
        "lead@wren.test",
    )
    forewarn(data, "review", "windows", "grant", window, "--agency", "CISA", "--as", "coord@cisa.test")

    planned = json.loads(
        forewarn(
            data, "assessments", "workstream", "plan", "--window", window, "--title", "Cyber uplift",
            "--area", "cyber_offence", "--lead", "CISA", "--due", "2027-01-15",
            "--as", "coord@cisa.test", "--json",
        ).stdout
    )  # fmt: skip
    assert planned["lead_organisation_name"] == "CISA"
    description = tmp_path / "finding.txt"
    description.write_text("The model writes a working exploit.", encoding="utf-8")
    evidence = tmp_path / "transcript.txt"
    evidence.write_text("transcript", encoding="utf-8")
    filed = json.loads(
        forewarn(
            data, "assessments", "findings", "file", "--window", window, "--title", "Exploit writing",
            "--severity", "high", "--area", "cyber_offence", "--description", str(description),
            "--evidence", str(evidence), "--workstream", planned["id"], "--as", "red@cisa.test", "--json",
        ).stdout
    )  # fmt: skip
    assert filed["evidence"][0]["filename"] == "transcript.txt"
    bad = forewarn(
        data, "assessments", "findings", "file", "--window", window, "--title", "x", "--severity", "huge",
        "--area", "cyber_offence", "--description", str(description), "--as", "red@cisa.test", ok=False,
    )  # fmt: skip
    assert bad.returncode != 0 and "severity" in bad.stderr and "Traceback" not in bad.stderr

    report_file = tmp_path / "garak.report.jsonl"
    report_file.write_bytes(world.garak_report())
    imported = forewarn(
        data, "assessments", "findings", "import-garak", str(report_file), "--window", window,
        "--as", "red@cisa.test", "--json",
    )  # fmt: skip
    assert len(json.loads(imported.stdout)) == 2
    listed = json.loads(
        forewarn(
            data, "assessments", "findings", "list", "--window", window, "--as", "red@cisa.test", "--json"
        ).stdout
    )
    assert len(listed) == 3
    triaged = forewarn(
        data, "assessments", "findings", "triage", filed["id"], "--status", "confirmed",
        "--as", "coord@cisa.test", "--json",
    )  # fmt: skip
    assert json.loads(triaged.stdout)["status"] == "confirmed"

    as_json = json.loads(
        forewarn(data, "assessments", "report", "--window", window, "--as", "coord@cisa.test").stdout
    )
    assert as_json["totals_by_severity"]["high"] == 2 and as_json["workstreams"][0]["findings"] == 1
    pdf = tmp_path / "report.pdf"
    forewarn(
        data, "assessments", "report", "--window", window, "--format", "pdf", "--out", str(pdf),
        "--as", "coord@cisa.test",
    )  # fmt: skip
    assert pdf_pages(pdf.read_bytes()) >= 1
    early = forewarn(data, "assessments", "report", "--window", window, "--as", "lead@wren.test", ok=False)
    assert early.returncode != 0 and "when the window closes" in early.stderr
