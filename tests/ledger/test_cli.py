"""`forewarn ledger` end to end against a real `forewarn serve`: verify, export, prove, witness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import LiveServer


def forewarn(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {"COLUMNS": "200"}
    prefix = ["--data-dir", str(data_dir)] if data_dir else []
    return subprocess.run(
        [sys.executable, "-m", "forewarn.cli.main", *prefix, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str) -> Run:
    """A ``forewarn`` command that only speaks HTTP, run in this process (faster than a subprocess).

    Domain errors become exit code 1 and one line, as ``forewarn.cli.main.main`` prints them.
    """
    from typer.testing import CliRunner

    from forewarn.cli.main import app
    from forewarn.core.errors import ForewarnError

    result = CliRunner().invoke(app, list(args))
    stderr = result.stderr
    if isinstance(result.exception, ForewarnError):
        stderr += f"error: {result.exception}\n"
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, stderr)


def sign_checkpoint(server: LiveServer) -> int:
    """Sign the log's head now, as an operator can (the worker in `serve` does it after appends)."""
    out = forewarn("ledger", "checkpoint", "--json", data_dir=server.data_dir)
    assert out.returncode == 0, out.stderr
    return int(json.loads(out.stdout)["size"])


@pytest.fixture(scope="module")
def log_key(live_server: LiveServer) -> str:
    sign_checkpoint(live_server)
    out = forewarn("ledger", "key", data_dir=live_server.data_dir)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert key == httpx.get(live_server.url + "/api/v1/ledger/key").text.strip()
    assert key.startswith("127.0.0.1/ledger+")
    return key


def test_verify_a_live_server_end_to_end(live_server: LiveServer, log_key: str) -> None:
    size = sign_checkpoint(live_server)
    assert size >= 12  # the demo world: organisations created, roles granted
    ok = cli("ledger", "verify", "--url", live_server.url, "--key", log_key, "--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["entries"] == report["size"] >= size and report["key"] == log_key
    assert "warning" not in ok.stderr
    unpinned = cli("ledger", "verify", "--url", live_server.url)
    assert (
        unpinned.returncode == 0
        and "OK:" in unpinned.stdout
        and "checkpoints of 127.0.0.1/ledger" in unpinned.stdout
    )
    assert "warning: trusting the key the log itself serves" in unpinned.stderr
    other = "127.0.0.1/ledger+00000000+AX9GcM1DRm4S6bL8oHUOiOOTWcNH7OcQg0qtg7iUi2dt"
    wrong = forewarn("ledger", "verify", "--url", live_server.url, "--key", other)  # the real process
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr


def test_export_a_mirror_verify_it_and_catch_tampering(
    live_server: LiveServer, log_key: str, tmp_path: Path
) -> None:
    dump = tmp_path / "mirror.jsonl"
    made = cli("ledger", "export", str(dump), "--url", live_server.url)
    assert made.returncode == 0, made.stderr
    ok = cli("ledger", "verify", "--dump", str(dump), "--key", log_key)
    assert ok.returncode == 0, ok.stderr
    lines = dump.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith('{"entry"'))
    lines[first + 3], lines[first + 4] = lines[first + 4], lines[first + 3]
    bad = tmp_path / "reordered.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    failed = cli("ledger", "verify", "--dump", str(bad), "--key", log_key)
    assert failed.returncode == 1
    assert "entry 3 is missing or out of order" in failed.stderr
    local = tmp_path / "local.jsonl"  # an operator's export, from the database
    assert forewarn("ledger", "export", str(local), data_dir=live_server.data_dir).returncode == 0
    assert cli("ledger", "verify", "--dump", str(local), "--key", log_key).returncode == 0


def test_witness_cosigns_and_prove_checks_an_entry(
    live_server: LiveServer, log_key: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "witness.key"
    made = cli("ledger", "witness-key", "witness.test/cli", "--key-file", str(key_file))
    assert made.returncode == 0, made.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    vkey = made.stdout.strip()
    added = forewarn("ledger", "witnesses", "add", vkey, "--json", data_dir=live_server.data_dir)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["vkey"] == vkey
    # Registering the witness is itself in the log; sign it now rather than wait for the worker.
    size = sign_checkpoint(live_server)

    state = tmp_path / "witness-state.json"
    args = ["ledger", "witness", "--url", live_server.url, "--key-file", str(key_file), "--state", str(state)]
    first = cli(*args, "--log-key", log_key)
    assert first.returncode == 0, first.stderr
    assert "cosigned size" in first.stdout
    latest = httpx.get(live_server.url + "/api/v1/ledger/checkpoints/latest").json()
    assert latest["size"] >= size and latest["cosignatures"][0]["witness"].startswith("witness.test/cli+")
    again = cli(*args)  # the state file now pins the log key
    assert again.returncode == 0 and "no new checkpoint" in again.stdout

    checked = cli("ledger", "verify", "--url", live_server.url, "--key", log_key, "--witness", vkey)
    assert checked.returncode == 0 and "witness witness.test/cli+" in checked.stdout

    entries = httpx.get(live_server.url + "/api/v1/ledger/entries", params={"start": 0, "end": 5}).json()
    entry_id = entries["entries"][4]["entry_id"]
    proved = cli("ledger", "prove", entry_id, "--url", live_server.url, "--key", log_key)
    assert proved.returncode == 0, proved.stderr
    assert "verified: the entry is leaf 4 of the tree signed by" in proved.stdout
    local = forewarn("ledger", "prove", entry_id, "--json", data_dir=live_server.data_dir)
    assert local.returncode == 0 and json.loads(local.stdout)["inclusion"]["index"] == 4
