"""`forewarn serve` on a fresh data dir comes up, answers, and the CLI works beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
from tests.conftest import LiveServer


def cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "forewarn.cli.main", "--data-dir", str(server.data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_serve_answers_health_api_and_pages(live_server: LiveServer) -> None:
    assert httpx.get(live_server.url + "/healthz").json() == {"status": "ok"}
    spec = httpx.get(live_server.url + "/api/v1/openapi.json").json()
    assert "/api/v1/organisations" in spec["paths"]
    me = httpx.get(live_server.url + "/api/v1/me")
    assert me.status_code == 401 and me.json()["title"] == "Sign-in required"
    home = httpx.get(live_server.url + "/")
    assert home.status_code == 200 and "Transparency log" in home.text
    out = live_server.output
    assert "First administrator: admin@forewarn.local" in out and "one-time password:" in out
    assert f"http://127.0.0.1:{live_server.port}/" in out
    assert (live_server.data_dir / "keys" / "signing.ed25519").stat().st_mode & 0o777 == 0o600


def test_serve_runs_a_job_worker(live_server: LiveServer) -> None:
    import psycopg

    url = cli(live_server, "db", "url")
    assert url.returncode == 0, url.stderr
    with psycopg.connect(url.stdout.strip()) as conn:
        row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
    assert row is not None and row[0] >= 1


def test_cli_org_and_token_against_running_server(live_server: LiveServer) -> None:
    orgs = cli(live_server, "org", "list", "--json")
    assert orgs.returncode == 0, orgs.stderr
    codes = {o["code"] for o in json.loads(orgs.stdout)}
    assert {"NSA", "CISA", "NIST", "ONCD", "TREASURY"} <= codes
    made = cli(live_server, "token", "create", "safety@northwind.demo", "--org", "Northwind AI", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    me = httpx.get(live_server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["organisation_name"] == "Northwind AI"
    revoked = cli(live_server, "token", "revoke", json.loads(made.stdout)["id"])
    assert revoked.returncode == 0, revoked.stderr
    assert (
        httpx.get(live_server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_cli_errors_are_one_clear_line(live_server: LiveServer) -> None:
    bad = cli(live_server, "org", "create", "Some Agency", "--kind", "agency")
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0, bad.stderr
    assert "needs a code" in bad.stderr and "Traceback" not in bad.stderr
    clash = cli(live_server, "org", "create", "Northwind AI", "--kind", "lab")
    assert clash.returncode == 1 and "name: taken" in clash.stderr


def test_help_lists_every_group() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "forewarn.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"COLUMNS": "200"},
    ).stdout
    for group in ("serve", "worker", "db", "org", "user", "token"):
        assert group in out
