"""The feed's index and the agent's client, which lists targets through it with python-tuf's public
API only: every published target is listed and fetched verified over real HTTP on 127.0.0.1; a
tampered index shard, a target the index and the signed metadata disagree on, and a missing index
are refused with a clear message; the hourly refresh builds the index of a feed made without it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.agent import config as agent_config
from forewarn.agent.config import AgentError
from forewarn.agent.feed import FEED_REFUSED, Feed
from forewarn.clearinghouse.feed import service, tuf_repo
from forewarn.clearinghouse.feed.models import FeedTarget
from forewarn.core.jobs import Runtime

from .conftest import TEST_BINS, People, Served, published_in_feed

TOKEN = "fw_" + "x" * 40  # never sent: the feed is public


async def _feed(session: AsyncSession, served: Served, folder: Path) -> Feed:
    root = await service.metadata_file(session, name="1.root.json")
    return Feed(agent_config.save(folder, server=served.url, root=root, token=TOKEN, sboms=[]))


async def test_the_agent_lists_and_fetches_every_published_target(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    first = await published_in_feed(session, runtime, people)
    second = await published_in_feed(session, runtime, people, name="ziplib")
    await service.upload_patch(
        session,
        advisory_id=first,
        filename="tarlib-1.4.2.patch",
        content=b"patch\n",
        version="1.4.2",
        actor=people.vendor,
        key=runtime.keys.data,
        targets_url="http://feed.test/tuf/targets/",
        max_bytes=100,
    )
    listed = await service.listed_targets(session)
    assert len(listed) == 7
    # index.json names one shard per bin; each shard lists its bin's targets with length and hash.
    indexed = await service.listed_targets(session, index=True)
    index_doc = json.loads(
        await service.target_content(session, path=f"{indexed['index.json']['hashes']['sha256']}.index.json")
    )
    assert index_doc["schema"] == service.INDEX_SCHEMA
    assert index_doc["shards"] == [service.shard_path(n) for n in tuf_repo.Bins(TEST_BINS).names()]

    feed = await _feed(session, served, tmp_path / "agent")
    synced = await asyncio.to_thread(feed.refresh)
    assert synced.paths == sorted(listed)
    assert (
        synced.snapshot_version
        == json.loads(await service.metadata_file(session, name="snapshot.json"))["signed"]["version"]
    )
    osv = await asyncio.to_thread(feed.fetch, f"advisories/{second}/osv.json")
    assert json.loads(osv)["id"] == second
    patch = await asyncio.to_thread(feed.fetch, f"advisories/{first}/patches/tarlib-1.4.2.patch")
    assert patch == b"patch\n"
    # A second run takes unchanged shards from the verified cache; a new publication shows up.
    third = await published_in_feed(session, runtime, people, name="gzlib")
    again = await asyncio.to_thread(Feed(feed.config).refresh)
    assert f"advisories/{third}/osv.json" in again.paths and len(again.paths) == 10


async def test_a_tampered_index_shard_is_refused(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    shard = service.shard_path(tuf_repo.Bins(TEST_BINS).of(f"advisories/{advisory_id}/osv.json"))
    row = await session.scalar(select(FeedTarget).where(FeedTarget.path == shard, FeedTarget.current))
    assert row is not None and advisory_id.encode() in row.content
    original, row_id = row.content, row.id
    # The served shard lists a target that is not there (the signed metadata gives the old hash).
    forged = original.replace(
        b'"targets":{',
        b'"targets":{"advisories/evil/osv.json":{"hashes":{"sha256":"' + b"0" * 64 + b'"},"length":1},',
    )
    await session.execute(update(FeedTarget).where(FeedTarget.id == row_id).values(content=forged))
    session.expire_all()
    feed = await _feed(session, served, tmp_path / "agent")
    with pytest.raises(AgentError) as caught:
        await asyncio.to_thread(feed.refresh)
    assert caught.value.exit_code == FEED_REFUSED
    assert str(caught.value).startswith(
        f"REFUSED: the feed's index {shard} does not match the length or hash"
    )
    assert "nothing was scanned or reported" in str(caught.value)
    # The same length, one hex digit of an entry's hash changed: refused by the shard's hash.
    at = original.index(b'"sha256":"') + len(b'"sha256":"')
    flipped = original[:at] + (b"1" if original[at : at + 1] == b"0" else b"0") + original[at + 1 :]
    await session.execute(update(FeedTarget).where(FeedTarget.id == row_id).values(content=flipped))
    with pytest.raises(AgentError) as caught:
        await asyncio.to_thread(Feed(feed.config).refresh)
    assert caught.value.exit_code == FEED_REFUSED
    assert str(caught.value).startswith(
        f"REFUSED: the feed's index {shard} does not match the length or hash"
    )


async def test_an_index_that_disagrees_with_the_signed_metadata_is_refused(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    feed = await _feed(session, served, tmp_path / "agent")
    await asyncio.to_thread(feed.refresh)
    path = f"advisories/{advisory_id}/osv.json"
    # A shard verified by TUF but wrong (a bug on the server): the target's own metadata wins, and
    # the run stops rather than guess.
    feed._listed[path] = (1, "0" * 64)
    with pytest.raises(AgentError, match="index and its signed metadata disagree"):
        await asyncio.to_thread(feed.fetch, path)
    feed._listed["advisories/gone/osv.json"] = (1, "0" * 64)
    with pytest.raises(AgentError, match=r"index lists advisories/gone/osv\.json but its signed metadata"):
        await asyncio.to_thread(feed.fetch, "advisories/gone/osv.json")


async def test_a_feed_without_an_index_gets_one_at_the_next_refresh(
    session: AsyncSession,
    runtime: Runtime,
    people: People,
    served: Served,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    # The feed as a server before the index signed it: no index targets listed at all.
    with monkeypatch.context() as patched:

        async def no_index(*args: object, **kwargs: object) -> list[str]:
            return []

        patched.setattr(service, "_put_index", no_index)
        await session.execute(delete(FeedTarget).where(FeedTarget.kind == "index"))
        assert await service.use_bins(session, bins=0, key=runtime.keys.data)
    assert "index.json" not in await service.listed_targets(session, index=True)
    feed = await _feed(session, served, tmp_path / "agent")
    with pytest.raises(AgentError, match=r"the feed publishes no index\.json: the server is older"):
        await asyncio.to_thread(feed.refresh)
    # The hourly refresh builds it (here while moving back into bins, as configured).
    assert await service.refresh(session, key=runtime.keys.data, bins=0) == [
        "index",
        "targets",
        "snapshot",
        "timestamp",
    ]
    assert "index/all.json" in await service.listed_targets(session, index=True)
    synced = await asyncio.to_thread(feed.refresh)
    assert f"advisories/{advisory_id}/osv.json" in synced.paths
