"""The feed of a real ``forewarn serve --demo`` (a subprocess on a free port): the demo creates the
repository, and python-tuf's client refreshes against it from the served root."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.conftest import LiveServer
from tuf.ngclient import Updater

from forewarn.clearinghouse.feed import tuf_repo

pytestmark = pytest.mark.slow


def test_a_served_feed_verifies(live_server: LiveServer, tmp_path: Path) -> None:
    root = httpx.get(f"{live_server.url}/tuf/1.root.json", timeout=10)
    assert root.status_code == 200
    assert tuf_repo.load(root.content).signed.consistent_snapshot
    updater = Updater(
        metadata_dir=str(tmp_path),
        metadata_base_url=f"{live_server.url}/tuf/",
        target_base_url=f"{live_server.url}/tuf/targets/",
        bootstrap=root.content,
    )
    updater.refresh()
    assert (tmp_path / "timestamp.json").exists() and (tmp_path / "targets.json").exists()
    status = httpx.get(f"{live_server.url}/api/v1/feed/status", timeout=10).json()
    assert status["metadata_url"] == f"{live_server.url}/tuf/"
    assert "Signed patch feed (TUF)" in live_server.output
