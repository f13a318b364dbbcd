"""The agent's TUF client: refresh the feed's metadata, then fetch and verify its targets.

Every failure of python-tuf's client workflow becomes an :class:`AgentError` (exit status 3) that
names what was refused and why; nothing fetched before the failure is used.
"""

from __future__ import annotations

import json
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
    except exceptions.LengthOrHashMismatchError as exc:
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
    """What one refresh verified: the snapshot's version and every target path (of every bin)."""

    snapshot_version: int
    paths: list[str]


class Feed:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._updater: Updater | None = None

    def refresh(self) -> Synced:
        """Update root (walking rotations), timestamp, snapshot and targets, all verified."""
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
            paths = self._listed_paths(self._updater)
        # The updater writes metadata to its folder only after verifying it: this is the snapshot it
        # just accepted; each path is looked up through the updater again when fetched.
        signed: dict[str, Any] = json.loads((self.config.metadata_dir / "snapshot.json").read_bytes())[
            "signed"
        ]
        return Synced(snapshot_version=int(signed["version"]), paths=sorted(paths))

    @staticmethod
    def _listed_paths(updater: Updater) -> set[str]:
        """Every target path the feed lists: the top-level targets' own, and each hashed bin's.

        python-tuf's client has no public call that lists targets; ``_load_targets`` is the one
        ``get_targetinfo`` uses to walk delegations: it loads a bin from the local cache when the
        snapshot still lists its version, else downloads ``N.bin-x.json`` and verifies it (bins key
        signature, version, expiry) before use. A bin unchanged since the last run is not fetched.
        """
        top = updater._load_targets("targets", "root")
        paths = set(top.targets)
        if top.delegations is not None and top.delegations.roles:
            for name in top.delegations.roles:
                paths.update(updater._load_targets(name, "targets").targets)
        return paths

    def fetch(self, path: str) -> bytes:
        """A target's bytes, from the verified cache or downloaded and verified now."""
        if self._updater is None:
            raise RuntimeError("refresh() first")
        with refusals(f"the target {path}"):
            info = self._updater.get_targetinfo(path)
            if info is None:
                raise AgentError(f"the feed does not list {path}", exit_code=FEED_REFUSED)
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
