"""Publication layouts: the CSAF 2.0 provider directory and the OSV export; every document written
validates (CSAF 2.0 schema and mandatory tests; the official OSV schema from the public test data)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import testdata as public_testdata

from forewarn.clearinghouse.advisories import exports, service
from forewarn.clearinghouse.advisories.csaf_checks import check_csaf
from forewarn.clearinghouse.advisories.schemas import Tlp

from .conftest import World, osv_doc, raw

T1 = datetime(2026, 3, 1, tzinfo=UTC)
T2 = datetime(2027, 1, 2, tzinfo=UTC)


def test_csaf_file_names_and_tree() -> None:
    assert exports.csaf_filename("FW-2026-0001") == "fw-2026-0001.json"
    assert exports.csaf_filename("Acme SA:2026/01") == "acme_sa_2026_01.json"  # CSAF §5.1
    docs = [
        exports.PublishedCsaf("2026/fw-2026-0001.json", b'{"a": 1}\n', T1),
        exports.PublishedCsaf("2027/fw-2027-0001.json", b'{"b": 2}\n', T2),
    ]
    tree = exports.csaf_tree(docs, metadata={"k": "v"})
    base = exports.CSAF_DIRECTORY
    assert tree[f"{base}/index.txt"] == b"2026/fw-2026-0001.json\n2027/fw-2027-0001.json\n"
    assert tree[f"{base}/changes.csv"].decode().splitlines() == [
        '"2027/fw-2027-0001.json","2027-01-02T00:00:00Z"',
        '"2026/fw-2026-0001.json","2026-03-01T00:00:00Z"',
    ]
    digest = hashlib.sha512(b'{"a": 1}\n').hexdigest()
    assert tree[f"{base}/2026/fw-2026-0001.json.sha512"] == f"{digest}  fw-2026-0001.json\n".encode()
    meta = exports.provider_metadata(
        base_url="https://ch.example.gov/",
        publisher={"category": "coordinator", "name": "X", "namespace": "https://ch.example.gov"},
        last_updated=T2,
    )
    assert meta["canonical_url"] == "https://ch.example.gov/.well-known/csaf/provider-metadata.json"
    assert meta["distributions"] == [{"directory_url": "https://ch.example.gov/.well-known/csaf/white/"}]
    assert meta["metadata_version"] == "2.0" and meta["role"] == "csaf_trusted_provider"


def test_osv_tree_is_per_ecosystem_and_stable() -> None:
    records = [
        {
            "id": "x_A-1",
            "modified": "2026-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "a"}}],
        },
        {
            "id": "x_B-1",
            "modified": "2026-02-01T00:00:00Z",
            "affected": [
                {"package": {"ecosystem": "Debian:12", "name": "b"}},
                {"package": {"ecosystem": "PyPI", "name": "b"}},
            ],
        },
        {"id": "x_C-1", "modified": "2026-03-01T00:00:00Z", "affected": []},
    ]
    tree = exports.osv_tree(records)
    assert tree["ecosystems.txt"] == b"Debian\nPyPI\n"
    assert tree["PyPI/modified_id.csv"] == b"2026-02-01T00:00:00Z,x_B-1\n2026-01-01T00:00:00Z,x_A-1\n"
    assert tree["modified_id.csv"].decode().splitlines()[0] == "2026-03-01T00:00:00Z,[no ecosystem]/x_C-1"
    with zipfile.ZipFile(io.BytesIO(tree["PyPI/all.zip"])) as archive:
        assert sorted(archive.namelist()) == ["x_A-1.json", "x_B-1.json"]
    with zipfile.ZipFile(io.BytesIO(tree["all.zip"])) as archive:
        assert len(archive.namelist()) == 3
    assert exports.osv_tree(list(reversed(records))) == tree  # byte-identical whatever the order


async def test_every_published_document_validates(session: AsyncSession, world: World) -> None:
    from jsonschema import Draft202012Validator

    official = Draft202012Validator(json.loads(public_testdata("osv", "schema.json").read_text()))
    docs = [
        osv_doc(
            aliases=["CVE-2026-40001"],
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N"}],
        ),
        osv_doc(ecosystem="npm", name="left-pad", introduced="0", fixed="1.3.0"),
        osv_doc(ecosystem="Go", name="example.org/mod", introduced="0", fixed=None),
    ]
    case_id = None
    for doc in docs:
        (report,) = await service.submit_document(
            session, raw=raw(doc), filename="d.json", tlp=Tlp.GREEN, actor=world.reporter
        )
        case = await service.validate(session, report_id=report.id, actor=world.analyst, case_id=case_id)
        case_id = case.id
    assert case_id is not None
    await service.add_vendor(session, case_id=case_id, organisation_id=world.vendor_org, actor=world.analyst)
    await service.publish(session, case_id=case_id, actor=world.analyst)
    csaf_tree, osv_tree = await service.export_trees(session, config=service.Config())
    written = [p for p in csaf_tree if p.endswith(".json") and "provider-metadata" not in p]
    assert len(written) == 1
    document: dict[str, Any] = json.loads(csaf_tree[written[0]])
    assert check_csaf(document) == []
    assert len(document["vulnerabilities"]) == 3
    records = [json.loads(v) for k, v in osv_tree.items() if k.endswith(".json")]
    assert {r["id"] for r in records} == {
        f"x_{document['document']['tracking']['id']}-{n}" for n in (1, 2, 3)
    }
    for record in records:
        assert not list(official.iter_errors(record)), record["id"]
    assert set(osv_tree["ecosystems.txt"].decode().split()) == {"Go", "PyPI", "npm"}
    meta = json.loads(csaf_tree[exports.PROVIDER_METADATA])
    assert meta["publisher"]["category"] == "coordinator"
