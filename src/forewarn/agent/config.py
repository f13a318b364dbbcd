"""The agent's folder: settings, the token (0600), the trusted root, the TUF caches.

Layout of the folder (``--dir``; by default the user's data folder, ``forewarn-agent``)::

    agent.json          server URL and the SBOM paths to scan
    token               the operator's API token (mode 0600)
    trusted-root.json   the root metadata the operator was given (the trust anchor)
    metadata/           python-tuf's verified metadata cache (root history, timestamp, ...)
    targets/            verified target files (advisories, manifests, patch files)
    last-run.json       what the last run found and reported
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CONFIG = "agent.json"
TOKEN = "token"  # noqa: S105 -- a file name
ROOT = "trusted-root.json"
TOKEN_PREFIX = "fw_"  # noqa: S105 -- the public marker of forewarn API tokens


class AgentError(Exception):
    """Something the operator must know; the run stops with ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def default_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("forewarn-agent", appauthor=False))


@dataclass
class AgentConfig:
    folder: Path
    server: str
    sboms: list[str] = field(default_factory=list)

    @property
    def metadata_url(self) -> str:
        return f"{self.server}/tuf/"

    @property
    def targets_url(self) -> str:
        return f"{self.server}/tuf/targets/"

    @property
    def metadata_dir(self) -> Path:
        return self.folder / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.folder / "targets"

    def trusted_root(self) -> bytes:
        return (self.folder / ROOT).read_bytes()

    def token(self) -> str:
        path = self.folder / TOKEN
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise AgentError(f"the token file {path} is readable by others (mode {mode:o}); chmod 600 it")
        return path.read_text().strip()


def check_server(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise AgentError(f"--server must be an http(s) URL like https://clearinghouse.example, not {url!r}")
    return url.rstrip("/")


def check_root(raw: bytes, where: str) -> int:
    """The root's version, after checking it is TUF root metadata signed by its own root keys."""
    from tuf.api.exceptions import RepositoryError
    from tuf.api.metadata import Metadata, Root
    from tuf.api.serialization import DeserializationError

    try:
        metadata = Metadata[Root].from_bytes(raw)
        if metadata.signed.type != Root.type:
            raise AgentError(f"{where} is {metadata.signed.type} metadata, not the root")
        metadata.verify_delegate(Root.type, metadata)
    except (DeserializationError, RepositoryError, ValueError) as exc:
        raise AgentError(f"{where} is not valid TUF root metadata: {str(exc)[:300]}") from None
    return int(metadata.signed.version)


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def save(folder: Path, *, server: str, root: bytes, token: str, sboms: list[str]) -> AgentConfig:
    """Write a new agent folder (replacing the settings, token and trusted root of an old one)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) < 20 or any(c.isspace() for c in token):
        raise AgentError("--token must be a forewarn API token (fw_…), made by an operator contact")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = AgentConfig(folder=folder, server=check_server(server), sboms=sboms)
    (folder / CONFIG).write_text(json.dumps({"server": config.server, "sboms": sboms}, indent=2) + "\n")
    _write_private(folder / TOKEN, token.encode() + b"\n")
    _write_private(folder / ROOT, root)
    for sub in (config.metadata_dir, config.targets_dir):
        sub.mkdir(exist_ok=True, mode=0o700)
    return config


def load(folder: Path) -> AgentConfig:
    path = folder / CONFIG
    if not path.exists():
        raise AgentError(f"{folder} is not an agent folder: run `forewarn agent init` first")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return AgentConfig(
            folder=folder, server=check_server(data["server"]), sboms=list(data.get("sboms") or [])
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise AgentError(f"{path} is damaged ({exc}); run `forewarn agent init` again") from None
