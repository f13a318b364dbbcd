"""``forewarn feed``: the signed patch feed's state and upkeep (status, refresh, pruning, key
rotation, root), and the offline root ceremony (``forewarn feed root keygen|export|sign|import``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.cli.common import console, emit, in_transaction
from forewarn.core.jobs import Runtime

feed_app = typer.Typer(
    help="The signed patch feed (TUF): status, refresh, pruning, key rotation, the offline root.",
    no_args_is_help=True,
)
root_app = typer.Typer(
    help="Keep the root key offline: export the next root, sign it elsewhere, import it.",
    no_args_is_help=True,
)
feed_app.add_typer(root_app, name="root")


@feed_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each role's version, expiry and key ids (creates the repository on first use)."""
    from forewarn.clearinghouse.feed import service, tuf_repo
    from forewarn.clearinghouse.feed.jobs import feed_urls

    async def go(session: AsyncSession, runtime: Runtime) -> object:
        await service.ensure(
            session,
            key=runtime.keys.data,
            expiry=tuf_repo.Expiry.from_settings(runtime.settings),
            bins=runtime.settings.feed_hash_bins,
        )
        metadata_url, targets_url = feed_urls(runtime.settings)
        return await service.status(session, metadata_url=metadata_url, targets_url=targets_url)

    out = in_transaction(go)
    if as_json:
        emit(out, as_json=True)
        return
    emit(
        getattr(out, "roles", []),
        as_json=False,
        columns=["role", "version", "expires", "keyids"],
        title="TUF roles",
    )
    console.print(f"{getattr(out, 'targets', 0)} targets; metadata at {getattr(out, 'metadata_url', '')}")
    if getattr(out, "root_offline", False):
        console.print("the root keys are offline: renew or rotate the root with `forewarn feed root export`")


@feed_app.command("refresh-timestamp")
def refresh_timestamp() -> None:
    """Re-sign the timestamp now (and any role past half its lifetime), as the hourly job does."""
    from forewarn.clearinghouse.feed import service, tuf_repo

    async def go(session: AsyncSession, runtime: Runtime) -> list[str]:
        return await service.refresh(
            session,
            key=runtime.keys.data,
            expiry=tuf_repo.Expiry.from_settings(runtime.settings),
            bins=runtime.settings.feed_hash_bins,
        )

    console.print("signed: " + ", ".join(in_transaction(go)))


@feed_app.command("rotate-key")
def rotate_key(
    role: Annotated[str, typer.Argument(metavar="ROLE", help="root, targets, snapshot, timestamp or bins")],
) -> None:
    """Replace a role's key: a new root signed by the old (and, for root, the new) root key; every
    other role re-signed; recorded in the transparency log. Clients follow it on their next refresh."""
    from forewarn.clearinghouse.feed import service, tuf_repo

    tuf_repo.check_role(role)

    async def go(session: AsyncSession, runtime: Runtime) -> object:
        return await service.rotate_key(
            session, role=role, key=runtime.keys.data, expiry=tuf_repo.Expiry.from_settings(runtime.settings)
        )

    out = in_transaction(go)
    console.print(
        f"{role} key rotated: new key {getattr(out, 'new_keyid', '')}; root is now version "
        f"{getattr(out, 'root_version', '')}"
    )


@feed_app.command("export-root")
def export_root(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    version: Annotated[int | None, typer.Option("--version", min=1, help="A given root version.")] = None,
) -> None:
    """The root metadata operators' agents trust (give it to them out of band, once)."""
    from forewarn.clearinghouse.feed import service

    async def go(session: AsyncSession, runtime: Runtime) -> bytes:
        return await service.export_root(session, key=runtime.keys.data, version=version)

    data = in_transaction(go)
    if out is None:
        typer.echo(data.decode())
        return
    out.write_bytes(data)
    console.print(f"root metadata written to {out} (sha256 {hashlib.sha256(data).hexdigest()})")


@feed_app.command("use-bins")
def use_bins(
    bins: Annotated[int, typer.Argument(metavar="N", help="hashed bins: a power of two up to 65536; 0 flat")],
) -> None:
    """Move the feed's targets into N hashed bins (a new targets version delegating to them; target
    paths and contents unchanged). Set FOREWARN_FEED_HASH_BINS to N too, or the hourly refresh moves
    the feed back to the configured layout."""
    from forewarn.clearinghouse.feed import service, tuf_repo

    async def go(session: AsyncSession, runtime: Runtime) -> bool:
        return await service.use_bins(
            session, bins=bins, key=runtime.keys.data, expiry=tuf_repo.Expiry.from_settings(runtime.settings)
        )

    moved = in_transaction(go)
    console.print(f"the feed now has {bins} hashed bins" if moved else f"the feed already has {bins} bins")


@feed_app.command("prune")
def prune(
    keep_hours: Annotated[
        int | None,
        typer.Option("--keep-hours", min=1, help="Grace period (default FOREWARN_FEED_KEEP_HOURS)."),
    ] = None,
) -> None:
    """Delete metadata versions and target contents older than the grace period that no client can
    need any more (never a root version), as the hourly job does."""
    from forewarn.clearinghouse.feed import service

    async def go(session: AsyncSession, runtime: Runtime) -> dict[str, int]:
        hours = keep_hours if keep_hours is not None else runtime.settings.feed_keep_hours
        return await service.prune(session, keep_hours=hours)

    out = in_transaction(go)
    console.print(f"pruned {out['metadata']} metadata files and {out['targets']} target contents")


# --------------------------------------------------------------------------------------------------
# The offline root
# --------------------------------------------------------------------------------------------------


def _read(path: Path, what: str) -> bytes:
    from forewarn.core.errors import InvalidInput, Problem

    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {what} {path}", problems=[Problem(what, exc.strerror or "")]
        ) from None


@root_app.command("keygen")
def root_keygen(
    out: Annotated[Path, typer.Option("--out", "-o", help="The private key file to write (PEM, PKCS#8).")],
) -> None:
    """Make an Ed25519 root key on this (offline) machine: OUT (private, mode 0600) and OUT.pub."""
    import os

    from forewarn.clearinghouse.feed import tuf_repo
    from forewarn.core.errors import Conflict

    public_out = out.with_name(out.name + ".pub")
    if out.exists() or public_out.exists():
        raise Conflict(f"{out} or {public_out} exists already: choose another name")
    seed = tuf_repo.generate_seed()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(tuf_repo.private_pem(seed))
    public_out.write_bytes(tuf_repo.public_pem(seed))
    console.print(f"key {tuf_repo.public_key(seed).keyid}: private {out}, public {public_out}")


@root_app.command("export")
def root_export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the next root (JSON).")],
    root_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--root-key",
            metavar="PUB.pem",
            help="A public key (PEM) the new root lists for the root role; repeat for each. "
            "Omitted: the root keys stay as they are.",
        ),
    ] = None,
    threshold: Annotated[
        int | None, typer.Option("--threshold", min=1, help="Root signatures required from now on.")
    ] = None,
    rotate: Annotated[
        list[str] | None,
        typer.Option(
            "--rotate",
            metavar="ROLE",
            help="targets, snapshot or timestamp: a new online key for it, named by this root; repeatable.",
        ),
    ] = None,
) -> None:
    """Write the next root metadata (version + 1, renewed expiry) to sign offline; the root keys the
    server still holds have signed it already. Nothing changes until `forewarn feed root import`."""
    from forewarn.clearinghouse.feed import service, tuf_repo
    from forewarn.core.errors import InvalidInput, Problem

    keys = []
    for path in root_key or ():
        try:
            keys.append(tuf_repo.load_public_pem(_read(path, "root-key")))
        except ValueError as exc:
            raise InvalidInput(f"--root-key {path}", problems=[Problem("root-key", str(exc))]) from None

    async def go(session: AsyncSession, runtime: Runtime) -> bytes:
        return await service.export_next_root(
            session,
            key=runtime.keys.data,
            root_keys=keys,
            threshold=threshold,
            rotate=rotate or (),
            expiry=tuf_repo.Expiry.from_settings(runtime.settings),
        )

    data = in_transaction(go)
    out.write_bytes(data)
    signed = tuf_repo.load(data).signed
    role = signed.roles["root"]
    console.print(
        f"root version {signed.version} written to {out}: {len(tuf_repo.load(data).signatures)} "
        f"signature(s) so far; it needs {role.threshold} of the root keys {', '.join(role.keyids)} "
        "(and the previous root's threshold). Sign it with `forewarn feed root sign`."
    )


@root_app.command("sign")
def root_sign(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The root file from `root export`.")],
    key_file: Annotated[
        Path, typer.Option("--key", metavar="KEY.pem", help="Ed25519 private key (PKCS#8 PEM).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: FILE in place).")
    ] = None,
) -> None:
    """Add this key's signature to the root file. Needs no server or database: run it where the
    offline key is. An encrypted key asks for its passphrase."""
    from forewarn.clearinghouse.feed import tuf_repo
    from forewarn.core.errors import InvalidInput, Problem

    data, pem = _read(file, "file"), _read(key_file, "key")
    try:
        signer = tuf_repo.load_private_pem(pem)
    except ValueError as exc:
        if "password" not in str(exc).lower():
            raise InvalidInput(f"--key {key_file}", problems=[Problem("key", str(exc))]) from None
        passphrase = typer.prompt("passphrase of the key", hide_input=True)
        try:
            signer = tuf_repo.load_private_pem(pem, passphrase.encode())
        except ValueError as again:
            raise InvalidInput(f"--key {key_file}", problems=[Problem("key", str(again))]) from None
    try:
        signed = tuf_repo.add_signature(data, signer)
    except ValueError as exc:
        raise InvalidInput(
            f"{file} is not root metadata", problems=[Problem("file", str(exc)[:300])]
        ) from None
    (out or file).write_bytes(signed)
    root = tuf_repo.load(signed)
    keyid = signer.public_key.keyid
    listed = keyid in root.signed.roles["root"].keyids
    console.print(
        f"signed root version {root.signed.version} with key {keyid}"
        + (
            ""
            if listed
            else " (not a root key of this version: it counts only if the previous root lists it)"
        )
        + f"; {len(root.signatures)} signature(s) now"
    )


@root_app.command("import")
def root_import(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The root file, signed offline.")],
) -> None:
    """Check the signed root against the previous root's keys and its own (as clients will), then
    publish it. Clients follow it on their next refresh."""
    from forewarn.clearinghouse.feed import service, tuf_repo

    data = _read(file, "file")

    async def go(session: AsyncSession, runtime: Runtime) -> object:
        return await service.import_root(
            session, key=runtime.keys.data, data=data, expiry=tuf_repo.Expiry.from_settings(runtime.settings)
        )

    out = in_transaction(go)
    rotated = getattr(out, "rotated_roles", [])
    console.print(
        f"root version {getattr(out, 'root_version', '')} published: threshold "
        f"{getattr(out, 'threshold', '')} of {len(getattr(out, 'keyids', []))} root keys"
        + ("; the root is now offline" if getattr(out, "root_offline", False) else "")
        + (f"; new keys for {', '.join(rotated)}" if rotated else "")
    )
