"""``forewarn grants`` and ``forewarn workforce`` against a live demo server's data dir."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import LiveServer
from tests.ledger.test_cli import forewarn


def test_cli_lists_creates_and_refuses_bad_input(live_server: LiveServer, tmp_path: Path) -> None:
    calls = forewarn("grants", "calls", "--json", data_dir=live_server.data_dir)
    assert calls.returncode == 0, calls.stderr
    assert any(c["title"] == "AI vulnerability detection tools, round 1" for c in json.loads(calls.stdout))
    now = datetime.now(UTC)
    body = {
        "title": "CLI call",
        "purpose": "A call made from the command line for tests.",
        "funding_pool": 1000,
        "award_ceiling": 500,
        "eligibility": "Anyone eligible.",
        "criteria": [{"key": "impact", "name": "Impact", "weight": 1.0}],
        "opens_at": (now - timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=5)).isoformat(),
    }
    good = tmp_path / "call.json"
    good.write_text(json.dumps(body))
    made = forewarn(
        "grants",
        "create-call",
        str(good),
        "--as",
        "analyst@treasury.demo",
        "--publish",
        "--json",
        data_dir=live_server.data_dir,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["state"] == "published"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(body | {"award_ceiling": 5000}))
    refused = forewarn(
        "grants", "create-call", str(bad), "--as", "analyst@treasury.demo", data_dir=live_server.data_dir
    )
    assert refused.returncode == 1 and "award_ceiling" in refused.stderr and "Traceback" not in refused.stderr
    not_officer = forewarn(
        "grants", "create-call", str(good), "--as", "founder@tessellate.demo", data_dir=live_server.data_dir
    )
    assert not_officer.returncode == 1

    pathways = forewarn("workforce", "pathways", "--json", data_dir=live_server.data_dir)
    assert {p["key"] for p in json.loads(pathways.stdout)} >= {"ai-red-team", "ml-security-engineer"}
    metrics = forewarn("workforce", "metrics", "--json", data_dir=live_server.data_dir)
    assert metrics.returncode == 0, metrics.stderr
    red_team = next(m for m in json.loads(metrics.stdout) if m["pathway"] == "ai-red-team")
    assert red_team["postings"] >= 1
    postings = forewarn("workforce", "postings", "--json", data_dir=live_server.data_dir)
    assert any(p["agency_name"].startswith("Cybersecurity") for p in json.loads(postings.stdout))
