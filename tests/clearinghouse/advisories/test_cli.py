"""``forewarn advisories``: validate (no storage, non-zero exit naming file and field), import as
reports (all or nothing), import --public (streaming, zip archives, newest wins), kev, export."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.conftest import scratch_database
from typer.testing import CliRunner

from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
from forewarn.cli.main import app
from forewarn.core.db import sqlalchemy_url

from .conftest import osv_doc

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


@pytest.fixture(scope="module")
def cli_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A database of its own (the commands commit) and the environment that points the CLI at it."""
    with scratch_database(database_url, "cli", migrated=False) as url:
        yield {"FOREWARN_DATABASE_URL": url, "FOREWARN_DATA_DIR": str(tmp_path_factory.mktemp("cli-data"))}


def scalar(env: dict[str, str], sql: str) -> int:
    engine = create_engine(sqlalchemy_url(env["FOREWARN_DATABASE_URL"]))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def write(path: Path, doc: dict[str, object]) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_validate_lists_problems_by_file_and_field(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", osv_doc())
    bad = FIXTURES / "bad" / "fixed-before-introduced.json"
    result = runner.invoke(app, ["advisories", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"ok  {good}: osv" in result.stdout
    assert f"bad {bad}: OSV record is not a valid advisory" in result.stderr
    assert "/affected/0/ranges/0: events: a fix or last affected version" in result.stderr
    as_json = runner.invoke(
        app, ["advisories", "validate", "--json", str(good), str(FIXTURES / "scan.sarif")]
    )
    assert as_json.exit_code == 0
    assert [r["format"] for r in json.loads(as_json.stdout)] == ["osv", "sarif"]


def test_import_export_round(cli_database: dict[str, str], tmp_path: Path) -> None:
    env = cli_database
    one = write(tmp_path / "one.json", osv_doc())
    two = FIXTURES / "garak.report.jsonl"
    bad = FIXTURES / "bad" / "unknown-ecosystem.json"

    refused = runner.invoke(app, ["advisories", "import", str(one), str(bad)], env=env)
    assert isinstance(refused.exception, InvalidAdvisory)
    assert "1 of 2 documents refused; nothing stored" in refused.exception.message
    assert any("unknown-ecosystem.json" in p.field for p in refused.exception.problems)
    assert scalar(env, "SELECT count(*) FROM ch_reports") == 0

    stored = runner.invoke(
        app, ["advisories", "import", "--json", "--tlp", "amber+strict", str(one), str(two)], env=env
    )
    assert stored.exit_code == 0, stored.output
    reports = json.loads(stored.stdout)
    assert len(reports) == 3 and {r["tlp"] for r in reports} == {"AMBER+STRICT"}
    assert scalar(env, "SELECT count(*) FROM ch_reports") == 3

    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for i in range(3):
            zipped.writestr(f"GHSA-{i}aaa-bbbb-cccc.json", json.dumps(osv_doc(f"GHSA-{i}aaa-bbbb-cccc")))
    public = runner.invoke(app, ["advisories", "import", "--public", "--json", str(archive)], env=env)
    assert public.exit_code == 0, public.output
    assert json.loads(public.stdout) == {"received": 3, "stored": 3, "skipped_older": 0}
    again = runner.invoke(app, ["advisories", "import", "--public", "--json", str(archive)], env=env)
    assert json.loads(again.stdout) == {"received": 3, "stored": 0, "skipped_older": 3}

    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as zipped:
        zipped.writestr("GHSA-9aaa-bbbb-cccc.json", json.dumps(osv_doc("GHSA-9aaa-bbbb-cccc")))
        zipped.writestr("bad.json", (FIXTURES / "bad" / "unknown-ecosystem.json").read_text())
    refused_public = runner.invoke(app, ["advisories", "import", "--public", str(broken)], env=env)
    assert isinstance(refused_public.exception, InvalidAdvisory)
    assert refused_public.exception.message.startswith(f"{broken}:bad.json: ")
    assert scalar(env, "SELECT count(*) FROM ch_public_advisories") == 3  # nothing of the broken archive

    kev = tmp_path / "kev.json"
    kev.write_text(
        json.dumps(
            {
                "catalogVersion": "1",
                "vulnerabilities": [{"cveID": "CVE-2026-1234", "dateAdded": "2026-01-02"}],
            }
        )
    )
    imported = runner.invoke(app, ["advisories", "kev", "--json", str(kev)], env=env)
    assert imported.exit_code == 0 and json.loads(imported.stdout)["entries"] == 1

    out = tmp_path / "site"
    exported = runner.invoke(app, ["advisories", "export", "--json", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    assert (out / "csaf" / ".well-known" / "csaf" / "provider-metadata.json").is_file()
    assert (out / "csaf" / ".well-known" / "csaf" / "white" / "index.txt").read_text() == ""
    (key_entry,) = json.loads((out / "csaf" / ".well-known" / "csaf" / "provider-metadata.json").read_text())[
        "public_openpgp_keys"
    ]
    key_file = out / "csaf" / ".well-known" / "csaf" / "openpgp" / f"{key_entry['fingerprint']}.asc"
    assert key_file.read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert (out / "osv" / "all.zip").is_file()
