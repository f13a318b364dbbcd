"""The feed in the demo world: the repository exists from the start, so ``/tuf/1.root.json`` answers
and an agent can be set up before the first advisory is published."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.clearinghouse.feed import service, tuf_repo
from forewarn.core.jobs import Runtime


async def seed_demo(session: AsyncSession, runtime: Runtime) -> list[str]:
    await service.ensure(
        session,
        key=runtime.keys.data,
        expiry=tuf_repo.Expiry.from_settings(runtime.settings),
        bins=runtime.settings.feed_hash_bins,
    )
    base = runtime.settings.public_base_url.rstrip("/")
    return [f"Signed patch feed (TUF): {base}/tuf/  — root for agents: {base}/tuf/1.root.json"]
