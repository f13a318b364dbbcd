"""The TLS path of the webhook sender against a real HTTPS receiver on 127.0.0.1.

A CA and a server certificate (for the address 127.0.0.1) are made here with ``cryptography``; the
sender trusts that CA only through the setting ``webhook_ca_bundle``. A delivery to a receiver whose
certificate that CA signed goes through (over one kept-alive connection for several webhooks); a
receiver whose certificate another CA signed is refused: the attempt is recorded with a clear,
safe reason and the delivery gets its own retry job after its backoff.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.matching.conftest import Operators

from forewarn.clearinghouse.distribution import service
from forewarn.clearinghouse.distribution.delivery import (
    ConnectionPool,
    DeliveryFailed,
    FakeMailer,
    HttpxWebhookSender,
    WebhookCall,
    webhook_sender_from,
)
from forewarn.core.clock import utcnow
from forewarn.core.jobs import Runtime
from forewarn.core.settings import Settings

from .test_service import BASE, _deliveries, _matched, _subscribe


@dataclass(frozen=True)
class Pki:
    """One CA and a server certificate it signed for 127.0.0.1, as PEM files."""

    ca: Path
    cert: Path
    key: Path


def _pki(folder: Path, name: str) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(
        ca=folder / f"{name}-ca.pem", cert=folder / f"{name}-server.pem", key=folder / f"{name}-key.pem"
    )
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


@dataclass
class TlsReceiver:
    url: str
    secret: str | None = None
    connections: int = 0
    #: webhook-id -> verified payload (each id once).
    accepted: dict[str, Any] = field(default_factory=dict)
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _pki(tmp_path_factory.mktemp("pki"), "trusted")


@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _pki(tmp_path_factory.mktemp("pki"), "rogue")


def _serve(pki: Pki) -> Iterator[TlsReceiver]:
    from standardwebhooks import Webhook

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    state = TlsReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                payload = Webhook(state.secret or "").verify(body, dict(self.headers.items()))
            except Exception:  # a bad signature (or no secret): refused
                payload = None
            with state.lock:
                if payload is None:
                    state.rejected += 1
                else:
                    state.accepted.setdefault(self.headers["webhook-id"], payload)
            self.send_response(401 if payload is None else 204)
            self.end_headers()

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[Any, Any]:
            sock, address = self.socket.accept()
            with state.lock:
                state.connections += 1
            # The handshake happens in the handler's thread (a failed one only ends that thread).
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the refused handshakes of the untrusted case

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"https://127.0.0.1:{server.server_address[1]}/hooks/forewarn"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def tls_receiver(trusted: Pki) -> Iterator[TlsReceiver]:
    yield from _serve(trusted)


@pytest.fixture
def rogue_receiver(rogue: Pki) -> Iterator[TlsReceiver]:
    yield from _serve(rogue)


def _call(url: str, secret: str, n: int) -> WebhookCall:
    return WebhookCall(
        url=url,
        webhook_id=f"msg_tls_{n}",
        payload=json.dumps({"type": "notice.created", "data": {"n": n}}),
        secret=secret,
        timestamp=datetime.now(UTC),
    )


async def test_https_webhook_to_a_receiver_the_configured_ca_vouches_for(
    tls_receiver: TlsReceiver, trusted: Pki
) -> None:
    secret = tls_receiver.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    settings = Settings(webhook_ca_bundle=trusted.ca, webhook_allow_private_addresses=True)
    sender = webhook_sender_from(settings)
    assert isinstance(sender, HttpxWebhookSender) and sender.ca_bundle == str(trusted.ca)
    sender.pool = ConnectionPool()
    for n in range(3):
        await sender.send(_call(tls_receiver.url, secret, n))
    assert sorted(tls_receiver.accepted) == ["msg_tls_0", "msg_tls_1", "msg_tls_2"]
    assert tls_receiver.accepted["msg_tls_2"]["data"] == {"n": 2} and tls_receiver.rejected == 0
    # Kept alive: the three webhooks went over one connection (one TLS handshake).
    assert tls_receiver.connections == 1
    sender.pool.close()
    # Without the setting, the same receiver's certificate is not trusted (public CAs only).
    public = HttpxWebhookSender(timeout=5, allow_private=True, pool=ConnectionPool())
    with pytest.raises(DeliveryFailed, match="TLS certificate is not trusted"):
        await public.send(_call(tls_receiver.url, secret, 9))
    assert "msg_tls_9" not in tls_receiver.accepted


async def test_https_webhook_to_an_untrusted_certificate_is_recorded_and_retried(
    session: AsyncSession,
    operators: Operators,
    runtime: Runtime,
    tls_receiver: TlsReceiver,
    rogue_receiver: TlsReceiver,
    trusted: Pki,
) -> None:
    settings = Settings(webhook_ca_bundle=trusted.ca, webhook_allow_private_addresses=True)
    results = {}
    for name, receiver in (("good", tls_receiver), ("rogue", rogue_receiver)):
        ops = operators.hospital
        await _subscribe(session, ops, webhook=receiver.url)
        receiver.secret = await service.set_webhook_secret(
            session, organisation_id=ops.organisation_id, key=runtime.keys.data
        )  # type: ignore[arg-type]
        advisory_id = await _matched(session, operators, f"tls{name}lib", kev=True)
        (notice_id,) = await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
        (delivery,) = await _deliveries(session, [notice_id])
        # The fan-out's stable webhook id, as the service derives it for every other delivery.
        assert delivery["webhook_id"] == service._webhook_id(notice_id, "webhook")
        before = utcnow()
        outcome = await service.deliver_batch(
            session,
            delivery_ids=[delivery["id"]],
            mailer=FakeMailer(),
            webhooks=webhook_sender_from(settings),
            key=runtime.keys.data,
            max_attempts=8,
            retry_base_seconds=4,
            retry_max_seconds=3600,
        )
        (row,) = await _deliveries(session, [notice_id])
        results[name] = (outcome, row, delivery, before)

    outcome, row, delivery, _ = results["good"]
    assert outcome.delivered == 1 and outcome.failed == []
    assert row["attempts"] == 1 and row["delivered_at"] is not None and row["last_error"] is None
    assert list(tls_receiver.accepted) == [delivery["webhook_id"]]

    outcome, row, delivery, before = results["rogue"]
    assert outcome.delivered == 0 and outcome.failed == [(delivery["id"], 4)]
    assert row["attempts"] == 1 and row["delivered_at"] is None
    assert row["last_error"] == (
        "webhook request failed (the receiver's TLS certificate is not trusted for its host)"
    )
    assert rogue_receiver.accepted == {} and rogue_receiver.connections >= 1
    # Its own retry job, after the backoff; the secret is nowhere in the record.
    (args, scheduled_at) = (
        await session.execute(
            text(
                "SELECT args, scheduled_at FROM procrastinate_jobs"
                " WHERE task_name = 'distribution:deliver' AND args->>'delivery_id' = :d"
            ),
            {"d": str(delivery["id"])},
        )
    ).one()
    assert args["prior_attempts"] == 1
    assert scheduled_at >= before + timedelta(seconds=4)
    assert rogue_receiver.secret is not None and rogue_receiver.secret not in row["last_error"]
