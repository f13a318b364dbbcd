"""CSAF requirement 19: detached OpenPGP signatures beside every CSAF document, checked with
Sequoia (pysequoia) and with GnuPG; the key in provider-metadata.json; the key file's permissions."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.clearinghouse.advisories import exports, openpgp, service
from forewarn.clearinghouse.advisories.schemas import Tlp
from forewarn.core.keys import KeyError_
from forewarn.core.settings import Settings

from .conftest import World, osv_doc, raw

T1 = datetime(2026, 3, 1, tzinfo=UTC)
BASE = "https://ch.example.gov"
GPG = shutil.which("gpg") or ("/usr/bin/gpg" if Path("/usr/bin/gpg").exists() else None)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> openpgp.CsafSigner:
    return openpgp.load_signer(tmp_path_factory.mktemp("pgp"), uid=openpgp.user_id("Clearinghouse", BASE))


def gpg_verify(tmp_path: Path, public_key: bytes, content: bytes, signature: bytes) -> bool:
    """``gpg --verify`` in a throwaway GNUPGHOME that holds only *public_key*."""
    assert GPG is not None
    tmp_path.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    (tmp_path / "key.asc").write_bytes(public_key)
    (tmp_path / "doc.json").write_bytes(content)
    (tmp_path / "doc.json.asc").write_bytes(signature)
    base = [GPG, "--batch", "--no-tty", "--no-autostart"]
    imported = subprocess.run(
        [*base, "--import", str(tmp_path / "key.asc")], env=env, capture_output=True, check=False
    )
    assert imported.returncode == 0, imported.stderr
    checked = subprocess.run(
        [*base, "--verify", str(tmp_path / "doc.json.asc"), str(tmp_path / "doc.json")],
        env=env,
        capture_output=True,
        check=False,
    )
    return checked.returncode == 0


def provider_schema_errors(metadata: dict[str, Any]) -> list[str]:
    """Problems of provider-metadata.json by CSAF 2.0 §7.2.1.

    The ``csaf`` package ships the CSAF 2.1 provider schema only (2.0's is not in it); its
    ``public_openpgp_keys`` definition is the 2.0 one, so that part is checked against it, and the
    rest against 2.0's required fields and values.
    """
    text = resources.files("csaf.csaf.v21").joinpath("feed/provider.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    keys_schema = {**schema["properties"]["public_openpgp_keys"], "$defs": schema["$defs"]}
    validator = Draft202012Validator(keys_schema, format_checker=FormatChecker())
    errors = [e.message for e in validator.iter_errors(metadata.get("public_openpgp_keys", []))]
    required = {
        "canonical_url",
        "last_updated",
        "list_on_CSAF_aggregators",
        "metadata_version",
        "mirror_on_CSAF_aggregators",
        "publisher",
        "role",
    }
    errors += [f"missing {name}" for name in sorted(required - set(metadata))]
    if metadata.get("metadata_version") != "2.0":
        errors.append("metadata_version is not 2.0")
    if metadata.get("role") == "csaf_trusted_provider" and not metadata.get("public_openpgp_keys"):
        errors.append("a trusted provider lists its OpenPGP keys")
    return errors


def test_signatures_verify_and_tampering_fails(signer: openpgp.CsafSigner, tmp_path: Path) -> None:
    content = b'{"document": {"title": "x"}}\n'
    docs = [exports.PublishedCsaf("2026/fw-2026-0001.json", content, T1)]
    metadata = exports.provider_metadata(
        base_url=BASE,
        publisher={"category": "coordinator", "name": "Clearinghouse", "namespace": BASE},
        last_updated=T1,
        openpgp_keys=[signer.key_entry(BASE)],
    )
    tree = exports.csaf_tree(docs, metadata=metadata, signer=signer)
    signature = tree[f"{exports.CSAF_DIRECTORY}/2026/fw-2026-0001.json.asc"]
    assert signature.startswith(b"-----BEGIN PGP SIGNATURE-----")
    public_key = tree[signer.public_key_path]
    assert public_key.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert b"PRIVATE KEY" not in public_key
    assert signer.public_key_path == f".well-known/csaf/openpgp/{signer.fingerprint}.asc"

    published = json.loads(tree[exports.PROVIDER_METADATA])
    assert published["public_openpgp_keys"] == [
        {"fingerprint": signer.fingerprint, "url": f"{BASE}/{signer.public_key_path}"}
    ]
    assert provider_schema_errors(published) == []

    assert openpgp.verify_detached(content, signature, public_key)
    tampered = content.replace(b'"x"', b'"y"')
    assert not openpgp.verify_detached(tampered, signature, public_key)
    other = openpgp.load_signer(tmp_path / "other", uid="Someone else (https://other.example)")
    assert not openpgp.verify_detached(content, signature, other.public_key)
    assert signer.sign(content) == signature  # one process serves one signature per content

    if GPG is None:
        pytest.skip("gpg is not installed: the GnuPG cross-check is skipped")
    assert gpg_verify(tmp_path / "good", public_key, content, signature)
    assert not gpg_verify(tmp_path / "bad", public_key, tampered, signature)


def test_sign_csaf_tree_adds_signatures_key_and_metadata_entry(signer: openpgp.CsafSigner) -> None:
    docs = [
        exports.PublishedCsaf("2026/fw-2026-0001.json", b'{"a": 1}\n', T1),
        exports.PublishedCsaf("2026/fw-2026-0002.json", b'{"b": 2}\n', T1),
    ]
    metadata = exports.provider_metadata(base_url=BASE, publisher={"name": "X"}, last_updated=T1)
    assert "public_openpgp_keys" not in metadata
    signed = exports.sign_csaf_tree(exports.csaf_tree(docs, metadata=metadata), signer=signer, base_url=BASE)
    for doc in docs:
        where = f"{exports.CSAF_DIRECTORY}/{doc.path}"
        assert openpgp.verify_detached(signed[where], signed[where + ".asc"], signed[signer.public_key_path])
    assert not any(p.endswith((".txt.asc", ".csv.asc", "provider-metadata.json.asc")) for p in signed)
    entries = json.loads(signed[exports.PROVIDER_METADATA])["public_openpgp_keys"]
    assert entries == [signer.key_entry(BASE)]
    again = exports.sign_csaf_tree(signed, signer=signer, base_url=BASE)  # idempotent
    assert json.loads(again[exports.PROVIDER_METADATA])["public_openpgp_keys"] == entries


def test_key_file_is_private_reused_and_refused_when_loose(tmp_path: Path) -> None:
    uid = openpgp.user_id("AI Cybersecurity Clearinghouse (Department of the Treasury)", BASE)
    assert uid == f"AI Cybersecurity Clearinghouse [Department of the Treasury] ({BASE})"
    first = openpgp.load_signer(tmp_path, uid=uid)
    path = tmp_path / "keys" / openpgp.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PGP PRIVATE KEY BLOCK-----")
    assert openpgp.load_signer(tmp_path, uid="ignored once the key exists").fingerprint == first.fingerprint
    assert b"PRIVATE" not in first.public_key and "PRIVATE" not in repr(first)
    path.chmod(0o644)
    with pytest.raises(KeyError_, match="readable by others"):
        openpgp.load_signer(tmp_path, uid=uid)


def test_key_from_setting_and_bad_keys_are_not_quoted(tmp_path: Path) -> None:
    armored = openpgp.generate_secret_key("From settings (https://ch.example.gov)").decode()
    settings = Settings(data_dir=tmp_path, csaf_openpgp_key=armored)
    from_setting = openpgp.signer_from_settings(settings)
    assert not (tmp_path / "keys" / openpgp.KEY_FILE).exists()
    assert openpgp.signer_from_settings(settings) is from_setting  # loaded once per process
    assert armored not in repr(settings) and armored not in repr(from_setting)
    public_only = from_setting.public_key.decode()
    with pytest.raises(KeyError_) as refused:
        openpgp.load_signer(tmp_path, armored=public_only, uid="x")
    assert "FOREWARN_CSAF_OPENPGP_KEY" in str(refused.value) and "BEGIN" not in str(refused.value)
    with pytest.raises(KeyError_):
        openpgp.load_signer(tmp_path, armored="not a key", uid="x")


async def test_published_documents_are_signed_over_http(
    client: httpx.AsyncClient, session: AsyncSession, world: World, settings: Settings, tmp_path: Path
) -> None:
    (report,) = await service.submit_document(
        session, raw=raw(osv_doc()), filename="d.json", tlp=Tlp.GREEN, actor=world.reporter
    )
    case = await service.validate(session, report_id=report.id, actor=world.analyst)
    await service.add_vendor(session, case_id=case.id, organisation_id=world.vendor_org, actor=world.analyst)
    await service.publish(session, case_id=case.id, actor=world.analyst)

    key_file = settings.data_dir / "keys" / openpgp.KEY_FILE
    meta = (await client.get("/.well-known/csaf/provider-metadata.json")).json()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert provider_schema_errors(meta) == []
    (entry,) = meta["public_openpgp_keys"]
    key_url = entry["url"]
    assert key_url.startswith(settings.public_base_url) and key_url.endswith(f"/{entry['fingerprint']}.asc")
    key = await client.get(key_url.removeprefix(settings.public_base_url))
    assert key.status_code == 200 and key.headers["content-type"] == "application/pgp-signature"
    assert b"PRIVATE" not in key.content

    index = (await client.get("/.well-known/csaf/white/index.txt")).text.split()
    assert index
    for rel in index:
        document = await client.get(f"/.well-known/csaf/white/{rel}")
        signature = await client.get(f"/.well-known/csaf/white/{rel}.asc")
        assert signature.status_code == 200
        assert openpgp.verify_detached(document.content, signature.content, key.content)
        assert not openpgp.verify_detached(document.content + b" ", signature.content, key.content)
        if GPG is not None:
            assert gpg_verify(
                tmp_path / rel.replace("/", "_"), key.content, document.content, signature.content
            )
    assert (await client.get("/.well-known/csaf/white/index.txt.asc")).status_code == 404
    assert (await client.get("/.well-known/csaf/white/2000/nothing.json.asc")).status_code == 404
    assert (await client.get("/.well-known/csaf/openpgp/0000.asc")).status_code == 404
