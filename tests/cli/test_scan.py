"""``forewarn scan`` end to end: a real process on real files, exit status 0/1/2, the --json shape, the
table, advisories from a folder or a zip, VEX, and one clear line on stderr for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parents[1] / "clearinghouse" / "inventory" / "fixtures"
VEX = Path(__file__).parents[1] / "clearinghouse" / "matching" / "fixtures"


def forewarn(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``forewarn scan ARGS`` in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "forewarn.cli.main", "scan", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def in_process(*args: str | Path) -> Ran:
    """``forewarn scan ARGS`` through Typer's runner (the same command, without a process start)."""
    from typer.testing import CliRunner

    from forewarn.cli.main import app

    result = CliRunner().invoke(app, ["scan", *map(str, args)], env={"COLUMNS": "200"})
    return Ran(result.exit_code, result.stdout, result.stderr)


def record(
    id_: str, ecosystem: str, name: str, fixed: str, aliases: list[str] | None = None
) -> dict[str, Any]:
    return {
        "schema_version": "1.7.4",
        "id": id_,
        "aliases": aliases or [],
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }


RECORDS = [
    record(
        "GHSA-jfh8-c2jp-5v3q", "Maven", "org.apache.logging.log4j:log4j-core", "2.15.0", ["CVE-2021-44228"]
    ),
    record("GHSA-j8r2-6x86-q33q", "PyPI", "requests", "2.31.0", ["CVE-2023-32681"]),
    record("PYSEC-2023-74", "PyPI", "Requests", "2.31.0", ["CVE-2023-32681"]),
    record("ALPINE-CVE-2023-0001", "Alpine:v3.18", "busybox", "1.36.1-r1"),  # already fixed in r2
    record("GHSA-xxxx-xxxx-xxxx", "npm", "unrelated", "1.0.0"),
]


@pytest.fixture
def advisories(tmp_path: Path) -> Path:
    folder = tmp_path / "osv"
    (folder / "nested").mkdir(parents=True)
    for i, doc in enumerate(RECORDS):
        (folder / ("nested" if i % 2 else "") / f"{doc['id']}.json").write_text(json.dumps(doc))
    (folder / "README.txt").write_text("not a record")
    return folder


def test_affected_exits_1_with_the_json_shape(advisories: Path) -> None:
    result = forewarn(FIXTURES / "sbom-2.3.spdx.json", "--advisories", advisories, "--json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"results", "unscannable"}
    assert doc["results"] == [
        {
            "package": {
                "ecosystem": "Maven",
                "name": "org.apache.logging.log4j:log4j-core",
                "version": "2.14.1",
                "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            },
            "advisories": ["GHSA-jfh8-c2jp-5v3q"],
        },
        {
            "package": {
                "ecosystem": "PyPI",
                "name": "requests",
                "version": "2.25.0",
                "purl": "pkg:pypi/requests@2.25.0",
            },
            "advisories": ["GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"],
        },
    ]
    assert doc["unscannable"] == [
        {
            "package": {"ecosystem": None, "name": "scada-gateway", "version": "5.0", "purl": None},
            "location": "/packages/0",
            "reason": "no purl",
        }
    ]
    assert result.stderr == ""


def test_nothing_affected_exits_0_and_prints_a_table(advisories: Path, tmp_path: Path) -> None:
    sbom = tmp_path / "fixed.csv"
    sbom.write_text("product,version,ecosystem\nrequests,2.31.0,PyPI\nbusybox,1.36.1-r2,Alpine\npump,1.0,\n")
    result = forewarn(sbom, "--advisories", advisories)
    assert result.returncode == 0, result.stderr
    assert "No known vulnerabilities" in result.stdout
    assert "pump@1.0" in result.stdout and "no purl and no ecosystem" in result.stdout


def test_the_table_names_packages_advisories_and_fixes(advisories: Path) -> None:
    result = in_process(FIXTURES / "sbom-2.3.spdx.json", "--advisories", advisories)
    assert result.returncode == 1
    for text in (
        "log4j-core",
        "GHSA-jfh8-c2jp-5v3q",
        "2.15.0",
        "requests",
        "PYSEC-2023-74",
        "2.31.0",
        "scada-gateway",
    ):
        assert text in result.stdout


def test_advisories_from_a_zip_and_vex_applied(advisories: Path, tmp_path: Path) -> None:
    archive = tmp_path / "osv.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in advisories.rglob("*.json"):
            zf.write(path, path.name)
    result = forewarn(
        FIXTURES / "sbom-2.3.spdx.json", "--advisories", archive, "--vex", VEX / "openvex.json", "--json"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert json.loads(result.stdout)["results"] == []


def test_vex_embedded_in_a_cyclonedx_sbom_is_applied(tmp_path: Path) -> None:
    from tests.conftest import testdata

    sample = testdata("cyclonedx", "valid-vulnerability-1.6.json")
    folder = tmp_path / "osv"
    folder.mkdir()
    doc = record(
        "GHSA-4w82-r329-3q67",
        "Maven",
        "com.fasterxml.jackson.core:jackson-databind",
        "2.9.5",
        ["CVE-2018-7489"],
    )
    (folder / "a.json").write_text(json.dumps(doc))
    result = in_process(sample, "--advisories", folder)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Suppressed by VEX: GHSA-4w82-r329-3q67" in result.stdout


BAD_SBOM = b'{"bomFormat": "CycloneDX", "specVersion": "1.3", "components": []}'


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing sbom", "No such file"),
        ("invalid sbom", "unsupported CycloneDX version: /specVersion"),
        ("missing advisories", "no such file or folder"),
        ("invalid advisory", "bad.json: OSV record does not match the OSV schema: /modified"),
        ("no advisories option", "give --advisories PATH"),
        ("server", "--server needs --token"),
        ("invalid vex", "VEX document"),
        ("invalid embedded vex", "VEX in the SBOM: "),
    ],
)
def test_bad_input_exits_2_with_one_line(case: str, message: str, advisories: Path, tmp_path: Path) -> None:
    """Each kind of bad input; the first runs in its own process, the rest through the runner."""
    sbom = FIXTURES / "sbom-2.3.spdx.json"
    args: list[str | Path] = [sbom, "--advisories", advisories]
    if case == "missing sbom":
        args[0] = tmp_path / "nope.json"
    elif case == "invalid sbom":
        args[0] = tmp_path / "bad.json"
        (tmp_path / "bad.json").write_bytes(BAD_SBOM)
    elif case == "missing advisories":
        args[2] = tmp_path / "nowhere"
    elif case == "invalid advisory":
        (advisories / "bad.json").write_text(
            json.dumps({**record("GHSA-bad", "PyPI", "requests", "2.31.0"), "modified": "soon"})
        )
    elif case == "no advisories option":
        args = [sbom]
    elif case == "server":
        args = [sbom, "--server", "https://forewarn.example"]
    elif case == "invalid embedded vex":
        bom = {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "version": 1,
            "components": [{"type": "library", "name": "a", "version": "1", "purl": "pkg:npm/a@1"}],
            "vulnerabilities": [{"id": "CVE-1", "analysis": {"state": "not_affected"}}],
        }
        args[0] = tmp_path / "bom.json"
        (tmp_path / "bom.json").write_text(json.dumps(bom))
    elif case == "invalid vex":
        (tmp_path / "vex.json").write_text('{"hello": "world"}')
        args += ["--vex", tmp_path / "vex.json"]
    result = forewarn(*args) if case == "invalid sbom" else in_process(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_skip_invalid_advisories_warns_and_irrelevant_records_are_not_validated(advisories: Path) -> None:
    (advisories / "bad.json").write_text(
        json.dumps({**record("GHSA-bad", "PyPI", "requests", "2.31.0"), "modified": "soon"})
    )
    (advisories / "other.json").write_text(
        json.dumps({**record("GHSA-other", "npm", "x", "1.0.0"), "modified": "soon"})
    )
    result = in_process(
        FIXTURES / "sbom-2.3.spdx.json", "--advisories", advisories, "--skip-invalid-advisories", "--json"
    )
    assert result.returncode == 1
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("warning: skipped invalid advisory") and "bad.json" in warning
    assert len(json.loads(result.stdout)["results"]) == 2
