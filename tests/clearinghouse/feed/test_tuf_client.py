"""A real TUF client (python-tuf's ``ngclient.Updater``) against the feed served over HTTP on
127.0.0.1: refresh and verified downloads, key rotation followed from an old root, tampered and
expired metadata refused."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tuf.api import exceptions
from tuf.ngclient import Updater

from forewarn.clearinghouse.feed import service, tuf_repo
from forewarn.clearinghouse.feed.models import FeedMetadata, FeedTarget
from forewarn.core.clock import utcnow
from forewarn.core.jobs import Runtime

from .conftest import People, Served, frozen, published_in_feed


def _updater(served: Served, where: Path, root: bytes) -> Updater:
    (where / "metadata").mkdir(parents=True, exist_ok=True)
    (where / "targets").mkdir(parents=True, exist_ok=True)
    return Updater(
        metadata_dir=str(where / "metadata"),
        metadata_base_url=served.metadata_url,
        target_dir=str(where / "targets"),
        target_base_url=served.targets_url,
        bootstrap=root,
    )


def _fetch(served: Served, where: Path, root: bytes, target: str) -> bytes:
    updater = _updater(served, where, root)
    updater.refresh()
    info = updater.get_targetinfo(target)
    assert info is not None, target
    return Path(updater.download_target(info)).read_bytes()


async def test_a_client_refreshes_and_downloads_verified_targets(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    root = await service.metadata_file(session, name="1.root.json")
    content = await asyncio.to_thread(_fetch, served, tmp_path, root, f"advisories/{advisory_id}/osv.json")
    assert f'"id": "{advisory_id}"'.encode() in content
    # The routes: versioned metadata is immutable, the timestamp is not cached.
    async with httpx.AsyncClient(base_url=served.url) as http:
        ts = await http.get("/tuf/timestamp.json")
        assert ts.headers["cache-control"] == "no-cache"
        one = await http.get("/tuf/1.root.json")
        assert one.content == root and "immutable" in one.headers["cache-control"]
        assert (await http.get("/tuf/99.root.json")).status_code == 404
        assert (await http.get("/tuf/mirrors.json")).status_code == 404
        assert (await http.get("/tuf/targets/advisories/x.json")).status_code == 404


async def test_a_client_with_the_first_root_follows_key_rotations(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    first = await published_in_feed(session, runtime, people)
    root1 = await service.metadata_file(session, name="1.root.json")
    await asyncio.to_thread(_fetch, served, tmp_path / "old", root1, f"advisories/{first}/osv.json")
    for role in ("root", "targets", "snapshot", "timestamp", "bins"):  # bins: no new root
        await service.rotate_key(session, role=role, key=runtime.keys.data)
    second = await published_in_feed(session, runtime, people, name="ziplib")

    def after_rotation(where: Path) -> int:
        updater = _updater(served, where, root1)
        updater.refresh()
        info = updater.get_targetinfo(f"advisories/{second}/manifest.json")
        assert info is not None
        updater.download_target(info)
        return int(tuf_repo.load((where / "metadata" / "root.json").read_bytes()).signed.version)

    # The client that already trusted root 1 (and its cached metadata), and a fresh one.
    assert await asyncio.to_thread(after_rotation, tmp_path / "old") == 5
    assert await asyncio.to_thread(after_rotation, tmp_path / "fresh") == 5


async def test_a_root_not_signed_by_the_old_root_key_is_refused(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    await published_in_feed(session, runtime, people)
    root1 = await service.metadata_file(session, name="1.root.json")
    # An attacker's root 2: every role's key replaced by theirs, signed by their key alone.
    seed = tuf_repo.generate_seed()
    forged = tuf_repo.next_root(
        root1, now=utcnow(), expiry=tuf_repo.Expiry(), role="root", key=tuf_repo.public_key(seed)
    )
    session.add(
        FeedMetadata(
            role="root",
            version=2,
            content=tuf_repo.sign(forged, [tuf_repo.signer(seed)]),
            sha256="0" * 64,
            expires=forged.expires,
        )
    )
    await session.flush()
    with pytest.raises(exceptions.UnsignedMetadataError):
        await asyncio.to_thread(_updater(served, tmp_path, root1).refresh)


async def _flip(session: AsyncSession, model: type, row_id: object, at: int) -> None:
    row = await session.get(model, row_id)
    assert row is not None
    data = bytearray(row.content)
    data[at] ^= 0x01
    await session.execute(update(model).where(model.id == row_id).values(content=bytes(data)))
    session.expire_all()


async def test_a_flipped_byte_in_a_target_is_refused(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    root = await service.metadata_file(session, name="1.root.json")
    target = await session.scalar(
        select(FeedTarget).where(FeedTarget.path == f"advisories/{advisory_id}/osv.json")
    )
    assert target is not None
    await _flip(session, FeedTarget, target.id, 10)
    with pytest.raises(exceptions.LengthOrHashMismatchError):
        await asyncio.to_thread(_fetch, served, tmp_path, root, f"advisories/{advisory_id}/osv.json")


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets"])
async def test_a_flipped_byte_in_metadata_is_refused(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path, role: str
) -> None:
    await published_in_feed(session, runtime, people)
    root = await service.metadata_file(session, name="1.root.json")
    row = await session.scalar(
        select(FeedMetadata).where(FeedMetadata.role == role).order_by(FeedMetadata.version.desc()).limit(1)
    )
    assert row is not None
    # A byte inside the signed part: the version number's last digit.
    at = row.content.index(b'"version":') + len(b'"version":')
    await _flip(session, FeedMetadata, row.id, at)
    with pytest.raises(exceptions.RepositoryError):  # bad signature (timestamp) or hash (snapshot, targets)
        await asyncio.to_thread(_updater(served, tmp_path, root).refresh)


async def test_an_expired_timestamp_is_refused(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    await service.ensure(session, key=runtime.keys.data)
    root = await service.metadata_file(session, name="1.root.json")
    with frozen(utcnow() - timedelta(days=2)):  # signed two days ago: valid for one day
        await service.refresh(session, key=runtime.keys.data)
    with pytest.raises(exceptions.ExpiredMetadataError):
        await asyncio.to_thread(_updater(served, tmp_path, root).refresh)
    # The hourly refresh mends it.
    await service.refresh(session, key=runtime.keys.data)
    await asyncio.to_thread(_updater(served, tmp_path / "again", root).refresh)


async def test_the_published_hash_names_the_content(
    session: AsyncSession, runtime: Runtime, people: People, served: Served
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    target = await session.scalar(
        select(FeedTarget).where(FeedTarget.path == f"advisories/{advisory_id}/csaf.json")
    )
    assert target is not None
    async with httpx.AsyncClient(base_url=served.url) as http:
        got = await http.get(f"/tuf/targets/advisories/{advisory_id}/{target.sha512}.csaf.json")
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == target.sha256
