"""Publication layouts (pure): the CSAF 2.0 provider directory and the OSV data export.

CSAF 2.0 §7 (distribution), directory-based (requirements 11-14, 18):

- ``/.well-known/csaf/provider-metadata.json`` (§7.1.7 requirement 7; §7.2.1 fields);
- ``/.well-known/csaf/white/<year>/<file>.json``: one folder per year of the document's
  ``initial_release_date`` (requirement 11), the file named from the tracking id (§5.1: lower case,
  every character other than ``+``, ``-``, ``a``-``z``, ``0``-``9`` replaced by ``_``);
- ``index.txt`` (requirement 13: every document's path, relative to the directory, one per line)
  and ``changes.csv`` (requirement 14: ``"path","current_release_date"``, newest first);
- ``<file>.json.sha256`` and ``.sha512`` beside each document (requirement 18), in the
  ``sha256sum`` format: the hash, two spaces, the file name.

- ``<file>.json.asc`` beside each document (requirement 19): a detached, ASCII-armored OpenPGP
  signature by the clearinghouse's key, whose public half is at
  ``/.well-known/csaf/openpgp/<FINGERPRINT>.asc`` and listed in provider-metadata.json
  ``public_openpgp_keys`` (the key itself: :mod:`forewarn.clearinghouse.advisories.openpgp`).

OSV (the layout of OSV's own data exports): ``<ecosystem>/all.zip`` (every record of the
ecosystem), ``<ecosystem>/<id>.json``, ``<ecosystem>/modified_id.csv`` (``<modified>,<id>``,
newest first), ``modified_id.csv`` at the root (``<modified>,<ecosystem>/<id>``), ``all.zip`` of
every record and ``ecosystems.txt``. A record without a package ecosystem (e.g. an AI model
vulnerability) is only in the root files, under ``[no ecosystem]``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from forewarn.clearinghouse.advisories.schemas import format_timestamp

__all__ = [
    "CSAF_DIRECTORY",
    "PROVIDER_METADATA",
    "csaf_filename",
    "csaf_tree",
    "hash_line",
    "osv_tree",
    "provider_metadata",
    "sign_csaf_tree",
]

PROVIDER_METADATA = ".well-known/csaf/provider-metadata.json"
CSAF_DIRECTORY = ".well-known/csaf/white"
NO_ECOSYSTEM = "[no ecosystem]"
_FILENAME_BAD = re.compile(r"[^+\-a-z0-9]")
#: Fixed zip member time: the same records give the same zip bytes (mirrors compare hashes).
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def csaf_filename(tracking_id: str) -> str:
    """CSAF §5.1 file name of a document with this ``/document/tracking/id``."""
    return _FILENAME_BAD.sub("_", tracking_id.lower()) + ".json"


def csaf_path(tracking_id: str, initial_release: datetime) -> str:
    """The document's path in the distribution directory (requirement 11: per-year folders)."""
    return f"{initial_release.year}/{csaf_filename(tracking_id)}"


def hash_line(content: bytes, filename: str, algorithm: str) -> bytes:
    digest = hashlib.new(algorithm, content).hexdigest()
    return f"{digest}  {filename}\n".encode()


def dumps(doc: Mapping[str, Any]) -> bytes:
    """The bytes forewarn publishes for a JSON document (stable: sorted keys, UTF-8)."""
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def provider_metadata(
    *,
    base_url: str,
    publisher: Mapping[str, Any],
    last_updated: datetime,
    role: str = "csaf_trusted_provider",
    openpgp_keys: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """CSAF 2.0 §7.2.1 provider metadata for a directory-based distribution at *base_url*."""
    base = base_url.rstrip("/")
    metadata: dict[str, Any] = {
        "canonical_url": f"{base}/{PROVIDER_METADATA}",
        "distributions": [{"directory_url": f"{base}/{CSAF_DIRECTORY}/"}],
        "last_updated": format_timestamp(last_updated),
        "list_on_CSAF_aggregators": True,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": True,
        "publisher": dict(publisher),
        "role": role,
    }
    if openpgp_keys:
        metadata["public_openpgp_keys"] = [dict(key) for key in openpgp_keys]
    return metadata


class DocumentSigner(Protocol):
    """What signs the documents (requirement 19): :class:`~.openpgp.CsafSigner` in production."""

    @property
    def public_key_path(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    def key_entry(self, base_url: str) -> dict[str, str]: ...

    def sign(self, content: bytes) -> bytes: ...


@dataclass(frozen=True)
class PublishedCsaf:
    path: str
    content: bytes
    current_release_date: datetime


def index_txt(documents: Iterable[PublishedCsaf]) -> bytes:
    return "".join(f"{d.path}\n" for d in sorted(documents, key=lambda d: d.path)).encode()


def changes_csv(documents: Iterable[PublishedCsaf]) -> bytes:
    ordered = sorted(documents, key=lambda d: (d.current_release_date, d.path), reverse=True)
    return "".join(f'"{d.path}","{format_timestamp(d.current_release_date)}"\n' for d in ordered).encode()


def csaf_tree(
    documents: Iterable[PublishedCsaf], *, metadata: Mapping[str, Any], signer: DocumentSigner | None = None
) -> dict[str, bytes]:
    """Every file of the CSAF provider layout, by path relative to the web root.

    With a *signer*: a ``.asc`` signature beside each document and the signer's public key (the
    caller puts the key's entry in *metadata*, see :func:`sign_csaf_tree` for a whole tree).
    """
    docs = list(documents)
    out: dict[str, bytes] = {PROVIDER_METADATA: dumps(metadata)}
    for doc in docs:
        name = doc.path.rsplit("/", 1)[-1]
        where = f"{CSAF_DIRECTORY}/{doc.path}"
        out[where] = doc.content
        out[where + ".sha256"] = hash_line(doc.content, name, "sha256")
        out[where + ".sha512"] = hash_line(doc.content, name, "sha512")
        if signer is not None:
            out[where + ".asc"] = signer.sign(doc.content)
    if signer is not None:
        out[signer.public_key_path] = signer.public_key
    out[f"{CSAF_DIRECTORY}/index.txt"] = index_txt(docs)
    out[f"{CSAF_DIRECTORY}/changes.csv"] = changes_csv(docs)
    return out


def is_document(path: str) -> bool:
    """Whether *path* (relative to the web root) is a CSAF document of the distribution directory."""
    return path.startswith(CSAF_DIRECTORY + "/") and path.endswith(".json")


def with_openpgp_key(metadata: Mapping[str, Any], entry: Mapping[str, str]) -> dict[str, Any]:
    """*metadata* with *entry* in ``public_openpgp_keys`` (once, by fingerprint)."""
    out = dict(metadata)
    keys = [k for k in out.get("public_openpgp_keys", ()) if k.get("fingerprint") != entry["fingerprint"]]
    out["public_openpgp_keys"] = [*keys, dict(entry)]
    return out


def sign_csaf_tree(tree: Mapping[str, bytes], *, signer: DocumentSigner, base_url: str) -> dict[str, bytes]:
    """A whole provider layout (from :func:`csaf_tree`) with signatures, public key and its entry."""
    out = dict(tree)
    for path, content in tree.items():
        if is_document(path):
            out[path + ".asc"] = signer.sign(content)
    out[signer.public_key_path] = signer.public_key
    if PROVIDER_METADATA in tree:
        metadata = json.loads(tree[PROVIDER_METADATA])
        out[PROVIDER_METADATA] = dumps(with_openpgp_key(metadata, signer.key_entry(base_url)))
    return out


def _ecosystems(record: Mapping[str, Any]) -> list[str]:
    found = []
    for entry in record.get("affected") or ():
        package = entry.get("package") if isinstance(entry, Mapping) else None
        if isinstance(package, Mapping) and isinstance(package.get("ecosystem"), str):
            found.append(package["ecosystem"].partition(":")[0])
    return list(dict.fromkeys(found))


def _zip(members: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def osv_tree(records: Iterable[Mapping[str, Any]]) -> dict[str, bytes]:
    """Every file of the OSV export, by path relative to the export's root."""
    by_ecosystem: dict[str, list[tuple[str, str, bytes]]] = {}
    everything: list[tuple[str, str, str, bytes]] = []
    for record in sorted(records, key=lambda r: str(r["id"])):
        data = dumps(record)
        rid, modified = str(record["id"]), str(record["modified"])
        ecosystems = _ecosystems(record) or [NO_ECOSYSTEM]
        for eco in ecosystems:
            everything.append((eco, rid, modified, data))
            if eco != NO_ECOSYSTEM:
                by_ecosystem.setdefault(eco, []).append((rid, modified, data))
    out: dict[str, bytes] = {}
    for eco, items in sorted(by_ecosystem.items()):
        for rid, _, data in items:
            out[f"{eco}/{rid}.json"] = data
        out[f"{eco}/all.zip"] = _zip((f"{rid}.json", data) for rid, _, data in items)
        ordered = sorted(items, key=lambda i: (i[1], i[0]), reverse=True)
        out[f"{eco}/modified_id.csv"] = "".join(f"{m},{rid}\n" for rid, m, _ in ordered).encode()
    unique = {rid: data for _, rid, _, data in everything}
    out["all.zip"] = _zip((f"{rid}.json", data) for rid, data in sorted(unique.items()))
    ordered_all = sorted(everything, key=lambda i: (i[2], i[0], i[1]), reverse=True)
    out["modified_id.csv"] = "".join(f"{m},{eco}/{rid}\n" for eco, rid, m, _ in ordered_all).encode()
    out["ecosystems.txt"] = "".join(f"{eco}\n" for eco in sorted(by_ecosystem)).encode()
    return out
