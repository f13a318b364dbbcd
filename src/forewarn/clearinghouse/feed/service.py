"""The signed patch feed: a TUF repository of published advisories, patch manifests and patch files.

Invariants:

- only TLP:CLEAR material becomes a target: an advisory's documents are read through the advisories
  service's public readers (which find published advisories only), and a patch file is accepted only
  for a published advisory;
- targets are listed by hashed bins (``tuf_repo.Bins``): a publication re-signs only the bins of the
  targets it changed, then the snapshot (which lists every bin's version) and the timestamp; the
  top-level targets (the delegations) is re-signed only when the layout, the bins key or its expiry
  changes, and then every bin with it, so no bin ever expires before the top-level targets;
- every change to the repository (first keys, new targets, a refreshed timestamp, a rotated key)
  runs under one transaction-scoped advisory lock, so versions are consecutive and never reused;
  metadata rows are inserted, never updated;
- the role keys are Ed25519, stored sealed with the programme's data key (AAD: table, role, key id);
  private key material never leaves this module except as a signature;
- a key rotation retires the old key, writes a root signed by the current root key(s) (and, for a
  root rotation, the new one too), re-signs every other role, and is recorded in the ledger;
- the index (``index.json`` and one shard ``index/<bin>.json`` per bin) lists every current target
  but its own, and is rewritten in the transaction that changes what it lists, before the bins are
  signed: a client that lists targets through it sees exactly what the signed bins list;
- pruning never deletes a root version, nor anything the snapshot current ``keep_hours`` ago (or a
  newer one) lists, nor a target content superseded less than ``keep_hours`` ago;
- a root key may be offline: the server then never signs a root; a root signed elsewhere is
  published only after the checks a client makes (next version, the previous root's threshold and
  its own, TUF §5.3.4) and only if it names for the other roles keys the server holds.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories import exports as advisory_exports
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.feed import policy, tuf_repo
from forewarn.clearinghouse.feed.models import FeedKey, FeedMetadata, FeedTarget
from forewarn.clearinghouse.feed.records import (
    FeedStatus,
    PatchOut,
    RoleStatus,
    RootImportOut,
    RotationOut,
)
from forewarn.core.clock import utcnow
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, TooLarge
from forewarn.core.keys import DataKey
from forewarn.ledger import service as ledger

#: The one lock every repository change takes (a constant: "forewarn.feed" as a 63-bit number).
_LOCK = int.from_bytes(hashlib.sha256(b"forewarn.feed").digest()[:8], "big") >> 1
MANIFEST_SCHEMA = "forewarn-patch-manifest/1"
INDEX_SCHEMA = "forewarn-feed-index/1"
#: The index's root: the shards (one per bin; ``all`` in a flat feed), by target path.
INDEX = "index.json"
#: Advisory ids and patch file names that are safe as URL path segments and file names.
_ADVISORY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_METADATA_NAME = re.compile(
    r"^(?:(?P<version>[1-9][0-9]{0,9})\.)?(?P<role>root|targets|snapshot|timestamp|bin-[0-9a-f]{1,4})\.json$"
)
_HASHED_NAME = re.compile(r"^(?P<digest>[0-9a-f]{64}|[0-9a-f]{128})\.(?P<name>.+)$")

#: Where a fixed version of a package can be fetched from its ecosystem's registry (a convenience
#: for people; the verified download is a patch file target, when the vendor uploaded one).
_REGISTRY_URLS = {
    "PyPI": "https://pypi.org/project/{name}/{version}/",
    "npm": "https://www.npmjs.com/package/{name}/v/{version}",
    "crates.io": "https://crates.io/crates/{name}/{version}",
    "RubyGems": "https://rubygems.org/gems/{name}/versions/{version}",
    "NuGet": "https://www.nuget.org/packages/{name}/{version}",
    "Go": "https://pkg.go.dev/{name}@{version}",
    "Packagist": "https://packagist.org/packages/{name}#{version}",
}


def _aad(role: str, keyid: str) -> bytes:
    return f"ch_feed_keys\n{role}\n{keyid}".encode()


async def _lock(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})


async def _latest(session: AsyncSession, role: str) -> FeedMetadata | None:
    row: FeedMetadata | None = await session.scalar(
        select(FeedMetadata).where(FeedMetadata.role == role).order_by(FeedMetadata.version.desc()).limit(1)
    )
    return row


async def _newest(session: AsyncSession, role: str) -> FeedMetadata:
    row = await _latest(session, role)
    if row is None:
        raise Conflict(f"the feed has no {role} metadata yet")
    return row


async def _active_keys(session: AsyncSession, role: str) -> list[FeedKey]:
    return list(
        await session.scalars(
            select(FeedKey)
            .where(FeedKey.role == role, FeedKey.retired_at.is_(None))
            .order_by(FeedKey.created_at)
        )
    )


def _signers(keys: Sequence[FeedKey], key: DataKey) -> list[Any]:
    """Signers of the online keys among *keys* (an offline root key signs elsewhere)."""
    return [
        tuf_repo.signer(key.open(k.private_sealed, aad=_aad(k.role, k.keyid)))
        for k in keys
        if k.private_sealed is not None
    ]


async def _root_offline(session: AsyncSession) -> bool:
    """Whether the server's online root keys are fewer than the current root's threshold, so that
    every new root must be signed offline and imported."""
    current = await _newest(session, "root")
    role = tuf_repo.load(current.content).signed.roles["root"]
    online = {k.keyid for k in await _active_keys(session, "root") if k.private_sealed is not None}
    return len(online & set(role.keyids)) < int(role.threshold)


_OFFLINE_HOWTO = (
    "the root keys are held offline: export the next root with `forewarn feed root export`, sign it "
    "where the keys are with `forewarn feed root sign`, and publish it with `forewarn feed root import`"
)


async def _new_key(session: AsyncSession, role: str, key: DataKey, now: datetime) -> FeedKey:
    seed = tuf_repo.generate_seed()
    public = tuf_repo.public_key(seed)
    row = FeedKey(
        role=role,
        keyid=public.keyid,
        public=public.to_dict(),
        private_sealed=key.seal(seed, aad=_aad(role, public.keyid)),
        created_at=now,
    )
    session.add(row)
    return row


def _store(
    session: AsyncSession, role: str, version: int, content: bytes, expires: datetime, now: datetime
) -> None:
    session.add(
        FeedMetadata(
            role=role,
            version=version,
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            expires=expires,
            created_at=now,
        )
    )


async def _sign_role(
    session: AsyncSession,
    role: str,
    signed: Any,
    key: DataKey,
    now: datetime,
    extra: Sequence[FeedKey] = (),
    signers: Sequence[Any] | None = None,
) -> bytes:
    if signers is None:
        signers = _signers([*extra, *await _active_keys(session, role)], key)
    content = tuf_repo.sign(signed, signers)
    _store(session, role, signed.version, content, signed.expires, now)
    return content


async def _initialised(session: AsyncSession) -> bool:
    return await _latest(session, "root") is not None


def _bins_setting(bins: int | None) -> tuf_repo.Bins:
    try:
        return tuf_repo.Bins(tuf_repo.DEFAULT_BINS if bins is None else bins)
    except ValueError as exc:
        raise InvalidInput(str(exc), problems=[Problem("bins", str(exc))]) from None


async def ensure(
    session: AsyncSession, *, key: DataKey, expiry: tuf_repo.Expiry | None = None, bins: int | None = None
) -> bool:
    """Create the repository (one key per role, and for a binned feed the bins key; version 1 of each
    role) unless it exists; returns whether it was created now. *bins* (default
    ``tuf_repo.DEFAULT_BINS``, 0 flat) applies only to a new repository."""
    expiry = expiry or tuf_repo.Expiry()
    layout = _bins_setting(bins)
    await _lock(session)
    if await _initialised(session):
        return False
    now = utcnow()
    rows = {role: await _new_key(session, role, key, now) for role in tuf_repo.ROLES}
    if layout.count:
        await _new_key(session, "bins", key, now)
    await session.flush()
    publics = {role: tuf_repo.key_from_dict(row.keyid, row.public) for role, row in rows.items()}
    await _sign_role(session, "root", tuf_repo.new_root(publics, now=now, expiry=expiry), key, now)
    await _publish(session, key=key, now=now, expiry=expiry, layout=layout)
    return True


def _target_file(row: Any) -> Any:
    return tuf_repo.target_file(
        row.path, length=row.length, hashes={"sha256": row.sha256, "sha512": row.sha512}, custom=row.custom
    )


_LISTED = (
    FeedTarget.path,
    FeedTarget.path_hash,
    FeedTarget.length,
    FeedTarget.sha256,
    FeedTarget.sha512,
    FeedTarget.custom,
)


async def _current_targets(
    session: AsyncSession, low: str | None = None, high: str | None = None
) -> list[Any]:
    """The current targets (what metadata lists of them, not their contents), by path hash; with
    *low* (and *high*), those in one bin's range (one range scan of ``ix_ch_feed_targets_bin``)."""
    query = select(*_LISTED).where(FeedTarget.current)
    if low is not None:
        query = query.where(FeedTarget.path_hash >= low)
    if high is not None:
        query = query.where(FeedTarget.path_hash < high)
    return list((await session.execute(query.order_by(FeedTarget.path_hash))).all())


async def _layout(session: AsyncSession) -> tuf_repo.Bins:
    row = await _latest(session, "targets")
    return tuf_repo.layout(row.content) if row else tuf_repo.Bins(0)


async def _bin_versions(session: AsyncSession) -> dict[str, int]:
    """The newest version of every bin role ever signed (of this or an earlier layout)."""
    rows = await session.execute(
        select(FeedMetadata.role, func.max(FeedMetadata.version))
        .where(FeedMetadata.role.like("bin-%"))
        .group_by(FeedMetadata.role)
    )
    return {role: int(version) for role, version in rows.all()}


async def _bins_key(session: AsyncSession, key: DataKey, now: datetime) -> FeedKey:
    keys = await _active_keys(session, "bins")
    if keys:
        return keys[-1]
    row = await _new_key(session, "bins", key, now)  # a flat feed moving into bins
    await session.flush()
    return row


async def _sign_bins(
    session: AsyncSession,
    *,
    key: DataKey,
    now: datetime,
    expiry: tuf_repo.Expiry,
    layout: tuf_repo.Bins,
    names: Collection[str] | None,
    versions: dict[str, int],
) -> dict[str, int]:
    """Sign a new version of each bin in *names* (None: every bin, from one scan of the targets);
    returns the versions signed."""
    bins_key = await _bins_key(session, key, now)
    signers = _signers([bins_key], key)
    grouped: dict[str, list[Any]] = {}
    if names is None:
        names = layout.names()
        all_names = layout.names()
        for row in await _current_targets(session):
            grouped.setdefault(all_names[layout.index_of(row.path_hash)], []).append(row)
    else:
        for name in names:
            grouped[name] = await _current_targets(session, *layout.hash_range(layout.index(name)))
    signed = {}
    for name in sorted(names):
        version = versions.get(name, 0) + 1
        files = [_target_file(r) for r in grouped.get(name, ())]
        await _sign_role(
            session, name, tuf_repo.targets(version, files, now=now, expiry=expiry), key, now, signers=signers
        )
        signed[name] = version
    return signed


# --------------------------------------------------------------------------------------------------
# The index: what a client reads to know which targets exist (python-tuf's client lists none)
# --------------------------------------------------------------------------------------------------


def _shard_names(layout: tuf_repo.Bins) -> list[str]:
    return layout.names() or ["all"]


def shard_path(name: str) -> str:
    return f"index/{name}.json"


def _shard_of(layout: tuf_repo.Bins, path: str) -> str:
    return layout.of(path) if layout.count else "all"


def _index_bytes(doc: dict[str, Any]) -> bytes:
    import json

    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


async def _put_index(
    session: AsyncSession, *, layout: tuf_repo.Bins, shards: Collection[str] | None, now: datetime
) -> list[str]:
    """Rewrite the index shards *shards* (None: every shard, ``index.json``, and the retirement of
    shards of an earlier layout); returns the index target paths whose content changed.

    A shard lists the current targets of its bin that are not index targets themselves (so an
    index change never changes another shard: no cascade), each with its length and SHA-256.
    """
    names = _shard_names(layout) if shards is None else sorted(shards)
    base = select(FeedTarget.path, FeedTarget.path_hash, FeedTarget.length, FeedTarget.sha256).where(
        FeedTarget.current, FeedTarget.kind != "index"
    )
    # Every shard: one scan of the current targets; a few: one range scan of each one's bin.
    queries = [base]
    if shards is not None and layout.count:
        queries = []
        for name in names:
            low, high = layout.hash_range(layout.index(name))
            query = base.where(FeedTarget.path_hash >= low)
            queries.append(query if high is None else query.where(FeedTarget.path_hash < high))
    grouped: dict[str, dict[str, Any]] = {name: {} for name in names}
    all_names = layout.names()
    for query in queries:
        for row in await session.execute(query):
            name = all_names[layout.index_of(row.path_hash)] if layout.count else "all"
            if name in grouped:
                grouped[name][row.path] = {"length": row.length, "hashes": {"sha256": row.sha256}}
    documents = {
        shard_path(name): _index_bytes({"schema": INDEX_SCHEMA, "shard": name, "targets": grouped[name]})
        for name in names
    }
    if shards is None:
        documents[INDEX] = _index_bytes(
            {"schema": INDEX_SCHEMA, "shards": [shard_path(name) for name in names]}
        )
    rows = list(
        await session.scalars(
            # Every stored content of these paths, without the contents themselves (a shard's
            # old versions are tens of KB each at national scale, and only their hashes matter).
            select(FeedTarget).options(defer(FeedTarget.content)).where(FeedTarget.path.in_(list(documents)))
        )
    )
    existing = {r.path: r for r in rows if r.current}
    stored = {(r.path, r.sha256): r for r in rows}
    changed = []
    for path, content in documents.items():
        if await _put_target(
            existing,
            stored,
            session,
            path=path,
            kind="index",
            advisory_id="",
            content=content,
            custom={"kind": "index"},
            now=now,
        ):
            changed.append(path)
    if shards is None:  # shards of an earlier layout are no longer targets
        for old in await session.scalars(
            select(FeedTarget).where(
                FeedTarget.kind == "index", FeedTarget.current, FeedTarget.path.not_in(list(documents))
            )
        ):
            old.current, old.superseded_at = False, now
            changed.append(old.path)
    await session.flush()
    return changed


async def _publish(
    session: AsyncSession,
    *,
    key: DataKey,
    now: datetime,
    expiry: tuf_repo.Expiry,
    from_role: Literal["targets", "top", "snapshot", "timestamp"] = "targets",
    changed: Collection[str] | None = None,
    layout: tuf_repo.Bins | None = None,
) -> None:
    """Sign new versions from *from_role* down: (bins →) targets → snapshot → timestamp.

    ``targets`` with *changed* target paths: the bins listing them (a flat feed: the top-level
    targets); without: the top-level targets and every bin, in *layout* (default the current one).
    ``top``: the top-level targets but no bin (a key rotation of another role).
    """
    await session.flush()
    targets_row = await _latest(session, "targets")
    snapshot_row = await _latest(session, "snapshot")
    if targets_row is None:
        from_role, changed = "targets", None
    if layout is None:
        layout = await _layout(session)
    if from_role == "targets":
        # The index first: its shards are targets too, listed by the bins signed below.
        if changed is None:
            await _put_index(session, layout=layout, shards=None, now=now)
        else:
            shards = {_shard_of(layout, path) for path in changed}
            changed = [*changed, *await _put_index(session, layout=layout, shards=shards, now=now)]
    # Every bin a snapshot ever listed stays listed (at its last version), even once the layout no
    # longer delegates to it: a client refuses a snapshot that drops a file the one it trusts lists
    # (TUF §5.5.5), so a client holding an older layout would otherwise never update again.
    bins = tuf_repo.snapshot_bins(snapshot_row.content) if snapshot_row else {}
    if from_role == "targets" and layout.count:
        if changed is None:
            signed = await _sign_bins(
                session,
                key=key,
                now=now,
                expiry=expiry,
                layout=layout,
                names=None,
                versions=await _bin_versions(session),
            )
            bins, from_role = {**bins, **signed}, "top"
        else:
            names = {layout.of(path) for path in changed}
            bins.update(
                await _sign_bins(
                    session, key=key, now=now, expiry=expiry, layout=layout, names=names, versions=bins
                )
            )
            from_role = "snapshot"
    if from_role in ("targets", "top"):
        version = targets_row.version + 1 if targets_row else 1
        if layout.count:
            bins_key = await _bins_key(session, key, now)
            top = tuf_repo.delegating_targets(
                version,
                layout,
                tuf_repo.key_from_dict(bins_key.keyid, bins_key.public),
                now=now,
                expiry=expiry,
            )
        else:
            top = tuf_repo.targets(
                version, [_target_file(r) for r in await _current_targets(session)], now=now, expiry=expiry
            )
        targets_bytes = await _sign_role(session, "targets", top, key, now)
        targets_version = version
    else:
        assert targets_row is not None  # noqa: S101 (a first publication always signs the targets)
        targets_bytes, targets_version = targets_row.content, targets_row.version
    if from_role in ("targets", "top", "snapshot") or snapshot_row is None:
        version = snapshot_row.version + 1 if snapshot_row else 1
        snapshot_bytes = await _sign_role(
            session,
            "snapshot",
            tuf_repo.snapshot(
                version,
                targets_version=targets_version,
                targets_bytes=targets_bytes,
                now=now,
                expiry=expiry,
                bins=bins,
            ),
            key,
            now,
        )
        snapshot_version = version
    else:
        snapshot_bytes, snapshot_version = snapshot_row.content, snapshot_row.version
    timestamp_row = await _latest(session, "timestamp")
    version = timestamp_row.version + 1 if timestamp_row else 1
    await _sign_role(
        session,
        "timestamp",
        tuf_repo.timestamp(
            version, snapshot_version=snapshot_version, snapshot_bytes=snapshot_bytes, now=now, expiry=expiry
        ),
        key,
        now,
    )
    await session.flush()


# --------------------------------------------------------------------------------------------------
# Targets: an advisory's documents, its patch manifest, vendors' patch files
# --------------------------------------------------------------------------------------------------


def advisory_dir(advisory_id: str) -> str:
    return f"advisories/{advisory_id}"


async def _put_target(
    existing: dict[str, FeedTarget],
    stored: dict[tuple[str, str], FeedTarget],
    session: AsyncSession,
    *,
    path: str,
    kind: str,
    advisory_id: str,
    content: bytes,
    custom: dict[str, Any],
    now: datetime,
    uploader: Principal | None = None,
) -> bool:
    """Make *content* the current content of *path*; returns whether anything changed."""
    digest = hashlib.sha256(content).hexdigest()
    current = existing.get(path)
    if current is not None and current.sha256 == digest and current.custom == custom:
        return False
    if current is not None:
        current.current, current.superseded_at = False, now
    again = stored.get((path, digest))
    if again is not None:  # a content served before (and not yet pruned) becomes current again
        # The old current row must be written first: one flush orders its updates by primary key,
        # and two current rows of one path violate ``ix_ch_feed_targets_current``.
        await session.flush()
        again.current, again.custom, again.superseded_at = True, custom, None
        return True
    session.add(
        FeedTarget(
            path=path,
            path_hash=tuf_repo.path_hash(path),
            kind=kind,
            advisory_id=advisory_id,
            length=len(content),
            sha256=digest,
            sha512=hashlib.sha512(content).hexdigest(),
            content=content,
            custom=custom,
            current=True,
            created_at=now,
            uploaded_by_organisation_id=uploader.organisation_id if uploader else None,
            uploaded_by_person_id=uploader.person_id if uploader else None,
        )
    )
    return True


def _hashed_url(targets_url: str, path: str, sha256: str) -> str:
    folder, _, name = path.rpartition("/")
    return f"{targets_url}{folder}/{sha256}.{name}"


def _fixed_versions(affected: dict[str, Any]) -> list[str]:
    fixed: list[str] = []
    for range_ in affected.get("ranges") or ():
        for event in range_.get("events") or ():
            if (
                isinstance(event, dict)
                and isinstance(event.get("fixed"), str)
                and event["fixed"] not in fixed
            ):
                fixed.append(event["fixed"])
    return fixed


def _is_purl(value: str) -> bool:
    from packageurl import PackageURL

    try:
        PackageURL.from_string(value)
    except ValueError:
        return False
    return True


def _fixes(patch: dict[str, Any], name: object, version: str) -> bool:
    """Whether a patch file installs *version* of package *name* (its purl, when given, names it)."""
    if patch["version"] != version:
        return False
    if not patch["purl"]:
        return True
    from packageurl import PackageURL

    try:
        purl = PackageURL.from_string(patch["purl"])
    except ValueError:
        return False
    full = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    return str(name).lower() in {purl.name.lower(), full.lower(), full.replace("/", ":").lower()}


def manifest(osv: dict[str, Any], patches: Sequence[FeedTarget], *, targets_url: str) -> dict[str, Any]:
    """The patch manifest of one advisory: for each affected package its fixed versions (with a
    download URL), and every patch file uploaded for the advisory with its target, length and hashes."""
    advisory_id = osv["id"]
    files = [
        {
            "target": p.path,
            "url": _hashed_url(targets_url, p.path, p.sha256),
            "length": p.length,
            "hashes": {"sha256": p.sha256, "sha512": p.sha512},
            "purl": p.custom.get("purl"),
            "version": p.custom.get("version"),
        }
        for p in sorted(patches, key=lambda p: p.path)
    ]
    components = []
    for affected in osv.get("affected") or ():
        package = affected.get("package") or {}
        ecosystem, name = package.get("ecosystem"), package.get("name")
        fixes = []
        for version in _fixed_versions(affected):
            patch = next((f for f in files if _fixes(f, name, version)), None)
            template = _REGISTRY_URLS.get(str(ecosystem).split(":", 1)[0])
            url = (
                patch["url"] if patch else (template.format(name=name, version=version) if template else None)
            )
            fixes.append(
                {"version": version, "download_url": url, "patch": patch["target"] if patch else None}
            )
        components.append(
            {"ecosystem": ecosystem, "name": name, "purl": package.get("purl"), "fixed_versions": fixes}
        )
    return {
        "schema": MANIFEST_SCHEMA,
        "advisory": advisory_id,
        "aliases": list(osv.get("aliases") or ()),
        "summary": osv.get("summary"),
        "modified": osv.get("modified"),
        "withdrawn": osv.get("withdrawn"),
        "documents": {
            "osv": f"{advisory_dir(advisory_id)}/osv.json",
            "csaf": f"{advisory_dir(advisory_id)}/csaf.json",
        },
        "components": components,
        "patches": files,
    }


async def _published(session: AsyncSession, advisory_id: str) -> tuple[dict[str, Any], Any]:
    """The published OSV record and case of *advisory_id* (NotFound unless it is TLP:CLEAR)."""
    if not _ADVISORY_ID.match(advisory_id):
        raise NotFound(f"no published advisory {advisory_id[:200]}")
    osv = await advisories.public_osv(session, advisory_id=advisory_id)
    detail, _ = await advisories.public_page(session, ref=advisory_id)
    if detail.tlp.value != "CLEAR" or detail.published_at is None:
        raise NotFound(f"no published advisory {advisory_id}")
    return osv, detail


async def _put_advisory(
    session: AsyncSession, advisory_id: str, *, targets_url: str, now: datetime
) -> list[str]:
    osv, detail = await _published(session, advisory_id)
    path = advisory_exports.csaf_path(detail.number, detail.published_at)
    csaf = await advisories.csaf_document(session, path=path)
    rows = list(
        await session.scalars(
            select(FeedTarget).options(defer(FeedTarget.content)).where(FeedTarget.advisory_id == advisory_id)
        )
    )
    existing = {r.path: r for r in rows if r.current}
    stored = {(r.path, r.sha256): r for r in rows}
    patches = [r for r in rows if r.current and r.kind == "patch"]
    base = advisory_dir(advisory_id)
    documents = (
        ("osv", f"{base}/osv.json", advisory_exports.dumps(osv)),
        ("csaf", f"{base}/csaf.json", csaf),
        (
            "manifest",
            f"{base}/manifest.json",
            advisory_exports.dumps(manifest(osv, patches, targets_url=targets_url)),
        ),
    )
    changed = []
    for kind, target, content in documents:
        custom = {"kind": kind, "advisory": advisory_id, "case": detail.number}
        if await _put_target(
            existing,
            stored,
            session,
            path=target,
            kind=kind,
            advisory_id=advisory_id,
            content=content,
            custom=custom,
            now=now,
        ):
            changed.append(target)
    return changed


async def publish_advisory(
    session: AsyncSession,
    *,
    advisory_id: str,
    key: DataKey,
    targets_url: str,
    expiry: tuf_repo.Expiry | None = None,
    bins: int | None = None,
) -> list[str]:
    """Put a published (new or revised) advisory's OSV record, CSAF document and patch manifest in
    the feed; returns the target paths that changed (none: nothing is signed). Idempotent. Signs
    the bins of the changed targets (at most three), the snapshot and the timestamp."""
    expiry = expiry or tuf_repo.Expiry()
    await ensure(session, key=key, expiry=expiry, bins=bins)
    now = utcnow()
    changed = await _put_advisory(session, advisory_id, targets_url=targets_url, now=now)
    if changed:
        await _publish(session, key=key, now=now, expiry=expiry, changed=changed)
    return changed


def _patch_out(row: FeedTarget, targets_url: str) -> PatchOut:
    return PatchOut(
        advisory_id=row.advisory_id,
        filename=row.path.rsplit("/", 1)[-1],
        target=row.path,
        url=_hashed_url(targets_url, row.path, row.sha256),
        length=row.length,
        sha256=row.sha256,
        sha512=row.sha512,
        purl=row.custom.get("purl"),
        version=row.custom.get("version"),
        uploaded_at=row.created_at,
    )


async def upload_patch(
    session: AsyncSession,
    *,
    advisory_id: str,
    filename: str,
    content: bytes,
    actor: Principal,
    key: DataKey,
    targets_url: str,
    max_bytes: int,
    purl: str | None = None,
    version: str | None = None,
    expiry: tuf_repo.Expiry | None = None,
    bins: int | None = None,
) -> PatchOut:
    """Publish a vendor's (or an analyst's) patch file for a published advisory as a signed target,
    and list it in the advisory's manifest. Re-uploading a file name replaces its content."""
    problems = []
    if not _FILENAME.match(filename) or ".." in filename:
        problems.append(Problem("filename", "letters, digits and . _ + - only, at most 128 characters"))
    if purl is not None and (len(purl) > 400 or not _is_purl(purl)):
        problems.append(Problem("purl", "a package URL (pkg:type/name), at most 400 characters"))
    if version is not None and not (0 < len(version) <= 100):
        problems.append(Problem("version", "1 to 100 characters"))
    if not content:
        problems.append(Problem("body", "the patch file is empty"))
    if problems:
        raise InvalidInput("the patch file cannot be published", problems=problems)
    if len(content) > max_bytes:
        raise TooLarge(f"the patch file is larger than {max_bytes} bytes")
    _, detail = await _published(session, advisory_id)
    if not policy.can_upload_patch(
        actor, vendor_organisation_ids={v.organisation_id for v in detail.vendors}
    ):
        raise Forbidden("only clearinghouse analysts and the advisory's vendors publish its patch files")
    expiry = expiry or tuf_repo.Expiry()
    await ensure(session, key=key, expiry=expiry, bins=bins)
    now = utcnow()
    path = f"{advisory_dir(advisory_id)}/patches/{filename}"
    rows = list(
        await session.scalars(
            select(FeedTarget).options(defer(FeedTarget.content)).where(FeedTarget.path == path)
        )
    )
    custom = {
        "kind": "patch",
        "advisory": advisory_id,
        "case": detail.number,
        "purl": purl,
        "version": version,
    }
    await _put_target(
        {r.path: r for r in rows if r.current},
        {(r.path, r.sha256): r for r in rows},
        session,
        path=path,
        kind="patch",
        advisory_id=advisory_id,
        content=content,
        custom=custom,
        now=now,
        uploader=actor,
    )
    await session.flush()
    changed = await _put_advisory(session, advisory_id, targets_url=targets_url, now=now)
    await _publish(session, key=key, now=now, expiry=expiry, changed=[path, *changed])
    row = await session.scalar(select(FeedTarget).where(FeedTarget.path == path, FeedTarget.current))
    if row is None:  # written above in this transaction: cannot happen
        raise Conflict("the patch file was not stored")
    await ledger.append(
        session,
        type="feed.patch_published",
        actor_organisation_id=actor.organisation_id,
        subjects=[("advisory", advisory_id)],
        reason=f"patch file {filename} published in the signed feed for {advisory_id}",
        sealed_hashes={"patch": "sha256:" + row.sha256},
    )
    return _patch_out(row, targets_url)


async def list_patches(session: AsyncSession, *, advisory_id: str, targets_url: str) -> list[PatchOut]:
    """The patch files currently published for a published advisory."""
    await _published(session, advisory_id)
    rows = await session.scalars(
        select(FeedTarget)
        .where(FeedTarget.advisory_id == advisory_id, FeedTarget.kind == "patch", FeedTarget.current)
        .order_by(FeedTarget.path)
    )
    return [_patch_out(r, targets_url) for r in rows]


# --------------------------------------------------------------------------------------------------
# Upkeep: refresh and rotation
# --------------------------------------------------------------------------------------------------


async def use_bins(
    session: AsyncSession, *, bins: int, key: DataKey, expiry: tuf_repo.Expiry | None = None
) -> bool:
    """Move the feed into *bins* hashed bins (0: flat) unless it is laid out so already; returns
    whether it moved. One new version of the top-level targets delegates to the new bins (or, flat,
    lists every target), every new bin is signed, and the snapshot lists exactly these: a client
    holding the old layout follows on its next refresh, and target paths and contents stay the same."""
    expiry = expiry or tuf_repo.Expiry()
    layout = _bins_setting(bins)
    if await ensure(session, key=key, expiry=expiry, bins=bins):
        return False
    if await _layout(session) == layout:
        return False
    await _publish(session, key=key, now=utcnow(), expiry=expiry, layout=layout)
    return True


async def refresh(
    session: AsyncSession, *, key: DataKey, expiry: tuf_repo.Expiry | None = None, bins: int | None = None
) -> list[str]:
    """Re-sign the timestamp (always) and every role with less than half its lifetime left; returns
    the roles signed. Run hourly by ``feed:refresh``; creates the repository on its first run, and
    moves a feed laid out otherwise into *bins* hashed bins (default ``tuf_repo.DEFAULT_BINS``)."""
    expiry = expiry or tuf_repo.Expiry()
    if await ensure(session, key=key, expiry=expiry, bins=bins):
        return list(tuf_repo.ROLES)
    layout = _bins_setting(bins)
    if await use_bins(session, bins=layout.count, key=key, expiry=expiry):
        return ["bins", "targets", "snapshot", "timestamp"]
    now = utcnow()
    due = []
    for role in ("root", "targets", "snapshot"):
        row = await _latest(session, role)
        if row is not None and row.expires - now < expiry.of(role) / 2:
            due.append(role)
    signed = []
    if "root" in due and await _root_offline(session):
        # Cannot be signed here; ``status`` shows the expiry, and the job log says it once an hour.
        import logging

        logging.getLogger("forewarn.feed").warning("the feed's root expires soon: %s", _OFFLINE_HOWTO)
        due.remove("root")
    if "root" in due:
        current = await _newest(session, "root")
        await _sign_role(
            session, "root", tuf_repo.next_root(current.content, now=now, expiry=expiry), key, now
        )
        signed.append("root")
    # A feed made before the index existed gets it here, with every bin re-signed.
    indexed = await session.scalar(select(FeedTarget.id).where(FeedTarget.path == INDEX, FeedTarget.current))
    from_role: Literal["targets", "snapshot", "timestamp"] = (
        "targets" if "targets" in due or indexed is None else "snapshot" if "snapshot" in due else "timestamp"
    )
    # Targets due: every bin is re-signed with it (bins never expire before the top-level targets).
    await _publish(session, key=key, now=now, expiry=expiry, from_role=from_role)
    if indexed is None:
        signed.append("index")
    if from_role == "targets" and layout.count:
        signed.append("bins")
    signed.extend(tuf_repo.ROLES[tuf_repo.ROLES.index(from_role) :])
    return signed


async def prune(session: AsyncSession, *, keep_hours: int) -> dict[str, int]:
    """Delete what no client can need any more; returns how many metadata files and target
    contents were deleted. *keep_hours* 0: nothing is deleted.

    The grace period: the snapshot that was current ``keep_hours`` ago (the newest signed at or
    before then) is kept with everything newer, and so is every version of the top-level targets
    and of each bin at or above the version that snapshot lists; a client that began its update
    within the period finds every file it can ask for (TUF §5.5 to §5.7 fetch ``N.snapshot.json``,
    then the versions it lists, then targets by hash). Older timestamps go too (clients fetch only
    ``timestamp.json``). Every root version stays: a client holding any old root walks the chain
    one version at a time (§5.3). A target content superseded before the period began is listed by
    no kept metadata (a content is superseded in the transaction that signs the snapshot dropping
    it), and is deleted.
    """
    import json
    from datetime import timedelta

    if keep_hours <= 0:
        return {"metadata": 0, "targets": 0}
    await _lock(session)
    cutoff = utcnow() - timedelta(hours=keep_hours)
    deleted_metadata = 0
    oldest = await session.scalar(
        select(FeedMetadata)
        .where(FeedMetadata.role == "snapshot", FeedMetadata.created_at <= cutoff)
        .order_by(FeedMetadata.version.desc())
        .limit(1)
    )
    if oldest is not None:
        floors = {"snapshot": oldest.version}
        for name, meta in json.loads(oldest.content)["signed"]["meta"].items():
            floors[name.removesuffix(".json")] = int(meta["version"])
        floors.pop("root", None)
        result = await session.execute(
            text(
                "DELETE FROM ch_feed_metadata AS m "
                "USING unnest(CAST(:roles AS text[]), CAST(:versions AS integer[])) AS k(role, version) "
                "WHERE m.role = k.role AND m.version < k.version AND m.role <> 'root'"
            ),
            {"roles": list(floors), "versions": list(floors.values())},
        )
        deleted_metadata += int(getattr(result, "rowcount", 0) or 0)
        newest_timestamp = await _latest(session, "timestamp")
        if newest_timestamp is not None:
            result = await session.execute(
                text(
                    "DELETE FROM ch_feed_metadata WHERE role = 'timestamp' AND created_at < :cutoff "
                    "AND version < :newest"
                ),
                {"cutoff": cutoff, "newest": newest_timestamp.version},
            )
            deleted_metadata += int(getattr(result, "rowcount", 0) or 0)
    result = await session.execute(
        text("DELETE FROM ch_feed_targets WHERE NOT current AND superseded_at < :cutoff"), {"cutoff": cutoff}
    )
    deleted_targets = int(getattr(result, "rowcount", 0) or 0)
    return {"metadata": deleted_metadata, "targets": deleted_targets}


async def rotate_key(
    session: AsyncSession,
    *,
    role: str,
    key: DataKey,
    actor_organisation_id: uuid.UUID | None = None,
    expiry: tuf_repo.Expiry | None = None,
) -> RotationOut:
    """Replace *role*'s key with a new one: a new root (signed by the current root key, and for a
    root rotation by the new root key too), then new targets, snapshot and timestamp. The bins key
    is delegated by the targets role, not by root: its rotation re-signs the top-level targets
    (naming the new key) and every bin, and leaves the root as it is."""
    tuf_repo.check_role(role)
    expiry = expiry or tuf_repo.Expiry()
    await ensure(session, key=key, expiry=expiry)
    now = utcnow()
    if role == "bins" and not (await _layout(session)).count:
        raise Conflict("the feed is flat (no hashed bins): there is no bins key to rotate")
    if role != "bins" and await _root_offline(session):
        # Rotating a top-level role's key needs a new root, which only the offline keys can sign.
        how = (
            _OFFLINE_HOWTO
            if role == "root"
            else _OFFLINE_HOWTO.replace("export`", f"export --rotate {role}`")
        )
        raise Conflict(f"cannot rotate the {role} key here: {how}")
    old = await _active_keys(session, role)
    old_root_keys = await _active_keys(session, "root")
    for row in old:
        row.retired_at = now
    new = await _new_key(session, role, key, now)
    await session.flush()
    current = await _newest(session, "root")
    if role == "bins":
        await _publish(session, key=key, now=now, expiry=expiry)
        await ledger.append(
            session,
            type="feed.key_rotated",
            actor_organisation_id=actor_organisation_id,
            subjects=[("feed_role", role), ("feed_key", new.keyid)],
            reason="signed patch feed: the bins key was rotated; every bin re-signed",
            sealed_hashes={"root": "sha256:" + current.sha256},
        )
        root_version: int = tuf_repo.load(current.content).signed.version
        return RotationOut(
            role=role, old_keyids=[k.keyid for k in old], new_keyid=new.keyid, root_version=root_version
        )
    root = tuf_repo.next_root(
        current.content, now=now, expiry=expiry, role=role, key=tuf_repo.key_from_dict(new.keyid, new.public)
    )
    # The new root must satisfy the old root's threshold (§5.3.4): a root rotation adds the
    # retiring root key's signature to the new key's; other rotations are signed by the root key.
    root_bytes = await _sign_role(
        session, "root", root, key, now, extra=old_root_keys if role == "root" else ()
    )
    await _publish(session, key=key, now=now, expiry=expiry, from_role="top")
    await ledger.append(
        session,
        type="feed.key_rotated",
        actor_organisation_id=actor_organisation_id,
        subjects=[("feed_role", role), ("feed_key", new.keyid)],
        reason=f"signed patch feed: the {role} key was rotated; root version {root.version}",
        sealed_hashes={"root": "sha256:" + hashlib.sha256(root_bytes).hexdigest()},
    )
    return RotationOut(
        role=role, old_keyids=[k.keyid for k in old], new_keyid=new.keyid, root_version=root.version
    )


# --------------------------------------------------------------------------------------------------
# Offline root: export the next root, sign it elsewhere, import it
# --------------------------------------------------------------------------------------------------


async def export_next_root(
    session: AsyncSession,
    *,
    key: DataKey,
    root_keys: Sequence[Any] = (),
    threshold: int | None = None,
    rotate: Collection[str] = (),
    expiry: tuf_repo.Expiry | None = None,
) -> bytes:
    """The next root (version + 1, expiry renewed), for signing offline: with *root_keys* (public
    keys, e.g. from ``tuf_repo.load_public_pem``) the root role's keys become these, and with
    *threshold* its threshold (default: the current one, at most the number of keys). Signed by
    whatever online root keys the server still holds (they count towards the previous root's
    threshold); the root itself is not stored: :func:`import_root` publishes it once enough keys
    have signed.

    *rotate* (targets, snapshot, timestamp): a new online key for each, made and sealed now and
    named by the exported root in place of the role's current key. Until the import it signs
    alongside the current key (a signature by a key the trusted root does not list is ignored by
    clients, TUF §5.4.2); the import retires the key the root no longer names."""
    expiry = expiry or tuf_repo.Expiry()
    await ensure(session, key=key, expiry=expiry)
    bad = sorted(set(rotate) - {"targets", "snapshot", "timestamp"})
    if bad:
        raise InvalidInput(
            f"cannot rotate {', '.join(bad)} with the root",
            problems=[Problem("rotate", "targets, snapshot or timestamp (the root keys are offline keys)")],
        )
    await _lock(session)
    current = await _newest(session, "root")
    now = utcnow()
    root = tuf_repo.next_root(current.content, now=now, expiry=expiry)
    for role in sorted(set(rotate)):
        row = await _new_key(session, role, key, now)
        for keyid in list(root.roles[role].keyids):
            root.revoke_key(keyid, role)
        root.add_key(tuf_repo.key_from_dict(row.keyid, row.public), role)
    if root_keys or threshold is not None:
        keys = list(root_keys) or [root.get_key(k) for k in root.roles["root"].keyids]
        wanted = threshold if threshold is not None else min(root.roles["root"].threshold, len(keys))
        try:
            tuf_repo.with_root_keys(root, keys, wanted)
        except ValueError as exc:
            raise InvalidInput(str(exc), problems=[Problem("threshold", str(exc))]) from None
    online = [k for k in await _active_keys(session, "root") if k.private_sealed is not None]
    return tuf_repo.partially_signed(root, _signers(online, key))


async def import_root(
    session: AsyncSession,
    *,
    key: DataKey,
    data: bytes,
    actor_organisation_id: uuid.UUID | None = None,
    expiry: tuf_repo.Expiry | None = None,
) -> RootImportOut:
    """Publish a root signed offline, after checking it as a client will (TUF §5.3.4): it is the
    next version, signed by a threshold of the previous root's root keys *and* of its own, not
    expired, with consistent snapshots; and it names for targets, snapshot and timestamp only keys
    the server holds (else the feed could not be signed after it). Root keys it adds are recorded
    as offline (public half only) unless the server already holds them; root keys it drops are
    retired. A new timestamp follows, and the transparency log records the import."""
    from tuf.api.exceptions import RepositoryError
    from tuf.api.serialization import DeserializationError

    expiry = expiry or tuf_repo.Expiry()
    await ensure(session, key=key, expiry=expiry)
    await _lock(session)
    current = await _newest(session, "root")
    try:
        new = tuf_repo.load(data)
    except (DeserializationError, ValueError) as exc:
        raise InvalidInput(
            "the file is not TUF metadata", problems=[Problem("root", str(exc)[:300])]
        ) from None
    if new.signed.type != "root":
        raise InvalidInput(
            f"the file is {new.signed.type} metadata", problems=[Problem("root", "root metadata")]
        )
    trusted: Any = tuf_repo.load(current.content).signed
    problems = []
    if new.signed.version != trusted.version + 1:
        problems.append(
            Problem(
                "version",
                f"the feed's root is version {trusted.version}: import version {trusted.version + 1}",
            )
        )
    if not new.signed.consistent_snapshot:
        problems.append(Problem("consistent_snapshot", "the feed serves consistent snapshots: true"))
    if new.signed.expires <= utcnow():
        problems.append(Problem("expires", f"expired at {new.signed.expires.isoformat()}"))
    for role in ("targets", "snapshot", "timestamp"):
        held = {k.keyid for k in await _active_keys(session, role) if k.private_sealed is not None}
        named = set(new.signed.roles[role].keyids)
        if not named or not named <= held or new.signed.roles[role].threshold > len(named):
            problems.append(
                Problem(f"roles.{role}", "must name exactly the online keys the server holds for it")
            )
    if problems:
        raise InvalidInput("the root cannot be imported", problems=problems)
    try:
        signatures = tuf_repo.root_signatures(current.content, data)
    except (RepositoryError, ValueError) as exc:
        raise InvalidInput(
            "the root's signatures cannot be checked", problems=[Problem("signatures", str(exc)[:300])]
        ) from None
    if not signatures.complete:
        raise InvalidInput(
            "the root is not signed by enough root keys",
            problems=[Problem("signatures", f"it carries {signatures.describe()}")],
        )
    tuf_repo.verify_root(current.content, data)  # the same check python-tuf's client makes
    now = utcnow()
    root_role = new.signed.roles["root"]
    active = {k.keyid: k for k in await _active_keys(session, "root")}
    for keyid, row in active.items():
        if keyid not in root_role.keyids:
            row.retired_at = now
    added = []
    for keyid in root_role.keyids:
        if keyid not in active:
            public = new.signed.get_key(keyid)
            session.add(
                FeedKey(
                    role="root", keyid=keyid, public=public.to_dict(), private_sealed=None, created_at=now
                )
            )
            added.append(keyid)
    # Keys of the online roles the new root no longer names (a rotation exported with the root).
    rotated = []
    for role in ("targets", "snapshot", "timestamp"):
        for row in await _active_keys(session, role):
            if row.keyid not in new.signed.roles[role].keyids:
                row.retired_at = now
                rotated.append(role)
    _store(session, "root", new.signed.version, data, new.signed.expires, now)
    await _publish(session, key=key, now=now, expiry=expiry, from_role="top" if rotated else "timestamp")
    digest = hashlib.sha256(data).hexdigest()
    await ledger.append(
        session,
        type="feed.key_rotated",
        actor_organisation_id=actor_organisation_id,
        subjects=[("feed_role", "root"), *[("feed_key", keyid) for keyid in root_role.keyids]],
        reason=(
            f"signed patch feed: root version {new.signed.version} signed offline and imported "
            f"(threshold {root_role.threshold} of {len(root_role.keyids)} root keys)"
        ),
        sealed_hashes={"root": "sha256:" + digest},
    )
    return RootImportOut(
        root_version=new.signed.version,
        threshold=root_role.threshold,
        keyids=list(root_role.keyids),
        added_keyids=added,
        retired_keyids=[k for k in active if k not in root_role.keyids],
        rotated_roles=sorted(set(rotated)),
        root_offline=await _root_offline(session),
    )


# --------------------------------------------------------------------------------------------------
# Reading: status and the files the HTTP routes serve
# --------------------------------------------------------------------------------------------------


async def status(session: AsyncSession, *, metadata_url: str, targets_url: str) -> FeedStatus:
    roles = []
    for role in tuf_repo.ROLES:
        row = await _latest(session, role)
        if row is None:
            continue
        roles.append(
            RoleStatus(
                role=role,
                version=row.version,
                expires=row.expires,
                keyids=[k.keyid for k in await _active_keys(session, role)],
            )
        )
    count = await session.scalar(
        select(func.count()).select_from(FeedTarget).where(FeedTarget.current, FeedTarget.kind != "index")
    )
    layout = await _layout(session)
    return FeedStatus(
        initialised=bool(roles),
        root_offline=bool(roles) and await _root_offline(session),
        roles=roles,
        targets=int(count or 0),
        bins=layout.count,
        bins_keyids=[k.keyid for k in await _active_keys(session, "bins")] if layout.count else [],
        metadata_url=metadata_url,
        targets_url=targets_url,
    )


async def listed_targets(session: AsyncSession, *, index: bool = False) -> dict[str, dict[str, Any]]:
    """Every target the newest signed metadata lists (path → its length, hashes and ``custom``): the
    top-level targets' own and those of each bin the newest snapshot names, as a client sees them;
    the feed's own index targets only with *index*."""
    import json

    targets_row, snapshot_row = await _latest(session, "targets"), await _latest(session, "snapshot")
    if targets_row is None or snapshot_row is None:
        return {}
    listed: dict[str, dict[str, Any]] = dict(json.loads(targets_row.content)["signed"]["targets"])
    delegated = set(tuf_repo.layout(targets_row.content).names())  # not bins of an older layout
    bins = {n: v for n, v in tuf_repo.snapshot_bins(snapshot_row.content).items() if n in delegated}
    if bins:
        rows = await session.scalars(
            select(FeedMetadata.content).where(
                func.concat(FeedMetadata.role, ".", FeedMetadata.version).in_(
                    [f"{name}.{version}" for name, version in bins.items()]
                )
            )
        )
        for content in rows:
            listed.update(json.loads(content)["signed"]["targets"])
    if not index:
        listed = {p: t for p, t in listed.items() if (t.get("custom") or {}).get("kind") != "index"}
    return listed


async def metadata_file(session: AsyncSession, *, name: str) -> bytes:
    """``N.root.json``, ``root.json``, ``timestamp.json``, ``N.snapshot.json``, ``N.targets.json``
    (and the unversioned snapshot and targets, newest)."""
    found = _METADATA_NAME.match(name)
    if found is None:
        raise NotFound(f"there is no metadata file {name[:100]}")
    role, version = found["role"], found["version"]
    if version is None:
        row = await _latest(session, role)
    else:
        row = await session.scalar(
            select(FeedMetadata).where(FeedMetadata.role == role, FeedMetadata.version == int(version))
        )
    if row is None:
        raise NotFound(f"there is no metadata file {name}")
    return row.content


async def target_content(session: AsyncSession, *, path: str) -> bytes:
    """A target by its consistent-snapshot name: ``<folder>/<sha256 or sha512>.<name>``."""
    folder, _, last = path.rpartition("/")
    found = _HASHED_NAME.match(last)
    if found is None:
        raise NotFound("targets are served as <folder>/<hash>.<name>")
    digest, target = found["digest"], (f"{folder}/" if folder else "") + found["name"]
    column = FeedTarget.sha256 if len(digest) == 64 else FeedTarget.sha512
    row = await session.scalar(select(FeedTarget.content).where(FeedTarget.path == target, column == digest))
    if row is None:
        raise NotFound(f"there is no target {target[:300]} with that hash")
    return bytes(row)


async def export_root(session: AsyncSession, *, key: DataKey, version: int | None = None) -> bytes:
    """The root metadata an operator's agent trusts first (the newest unless *version*)."""
    await ensure(session, key=key)
    return await metadata_file(session, name=f"{version}.root.json" if version else "root.json")
