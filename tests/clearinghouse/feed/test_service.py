"""The feed in the database: creation, an advisory's targets, patch uploads, refresh, rotation,
and only published (TLP:CLEAR) material in it."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.matching.conftest import osv

from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.schemas import Tlp
from forewarn.clearinghouse.feed import service, tuf_repo
from forewarn.core.clock import utcnow
from forewarn.core.errors import Forbidden, InvalidInput, NotFound
from forewarn.core.jobs import Runtime

from .conftest import People, frozen, published_in_feed

TARGETS = "http://feed.test/tuf/targets/"


async def _signed(session: AsyncSession, role: str) -> dict:
    return json.loads(await service.metadata_file(session, name=f"{role}.json"))["signed"]


async def test_the_repository_is_created_once_with_one_key_per_role(
    session: AsyncSession, runtime: Runtime
) -> None:
    assert await service.ensure(session, key=runtime.keys.data) is True
    assert await service.ensure(session, key=runtime.keys.data) is False
    root = tuf_repo.load(await service.metadata_file(session, name="1.root.json"))
    assert root.signed.consistent_snapshot is True
    assert {r: len(root.signed.roles[r].keyids) for r in tuf_repo.ROLES} == dict.fromkeys(tuf_repo.ROLES, 1)
    assert len(set(root.signed.keys)) == 4  # a key of its own for each role
    root.verify_delegate("root", root)
    for role in ("targets", "snapshot", "timestamp"):
        root.verify_delegate(role, tuf_repo.load(await service.metadata_file(session, name=f"{role}.json")))
    status = await service.status(session, metadata_url="m", targets_url="t")
    assert status.initialised
    assert [(r.role, r.version) for r in status.roles] == [(r, 1) for r in tuf_repo.ROLES]


async def test_the_sealed_keys_never_show(session: AsyncSession, runtime: Runtime) -> None:
    from sqlalchemy import select

    from forewarn.clearinghouse.feed.models import FeedKey

    await service.ensure(session, key=runtime.keys.data)
    for row in await session.scalars(select(FeedKey)):
        seed = runtime.keys.data.open(row.private_sealed, aad=service._aad(row.role, row.keyid))
        assert tuf_repo.public_key(seed).keyid == row.keyid
        for name in ("root.json", "timestamp.json", "snapshot.json", "targets.json"):
            body = await service.metadata_file(session, name=name)
            assert seed.hex().encode() not in body and seed not in body
        with pytest.raises(InvalidInput):  # the key is bound to its role
            runtime.keys.data.open(row.private_sealed, aad=service._aad("timestamp", "x" * 64))


async def test_a_published_advisory_becomes_three_signed_targets(
    session: AsyncSession, runtime: Runtime, people: People
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    targets = await service.listed_targets(session)
    base = f"advisories/{advisory_id}"
    assert set(targets) == {f"{base}/osv.json", f"{base}/csaf.json", f"{base}/manifest.json"}
    osv_bytes = await service.target_content(
        session, path=f"{base}/{targets[f'{base}/osv.json']['hashes']['sha256']}.osv.json"
    )
    assert json.loads(osv_bytes)["id"] == advisory_id
    assert hashlib.sha512(osv_bytes).hexdigest() == targets[f"{base}/osv.json"]["hashes"]["sha512"]
    csaf = json.loads(
        await service.target_content(
            session, path=f"{base}/{targets[f'{base}/csaf.json']['hashes']['sha256']}.csaf.json"
        )
    )
    assert csaf["document"]["distribution"]["tlp"]["label"] == "WHITE"  # CSAF 2.0 says WHITE for CLEAR
    manifest = json.loads(
        await service.target_content(
            session, path=f"{base}/{targets[f'{base}/manifest.json']['hashes']['sha256']}.manifest.json"
        )
    )
    assert manifest["components"] == [
        {
            "ecosystem": "PyPI",
            "name": "tarlib",
            "purl": None,
            "fixed_versions": [
                {"version": "1.4.2", "download_url": "https://pypi.org/project/tarlib/1.4.2/", "patch": None}
            ],
        }
    ]
    assert targets[f"{base}/osv.json"]["custom"]["kind"] == "osv"
    # Publishing again changes nothing and signs nothing.
    versions = (await _signed(session, "snapshot"))["version"]
    assert (
        await service.publish_advisory(
            session, advisory_id=advisory_id, key=runtime.keys.data, targets_url=TARGETS
        )
        == []
    )
    assert (await _signed(session, "snapshot"))["version"] == versions


async def test_an_unpublished_advisory_never_enters_the_feed(
    session: AsyncSession, runtime: Runtime, people: People
) -> None:
    (report,) = await advisories.submit_document(
        session, raw=osv("secretlib"), filename="a.json", tlp=Tlp.AMBER, actor=people.reporter
    )
    case = await advisories.validate(session, report_id=report.id, actor=people.analyst)
    detail = await advisories.get_case(session, case_id=case.id, actor=people.analyst)
    embargoed = detail.vulnerabilities[0].advisory_id
    with pytest.raises(NotFound):
        await service.publish_advisory(
            session, advisory_id=embargoed, key=runtime.keys.data, targets_url=TARGETS
        )
    with pytest.raises(NotFound):
        await service.upload_patch(
            session,
            advisory_id=embargoed,
            filename="fix.patch",
            content=b"x",
            actor=people.analyst,
            key=runtime.keys.data,
            targets_url=TARGETS,
            max_bytes=100,
        )


async def test_a_vendor_uploads_a_patch_file_listed_in_the_manifest(
    session: AsyncSession, runtime: Runtime, people: People
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    content = b"--- a/tar.py\n+++ b/tar.py\n@@ fix @@\n"
    out = await service.upload_patch(
        session,
        advisory_id=advisory_id,
        filename="tarlib-1.4.2.patch",
        content=content,
        purl="pkg:pypi/tarlib@1.4.2",
        version="1.4.2",
        actor=people.vendor,
        key=runtime.keys.data,
        targets_url=TARGETS,
        max_bytes=1000,
    )
    assert out.sha256 == hashlib.sha256(content).hexdigest()
    assert out.url == f"{TARGETS}advisories/{advisory_id}/patches/{out.sha256}.tarlib-1.4.2.patch"
    targets = await service.listed_targets(session)
    assert targets[out.target]["length"] == len(content)
    manifest_path = f"advisories/{advisory_id}/manifest.json"
    manifest = json.loads(
        await service.target_content(
            session,
            path=f"advisories/{advisory_id}/{targets[manifest_path]['hashes']['sha256']}.manifest.json",
        )
    )
    assert manifest["patches"][0]["hashes"]["sha256"] == out.sha256
    assert manifest["components"][0]["fixed_versions"][0]["download_url"] == out.url
    listed = await service.list_patches(session, advisory_id=advisory_id, targets_url=TARGETS)
    assert [p.filename for p in listed] == ["tarlib-1.4.2.patch"]
    # The same name again replaces the content; the old content stays fetchable by its hash.
    again = await service.upload_patch(
        session,
        advisory_id=advisory_id,
        filename="tarlib-1.4.2.patch",
        content=content + b"v2\n",
        actor=people.analyst,
        key=runtime.keys.data,
        targets_url=TARGETS,
        max_bytes=1000,
    )
    assert again.sha256 != out.sha256
    assert (
        await service.target_content(
            session, path=f"advisories/{advisory_id}/patches/{out.sha256}.tarlib-1.4.2.patch"
        )
        == content
    )


async def test_only_the_advisorys_vendors_and_analysts_upload(
    session: AsyncSession, runtime: Runtime, people: People
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    for actor in (people.other_vendor, people.operator, people.reporter):
        with pytest.raises(Forbidden):
            await service.upload_patch(
                session,
                advisory_id=advisory_id,
                filename="fix.patch",
                content=b"x",
                actor=actor,
                key=runtime.keys.data,
                targets_url=TARGETS,
                max_bytes=100,
            )


@pytest.mark.parametrize(
    ("filename", "content", "field"),
    [("../etc/passwd", b"x", "filename"), ("a b", b"x", "filename"), ("ok.patch", b"", "body")],
)
async def test_bad_patch_uploads_name_the_field(
    session: AsyncSession, runtime: Runtime, people: People, filename: str, content: bytes, field: str
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    with pytest.raises(InvalidInput) as caught:
        await service.upload_patch(
            session,
            advisory_id=advisory_id,
            filename=filename,
            content=content,
            actor=people.vendor,
            key=runtime.keys.data,
            targets_url=TARGETS,
            max_bytes=100,
        )
    assert [p.field for p in caught.value.problems] == [field]


async def test_refresh_resigns_the_timestamp_and_what_nears_expiry(
    session: AsyncSession, runtime: Runtime
) -> None:
    assert await service.refresh(session, key=runtime.keys.data) == list(tuf_repo.ROLES)  # created
    assert await service.refresh(session, key=runtime.keys.data) == ["timestamp"]
    timestamp = await _signed(session, "timestamp")
    assert timestamp["version"] == 2
    with frozen(utcnow() + timedelta(days=4)):  # the snapshot (7 days) is past half its life
        assert await service.refresh(session, key=runtime.keys.data) == ["snapshot", "timestamp"]
    bins_before = tuf_repo.snapshot_bins(await service.metadata_file(session, name="snapshot.json"))
    with frozen(utcnow() + timedelta(days=200)):  # root (365 days) and targets too, with every bin
        signed = await service.refresh(session, key=runtime.keys.data)
        assert signed == ["root", "bins", "targets", "snapshot", "timestamp"]
    bins_after = tuf_repo.snapshot_bins(await service.metadata_file(session, name="snapshot.json"))
    assert bins_after == {name: version + 1 for name, version in bins_before.items()}
    assert len(bins_after) == 16
    root1 = await service.metadata_file(session, name="1.root.json")
    root2 = await service.metadata_file(session, name="2.root.json")
    tuf_repo.verify_root(root1, root2)


async def test_rotation_retires_the_key_and_chains_the_root(session: AsyncSession, runtime: Runtime) -> None:
    await service.ensure(session, key=runtime.keys.data)
    before = await service.status(session, metadata_url="m", targets_url="t")
    out = await service.rotate_key(session, role="root", key=runtime.keys.data)
    assert out.root_version == 2
    after = await service.status(session, metadata_url="m", targets_url="t")
    roles = {r.role: r for r in after.roles}
    assert roles["root"].keyids == [out.new_keyid]
    assert out.old_keyids == next(r.keyids for r in before.roles if r.role == "root")
    new_root = await service.metadata_file(session, name="2.root.json")
    tuf_repo.verify_root(await service.metadata_file(session, name="1.root.json"), new_root)
    assert len(json.loads(new_root)["signatures"]) == 2  # old and new root key
    out = await service.rotate_key(session, role="timestamp", key=runtime.keys.data)
    assert out.root_version == 3
    root3 = tuf_repo.load(await service.metadata_file(session, name="3.root.json"))
    root3.verify_delegate(
        "timestamp", tuf_repo.load(await service.metadata_file(session, name="timestamp.json"))
    )
    with pytest.raises(InvalidInput):
        await service.rotate_key(session, role="mirror", key=runtime.keys.data)


@pytest.mark.parametrize(
    ("purl", "name", "expected"),
    [
        ("pkg:pypi/tarlib@1.4.2", "tarlib", True),
        ("pkg:pypi/otherlib@1.4.2", "tarlib", False),  # a patch of another package of the advisory
        ("pkg:maven/org.example/tar@1.4.2", "org.example:tar", True),
        ("pkg:npm/%40scope/tar@1.4.2", "@scope/tar", True),
        (None, "tarlib", True),  # no purl: the version alone decides
        ("not a purl", "tarlib", False),
    ],
)
def test_which_patch_fixes_which_package(purl: str | None, name: str, expected: bool) -> None:
    assert service._fixes({"version": "1.4.2", "purl": purl}, name, "1.4.2") is expected
    assert service._fixes({"version": "1.4.3", "purl": purl}, name, "1.4.2") is False
