"""Pruning the feed: metadata versions and target contents no client can need any more go, every
root version stays, and real TUF clients over HTTP on 127.0.0.1 still update — one that held an
old state, a fresh one walking the root chain, and one paused in the middle of its update (holding
the timestamp of the previous snapshot) while the server publishes and prunes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tuf.api import exceptions
from tuf.ngclient import Updater, Urllib3Fetcher

from forewarn.clearinghouse.feed import jobs, service, tuf_repo
from forewarn.clearinghouse.feed.models import FeedMetadata, FeedTarget
from forewarn.core.clock import utcnow
from forewarn.core.errors import NotFound
from forewarn.core.jobs import Runtime

from .conftest import People, Served, frozen, published_in_feed
from .test_jobs import _context


class PausingFetcher(Urllib3Fetcher):
    """python-tuf's own fetcher, which runs *meanwhile* once, right after the timestamp arrived:
    the client has committed to that timestamp's snapshot and not fetched it yet."""

    def __init__(self, meanwhile: Callable[[], object]) -> None:
        super().__init__()
        self.meanwhile, self.paused = meanwhile, False

    def _fetch(self, url: str) -> Iterator[bytes]:
        chunks = list(super()._fetch(url))
        if url.endswith("/timestamp.json") and not self.paused:
            self.paused = True
            self.meanwhile()
        return iter(chunks)


def _download(
    served: Served, where: Path, root: bytes, target: str, fetcher: Urllib3Fetcher | None = None
) -> bytes:
    (where / "metadata").mkdir(parents=True, exist_ok=True)
    (where / "targets").mkdir(parents=True, exist_ok=True)
    updater = Updater(
        metadata_dir=str(where / "metadata"),
        metadata_base_url=served.metadata_url,
        target_dir=str(where / "targets"),
        target_base_url=served.targets_url,
        fetcher=fetcher,
        bootstrap=root,
    )
    updater.refresh()
    info = updater.get_targetinfo(target)
    assert info is not None, target
    return Path(updater.download_target(info)).read_bytes()


async def _versions(session: AsyncSession, role: str) -> list[int]:
    return list(
        await session.scalars(
            select(FeedMetadata.version).where(FeedMetadata.role == role).order_by(FeedMetadata.version)
        )
    )


async def _patch(
    session: AsyncSession, runtime: Runtime, people: People, advisory_id: str, body: bytes
) -> str:
    out = await service.upload_patch(
        session,
        advisory_id=advisory_id,
        filename="fix.patch",
        content=body,
        version="1.4.2",
        actor=people.vendor,
        key=runtime.keys.data,
        targets_url="http://feed.test/tuf/targets/",
        max_bytes=1000,
    )
    return out.sha256


async def test_old_versions_go_roots_stay_and_clients_still_update(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    now = utcnow()
    with frozen(now - timedelta(days=3)):  # three days of history: publications, a replaced patch
        first = await published_in_feed(session, runtime, people)
        old_patch = await _patch(session, runtime, people, first, b"patch v1\n")
        await _patch(session, runtime, people, first, b"patch v2\n")
        await service.rotate_key(session, role="root", key=runtime.keys.data)
    held = (await _versions(session, "snapshot"))[-1]
    await service.refresh(session, key=runtime.keys.data)  # today's timestamp, same snapshot
    root1 = await service.metadata_file(session, name="1.root.json")
    osv_path = f"advisories/{first}/osv.json"
    before = await asyncio.to_thread(_download, served, tmp_path / "old", root1, osv_path)
    second = await published_in_feed(session, runtime, people, name="ziplib")
    # Three days ago: the first patch, and the manifests and index shards it replaced; today: the
    # index shards the second advisory replaced.
    old = ~FeedTarget.current & (FeedTarget.superseded_at < now - timedelta(hours=24))
    superseded = await session.scalar(select(func.count()).where(old))
    today = await session.scalar(select(func.count()).where(~FeedTarget.current & ~old))
    assert superseded and today

    pruned = await service.prune(session, keep_hours=24)

    assert pruned["metadata"] > 0 and pruned["targets"] == superseded
    # The snapshot that was current 24 hours ago (the one the old client holds) and newer stay.
    assert await _versions(session, "snapshot") == [held, held + 1]
    assert await _versions(session, "root") == [1, 2]  # every root, always
    assert len(await _versions(session, "timestamp")) == 2  # today's two
    kept = tuf_repo.snapshot_bins(await service.metadata_file(session, name=f"{held}.snapshot.json"))
    for name, version in kept.items():
        assert min(await _versions(session, name)) == version
    with pytest.raises(NotFound):
        await service.metadata_file(session, name=f"{held - 1}.snapshot.json")
    with pytest.raises(NotFound):
        await service.target_content(session, path=f"advisories/{first}/patches/{old_patch}.fix.patch")
    assert await session.scalar(select(func.count()).where(~FeedTarget.current)) == today

    # The client that held the old state, and a fresh one walking root 1 → 2: both update.
    manifest = f"advisories/{second}/manifest.json"
    assert await asyncio.to_thread(_download, served, tmp_path / "old", root1, manifest)
    assert await asyncio.to_thread(_download, served, tmp_path / "fresh", root1, osv_path) == before

    # Two days on, the snapshot the old client holds is past the grace period too; it still updates.
    with frozen(now + timedelta(days=2)):
        assert (await service.prune(session, keep_hours=24))["metadata"] > 0
    assert await _versions(session, "snapshot") == [held + 1]
    assert await _versions(session, "root") == [1, 2]
    assert await session.scalar(select(func.count()).where(~FeedTarget.current)) == 0
    assert await asyncio.to_thread(_download, served, tmp_path / "old", root1, osv_path) == before
    assert await service.prune(session, keep_hours=0) == {"metadata": 0, "targets": 0}


async def test_a_client_mid_update_completes_while_the_server_publishes_and_prunes(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    now = utcnow()
    with frozen(now - timedelta(hours=2)):
        first = await published_in_feed(session, runtime, people)
    started_with = (await _versions(session, "snapshot"))[-1]
    root1 = await service.metadata_file(session, name="1.root.json")
    loop = asyncio.get_running_loop()
    pruned: dict[str, int] = {}

    async def publish_and_prune(name: str, prune_at: timedelta) -> None:
        await published_in_feed(session, runtime, people, name=name)
        with frozen(now + prune_at):
            pruned.update(await service.prune(session, keep_hours=1))

    def meanwhile(name: str, prune_at: timedelta) -> Callable[[], object]:
        return lambda: asyncio.run_coroutine_threadsafe(publish_and_prune(name, prune_at), loop).result()

    # The client has the timestamp naming snapshot N; the server signs N+1 and prunes with a grace
    # of one hour: N was current an hour ago, so it and what it lists stay, and the client finishes.
    fetcher = PausingFetcher(meanwhile("ziplib", timedelta(0)))
    osv_path = f"advisories/{first}/osv.json"
    got = await asyncio.to_thread(_download, served, tmp_path / "a", root1, osv_path, fetcher)
    assert fetcher.paused and first.encode() in got
    assert pruned["metadata"] > 0  # the versions before N went
    assert (await _versions(session, "snapshot"))[0] == started_with

    # Without the grace (the prune runs as if three hours later), the snapshot a paused client
    # committed to is gone and its update fails: the grace period is what it relies on.
    fetcher = PausingFetcher(meanwhile("gzlib", timedelta(hours=3)))
    with pytest.raises(exceptions.DownloadError):
        await asyncio.to_thread(_download, served, tmp_path / "b", root1, osv_path, fetcher)
    assert fetcher.paused


async def test_the_hourly_job_prunes(session: AsyncSession, runtime: Runtime, people: People) -> None:
    with frozen(utcnow() - timedelta(days=3)):
        first = await published_in_feed(session, runtime, people)
        await _patch(session, runtime, people, first, b"patch v1\n")
        await _patch(session, runtime, people, first, b"patch v2\n")
    assert await session.scalar(select(func.count()).where(~FeedTarget.current))
    snapshots = await _versions(session, "snapshot")
    assert runtime.settings.feed_keep_hours == 24
    assert await jobs.refresh(_context(session, runtime), timestamp=0) == ["timestamp"]
    assert await session.scalar(select(func.count()).where(~FeedTarget.current)) == 0
    assert await _versions(session, "snapshot") == snapshots[-1:]
