"""Nothing lost: a real ``forewarn worker`` process fans a critical advisory's notices out to thousands
of subscribers (signed webhooks to a real receiver on 127.0.0.1), is killed with SIGKILL in the
middle, and is started again. Every subscriber gets the notice exactly once after de-duplication by
``webhook-id``, and the database's delivery records say the same.

The restarted worker finds the dead worker's ``doing`` jobs through procrastinate's heartbeats
(``distribution:retry_stalled``, every 15 s, once the dead worker has been silent for 30 s).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from tests.conftest import scratch_database, worker_process

from forewarn.clearinghouse.distribution.models import WebhookSecret
from forewarn.core.clock import utcnow
from forewarn.core.db import Database
from forewarn.core.jobs import Runtime, enqueue
from forewarn.core.keys import DataKey

pytestmark = pytest.mark.slow

#: Subscribers in the fan-out ("thousands", and small enough for two busy cores).
SUBSCRIBERS = int(os.environ.get("FOREWARN_KILL_TEST_SUBSCRIBERS", "3000"))


@dataclass
class Recorder:
    """Verifies each subscriber's signature with its own secret; records webhook ids once each."""

    url: str
    secrets: dict[str, str] = field(default_factory=dict)
    accepted: dict[str, str] = field(default_factory=dict)  # webhook-id -> subscriber
    requests: int = 0
    duplicates: int = 0
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    from standardwebhooks import Webhook

    with contextlib.closing(__import__("socket").socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state = Recorder(url=f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            org = parse_qs(urlsplit(self.path).query).get("org", [""])[0]
            try:
                Webhook(state.secrets[org]).verify(body, dict(self.headers.items()))
                ok = True
            except Exception:  # a bad or unknown signature: refused
                ok = False
            with state.lock:
                state.requests += 1
                if not ok:
                    state.rejected += 1
                elif self.headers["webhook-id"] in state.accepted:
                    state.duplicates += 1
                else:
                    state.accepted[self.headers["webhook-id"]] = org
            self.send_response(204 if ok else 401)
            self.end_headers()

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512  # the worker sends many at once

    server = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _worker(database_url: str, data_dir: Path, key: DataKey, log: Path) -> subprocess.Popen[bytes]:
    return worker_process(
        database_url=database_url,
        data_dir=data_dir,
        data_key=key,
        log=log,
        concurrency=8,
        env={"FOREWARN_WEBHOOK_ALLOW_INSECURE": "true", "FOREWARN_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true"},
    )


async def _count(runtime: Runtime, sql: str, **params: Any) -> int:
    async with runtime.db.transaction() as session:
        return int(await session.scalar(text(sql), params) or 0)


_DELIVERED = (
    "SELECT count(*) FROM ch_dist_deliveries d JOIN ch_dist_notices n ON n.id = d.notice_id"
    " WHERE n.advisory_id = :a AND d.delivered_at IS NOT NULL"
)


@pytest.fixture
def kill_database_url(database_url: str) -> Iterator[str]:
    """A database of this test's own: its worker runs every due and periodic job it finds (the feed's
    refresh, exposure snapshots…) and commits them, which must not reach the other tests' database."""
    with scratch_database(database_url, "kill") as url:
        yield url


@pytest.fixture
def shared_runtime(runtime: Runtime) -> Runtime:
    return runtime


async def test_sigkill_mid_fan_out_loses_nothing_and_sends_each_notice_once(
    shared_runtime: Runtime, kill_database_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    runtime = Runtime(
        settings=shared_runtime.settings, db=Database(kill_database_url), keys=shared_runtime.keys
    )
    key = DataKey(os.urandom(32))
    advisory_id = f"FW-KILL-{uuid.uuid4().hex[:8]}"
    now = utcnow()
    orgs = [uuid.uuid4() for _ in range(SUBSCRIBERS)]
    assets = [uuid.uuid4() for _ in orgs]
    for n in range(len(orgs)):
        recorder.secrets[str(n)] = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    async with runtime.db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO organisations (id, name, kind, active, created_at)"
                " VALUES (:id, :name, 'operator', true, :now)"
            ),
            [{"id": org, "name": f"Utility {n} {org.hex[:6]}", "now": now} for n, org in enumerate(orgs)],
        )
        await session.execute(
            text(
                "INSERT INTO ch_subscribers (organisation_id, sector, subsector, size, contacts,"
                " immediate_critical, immediate_known_exploited, digest, webhook_url, updated_at)"
                " VALUES (:org, 'energy', 'electric_utility', 'small', '[]', true, true, 'daily', :url, :now)"
            ),
            [{"org": org, "url": f"{recorder.url}?org={n}", "now": now} for n, org in enumerate(orgs)],
        )
        await session.execute(
            text(
                "INSERT INTO ch_assets (id, organisation_id, name, format, document_sha256, component_count,"
                " unscannable, uploaded_at, created_at)"
                " VALUES (:id, :org, 'Substation HMI', 'csv', :sha, 1, '[]', :now, :now)"
            ),
            [{"id": a, "org": o, "sha": "0" * 64, "now": now} for a, o in zip(assets, orgs, strict=True)],
        )
        await session.execute(
            text(
                "INSERT INTO ch_matches (id, organisation_id, asset_id, advisory_id, ecosystem, package,"
                " version, component_name, via, fixed, remediation, summary, severity_rating,"
                " known_exploited, status, alerted_at, status_changed_at, created_at)"
                " VALUES (gen_random_uuid(), :org, :asset, :advisory, 'PyPI', 'dnp3lib', '3.1.0', 'dnp3lib',"
                " 'package', ARRAY['3.1.4'], :sha, 'Authentication bypass in dnp3lib', 'CRITICAL', true,"
                " 'open', :now, :now, :now)"
            ),
            [
                {"org": o, "asset": a, "advisory": advisory_id, "sha": "1" * 64, "now": now}
                for a, o in zip(assets, orgs, strict=True)
            ],
        )
        session.add_all(
            WebhookSecret(
                organisation_id=org,
                sealed=key.seal(
                    recorder.secrets[str(n)].encode(), aad=f"ch_dist_webhook_secrets:{org}".encode()
                ),
                created_at=now,
            )
            for n, org in enumerate(orgs)
        )
        # The hand-up matching does when it records new matches (same transaction as the data).
        await enqueue(session, "distribution:fan_out", advisory_id=advisory_id)

    log = tmp_path / "worker.log"
    started = time.monotonic()
    first = _worker(kill_database_url, tmp_path / "data", key, log)
    try:
        # Kill it in the middle of the fan-out: some notices delivered, most not.
        deadline = time.monotonic() + 90
        while len(recorder.accepted) < SUBSCRIBERS // 5:
            assert first.poll() is None, "the worker exited:\n" + log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no progress:\n" + log.read_text()[-3000:]
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = len(recorder.accepted)
        killed_at = time.monotonic()
        doing = await _count(
            runtime,
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE status = 'doing' AND task_name LIKE 'distribution:%'",
        )
        delivered_at_kill = await _count(runtime, _DELIVERED, a=advisory_id)
        assert at_kill < SUBSCRIBERS and delivered_at_kill < SUBSCRIBERS
        assert doing > 0  # the dead worker's jobs are left in "doing": procrastinate will not run them again

        second = _worker(kill_database_url, tmp_path / "data", key, log)
        try:
            deadline = time.monotonic() + 150
            while await _count(runtime, _DELIVERED, a=advisory_id) < SUBSCRIBERS or (
                await _count(
                    runtime,
                    "SELECT count(*) FROM procrastinate_jobs"
                    " WHERE task_name LIKE 'distribution:%' AND status IN ('todo', 'doing')"
                    " AND task_name <> 'distribution:retry_stalled'",
                )
            ):
                assert second.poll() is None, "the restarted worker exited:\n" + log.read_text()[-3000:]
                assert time.monotonic() < deadline, "not finished:\n" + log.read_text()[-3000:]
                await asyncio.sleep(0.5)
            finished = time.monotonic()
        finally:
            second.send_signal(signal.SIGINT)
            try:
                second.wait(timeout=30)
            except subprocess.TimeoutExpired:
                second.kill()

        # Every subscriber got the notice exactly once after de-duplication by webhook-id.
        assert recorder.rejected == 0
        assert len(recorder.accepted) == SUBSCRIBERS
        assert sorted(recorder.accepted.values(), key=int) == [str(n) for n in range(SUBSCRIBERS)]
        async with runtime.db.transaction() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT d.webhook_id, d.delivered_at IS NOT NULL, d.attempts"
                        " FROM ch_dist_deliveries d JOIN ch_dist_notices n ON n.id = d.notice_id"
                        " WHERE n.advisory_id = :a"
                    ),
                    {"a": advisory_id},
                )
            ).all()
            notices = await session.scalar(
                text("SELECT count(DISTINCT organisation_id) FROM ch_dist_notices WHERE advisory_id = :a"),
                {"a": advisory_id},
            )
            failed = await session.scalar(
                text(
                    "SELECT count(*) FROM procrastinate_jobs"
                    " WHERE task_name LIKE 'distribution:%' AND status = 'failed'"
                )
            )
        # The database agrees: one notice and one delivered webhook per subscriber, the same ids.
        assert notices == SUBSCRIBERS and len(rows) == SUBSCRIBERS
        assert all(delivered for _, delivered, _ in rows)
        assert {webhook_id for webhook_id, _, _ in rows} == set(recorder.accepted)
        assert failed == 0
        # Re-sent after the crash (sent, not yet recorded): de-duplicated by the receiver.
        print(
            f"\nkill test: {SUBSCRIBERS} subscribers, killed at {at_kill} received"
            f" ({delivered_at_kill} recorded,"
            f" {doing} jobs left doing); {recorder.duplicates} duplicate deliveries de-duplicated;"
            f" {recorder.requests} requests; recovered {finished - killed_at:.1f} s after the kill;"
            f" {finished - started:.1f} s in all"
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            first.kill()
        async with runtime.db.transaction() as session:
            await session.execute(
                text(
                    "DELETE FROM procrastinate_jobs"
                    " WHERE task_name LIKE 'distribution:%' OR task_name LIKE 'matching:%'"
                )
            )
            await session.execute(text("DELETE FROM ch_matches WHERE advisory_id = :a"), {"a": advisory_id})
            await session.execute(text("DELETE FROM organisations WHERE id = ANY(:o)"), {"o": orgs})
        await runtime.db.dispose()
