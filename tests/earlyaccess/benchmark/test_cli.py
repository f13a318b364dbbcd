"""``forewarn benchmark`` and ``forewarn attestation`` end to end, as a custodian and a lab run them.

Real commands in subprocesses on a fresh data dir (embedded PostgreSQL), with the mock endpoint
allowed; the determination runs in the foreground with ``--run`` (no worker needed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"


def forewarn(data_dir: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {
        "COLUMNS": "200",
        "FOREWARN_BENCHMARK_ALLOW_MOCK_ENDPOINTS": "true",
        "FOREWARN_LOG_JSON": "false",
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


def test_custodians_and_a_lab_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for name, code in (("NSA", "NSA"), ("ONCD", "ONCD"), ("CISA", "CISA")):
        forewarn(data, "org", "create", name, "--kind", "agency", "--code", code)
        forewarn(
            data, "user", "create", f"custodian@{code.lower()}.test", "--name", "C", "--org", code,
            "--role", "benchmark_custodian", "--password", PASSWORD,
        )  # fmt: skip
    forewarn(data, "org", "create", "Wren Labs", "--kind", "lab")
    forewarn(
        data, "user", "create", "safety@wren.test", "--name", "S", "--org", "Wren Labs",
        "--role", "safety_lead", "--password", PASSWORD,
    )  # fmt: skip

    forewarn(data, "benchmark", "pack", "example", str(tmp_path / "example"))
    sealed = tmp_path / "example.pack"
    forewarn(data, "benchmark", "pack", "build", str(tmp_path / "example"), "--out", str(sealed))
    imported = json.loads(
        forewarn(
            data, "benchmark", "pack", "import", str(sealed), "--as", "custodian@nsa.test", "--json"
        ).stdout
    )
    assert imported["classification"] == "NON-CLASSIFIED EXAMPLE"
    denied = forewarn(data, "benchmark", "pack", "list", "--as", "safety@wren.test", ok=False)
    assert denied.returncode == 1 and "custodians" in denied.stderr

    spec = tmp_path / "threshold.json"
    spec.write_text(json.dumps({"p0": 0.5, "delta": 0.3, "alpha": 0.05, "beta": 0.05, "max_calls": 30}))
    proposed = json.loads(
        forewarn(
            data, "benchmark", "policy", "propose", "--pack", imported["pack_hash"][:12], "--spec", str(spec),
            "--family-limit", "1", "--period-days", "30", "--as", "custodian@nsa.test", "--json",
        ).stdout
    )  # fmt: skip
    early = forewarn(
        data, "benchmark", "policy", "activate", proposed["id"], "--as", "custodian@nsa.test", ok=False
    )
    assert "ONCD and CISA" in early.stderr
    for who in ("oncd", "cisa"):
        forewarn(
            data, "benchmark", "policy", "consult", proposed["id"], "--concur", "--comment", "agreed",
            "--as", f"custodian@{who}.test",
        )  # fmt: skip
    forewarn(data, "benchmark", "policy", "activate", proposed["id"], "--as", "custodian@nsa.test")
    consulted = forewarn(
        data, "benchmark", "policy", "consultations", proposed["id"], "--as", "custodian@cisa.test", "--json"
    )
    assert {c["agency"] for c in json.loads(consulted.stdout)} == {"ONCD", "CISA"}

    model = json.loads(
        forewarn(
            data, "benchmark", "model", "register", "--name", "wren", "--version", "1", "--family", "wren",
            "--release", "2027-02-01", "--mode", "enclave", "--base-url", "mockllm:oracle?pass_rate=0.9",
            "--model", "m", "--as", "safety@wren.test", "--json",
        ).stdout
    )  # fmt: skip
    done = json.loads(
        forewarn(
            data,
            "benchmark",
            "determination",
            "request",
            model["id"],
            "--run",
            "--as",
            "safety@wren.test",
            "--json",
        ).stdout
    )
    assert done["status"] == "completed" and done["verdict"] == "covered"
    assert done["attempts"] is None  # the lab's view
    logs = tmp_path / "audit-logs"
    audit = json.loads(
        forewarn(
            data, "benchmark", "determination", "audit", done["id"], "--logs", str(logs),
            "--as", "custodian@nsa.test", "--json",
        ).stdout
    )  # fmt: skip
    assert audit["sealed_result"]["verdict"] == "covered" and audit["sealed_result"]["model_calls"] >= 1
    assert audit["logs_written"] and all(name.endswith(".eval") for name in audit["logs_written"])
    denied = forewarn(
        data, "benchmark", "determination", "audit", done["id"], "--as", "safety@wren.test", ok=False
    )
    assert denied.returncode == 1 and "custodians" in denied.stderr
    again = forewarn(
        data, "benchmark", "determination", "request", model["id"], "--as", "safety@wren.test", ok=False
    )
    assert again.returncode == 1 and "limit" in again.stderr

    envelope = tmp_path / "attestation.json"
    forewarn(
        data, "benchmark", "determination", "attestation", done["id"], "--out", str(envelope),
        "--as", "safety@wren.test",
    )  # fmt: skip
    key = tmp_path / "programme.pem"
    forewarn(data, "attestation", "key", "--out", str(key))
    verified = forewarn(data, "attestation", "verify", str(envelope), "--key", str(key))
    assert "valid" in verified.stdout and "covered" in verified.stdout
    said = " ".join(verified.stdout.split())  # Rich may wrap the line
    assert "alpha 0.05 / beta 0.05" in said  # the policy's error rates; p0 and delta are not shown
    assert "0.3" not in said  # the spec's delta
    tampered = tmp_path / "tampered.json"
    tampered.write_text(envelope.read_text().replace('"payload":"', '"payload":"A'))
    bad = forewarn(data, "attestation", "verify", str(tampered), "--key", str(key), ok=False)
    assert bad.returncode == 1 and "error" in bad.stderr
