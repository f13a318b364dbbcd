"""The TUF repository over HTTP, at ``/tuf/`` (public: only TLP:CLEAR material is in it).

- ``/tuf/N.root.json`` every root version (clients walk rotations one version at a time), and
  ``/tuf/root.json`` the newest;
- ``/tuf/timestamp.json`` the newest timestamp (never cached: it is what tells a client it is current);
- ``/tuf/N.snapshot.json``, ``/tuf/N.targets.json`` by version (consistent snapshots: immutable);
- ``/tuf/targets/<folder>/<sha256>.<name>`` target files by content hash (immutable).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from forewarn.accounts.http import public
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.feed import service
from forewarn.core.http import Session

router = APIRouter(tags=["feed"])
Anyone = Annotated[Principal | None, Depends(public())]

_IMMUTABLE = "public, max-age=31536000, immutable"


@router.get("/tuf/targets/{path:path}", name="feed_target")
async def target(path: str, session: Session, _: Anyone) -> Response:
    """One target file, by its consistent-snapshot name (``<folder>/<hash>.<name>``)."""
    content = await service.target_content(session, path=path)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Cache-Control": _IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/tuf/{name}", name="feed_metadata")
async def metadata(name: str, session: Session, _: Anyone) -> Response:
    """One metadata file (``N.root.json``, ``timestamp.json``, ``N.snapshot.json``, ``N.targets.json``)."""
    content = await service.metadata_file(session, name=name)
    versioned = name[:1].isdigit()
    return Response(
        content,
        media_type="application/json",
        headers={
            "Cache-Control": _IMMUTABLE if versioned else "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )
