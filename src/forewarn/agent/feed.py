"""The agent's TUF client: refresh the feed's metadata, then fetch and verify its targets.

Every failure of python-tuf's client workflow becomes an :class:`AgentError` (exit status 3) that
names what was refused and why; nothing fetched before the failure is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forewarn.agent.config import AgentConfig, AgentError

if TYPE_CHECKING:
    from tuf.ngclient import Updater

#: Exit status of a run stopped because the feed did not verify (or could not be reached).
FEED_REFUSED = 3


@contextmanager
def refusals(what: str) -> Iterator[None]:
    """Turn python-tuf's errors into one clear message each."""
    from tuf.api import exceptions

    try:
        yield
    except exceptions.ExpiredMetadataError as exc:
        raise AgentError(
            f"REFUSED: the feed's metadata has expired ({exc}). The server has stopped refreshing it, or "
            "someone is replaying old metadata to hide new advisories. Nothing was scanned or reported; "
            "tell the clearinghouse.",
            exit_code=FEED_REFUSED,
        ) from None
    except (exceptions.LengthOrHashMismatchError, exceptions.DownloadLengthMismatchError) as exc:
        # The second: more bytes served than the signed length (python-tuf stops reading there).
        raise AgentError(
            f"REFUSED: {what} does not match the length or hash its signed metadata gives ({exc}): it was "
            "tampered with or damaged on the way. It was not used; nothing was scanned or reported.",
            exit_code=FEED_REFUSED,
        ) from None
    except exceptions.UnsignedMetadataError as exc:
        raise AgentError(
            f"REFUSED: {what}: the feed's metadata is not signed by the keys this agent trusts ({exc}). "
            "It may have been tampered with. Nothing was scanned or reported.",
            exit_code=FEED_REFUSED,
        ) from None
    except (exceptions.BadVersionNumberError, exceptions.RepositoryError) as exc:
        raise AgentError(
            f"REFUSED: {what}: the feed's metadata failed verification "
            f"({type(exc).__name__}: {str(exc)[:300]}). Nothing was scanned or reported.",
            exit_code=FEED_REFUSED,
        ) from None
    except exceptions.DownloadError as exc:
        raise AgentError(
            f"could not fetch {what} from the feed ({type(exc).__name__}: {str(exc)[:300]}); "
            "nothing was scanned or reported",
            exit_code=FEED_REFUSED,
        ) from None


@dataclass
class Synced:
    """What one refresh verified: the snapshot's version and every target path the index lists."""

    snapshot_version: int
    paths: list[str]


#: The feed's index (``clearinghouse.feed.service``): ``index.json`` names the shards, each shard
#: lists targets with their length and SHA-256. Both are targets like any other, verified by TUF.
INDEX = "index.json"
INDEX_SCHEMA = "forewarn-feed-index/1"
_SHARD = re.compile(r"^index/[A-Za-z0-9-]{1,16}\.json$")


def _refuse_index(where: str, why: str) -> AgentError:
    return AgentError(
        f"REFUSED: the feed's index {where} {why}. Nothing was scanned or reported; tell the clearinghouse.",
        exit_code=FEED_REFUSED,
    )


def _parse(raw: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        raise _refuse_index(where, "is not JSON") from None
    if not isinstance(doc, dict) or doc.get("schema") != INDEX_SCHEMA:
        raise _refuse_index(where, f"is not a {INDEX_SCHEMA} document")
    return doc


def _entries(doc: dict[str, Any], where: str) -> dict[str, tuple[int, str]]:
    """The shard's targets: path → (length, SHA-256), every field checked."""
    targets = doc.get("targets")
    if not isinstance(targets, dict):
        raise _refuse_index(where, "has no targets object")
    out: dict[str, tuple[int, str]] = {}
    for path, entry in targets.items():
        hashes = entry.get("hashes") if isinstance(entry, dict) else None
        length = entry.get("length") if isinstance(entry, dict) else None
        digest = hashes.get("sha256") if isinstance(hashes, dict) else None
        if (
            not isinstance(path, str)
            or not isinstance(length, int)
            or length < 0
            or not isinstance(digest, str)
            or not re.fullmatch(r"[0-9a-f]{64}", digest)
            or path == INDEX
            or path.startswith("index/")
        ):
            raise _refuse_index(where, f"has a malformed entry {str(path)[:200]!r}")
        out[path] = (length, digest)
    return out


class Feed:
    """python-tuf's client, through its public API only: ``refresh``, ``get_targetinfo``,
    ``find_cached_target`` and ``download_target``.

    The client cannot list targets, so the feed publishes its own index as targets: ``index.json``
    names one shard per hashed bin, and each shard lists the targets of its bin with their length
    and SHA-256. The agent fetches the index and every shard as verified targets (an unchanged shard
    is taken from the verified cache), then fetches each target it needs through ``get_targetinfo``,
    so every byte is verified by TUF; it also checks that the signed targets metadata gives each
    target the length and hash its shard gives, and refuses the run when they disagree.
    """

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._updater: Updater | None = None
        self._listed: dict[str, tuple[int, str]] = {}

    def refresh(self) -> Synced:
        """Update root (walking rotations), timestamp, snapshot and targets, all verified; then read
        the index."""
        from tuf.api.metadata import Metadata, Snapshot
        from tuf.ngclient import Updater

        with refusals("the feed's metadata"):
            self._updater = Updater(
                metadata_dir=str(self.config.metadata_dir),
                metadata_base_url=self.config.metadata_url,
                target_dir=str(self.config.targets_dir),
                target_base_url=self.config.targets_url,
                bootstrap=self.config.trusted_root(),
            )
            self._updater.refresh()
        self._listed = {}
        top = _parse(self._fetch(INDEX, indexed=False), INDEX)
        shards = top.get("shards")
        if not isinstance(shards, list) or not all(isinstance(s, str) and _SHARD.match(s) for s in shards):
            raise _refuse_index(INDEX, "does not name its shards as index/<name>.json")
        listed: dict[str, tuple[int, str]] = {}
        for shard in shards:
            listed.update(_entries(_parse(self._fetch(shard, indexed=False), shard), shard))
        self._listed = listed
        # The updater writes metadata to its folder only after verifying it: this is the snapshot it
        # just accepted.
        snapshot = Metadata[Snapshot].from_bytes((self.config.metadata_dir / "snapshot.json").read_bytes())
        return Synced(snapshot_version=int(snapshot.signed.version), paths=sorted(listed))

    def fetch(self, path: str) -> bytes:
        """A target's bytes, from the verified cache or downloaded and verified now."""
        return self._fetch(path, indexed=True)

    def _fetch(self, path: str, *, indexed: bool) -> bytes:
        if self._updater is None:
            raise RuntimeError("refresh() first")
        with refusals(f"the target {path}" if indexed else f"the feed's index {path}"):
            info = self._updater.get_targetinfo(path)
            if info is None:
                if not indexed and path == INDEX:
                    raise AgentError(
                        f"the feed publishes no {INDEX}: the server is older than this agent or has not "
                        "run its hourly refresh since it was upgraded; nothing was scanned or reported",
                        exit_code=FEED_REFUSED,
                    )
                raise AgentError(
                    f"REFUSED: the feed's index lists {path} but its signed metadata does not"
                    if path in self._listed
                    else f"the feed does not list {path}",
                    exit_code=FEED_REFUSED,
                )
            expected = self._listed.get(path)
            if indexed and expected is not None and expected != (info.length, info.hashes.get("sha256")):
                raise AgentError(
                    f"REFUSED: the feed's index and its signed metadata disagree on the length or hash of "
                    f"{path}. Nothing was scanned or reported; tell the clearinghouse.",
                    exit_code=FEED_REFUSED,
                )
            local = self._target_path(path)
            cached = self._updater.find_cached_target(info, str(local))
            if cached is None:
                local.parent.mkdir(parents=True, exist_ok=True)
                cached = self._updater.download_target(info, str(local))
        return Path(cached).read_bytes()

    def _target_path(self, path: str) -> Path:
        # Target paths come from verified metadata, but stay inside the targets folder regardless.
        local = (self.config.targets_dir / path).resolve()
        if not local.is_relative_to(self.config.targets_dir.resolve()):
            raise AgentError(f"the feed lists an unsafe target path {path!r}", exit_code=FEED_REFUSED)
        return local
