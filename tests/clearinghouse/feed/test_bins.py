"""Hashed-bin delegations: the layout agrees with python-tuf's own path matching, a publication
re-signs only the bins of its targets, a flat feed moves into bins (and a client follows), a
tampered bin is refused, and the feed reads one CSAF document alone."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tuf.api import exceptions
from tuf.api.metadata import DelegatedRole
from tuf.ngclient import Updater

from forewarn.clearinghouse.advisories import exports as advisory_exports
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.feed import service, tuf_repo
from forewarn.clearinghouse.feed.models import FeedMetadata
from forewarn.core.errors import Conflict, InvalidInput, NotFound
from forewarn.core.jobs import Runtime

from .conftest import TEST_BINS, People, Served, published_in_feed

TARGETS = "http://feed.test/tuf/targets/"


# --------------------------------------------------------------------------------------------------
# The layout (pure)
# --------------------------------------------------------------------------------------------------


@given(
    path=st.text(min_size=1, max_size=60).filter(lambda p: "\x00" not in p),
    exponent=st.integers(min_value=0, max_value=12),
)
def test_each_path_is_in_exactly_the_bin_python_tuf_walks_to(path: str, exponent: int) -> None:
    bins = tuf_repo.Bins(2**exponent)
    names = bins.names()
    delegated = [
        name
        for i, name in enumerate(names)
        if DelegatedRole(
            name=name, keyids=[], threshold=1, terminating=True, path_hash_prefixes=bins.prefixes(i)
        ).is_delegated_path(path)
    ]
    assert delegated == [bins.of(path)]
    low, high = bins.hash_range(bins.index(bins.of(path)))
    assert low <= tuf_repo.path_hash(path) and (high is None or tuf_repo.path_hash(path) < high)


def test_bin_counts_and_names() -> None:
    assert tuf_repo.Bins(4096).names()[:2] == ["bin-000", "bin-001"]
    assert tuf_repo.Bins(1024).prefixes(1) == ["004", "005", "006", "007"]
    assert tuf_repo.Bins(1).prefixes(0) == list("0123456789abcdef")
    for bad in (3, 100, -2, 2**17):
        with pytest.raises(ValueError, match="power of two"):
            tuf_repo.Bins(bad)


# --------------------------------------------------------------------------------------------------
# The repository
# --------------------------------------------------------------------------------------------------


async def _versions(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(FeedMetadata.role, func.max(FeedMetadata.version)).group_by(FeedMetadata.role)
    )
    return {role: int(version) for role, version in rows.all()}


async def test_a_publication_re_signs_only_its_bins_the_snapshot_and_the_timestamp(
    session: AsyncSession, runtime: Runtime, people: People
) -> None:
    await published_in_feed(session, runtime, people)
    before = await _versions(session)
    assert sum(1 for role in before if role.startswith("bin-")) == TEST_BINS
    second = await published_in_feed(session, runtime, people, name="ziplib")
    after = await _versions(session)
    changed = {role for role in after if after[role] != before.get(role)}
    paths = [f"advisories/{second}/{name}" for name in ("osv.json", "csaf.json", "manifest.json")]
    layout = tuf_repo.Bins(TEST_BINS)
    own_bins = {layout.of(p) for p in paths}
    # The index shards of those bins changed too, and are listed by the bins their paths hash to.
    shards = [service.shard_path(name) for name in own_bins]
    index_bins = {layout.of(p) for p in shards}
    # Not the top-level targets, no other bin.
    assert changed == own_bins | index_bins | {"snapshot", "timestamp"}
    assert all(after[role] == before[role] + 1 for role in changed)
    # The top-level targets lists no target and delegates to every bin with the bins key.
    top = tuf_repo.load(await service.metadata_file(session, name="targets.json")).signed
    assert top.targets == {} and top.delegations is not None and len(top.delegations.roles or {}) == TEST_BINS
    snapshot = json.loads(await service.metadata_file(session, name="snapshot.json"))["signed"]
    for name in own_bins:
        assert snapshot["meta"][f"{name}.json"] == {"version": after[name]}
        bin_md = tuf_repo.load(await service.metadata_file(session, name=f"{after[name]}.{name}.json"))
        tuf_repo.load(await service.metadata_file(session, name="targets.json")).verify_delegate(name, bin_md)
        assert set(bin_md.signed.targets) & set(paths)
    listed = await service.listed_targets(session)
    assert set(paths) <= set(listed)


def _client(served: Served, where: Path, root: bytes) -> Updater:
    (where / "metadata").mkdir(parents=True, exist_ok=True)
    (where / "targets").mkdir(parents=True, exist_ok=True)
    return Updater(
        metadata_dir=str(where / "metadata"),
        metadata_base_url=served.metadata_url,
        target_dir=str(where / "targets"),
        target_base_url=served.targets_url,
        bootstrap=root,
    )


def _download(served: Served, where: Path, root: bytes, target: str) -> bytes:
    updater = _client(served, where, root)
    updater.refresh()
    info = updater.get_targetinfo(target)
    assert info is not None, target
    return Path(updater.download_target(info)).read_bytes()


async def test_a_flat_feed_moves_into_bins_and_clients_follow(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    # A feed made before bins existed: every target in the top-level targets.
    assert await service.ensure(session, key=runtime.keys.data, bins=0)
    first = await published_in_feed(session, runtime, people)
    flat = json.loads(await service.metadata_file(session, name="targets.json"))["signed"]
    # Three documents, and the feed's index: ``index.json`` and the one shard of a flat feed.
    assert set(flat["targets"]) - set(await service.listed_targets(session)) == {
        "index.json",
        "index/all.json",
    }
    assert len(flat["targets"]) == 5 and "delegations" not in flat
    assert (await service.status(session, metadata_url="m", targets_url="t")).bins == 0
    root = await service.metadata_file(session, name="1.root.json")
    target = f"advisories/{first}/osv.json"
    before = await asyncio.to_thread(_download, served, tmp_path / "old", root, target)

    # The hourly refresh with bins configured moves it: one new targets version, every bin signed.
    assert await service.refresh(session, key=runtime.keys.data, bins=TEST_BINS) == [
        "bins",
        "targets",
        "snapshot",
        "timestamp",
    ]
    moved = json.loads(await service.metadata_file(session, name="targets.json"))["signed"]
    assert moved["version"] == flat["version"] + 1 and moved["targets"] == {}
    assert len(moved["delegations"]["roles"]) == TEST_BINS
    assert set(await service.listed_targets(session)) == set(flat["targets"]) - {
        "index.json",
        "index/all.json",
    }
    # The flat layout's shard is retired; index.json names the shards of the bins.
    indexed = await service.listed_targets(session, index=True)
    assert "index/all.json" not in indexed
    assert {p for p in indexed if p.startswith("index/")} == {
        service.shard_path(n) for n in tuf_repo.Bins(TEST_BINS).names()
    }
    status = await service.status(session, metadata_url="m", targets_url="t")
    assert status.bins == TEST_BINS and len(status.bins_keyids) == 1
    assert await service.refresh(session, key=runtime.keys.data, bins=TEST_BINS) == ["timestamp"]

    second = await published_in_feed(session, runtime, people, name="ziplib")
    # The client that held the flat feed (and its caches), and a fresh one: same bytes, via the bins.
    assert await asyncio.to_thread(_download, served, tmp_path / "old", root, target) == before
    assert await asyncio.to_thread(_download, served, tmp_path / "fresh", root, target) == before
    manifest = await asyncio.to_thread(
        _download, served, tmp_path / "old", root, f"advisories/{second}/manifest.json"
    )
    assert json.loads(manifest)["advisory"] == second

    # And back to flat (the way down before a downgrade), which clients follow as well.
    assert await service.use_bins(session, bins=0, key=runtime.keys.data) is True
    assert await service.use_bins(session, bins=0, key=runtime.keys.data) is False
    back = json.loads(await service.metadata_file(session, name="targets.json"))["signed"]
    assert len(back["targets"]) == 6 + 2 and "delegations" not in back  # and index.json, index/all.json
    assert await asyncio.to_thread(_download, served, tmp_path / "old", root, target) == before
    with pytest.raises(InvalidInput, match="power of two"):
        await service.use_bins(session, bins=48, key=runtime.keys.data)
    with pytest.raises(Conflict, match="no bins key"):
        await service.rotate_key(session, role="bins", key=runtime.keys.data)


async def test_a_tampered_bin_is_refused(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    root = await service.metadata_file(session, name="1.root.json")
    target = f"advisories/{advisory_id}/osv.json"
    name = tuf_repo.Bins(TEST_BINS).of(target)
    row = await session.scalar(
        select(FeedMetadata).where(FeedMetadata.role == name).order_by(FeedMetadata.version.desc()).limit(1)
    )
    assert row is not None
    # Change the length the bin gives the target (inside the signed part): the signature fails.
    data = row.content.replace(b'"length":', b'"length":1', 1)
    await session.execute(update(FeedMetadata).where(FeedMetadata.id == row.id).values(content=data))
    session.expire_all()
    with pytest.raises(exceptions.UnsignedMetadataError):
        await asyncio.to_thread(_download, served, tmp_path, root, target)


async def test_the_bins_key_rotates_without_a_new_root(
    session: AsyncSession, runtime: Runtime, people: People
) -> None:
    await published_in_feed(session, runtime, people)
    before = await _versions(session)
    out = await service.rotate_key(session, role="bins", key=runtime.keys.data)
    after = await _versions(session)
    assert out.root_version == before["root"] == after["root"]
    assert all(after[r] == before[r] + 1 for r in before if r != "root")  # every bin, targets, ...
    top = tuf_repo.load(await service.metadata_file(session, name="targets.json")).signed
    assert top.delegations is not None and set(top.delegations.keys) == {out.new_keyid}


async def test_the_feed_reads_one_csaf_document_alone(
    session: AsyncSession, runtime: Runtime, people: People
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    detail, _ = await advisories.public_page(session, ref=advisory_id)
    assert detail.published_at is not None
    path = advisory_exports.csaf_path(detail.number, detail.published_at)
    alone = await advisories.csaf_document(session, path=path)
    # The same bytes the provider directory serves, and the feed's csaf.json target.
    assert alone == await advisories.csaf_file(session, path=f"{advisory_exports.CSAF_DIRECTORY}/{path}")
    listed = (await service.listed_targets(session))[f"advisories/{advisory_id}/csaf.json"]
    assert listed["hashes"]["sha256"] == hashlib.sha256(alone).hexdigest()
    with pytest.raises(NotFound):
        await advisories.csaf_document(session, path="1999/nothing.json")


async def test_the_migration_hashes_paths_as_the_layout_does(session: AsyncSession) -> None:
    # Migration 0016 fills ``path_hash`` of existing targets in SQL; it must be tuf_repo.path_hash.
    from sqlalchemy import text

    for path in ("advisories/x_FW-2026-0001-1/osv.json", "advisories/é/patches/ü+1.patch"):
        got = await session.scalar(
            text("SELECT encode(sha256(convert_to(CAST(:p AS text), 'UTF8')), 'hex')"), {"p": path}
        )
        assert got == tuf_repo.path_hash(path)
