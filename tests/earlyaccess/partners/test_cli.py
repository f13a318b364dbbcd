"""``forewarn partners`` against a live demo server's data dir."""

from __future__ import annotations

import json

from tests.conftest import LiveServer
from tests.ledger.test_cli import forewarn


def test_cli_reads_the_registry_rules_panels_and_checks(live_server: LiveServer) -> None:
    rules = forewarn("partners", "rules", "--json", data_dir=live_server.data_dir)
    assert rules.returncode == 0, rules.stderr
    assert json.loads(rules.stdout)[0]["document"]["quorum_per_constituency"] == 2
    listed = forewarn("partners", "list", "--json", data_dir=live_server.data_dir)
    assert listed.returncode == 0, listed.stderr
    sentinel = next(p for p in json.loads(listed.stdout) if p["organisation_name"] == "Sentinel Assurance")
    assert sentinel["status"] == "vetted"
    panels = forewarn("partners", "panels", data_dir=live_server.data_dir)
    assert panels.returncode == 0 and "Standing panel" in panels.stdout and "government" in panels.stdout
    checked = forewarn("partners", "check", data_dir=live_server.data_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "every recorded outcome follows from its ballots" in checked.stdout
    stats = forewarn("partners", "stats", "--json", data_dir=live_server.data_dir)
    assert stats.returncode == 0 and "appeals" in json.loads(stats.stdout)
    # Bad input: one plain line naming the problem, exit 1, no traceback.
    bad = forewarn(
        "partners",
        "status",
        "Nobody Inc",
        "suspended",
        "--as",
        "coordinator@nsa.demo",
        "--reason",
        "A reason that is long enough.",
        data_dir=live_server.data_dir,
    )
    assert bad.returncode == 1 and "error:" in bad.stderr and "Traceback" not in bad.stderr
    wrong = forewarn(
        "partners",
        "status",
        "Sentinel Assurance",
        "dormant",
        "--as",
        "coordinator@nsa.demo",
        "--reason",
        "A reason that is long enough.",
        data_dir=live_server.data_dir,
    )
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
