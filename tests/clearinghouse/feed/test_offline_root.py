"""The root key held offline: the next root exported, signed with PEM key files on another machine
(``forewarn feed root sign``, no server or database), imported only once a threshold of the previous
root's keys and of its own have signed; threshold 2 of 3; two rotations followed by a real TUF
client over HTTP on 127.0.0.1; what the server refuses to do once it can no longer sign a root."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tuf.ngclient import Updater
from typer.testing import CliRunner

from forewarn.clearinghouse.feed import service, tuf_repo
from forewarn.cli.main import app
from forewarn.core.clock import utcnow
from forewarn.core.errors import Conflict, InvalidInput
from forewarn.core.jobs import Runtime

from .conftest import People, Served, frozen, published_in_feed

runner = CliRunner()


def _keys(folder: Path, *names: str) -> dict[str, tuple[Path, Path, str]]:
    """Offline keys as `forewarn feed root keygen` writes them: name → (private, public, key id)."""
    out = {}
    for name in names:
        private = folder / f"{name}.pem"
        made = runner.invoke(app, ["feed", "root", "keygen", "--out", str(private)])
        assert made.exit_code == 0, made.output
        public = folder / f"{name}.pem.pub"
        out[name] = (private, public, tuf_repo.load_public_pem(public.read_bytes()).keyid)
    return out


def _sign(file: Path, key: Path) -> str:
    signed = runner.invoke(app, ["feed", "root", "sign", str(file), "--key", str(key)])
    assert signed.exit_code == 0, signed.output
    return signed.output


def _fetch(served: Served, where: Path, root: bytes, target: str) -> int:
    """Refresh from *root* (walking every root version), download *target*; the root version now trusted."""
    (where / "metadata").mkdir(parents=True, exist_ok=True)
    (where / "targets").mkdir(parents=True, exist_ok=True)
    updater = Updater(
        metadata_dir=str(where / "metadata"),
        metadata_base_url=served.metadata_url,
        target_dir=str(where / "targets"),
        target_base_url=served.targets_url,
        bootstrap=root,
    )
    updater.refresh()
    info = updater.get_targetinfo(target)
    assert info is not None
    updater.download_target(info)
    return int(tuf_repo.load((where / "metadata" / "root.json").read_bytes()).signed.version)


async def test_root_goes_offline_with_threshold_two_and_clients_follow_two_rotations(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, tmp_path: Path
) -> None:
    first = await published_in_feed(session, runtime, people)
    root1 = await service.metadata_file(session, name="1.root.json")
    target = f"advisories/{first}/osv.json"
    assert await asyncio.to_thread(_fetch, served, tmp_path / "old", root1, target) == 1
    keys = _keys(tmp_path, "k1", "k2", "k3", "k4")
    public = {name: tuf_repo.load_public_pem(k[1].read_bytes()) for name, k in keys.items()}

    # 1. Root 2 lists three offline keys, two of which must sign. The server signs it with the
    #    online root key it still holds (the previous root's threshold); the rest is offline.
    file = tmp_path / "root-2.json"
    file.write_bytes(
        await service.export_next_root(
            session, key=runtime.keys.data, root_keys=[public["k1"], public["k2"], public["k3"]], threshold=2
        )
    )
    exported = json.loads(file.read_bytes())
    assert exported["signed"]["version"] == 2 and len(exported["signatures"]) == 1
    listed = exported["signed"]["roles"]["root"]
    assert sorted(listed["keyids"]) == sorted(k[2] for n, k in keys.items() if n != "k4")
    assert listed["threshold"] == 2
    with pytest.raises(InvalidInput) as caught:
        await service.import_root(session, key=runtime.keys.data, data=file.read_bytes())
    assert "1 of the 1 signatures the previous root requires, 0 of the 2 the new root requires" in str(
        caught.value
    )
    _sign(file, keys["k1"][0])
    with pytest.raises(InvalidInput, match="1 of the 2 the new root requires"):
        await service.import_root(session, key=runtime.keys.data, data=file.read_bytes())
    _sign(file, keys["k3"][0])
    out = await service.import_root(session, key=runtime.keys.data, data=file.read_bytes())
    assert (out.root_version, out.threshold, out.root_offline) == (2, 2, True)
    assert sorted(out.added_keyids) == sorted([keys["k1"][2], keys["k2"][2], keys["k3"][2]])
    assert len(out.retired_keyids) == 1  # the online root key
    assert (await service.status(session, metadata_url="m", targets_url="t")).root_offline
    assert await service.metadata_file(session, name="2.root.json") == file.read_bytes()

    # 2. A second rotation, all offline: k1 leaves and k4 joins (2 of k2, k3, k4). It needs two
    #    signatures from root 2's keys and two from its own: k1 + k4 is one of each, not enough.
    file = tmp_path / "root-3.json"
    file.write_bytes(
        await service.export_next_root(
            session, key=runtime.keys.data, root_keys=[public["k2"], public["k3"], public["k4"]], threshold=2
        )
    )
    assert json.loads(file.read_bytes())["signatures"] == []  # the server holds no root key now
    _sign(file, keys["k1"][0])
    _sign(file, keys["k4"][0])
    with pytest.raises(InvalidInput, match="1 of the 2 signatures the previous root requires, 1 of the 2"):
        await service.import_root(session, key=runtime.keys.data, data=file.read_bytes())
    _sign(file, keys["k2"][0])
    out = await service.import_root(session, key=runtime.keys.data, data=file.read_bytes())
    assert out.root_version == 3 and out.retired_keyids == [keys["k1"][2]]

    # New targets after both rotations; the client that trusted root 1 (with its caches) and a fresh
    # one both walk 1 → 2 → 3, checking each threshold, and download them.
    second = await published_in_feed(session, runtime, people, name="ziplib")
    manifest = f"advisories/{second}/manifest.json"
    assert await asyncio.to_thread(_fetch, served, tmp_path / "old", root1, manifest) == 3
    assert await asyncio.to_thread(_fetch, served, tmp_path / "fresh", root1, manifest) == 3

    # 3. Online keys rotate with an offline root: the export makes new targets and timestamp keys,
    #    which sign alongside the old ones until the import retires those.
    before = {
        r.role: r.keyids for r in (await service.status(session, metadata_url="m", targets_url="t")).roles
    }
    with pytest.raises(InvalidInput, match="cannot rotate root with the root"):
        await service.export_next_root(session, key=runtime.keys.data, rotate=["root"])
    file = tmp_path / "root-4.json"
    file.write_bytes(
        await service.export_next_root(session, key=runtime.keys.data, rotate=["targets", "timestamp"])
    )
    named = json.loads(file.read_bytes())["signed"]["roles"]
    assert (
        named["targets"]["keyids"] != before["targets"] and named["snapshot"]["keyids"] == before["snapshot"]
    )
    pending = await published_in_feed(session, runtime, people, name="gzlib")  # signed by both keys
    assert (
        await asyncio.to_thread(_fetch, served, tmp_path / "old", root1, f"advisories/{pending}/osv.json")
        == 3
    )
    _sign(file, keys["k2"][0])
    _sign(file, keys["k3"][0])
    out = await service.import_root(session, key=runtime.keys.data, data=file.read_bytes())
    assert out.root_version == 4 and out.rotated_roles == ["targets", "timestamp"]
    after = {
        r.role: r.keyids for r in (await service.status(session, metadata_url="m", targets_url="t")).roles
    }
    assert (
        after["targets"] == named["targets"]["keyids"] and after["timestamp"] == named["timestamp"]["keyids"]
    )
    third = await published_in_feed(session, runtime, people, name="xzlib")
    osv = f"advisories/{third}/osv.json"
    assert await asyncio.to_thread(_fetch, served, tmp_path / "old", root1, osv) == 4
    assert await asyncio.to_thread(_fetch, served, tmp_path / "fresh2", root1, osv) == 4


async def test_what_an_import_refuses(
    session: AsyncSession, runtime: Runtime, people: People, tmp_path: Path
) -> None:
    await published_in_feed(session, runtime, people)
    keys = _keys(tmp_path, "k1")
    k1 = tuf_repo.load_public_pem(keys["k1"][1].read_bytes())
    file = tmp_path / "root-2.json"
    file.write_bytes(await service.export_next_root(session, key=runtime.keys.data, root_keys=[k1]))
    _sign(file, keys["k1"][0])
    signed = file.read_bytes()
    # A byte changed after signing: no signature holds.
    doc = json.loads(signed)
    assert doc["signed"]["expires"] != "2030-01-01T00:00:00Z"
    doc["signed"]["expires"] = "2030-01-01T00:00:00Z"
    with pytest.raises(InvalidInput, match="0 of the 1 signatures the previous root requires"):
        await service.import_root(session, key=runtime.keys.data, data=json.dumps(doc).encode())
    # A root that names a targets key the server does not hold (it could not sign the feed after).
    other = tuf_repo.load(signed).signed
    stranger = tuf_repo.public_key(tuf_repo.generate_seed())
    for keyid in list(other.roles["targets"].keyids):
        other.revoke_key(keyid, "targets")
    other.add_key(stranger, "targets")
    with pytest.raises(InvalidInput) as caught:
        await service.import_root(session, key=runtime.keys.data, data=tuf_repo.partially_signed(other, []))
    assert [p.field for p in caught.value.problems] == ["roles.targets"]
    with pytest.raises(InvalidInput, match="the file is not TUF metadata"):
        await service.import_root(session, key=runtime.keys.data, data=b"{}")
    with pytest.raises(InvalidInput, match="a threshold of 2 needs at least that many"):
        await service.export_next_root(session, key=runtime.keys.data, root_keys=[k1], threshold=2)
    # The good one, then the same again: the version no longer follows.
    await service.import_root(session, key=runtime.keys.data, data=signed)
    with pytest.raises(InvalidInput) as caught:
        await service.import_root(session, key=runtime.keys.data, data=signed)
    assert [p.field for p in caught.value.problems] == ["version"]


async def test_with_the_root_offline_the_server_signs_no_root(
    session: AsyncSession, runtime: Runtime, people: People, tmp_path: Path
) -> None:
    await published_in_feed(session, runtime, people)
    keys = _keys(tmp_path, "k1")
    file = tmp_path / "root-2.json"
    file.write_bytes(
        await service.export_next_root(
            session, key=runtime.keys.data, root_keys=[tuf_repo.load_public_pem(keys["k1"][1].read_bytes())]
        )
    )
    _sign(file, keys["k1"][0])
    await service.import_root(session, key=runtime.keys.data, data=file.read_bytes())
    for role in ("root", "targets", "snapshot", "timestamp"):
        with pytest.raises(Conflict, match="forewarn feed root export"):
            await service.rotate_key(session, role=role, key=runtime.keys.data)
    # The bins key is delegated by targets, not root: it still rotates.
    assert (await service.rotate_key(session, role="bins", key=runtime.keys.data)).root_version == 2
    # Root past half its life: the hourly refresh re-signs the rest and leaves the root to the
    # offline keys (its expiry shows in the status).
    with frozen(utcnow() + timedelta(days=200)):
        assert "root" not in await service.refresh(session, key=runtime.keys.data)
    assert await service.export_root(session, key=runtime.keys.data) == file.read_bytes()


def test_signing_needs_a_root_file_and_an_ed25519_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    keys = _keys(tmp_path, "k1")
    seeds = {role: tuf_repo.generate_seed() for role in tuf_repo.ROLES}
    root = tuf_repo.new_root(
        {r: tuf_repo.public_key(s) for r, s in seeds.items()}, now=utcnow(), expiry=tuf_repo.Expiry()
    )
    file = tmp_path / "root.json"
    file.write_bytes(tuf_repo.partially_signed(root, []))
    assert "not a root key of this version" in _sign(file, keys["k1"][0])
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    bad = runner.invoke(app, ["feed", "root", "sign", str(file), "--key", str(ec_key)])
    assert bad.exit_code != 0 and "not an Ed25519 key" in str(bad.exception) + bad.output
    garbage = tmp_path / "junk.pem"
    garbage.write_text("hello")
    bad = runner.invoke(app, ["feed", "root", "sign", str(file), "--key", str(garbage)])
    assert bad.exit_code != 0 and "not a PEM private key" in str(bad.exception) + bad.output
    # An encrypted key asks for its passphrase.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"correct horse")
        )
    )
    ok = runner.invoke(
        app, ["feed", "root", "sign", str(file), "--key", str(locked)], input="correct horse\n"
    )
    assert ok.exit_code == 0, ok.output
    assert len(json.loads(file.read_bytes())["signatures"]) == 2
    not_root = tmp_path / "targets.json"
    not_root.write_bytes(
        tuf_repo.sign(
            tuf_repo.targets(1, [], now=utcnow(), expiry=tuf_repo.Expiry()),
            [tuf_repo.signer(seeds["targets"])],
        )
    )
    bad = runner.invoke(app, ["feed", "root", "sign", str(not_root), "--key", str(keys["k1"][0])])
    assert bad.exit_code != 0 and "not root metadata" in str(bad.exception) + bad.output
