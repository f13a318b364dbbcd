"""``forewarn scan --server``: a real ``forewarn scan`` process asks a real ``forewarn serve`` on
127.0.0.1, which matches the SBOM against its published advisories without storing it; the output is
the offline scan's, on the same advisory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from tests.conftest import LiveServer

from .conftest import cyclonedx
from .test_browser import OPERATOR, _client, _publish


def forewarn_scan(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "forewarn.cli.main", "scan", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _token(server: LiveServer, email: str) -> str:
    client, headers = _client(server, email)
    made = client.post("/api/v1/tokens", json={"name": "scan"}, headers=headers)
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    assert token.startswith("fw_")
    return token


def test_scan_against_the_server_matches_the_offline_scan(live_server: LiveServer, tmp_path: Path) -> None:
    advisory_id = _publish(live_server, "serverscanlib")
    token = _token(live_server, OPERATOR)
    assets_before = httpx.get(
        f"{live_server.url}/api/v1/operator/assets", headers={"Authorization": f"Bearer {token}"}
    ).json()
    sbom = tmp_path / "bom.cdx.json"
    extra = [{"type": "device", "bom-ref": "pump", "name": "Infusion pump", "version": "3.4"}]
    sbom.write_bytes(cyclonedx(("serverscanlib", "1.2.0"), ("serverscanlib-safe", "9.9"), extra=extra))

    remote = forewarn_scan(sbom, "--server", live_server.url, "--token", token, "--json")
    assert remote.returncode == 1, remote.stderr + remote.stdout
    got = json.loads(remote.stdout)
    assert got["results"] == [
        {
            "package": {
                "ecosystem": "PyPI",
                "name": "serverscanlib",
                "version": "1.2.0",
                "purl": "pkg:pypi/serverscanlib@1.2.0",
            },
            "advisories": [advisory_id],
        }
    ]
    assert [u["reason"] for u in got["unscannable"]] == ["no purl"]

    # Offline, on the same published record: the same document.
    folder = tmp_path / "osv"
    folder.mkdir()
    record = httpx.get(f"{live_server.url}/api/v1/advisories/{advisory_id}").json()
    (folder / f"{advisory_id}.json").write_text(json.dumps(record))
    offline = forewarn_scan(sbom, "--advisories", folder, "--json")
    assert offline.returncode == 1, offline.stderr
    assert json.loads(offline.stdout) == got

    table = forewarn_scan(sbom, "--server", live_server.url, "--token", token)
    assert table.returncode == 1, table.stderr
    assert "Affected components" in table.stdout and advisory_id in table.stdout
    assert re.search(r"serverscanlib\s.*1\.2\.0.*1\.4\.2", table.stdout)  # nearest fixed version
    assert "Infusion pump@3.4" in table.stdout and "1 affected component(s)." in table.stdout

    clean = tmp_path / "clean.cdx.json"
    clean.write_bytes(cyclonedx(("serverscanlib", "1.4.2")))
    assert forewarn_scan(clean, "--server", live_server.url, "--token", token).returncode == 0

    # Nothing was stored: the operator's assets are as they were.
    assets_after = httpx.get(
        f"{live_server.url}/api/v1/operator/assets", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert assets_after == assets_before


def test_scan_against_the_server_refuses_bad_input(live_server: LiveServer, tmp_path: Path) -> None:
    token = _token(live_server, OPERATOR)
    sbom = tmp_path / "bom.cdx.json"
    sbom.write_bytes(cyclonedx(("anything", "1.0.0")))

    bad_token = forewarn_scan(sbom, "--server", live_server.url, "--token", "fw_not-a-token")
    assert bad_token.returncode == 2
    assert bad_token.stderr.strip() == f"error: {live_server.url} refused the token (HTTP 401)"

    no_token = forewarn_scan(sbom, "--server", live_server.url)
    assert no_token.returncode == 2 and "--server needs --token" in no_token.stderr

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.3", "components": []}))
    refused = forewarn_scan(broken, "--server", live_server.url, "--token", token)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: SBOM {broken}: unsupported CycloneDX version: /specVersion")
    assert len(refused.stderr.strip().splitlines()) == 1

    vex = forewarn_scan(sbom, "--server", live_server.url, "--token", token, "--vex", sbom)
    assert vex.returncode == 2 and "--vex is applied offline only" in vex.stderr
