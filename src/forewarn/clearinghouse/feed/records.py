"""Public shapes of the feed: its state, and the patch files uploaded for advisories."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

__all__ = ["FeedStatus", "PatchOut", "RoleStatus", "RootImportOut", "RotationOut"]


class RoleStatus(BaseModel):
    role: str
    version: int
    expires: datetime
    keyids: list[str]


class FeedStatus(BaseModel):
    initialised: bool
    #: The server holds fewer root keys than the root's threshold: new roots are signed offline.
    root_offline: bool = False
    roles: list[RoleStatus]
    targets: int
    #: Hashed bins the top-level targets delegates to (0: flat, every target in the targets role).
    bins: int = 0
    bins_keyids: list[str] = []
    #: Where a client finds the metadata and the targets.
    metadata_url: str
    targets_url: str


class PatchOut(BaseModel):
    advisory_id: str
    filename: str
    #: The TUF target path; the file is served at ``targets_url`` + ``<sha256>.<filename>``.
    target: str
    url: str
    length: int
    sha256: str
    sha512: str
    purl: str | None
    version: str | None
    uploaded_at: datetime


class RotationOut(BaseModel):
    role: str
    old_keyids: list[str]
    new_keyid: str
    root_version: int


class RootImportOut(BaseModel):
    """A root signed offline and published."""

    root_version: int
    threshold: int
    keyids: list[str]
    added_keyids: list[str]
    retired_keyids: list[str]
    #: Online roles whose key the new root replaced (made by ``export --rotate``).
    rotated_roles: list[str] = []
    #: Whether the server can no longer sign a root alone (fewer online root keys than the threshold).
    root_offline: bool
