"""``forewarn agent`` end to end, as an operator runs it: a real subprocess against the feed and API
served over HTTP on 127.0.0.1 — init with the root, run once (verified downloads, scan of a
CycloneDX SBOM, a verified patch), report statuses the server then shows; tampered and expired
metadata refused with a clear message and nothing reported; the schedule; bad input."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.feed.conftest import (
    People,
    Served,
    frozen,
    people,
    published_in_feed,
    served,
    small_bins,
)
from tests.clearinghouse.matching.conftest import cyclonedx

from forewarn.agent.config import AgentError
from forewarn.agent.run import asset_name, parse_every
from forewarn.clearinghouse.feed import service
from forewarn.clearinghouse.feed.models import FeedTarget
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.matching import service as matching
from forewarn.clearinghouse.matching.records import MatchStatus
from forewarn.core.clock import utcnow
from forewarn.core.jobs import Runtime

__all__ = ["people", "served", "small_bins"]  # fixtures used by the tests below
pytestmark = pytest.mark.slow

PATCH = b"--- a/tarlib/extract.py\n+++ b/tarlib/extract.py\n@@ refuse paths outside the target @@\n"


async def forewarn(*args: str | Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {"COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "forewarn.cli.main",
        *map(str, args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class World:
    def __init__(self, advisory_id: str, token: str, root: Path, sboms: Path, folder: Path) -> None:
        self.advisory_id, self.token, self.root, self.sboms, self.folder = (
            advisory_id,
            token,
            root,
            sboms,
            folder,
        )


@pytest.fixture
async def world(
    session: AsyncSession, runtime: Runtime, people: People, make_token: object, tmp_path: Path
) -> World:
    advisory_id = await published_in_feed(session, runtime, people)
    await service.upload_patch(
        session,
        advisory_id=advisory_id,
        filename="tarlib-1.4.2.patch",
        content=PATCH,
        version="1.4.2",
        actor=people.vendor,
        key=runtime.keys.data,
        targets_url="http://feed.test/tuf/targets/",
        max_bytes=10_000,
    )
    # The operator's PACS server was uploaded once; the server holds its open match.
    _, asset_id = await inventory.upload_sbom(
        session,
        asset_name="pacs",
        raw=cyclonedx(("tarlib", "1.2.0"), ("requests", "2.31.0")),
        actor=people.operator,
    )
    await matching.match_asset(session, asset_id=asset_id)
    token = await make_token(people.operator)  # type: ignore[operator]
    root = tmp_path / "root.json"
    root.write_bytes(await service.metadata_file(session, name="1.root.json"))
    sboms = tmp_path / "sboms"
    sboms.mkdir()
    (sboms / "pacs.cdx.json").write_bytes(cyclonedx(("tarlib", "1.2.0"), ("requests", "2.31.0")))
    return World(advisory_id, token, root, sboms, tmp_path / "agent")


async def _init(world: World, served: Served) -> None:
    code, out, err = await forewarn(
        "agent",
        "init",
        "--server",
        served.url,
        "--root",
        world.root,
        "--token",
        world.token,
        "--sbom",
        world.sboms,
        "--dir",
        world.folder,
    )
    assert code == 0, err
    assert "trusting root version 1" in out and "the token works" in out


async def test_init_run_report(session: AsyncSession, people: People, served: Served, world: World) -> None:
    await _init(world, served)
    token_file = world.folder / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # First run: the vulnerable version is there; the agent tells what to do and fetches the patch.
    code, out, err = await forewarn("agent", "run", "--once", "--dir", world.folder)
    assert code == 1, err
    assert f"{world.advisory_id}: tarlib 1.2.0; update to 1.4.2" in out
    patch = world.folder / "targets" / "advisories" / world.advisory_id / "patches" / "tarlib-1.4.2.patch"
    assert f"verified patch: {patch}" in out
    assert patch.read_bytes() == PATCH
    assert world.token not in out + err
    (match,) = await matching.list_matches(session, actor=people.operator)
    assert match.status is MatchStatus.OPEN  # still there: nothing to report
    # The operator updates tarlib; the next run reports the match fixed, and the server shows it.
    (world.sboms / "pacs.cdx.json").write_bytes(cyclonedx(("tarlib", "1.4.2"), ("requests", "2.31.0")))
    code, out, err = await forewarn("agent", "run", "--once", "--dir", world.folder)
    assert code == 0, err
    assert f"reported {world.advisory_id} on pacs: fixed" in out
    session.expire_all()
    (match,) = await matching.list_matches(session, actor=people.operator)
    assert match.status is MatchStatus.FIXED
    assert match.note is not None and "no longer in pacs.cdx.json" in match.note
    async with httpx.AsyncClient(base_url=served.url) as http:  # as the operator's dashboard reads it
        shown = await http.get("/api/v1/operator/matches", headers={"Authorization": f"Bearer {world.token}"})
    assert [(m["advisory_id"], m["status"]) for m in shown.json()] == [(world.advisory_id, "fixed")]
    # Marked fixed by hand while still installed: the agent reopens it.
    (world.sboms / "pacs.cdx.json").write_bytes(cyclonedx(("tarlib", "1.3.0")))
    code, out, err = await forewarn("agent", "run", "--once", "--dir", world.folder, "--upload-sbom")
    assert code == 1, err
    assert "uploaded the SBOM of pacs" in out
    session.expire_all()
    statuses = {(m.version, m.status) for m in await matching.list_matches(session, actor=people.operator)}
    assert ("1.3.0", MatchStatus.OPEN) in statuses  # the server matched the uploaded SBOM too


async def test_a_tampered_target_stops_the_run_and_nothing_is_reported(
    session: AsyncSession, people: People, served: Served, world: World
) -> None:
    await _init(world, served)
    (world.sboms / "pacs.cdx.json").write_bytes(cyclonedx(("tarlib", "1.4.2")))  # would report "fixed"
    row = await session.scalar(
        select(FeedTarget).where(FeedTarget.path == f"advisories/{world.advisory_id}/osv.json")
    )
    assert row is not None
    flipped = bytearray(row.content)
    flipped[5] ^= 0x01
    await session.execute(update(FeedTarget).where(FeedTarget.id == row.id).values(content=bytes(flipped)))
    code, _, err = await forewarn("agent", "run", "--once", "--dir", world.folder)
    assert code == 3
    assert "REFUSED" in err and "does not match the length or hash" in err
    assert "nothing was scanned or reported" in err
    (match,) = await matching.list_matches(session, actor=people.operator)
    assert match.status is MatchStatus.OPEN


async def test_expired_metadata_stops_the_run(
    session: AsyncSession, runtime: Runtime, people: People, served: Served, world: World
) -> None:
    await _init(world, served)
    with frozen(utcnow() - timedelta(days=3)):
        await service.refresh(session, key=runtime.keys.data)
    code, _, err = await forewarn("agent", "run", "--once", "--dir", world.folder)
    assert code == 3
    assert "REFUSED: the feed's metadata has expired" in err
    # The schedule goes on after a refusal, and recovers once the feed is fresh again.
    code, out, err = await forewarn("agent", "run", "--every", "1s", "--runs", "2", "--dir", world.folder)
    assert code == 0
    assert err.count("has expired") == 2
    await service.refresh(session, key=runtime.keys.data)
    code, out, err = await forewarn("agent", "run", "--every", "1s", "--runs", "1", "--dir", world.folder)
    assert "feed verified" in out, err


async def test_init_refuses_a_root_the_server_does_not_follow(
    session: AsyncSession, served: Served, world: World, tmp_path: Path
) -> None:
    from forewarn.clearinghouse.feed import tuf_repo

    await _init(world, served)
    # A root of some other repository: it is valid TUF, but the server's metadata is not signed by it.
    seeds = {role: tuf_repo.generate_seed() for role in tuf_repo.ROLES}
    other = tuf_repo.new_root(
        {r: tuf_repo.public_key(s) for r, s in seeds.items()}, now=utcnow(), expiry=tuf_repo.Expiry()
    )
    stranger = tmp_path / "stranger.json"
    stranger.write_bytes(tuf_repo.sign(other, [tuf_repo.signer(seeds["root"])]))
    code, _, err = await forewarn(
        "agent",
        "init",
        "--server",
        served.url,
        "--root",
        stranger,
        "--token",
        world.token,
        "--dir",
        world.folder,
    )
    assert code == 3 and "REFUSED" in err
    (tmp_path / "junk.json").write_text("{}")
    code, _, err = await forewarn(
        "agent",
        "init",
        "--server",
        served.url,
        "--root",
        tmp_path / "junk.json",
        "--token",
        world.token,
        "--dir",
        world.folder,
    )
    assert code == 2 and "is not valid TUF root metadata" in err
    code, _, err = await forewarn(
        "agent",
        "init",
        "--server",
        served.url,
        "--root",
        world.root,
        "--token",
        "fw_" + "x" * 30,
        "--dir",
        world.folder,
    )
    assert code == 4 and "refused the token" in err
    # The failed attempts left the working agent as it was.
    code, out, err = await forewarn("agent", "run", "--once", "--dir", world.folder)
    assert code == 1 and world.advisory_id in out, err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.txt").write_text("mine")
    code, _, err = await forewarn(
        "agent",
        "init",
        "--server",
        served.url,
        "--root",
        world.root,
        "--token",
        world.token,
        "--dir",
        tmp_path / "busy",
    )
    assert code == 2 and "holds other files" in err
    assert (tmp_path / "busy" / "thesis.txt").read_text() == "mine"
    code, _, err = await forewarn("agent", "run", "--once", "--dir", tmp_path / "nowhere")
    assert code == 2 and "forewarn agent init" in err


def test_periods_and_asset_names() -> None:
    assert parse_every("1h") == timedelta(hours=1)
    assert parse_every("30m") == timedelta(minutes=30)
    assert parse_every("2d") == timedelta(days=2)
    for bad in ("", "1", "0h", "1w", "-1h"):
        with pytest.raises(AgentError):
            parse_every(bad)
    assert asset_name(Path("pacs.cdx.json")) == "pacs"
    assert asset_name(Path("core-banking.spdx.json")) == "core-banking"
    assert asset_name(Path("plant.csv")) == "plant"


def test_what_is_reported() -> None:
    from forewarn.agent.run import AssetResult, Scanned, _decide

    scanned = {
        "pacs": Scanned(
            AssetResult("pacs", "/x/pacs.cdx.json", 2, 0, []),
            b"",
            matched={("A-1", "PyPI", "tarlib", "1.2.0")},
            identities={("PyPI", "tarlib", "1.2.0"), ("PyPI", "oddlib", "not-a-version")},
        )
    }

    def match(status: str, package: str = "tarlib", version: str = "1.2.0", advisory: str = "A-1") -> dict:
        return {
            "asset_name": "pacs",
            "advisory_id": advisory,
            "ecosystem": "PyPI",
            "package": package,
            "version": version,
            "status": status,
        }

    at = "2026-11-28T12:00:00Z"
    assert _decide(match("open"), scanned, {"A-1"}, at) is None  # still there: nothing to say
    fixed = _decide(match("open", version="1.1.0"), scanned, {"A-1"}, at)
    assert fixed is not None and fixed[0] == "fixed" and "no longer in pacs.cdx.json" in fixed[1]
    assert _decide(match("fixed"), scanned, {"A-1"}, at) == (
        "open",
        f"forewarn agent: tarlib 1.2.0 is still in pacs.cdx.json (scanned {at})",
    )
    # Present but not matched by this scan (e.g. a version it could not evaluate): never "fixed".
    assert _decide(match("open", package="oddlib", version="not-a-version"), scanned, {"A-1"}, at) is None
    # People's own decisions, other assets and advisories the agent does not hold: left alone.
    assert _decide(match("risk_accepted", version="1.1.0"), scanned, {"A-1"}, at) is None
    assert _decide(match("not_affected", version="1.1.0"), scanned, {"A-1"}, at) is None
    assert _decide(match("open", version="1.1.0", advisory="B-2"), scanned, {"A-1"}, at) is None
    assert _decide({**match("open", version="1.1.0"), "asset_name": "other"}, scanned, {"A-1"}, at) is None


async def test_a_bad_sbom_in_a_folder_is_named_and_the_others_still_scanned(
    served: Served, world: World
) -> None:
    from forewarn.agent import config as agent_config
    from forewarn.agent.run import run_once

    (world.sboms / "broken.cdx.json").write_text(
        '{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": 7}'
    )
    (world.sboms / "notes.txt").write_text("not an SBOM: ignored (not .json, .xml or .csv)")
    cfg = agent_config.save(
        world.folder,
        server=served.url,
        root=world.root.read_bytes(),
        token=world.token,
        sboms=[str(world.sboms)],
    )
    result = await asyncio.to_thread(run_once, cfg)
    assert [a.asset for a in result.assets] == ["pacs"]
    assert result.assets[0].affected[0].advisory == world.advisory_id
    assert len(result.errors) == 1 and "broken.cdx.json" in result.errors[0]
    assert result.exit_code == 2
    assert (world.folder / "last-run.json").exists()
