"""The fan-out as real procrastinate jobs against committed data: a worker runs
``distribution:fan_out``, which enqueues ``distribution:deliver``, which signs and posts the notice to a
real receiver on 127.0.0.1; the enqueue run twice still delivers each notice once."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from forewarn.clearinghouse.distribution import service
from forewarn.core.clock import utcnow
from forewarn.core.db import libpq_url
from forewarn.core.jobs import Runtime, build_app, enqueue

from .conftest import Receiver

_ORG = (
    "INSERT INTO organisations (id, name, kind, active, created_at)"
    " VALUES (:id, :name, 'operator', true, :now)"
)
_SUBSCRIBER = (
    "INSERT INTO ch_subscribers (organisation_id, sector, subsector, size, contacts, immediate_critical,"
    " immediate_known_exploited, digest, webhook_url, updated_at)"
    " VALUES (:org, 'water', 'community_water', 'small', '[]', true, true, 'daily', :url, :now)"
)
_ASSET = (
    "INSERT INTO ch_assets (id, organisation_id, name, format, document_sha256, component_count,"
    " unscannable, uploaded_at, created_at)"
    " VALUES (:id, :org, 'SCADA historian', 'csv', :sha, 1, '[]', :now, :now)"
)
_MATCH = (
    "INSERT INTO ch_matches (id, organisation_id, asset_id, advisory_id, ecosystem, package, version,"
    " component_name, via, fixed, remediation, summary, severity_rating, known_exploited, status,"
    " alerted_at, status_changed_at, created_at)"
    " VALUES (:id, :org, :asset, :advisory, 'PyPI', 'modbuslib', '2.0.1', 'modbuslib', 'package',"
    " ARRAY['2.0.3'], :sha, 'Remote code execution in modbuslib', 'CRITICAL', false, 'open',"
    " :now, :now, :now)"
)


async def test_worker_fans_out_and_delivers_each_notice_once(
    runtime: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The receiver is on 127.0.0.1 over http: the SSRF guard's settings allow it here.
    monkeypatch.setattr(runtime.settings, "webhook_allow_insecure", True)
    monkeypatch.setattr(runtime.settings, "webhook_allow_private_addresses", True)
    now, advisory_id, queue = utcnow(), f"FW-TEST-{uuid.uuid4().hex[:8]}", "default"
    orgs = [uuid.uuid4() for _ in range(3)]
    async with runtime.db.transaction() as session:
        secrets = []
        for n, org in enumerate(orgs):
            asset = uuid.uuid4()
            await session.execute(text(_ORG), {"id": org, "name": f"Water utility {org.hex[:8]}", "now": now})
            await session.execute(
                text(_SUBSCRIBER), {"org": org, "url": f"{receiver.url}?org={n}", "now": now}
            )
            await session.execute(text(_ASSET), {"id": asset, "org": org, "sha": "0" * 64, "now": now})
            await session.execute(
                text(_MATCH),
                {
                    "id": uuid.uuid4(),
                    "org": org,
                    "asset": asset,
                    "advisory": advisory_id,
                    "sha": "1" * 64,
                    "now": now,
                },
            )
            secrets.append(
                await service.set_webhook_secret(session, organisation_id=org, key=runtime.keys.data)
            )
        # The same hand-up twice (a retried matching job): the notices are still created once.
        for _ in range(2):
            await enqueue(session, "distribution:fan_out", queue=queue, advisory_id=advisory_id)
    # One receiver, one secret per subscriber: the receiver checks each with the right one.
    receiver.secrets = secrets
    try:
        app = build_app(libpq_url(runtime.db.url))
        async with app.open_async():
            await asyncio.wait_for(
                app.run_worker_async(
                    queues=[queue],
                    wait=False,
                    install_signal_handlers=False,
                    additional_context={"runtime": runtime},
                ),
                timeout=60,
            )
        assert receiver.rejected == 0
        assert len(receiver.accepted) == 3 and receiver.duplicates == 0
        assert {p["data"]["advisory_id"] for p in receiver.accepted.values()} == {advisory_id}
        assert all(
            "You run modbuslib 2.0.1 on asset SCADA historian. Update to 2.0.3." in p["data"]["text"]
            for p in receiver.accepted.values()
        )
        async with runtime.db.transaction() as session:
            states = (
                await session.execute(
                    text(
                        "SELECT d.attempts, d.delivered_at IS NOT NULL FROM ch_dist_deliveries d"
                        " JOIN ch_dist_notices n ON n.id = d.notice_id WHERE n.advisory_id = :a"
                    ),
                    {"a": advisory_id},
                )
            ).all()
            assert sorted(states) == [(1, True)] * 3
            failed = await session.scalar(
                text(
                    "SELECT count(*) FROM procrastinate_jobs"
                    " WHERE task_name LIKE 'distribution:%' AND status <> 'succeeded'"
                    # The periodic housekeeping job waits on its own queue, which this worker skips.
                    " AND task_name <> 'distribution:retry_stalled'"
                )
            )
            assert failed == 0
    finally:
        async with runtime.db.transaction() as session:
            await session.execute(
                text(
                    "DELETE FROM procrastinate_jobs"
                    " WHERE task_name IN ('distribution:fan_out', 'distribution:deliver')"
                )
            )
            await session.execute(text("DELETE FROM ch_matches WHERE advisory_id = :a"), {"a": advisory_id})
            await session.execute(text("DELETE FROM organisations WHERE id = ANY(:o)"), {"o": orgs})
