"""``forewarn review`` end to end: real commands in subprocesses on a fresh data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"


def forewarn(
    data_dir: Path, *args: str, ok: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    out = subprocess.run(
        [sys.executable, "-m", "forewarn.cli.main", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=base | {"COLUMNS": "200", "FOREWARN_LOG_JSON": "false"} | (env or {}),
        timeout=300,
        check=False,
    )
    if ok:
        assert out.returncode == 0, f"{args}: {out.stderr}"
    return out


def test_agreement_windows_and_withdrawal_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    forewarn(data, "org", "create", "Wren Labs", "--kind", "lab")
    forewarn(data, "org", "create", "NSA", "--kind", "agency", "--code", "NSA")
    forewarn(
        data, "user", "create", "safety@wren.test", "--name", "S", "--org", "Wren Labs",
        "--role", "safety_lead", "--password", PASSWORD,
    )  # fmt: skip
    forewarn(
        data, "user", "create", "coord@nsa.test", "--name", "C", "--org", "NSA",
        "--role", "assessment_coordinator", "--password", PASSWORD,
    )  # fmt: skip
    text = tmp_path / "agreement.md"
    text.write_text("The lab may withdraw at any time; nothing here permits or blocks a release.\n")
    published = json.loads(
        forewarn(data, "review", "agreement", "publish", str(text), "--title", "Agreement", "--json").stdout
    )
    assert published["version"] == 1
    listed = forewarn(data, "review", "agreement", "list").stdout
    assert "Agreement" in listed and published["body_sha256"][:20] in listed
    refused = forewarn(data, "review", "agreement", "sign", "2", "--as", "safety@wren.test", ok=False)
    assert refused.returncode != 0 and "agreement_version" in refused.stderr + refused.stdout
    forewarn(data, "review", "agreement", "sign", "1", "--as", "safety@wren.test")
    model = json.loads(
        forewarn(
            data, "benchmark", "model", "register", "--name", "wren", "--version", "1", "--family", "wren",
            "--release", "2027-01-01", "--mode", "remote", "--base-url", "http://127.0.0.1:9/v1",
            "--model", "wren", "--as", "safety@wren.test", "--json",
        ).stdout
    )  # fmt: skip
    # Windows are for covered models; this model has no determination (the benchmark's CLI tests run
    # determinations), so the rest runs on a programme that lets labs open a window before one.
    undetermined = forewarn(
        data, "review", "windows", "open", model["id"], "--as", "safety@wren.test", ok=False
    )
    assert undetermined.returncode != 0 and "covered" in undetermined.stderr
    window = json.loads(
        forewarn(
            data, "review", "windows", "open", model["id"], "--as", "safety@wren.test", "--json",
            env={"FOREWARN_REVIEW_REQUIRE_COVERED": "false"},
        ).stdout
    )  # fmt: skip
    assert window["state"] == "awaiting_credential" and window["length_days"] == 30
    missing = forewarn(
        data, "review", "windows", "credential", window["id"], "--as", "safety@wren.test",
        "--credential-env", "WREN_KEY_UNSET", ok=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "WREN_KEY_UNSET" in missing.stderr + missing.stdout
    started = json.loads(
        forewarn(
            data, "review", "windows", "credential", window["id"], "--as", "safety@wren.test",
            "--credential-env", "WREN_KEY", "--json", env={"WREN_KEY": "sk-CANARY-cli"},
        ).stdout
    )  # fmt: skip
    assert started["state"] == "open" and started["day"] == 1
    forewarn(data, "review", "windows", "grant", window["id"], "--agency", "NSA", "--as", "coord@nsa.test")
    windows = json.loads(forewarn(data, "review", "windows", "list", "--json").stdout)
    assert [w["id"] for w in windows] == [window["id"]]
    notices = forewarn(data, "review", "windows", "notices", window["id"]).stdout
    assert "Review window open" in notices
    due = json.loads(forewarn(data, "review", "due", "--json").stdout)
    assert due["closed"] == []
    out = json.loads(forewarn(data, "review", "withdraw", "--as", "safety@wren.test", "--json").stdout)
    assert out["windows_closed"] == 1
    closed = json.loads(forewarn(data, "review", "windows", "list", "--json").stdout)
    assert closed[0]["state"] == "closed" and closed[0]["close_reason"] == "withdrawn"
