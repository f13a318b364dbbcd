"""Feed jobs.

- ``feed:publish_advisory`` (enqueued by name by the advisories side, in the transaction that
  publishes or revises an advisory): puts the advisory's documents and patch manifest in the signed
  feed. Idempotent: unchanged documents sign nothing new.
- ``feed:refresh`` (periodic, hourly): re-signs the timestamp (valid one day by default) and any role
  past half its lifetime; creates the repository on its first run, moves an existing feed into
  the configured number of hashed bins (``feed_hash_bins``), builds the index of a feed made before
  it existed, and prunes metadata versions and target contents no client can need any more
  (older than ``feed_keep_hours``; never a root).
"""

from __future__ import annotations

import logging

import procrastinate

from forewarn.clearinghouse.feed import service, tuf_repo
from forewarn.core.errors import NotFound

blueprint = procrastinate.Blueprint()
log = logging.getLogger("forewarn.feed")


def feed_urls(settings: object) -> tuple[str, str]:
    """(metadata URL, targets URL) of the feed on this server."""
    base = str(getattr(settings, "public_base_url", "")).rstrip("/")
    return f"{base}/tuf/", f"{base}/tuf/targets/"


@blueprint.task(name="publish_advisory", pass_context=True)
async def publish_advisory(context: procrastinate.JobContext, advisory_id: str) -> int:
    """Publish one advisory's targets; returns how many target files changed."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        try:
            changed = await service.publish_advisory(
                session,
                advisory_id=advisory_id,
                key=runtime.keys.data,
                targets_url=feed_urls(runtime.settings)[1],
                expiry=tuf_repo.Expiry.from_settings(runtime.settings),
                bins=runtime.settings.feed_hash_bins,
            )
        except NotFound:
            # Not (or no longer) published: nothing of it may enter the public feed.
            log.warning("advisory %s is not published; the feed is unchanged", advisory_id[:200])
            return 0
    return len(changed)


@blueprint.periodic(cron="13 * * * *")
@blueprint.task(name="refresh", queueing_lock="feed:refresh", pass_context=True)
async def refresh(context: procrastinate.JobContext, timestamp: int) -> list[str]:
    """Re-sign the timestamp (and whatever nears expiry); returns the roles signed."""
    runtime = context.additional_context["runtime"]
    async with runtime.db.transaction() as session:
        signed = await service.refresh(
            session,
            key=runtime.keys.data,
            expiry=tuf_repo.Expiry.from_settings(runtime.settings),
            bins=runtime.settings.feed_hash_bins,
        )
        pruned = await service.prune(session, keep_hours=runtime.settings.feed_keep_hours)
    if any(pruned.values()):
        log.info(
            "feed pruned: %d metadata files and %d target contents older than %d hours",
            pruned["metadata"],
            pruned["targets"],
            runtime.settings.feed_keep_hours,
        )
    return signed
