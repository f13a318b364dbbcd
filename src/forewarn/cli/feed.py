"""``forewarn feed``: the signed patch feed's state and upkeep (status, refresh, key rotation, root)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.cli.common import console, emit, in_transaction
from forewarn.core.jobs import Runtime

feed_app = typer.Typer(
    help="The signed patch feed (TUF): status, refresh, key rotation.", no_args_is_help=True
)


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
