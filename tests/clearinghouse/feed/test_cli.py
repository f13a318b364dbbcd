"""``forewarn feed``: status (creates the repository), export-root, refresh-timestamp, rotate-key —
against a database of their own (the commands commit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.conftest import scratch_database
from typer.testing import CliRunner

from forewarn.clearinghouse.feed import tuf_repo
from forewarn.cli.main import app
from forewarn.core.db import sqlalchemy_url
from forewarn.core.settings import Settings

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with scratch_database(database_url, "feed_cli", migrated=False) as url:
        yield {"FOREWARN_DATABASE_URL": url, "FOREWARN_DATA_DIR": str(tmp_path_factory.mktemp("feed-cli"))}


def _rows(env: dict[str, str], sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(sqlalchemy_url(env["FOREWARN_DATABASE_URL"]))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_feed_commands(cli_env: dict[str, str], tmp_path: Path) -> None:
    status = runner.invoke(app, ["feed", "status", "--json"], env=cli_env)
    assert status.exit_code == 0, status.output
    out = json.loads(status.stdout)
    roles = {r["role"]: r for r in out["roles"]}
    assert set(roles) == set(tuf_repo.ROLES) and roles["root"]["version"] == 1
    # A new feed has the configured (here the default: 4096) number of hashed bins, each signed.
    default = Settings.model_fields["feed_hash_bins"].default
    assert out["bins"] == default == 4096 and len(out["bins_keyids"]) == 1
    assert _rows(cli_env, "SELECT count(*) FROM ch_feed_metadata WHERE role LIKE 'bin-%'") == [(default,)]
    root1 = tmp_path / "root.json"
    exported = runner.invoke(app, ["feed", "export-root", "--out", str(root1)], env=cli_env)
    assert exported.exit_code == 0, exported.output
    assert tuf_repo.load(root1.read_bytes()).signed.version == 1
    refreshed = runner.invoke(app, ["feed", "refresh-timestamp"], env=cli_env)
    assert refreshed.exit_code == 0 and "signed: timestamp" in refreshed.output
    rotated = runner.invoke(app, ["feed", "rotate-key", "root"], env=cli_env)
    assert rotated.exit_code == 0, rotated.output
    assert "root is now version 2" in rotated.output
    root2 = runner.invoke(app, ["feed", "export-root", "--version", "2"], env=cli_env)
    tuf_repo.verify_root(root1.read_bytes(), root2.stdout.strip().encode())
    # The rotation is in the transparency log; the private keys are in the database only sealed.
    assert _rows(cli_env, "SELECT count(*) FROM ledger_entries WHERE type = 'feed.key_rotated'") == [(1,)]
    keys = _rows(cli_env, "SELECT role, retired_at IS NULL FROM ch_feed_keys ORDER BY created_at")
    assert sorted(keys) == sorted([("root", False), *[(r, True) for r in tuf_repo.KEY_ROLES]])
    # Fewer bins by hand (the hourly refresh would move it back to the configured number).
    moved = runner.invoke(app, ["feed", "use-bins", "256"], env=cli_env)
    assert moved.exit_code == 0 and "now has 256 hashed bins" in moved.output, moved.output
    again = runner.invoke(app, ["feed", "use-bins", "256"], env=cli_env)
    assert "already has 256 bins" in again.output
    status = runner.invoke(app, ["feed", "status", "--json"], env=cli_env)
    assert json.loads(status.stdout)["bins"] == 256
    odd = runner.invoke(app, ["feed", "use-bins", "100"], env=cli_env)
    assert odd.exit_code != 0 and "power of two" in str(odd.exception) + odd.output
    bad = runner.invoke(app, ["feed", "rotate-key", "mirror"], env=cli_env)
    assert bad.exit_code != 0
    assert "unknown TUF role 'mirror'" in str(bad.exception) + bad.output


def test_the_offline_root_ceremony_and_pruning(cli_env: dict[str, str], tmp_path: Path) -> None:
    """keygen (offline machine), export (server), sign twice (offline, no database), import (server)."""
    for name in ("k1", "k2"):
        made = runner.invoke(app, ["feed", "root", "keygen", "--out", str(tmp_path / f"{name}.pem")])
        assert made.exit_code == 0, made.output
        assert (tmp_path / f"{name}.pem").stat().st_mode & 0o077 == 0
    again = runner.invoke(app, ["feed", "root", "keygen", "--out", str(tmp_path / "k1.pem")])
    assert again.exit_code != 0 and "exists already" in str(again.exception) + again.output
    before = json.loads(runner.invoke(app, ["feed", "status", "--json"], env=cli_env).stdout)
    version = next(r["version"] for r in before["roles"] if r["role"] == "root")
    assert before["root_offline"] is False
    file = tmp_path / "next-root.json"
    exported = runner.invoke(
        app,
        [
            "feed",
            "root",
            "export",
            "--out",
            str(file),
            "--root-key",
            str(tmp_path / "k1.pem.pub"),
            "--root-key",
            str(tmp_path / "k2.pem.pub"),
            "--threshold",
            "2",
        ],
        env=cli_env,
    )
    assert exported.exit_code == 0, exported.output
    assert (
        f"root version {version + 1} written" in exported.output
        and "1 signature(s) so far" in exported.output
    )
    # Signing needs no server: no database settings at all.
    signed = runner.invoke(
        app, ["feed", "root", "sign", str(file), "--key", str(tmp_path / "k1.pem")], env={}
    )
    assert signed.exit_code == 0 and "2 signature(s) now" in signed.output, signed.output
    early = runner.invoke(app, ["feed", "root", "import", str(file)], env=cli_env)
    assert early.exit_code != 0
    assert "1 of the 2 the new root requires" in str(early.exception) + early.output
    runner.invoke(app, ["feed", "root", "sign", str(file), "--key", str(tmp_path / "k2.pem")])
    imported = runner.invoke(app, ["feed", "root", "import", str(file)], env=cli_env)
    assert imported.exit_code == 0, imported.output
    assert f"root version {version + 1} published: threshold 2 of 2 root keys; the root is now offline" in (
        imported.output
    )
    after = json.loads(runner.invoke(app, ["feed", "status", "--json"], env=cli_env).stdout)
    assert after["root_offline"] is True
    assert _rows(cli_env, "SELECT count(*) FROM ch_feed_keys WHERE private_sealed IS NULL") == [(2,)]
    assert _rows(cli_env, "SELECT count(*) FROM ledger_entries WHERE type = 'feed.key_rotated'") == [(2,)]
    refused = runner.invoke(app, ["feed", "rotate-key", "targets"], env=cli_env)
    assert refused.exit_code != 0 and "held offline" in str(refused.exception) + refused.output
    assert "forewarn feed root export --rotate targets" in str(refused.exception) + refused.output
    rotating = runner.invoke(
        app,
        ["feed", "root", "export", "--out", str(tmp_path / "r.json"), "--rotate", "timestamp"],
        env=cli_env,
    )
    assert rotating.exit_code == 0 and "0 signature(s) so far" in rotating.output, rotating.output
    wrong = runner.invoke(
        app, ["feed", "root", "export", "--out", str(tmp_path / "r.json"), "--rotate", "root"], env=cli_env
    )
    assert wrong.exit_code != 0 and "cannot rotate root" in str(wrong.exception) + wrong.output
    pruned = runner.invoke(app, ["feed", "prune", "--keep-hours", "1"], env=cli_env)
    assert pruned.exit_code == 0 and "pruned" in pruned.output, pruned.output
