"""The feed's JSON API: public status and patch lists; patch uploads by analysts and the advisory's
vendors only, as a raw body or a multipart file; bad input named by field; the TUF routes public."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.core.jobs import Runtime

from .conftest import People, published_in_feed

Tokens = Callable[[Principal], Awaitable[str]]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_status_and_patch_lists_are_public(
    session: AsyncSession, runtime: Runtime, people: People, client: httpx.AsyncClient
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    status = (await client.get("/api/v1/feed/status")).json()
    assert status["initialised"] is True
    assert [r["role"] for r in status["roles"]] == ["root", "targets", "snapshot", "timestamp"]
    assert status["targets"] == 3
    assert status["metadata_url"].endswith("/tuf/")
    listed = await client.get(f"/api/v1/feed/advisories/{advisory_id}/patches")
    assert listed.status_code == 200 and listed.json() == []
    assert (await client.get("/api/v1/feed/advisories/x_NOPE-1/patches")).status_code == 404
    root = await client.get("/tuf/1.root.json")
    assert root.status_code == 200 and root.headers["content-type"] == "application/json"


async def test_who_uploads_patch_files(
    session: AsyncSession, runtime: Runtime, people: People, client: httpx.AsyncClient, make_token: Tokens
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    url = f"/api/v1/feed/advisories/{advisory_id}/patches?filename=fix.patch&version=1.4.2"
    assert (await client.post(url, content=b"patch")).status_code == 401
    for outsider in (people.operator, people.other_vendor, people.reporter):
        refused = await client.post(url, content=b"patch", headers=_bearer(await make_token(outsider)))
        assert refused.status_code == 403, outsider
    made = await client.post(url, content=b"patch", headers=_bearer(await make_token(people.vendor)))
    assert made.status_code == 201, made.text
    assert made.json()["sha256"] == hashlib.sha256(b"patch").hexdigest()
    assert made.json()["version"] == "1.4.2"
    # A multipart upload from an analyst replaces it.
    form = await client.post(
        f"/api/v1/feed/advisories/{advisory_id}/patches?filename=fix.patch",
        files={"file": ("fix.patch", b"patch v2", "application/octet-stream")},
        headers=_bearer(await make_token(people.analyst)),
    )
    assert form.status_code == 201, form.text
    (listed,) = (await client.get(f"/api/v1/feed/advisories/{advisory_id}/patches")).json()
    assert listed["sha256"] == hashlib.sha256(b"patch v2").hexdigest()
    served = await client.get(listed["url"].removeprefix(runtime.settings.public_base_url))
    assert served.status_code == 200 and served.content == b"patch v2"


async def test_bad_uploads_are_named(
    session: AsyncSession, runtime: Runtime, people: People, client: httpx.AsyncClient, make_token: Tokens
) -> None:
    advisory_id = await published_in_feed(session, runtime, people)
    headers = _bearer(await make_token(people.vendor))
    bad = await client.post(
        f"/api/v1/feed/advisories/{advisory_id}/patches?filename=..%2Fescape", content=b"x", headers=headers
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert [p["field"] for p in bad.json()["problems"]] == ["filename"]
    missing = await client.post(
        f"/api/v1/feed/advisories/{advisory_id}/patches", content=b"x", headers=headers
    )
    assert missing.status_code == 422 and "filename" in missing.text
    empty = await client.post(
        f"/api/v1/feed/advisories/{advisory_id}/patches?filename=a.patch", content=b"", headers=headers
    )
    assert empty.status_code == 422 and [p["field"] for p in empty.json()["problems"]] == ["body"]
    no_file = await client.post(
        f"/api/v1/feed/advisories/{advisory_id}/patches?filename=a.patch",
        files={"other": ("a", b"x")},
        headers=headers,
    )
    assert no_file.status_code == 422 and [p["field"] for p in no_file.json()["problems"]] == ["file"]
    purl = await client.post(
        f"/api/v1/feed/advisories/{advisory_id}/patches?filename=a.patch&purl=tarlib",
        content=b"x",
        headers=headers,
    )
    assert purl.status_code == 422 and [p["field"] for p in purl.json()["problems"]] == ["purl"]
    # Nothing half-written: no patch file is listed.
    assert (await client.get(f"/api/v1/feed/advisories/{advisory_id}/patches")).json() == []
