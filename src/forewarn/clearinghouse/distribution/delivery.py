"""How notices leave: the ``Mailer`` and ``WebhookSender`` Protocols, real and fake (CONVENTIONS §5).

Invariants:

- a sender either returns (the receiver accepted the message) or raises :class:`DeliveryFailed` with
  a message that is safe to record: never a secret, a credential or a signature;
- webhooks are signed per Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``: HMAC-SHA256 over ``id.timestamp.body``); the id is the delivery's stable id,
  the same on every attempt, so a receiver that de-duplicates on it sees each notice once;
- emails carry the same stable id as their ``Message-ID`` for the same reason;
- a kept-alive webhook connection is reused only for the same scheme, host name, port and address,
  and only after the SSRF guard approved that very address for the send at hand: the address
  checked is the address connected to, and a certificate is only ever trusted for the host name it
  was checked for (certifi's CAs, plus the setting ``webhook_ca_bundle``'s when set);
- each signature is made per delivery: Standard Webhooks signs ``id.timestamp.body`` with the
  subscriber's own secret, and ids and secrets differ per delivery, so no signature can be shared.

The real implementations are chosen by the entry point from settings (:func:`mailer_from`,
:func:`webhook_sender_from`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from forewarn.core import mail
from forewarn.core.errors import ForewarnError

if TYPE_CHECKING:

    from forewarn.clearinghouse.distribution.urls import Resolver
    from forewarn.core.settings import Settings


class DeliveryFailed(ForewarnError):
    """A channel did not accept a notice; the message is safe to record and show."""


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str
    message_id: str


@dataclass(frozen=True)
class WebhookCall:
    url: str
    webhook_id: str
    payload: str
    secret: str
    timestamp: datetime


class Mailer(Protocol):
    async def send(self, email: Email) -> None: ...


class WebhookSender(Protocol):
    async def send(self, call: WebhookCall) -> None: ...


@dataclass
class SmtpMailer:
    """Email through the programme's SMTP relay (:class:`forewarn.core.mail.SmtpMailer`), its refusals
    reported as :class:`DeliveryFailed` with the same record-safe text."""

    relay: mail.Mailer

    async def send(self, email: Email) -> None:
        try:
            await self.relay.send(
                mail.Mail(to=(email.to,), subject=email.subject, body=email.body, message_id=email.message_id)
            )
        except mail.MailFailed as exc:
            raise DeliveryFailed(exc.message) from None


@dataclass
class UnconfiguredMailer:
    """Fails closed when no SMTP relay is set: the delivery records why and is retried later."""

    async def send(self, email: Email) -> None:
        raise DeliveryFailed("email is not configured (FOREWARN_SMTP_HOST)")


def signed_headers(call: WebhookCall) -> dict[str, str]:
    """The Standard Webhooks headers of *call*."""
    from standardwebhooks import Webhook

    signature = Webhook(call.secret).sign(call.webhook_id, call.timestamp, call.payload)
    return {
        "webhook-id": call.webhook_id,
        "webhook-timestamp": str(int(call.timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def _resolver() -> Resolver:
    from forewarn.clearinghouse.distribution.urls import Resolver

    return Resolver()


@functools.cache
def _tls_context(extra_ca: str | None = None) -> ssl.SSLContext:
    # Built once per process (and CA bundle): loading the bundle costs more than a webhook.
    # Certificates and host names are checked (``create_default_context``); the bundle is certifi's,
    # as httpx's is, plus the operator's own CAs (setting ``webhook_ca_bundle``) when set.
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca:
        context.load_verify_locations(cafile=extra_ca)
    return context


#: (scheme, host name, port, address connected to): a connection is reused only for the same host
#: name (its certificate was checked for it) at the same address (the one the SSRF guard approved).
PoolKey = tuple[str, str, int, str]


@dataclass
class _Idle:
    since: float
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()


@dataclass
class ConnectionPool:
    """Idle keep-alive connections of one event loop, keyed by :data:`PoolKey`.

    A connection is handed out to one request at a time; it comes back only after a complete
    response whose length was known, from a server that did not ask to close."""

    max_idle_per_key: int = 128
    #: Idle connections in all (a fan-out to many hosts must not hold a socket per host).
    max_idle: int = 512
    idle_seconds: float = 20.0
    _idle: dict[PoolKey, list[_Idle]] = field(default_factory=dict, repr=False)
    _count: int = field(default=0, repr=False)

    def _usable(self, idle: _Idle, now: float) -> bool:
        return now - idle.since < self.idle_seconds and not (
            idle.reader.at_eof() or idle.writer.is_closing()
        )

    def take(self, key: PoolKey) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        held = self._idle.get(key)
        now = time.monotonic()
        while held:
            idle = held.pop()
            self._count -= 1
            if self._usable(idle, now):
                return idle.reader, idle.writer
            _close(idle.writer)
        self._idle.pop(key, None)
        return None

    def _sweep(self) -> None:
        now = time.monotonic()
        for key in list(self._idle):
            kept = []
            for idle in self._idle[key]:
                if self._usable(idle, now):
                    kept.append(idle)
                else:
                    _close(idle.writer)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        self._count = sum(len(held) for held in self._idle.values())

    def give(self, key: PoolKey, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._count >= self.max_idle:
            self._sweep()
        held = self._idle.get(key, [])
        if len(held) >= self.max_idle_per_key or self._count >= self.max_idle or writer.is_closing():
            _close(writer)
            return
        self._idle[key] = held
        held.append(_Idle(time.monotonic(), reader, writer))
        self._count += 1

    def close(self) -> None:
        for held in self._idle.values():
            for idle in held:
                _close(idle.writer)
        self._idle.clear()
        self._count = 0


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConnectionPool] = weakref.WeakKeyDictionary()


def loop_pool() -> ConnectionPool:
    """The running event loop's pool (streams belong to one loop), shared by every sender in it: a
    worker's jobs each build a sender, and a fan-out's webhooks to one host share connections."""
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is None:
        pool = _POOLS[loop] = ConnectionPool()
    return pool


class _Stale(Exception):
    """A reused connection closed before any byte of an answer: the request is sent again on a new
    one (at most once; the receiver de-duplicates on the webhook id if it did get the first)."""


#: Bodies of answers read to keep the connection (larger ones: the connection is closed instead).
_MAX_ANSWER_BODY = 65_536
_MAX_ANSWER_HEADERS = 100


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, *, reused: bool
) -> tuple[int, bool]:
    """Send *request*, read the answer; returns (status, whether the connection can be reused)."""
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        if reused:
            raise _Stale
        raise asyncio.IncompleteReadError(b"", None)
    while True:
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise DeliveryFailed("webhook receiver did not answer with HTTP")
        status = int(parts[1])
        keep = parts[0] == b"HTTP/1.1"
        length: int | None = None
        chunked = False
        for _ in range(_MAX_ANSWER_HEADERS):
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length" and value.isdigit():
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"connection" and b"close" in value:
                keep = False
        else:
            raise DeliveryFailed("webhook receiver answered with too many headers")
        if 100 <= status < 200:
            # An interim answer (RFC 9110 §15.2): the final one follows.
            status_line = await reader.readline()
            continue
        break
    if status in (204, 304):
        return status, keep
    if chunked or length is None or length > _MAX_ANSWER_BODY:
        # The end of the body is not known (or not worth reading): the connection is not reused.
        return status, False
    if length:
        await reader.readexactly(length)
    return status, keep


@dataclass
class HttpxWebhookSender:
    """Signed webhooks over HTTP(S)/1.1; any 2xx is accepted, anything else is a failure.

    The SSRF guard (``urls``) runs on every send: the host is resolved here (an answer reused for a
    few seconds by the sender's :class:`~forewarn.clearinghouse.distribution.urls.Resolver`), every
    address checked, and the request goes to the checked address (``Host`` header and TLS SNI /
    certificate check still use the host name), so a DNS answer that changes after the check is
    never used.

    Connections are kept alive in the event loop's :class:`ConnectionPool`, keyed by scheme, host
    name, port and the address connected to: a request reuses a connection only when the address
    the guard approved for this very send is the one that connection goes to, and its certificate
    was checked for this host name. A reused connection the server closed meanwhile is replaced
    once (the request may then reach the receiver twice, with the same webhook id). httpx parses
    and normalises the URL (percent-encoding, IDNA), so the request line and ``Host`` carry no raw
    input. The answer's status decides; its body is read only to keep the connection."""

    timeout: float = 10.0
    allow_insecure: bool = False
    allow_private: bool = False
    #: Extra trusted CAs (a PEM file) on top of certifi's bundle (setting ``webhook_ca_bundle``).
    ca_bundle: str | None = None
    #: Host answers reused for a few seconds (a sender lives for one job); checked at every send.
    resolver: Resolver = field(default_factory=_resolver)
    #: Keep-alive connections; ``None``: the running loop's shared pool (:func:`loop_pool`).
    pool: ConnectionPool | None = None

    async def send(self, call: WebhookCall) -> None:
        import httpx

        from forewarn.clearinghouse.distribution.urls import UnsafeUrl, UrlPolicy, resolve_checked

        policy = UrlPolicy(allow_insecure=self.allow_insecure, allow_private=self.allow_private)
        try:
            target, address = await resolve_checked(call.url, policy, resolver=self.resolver)
        except UnsafeUrl as exc:
            raise DeliveryFailed(f"webhook refused: {exc.message}") from None
        try:
            url = httpx.URL(call.url)
        except httpx.InvalidURL:
            raise DeliveryFailed("webhook refused: the webhook URL is not a valid URL") from None
        body = call.payload.encode()
        request = (
            b"\r\n".join(
                [
                    b"POST " + url.raw_path + b" HTTP/1.1",
                    b"Host: " + url.netloc,
                    b"Content-Length: " + str(len(body)).encode(),
                    b"User-Agent: forewarn-notices",
                    *(f"{k}: {v}".encode("ascii") for k, v in signed_headers(call).items()),
                ]
            )
            + b"\r\n\r\n"
            + body
        )
        tls = _tls_context(self.ca_bundle) if target.scheme == "https" else None
        pool = self.pool if self.pool is not None else loop_pool()
        key: PoolKey = (target.scheme, target.host, target.port, str(address))
        try:
            async with asyncio.timeout(self.timeout):
                status = await self._post(pool, key, request, tls, target.host, target.port)
        except TimeoutError:
            raise DeliveryFailed("webhook request failed (timeout)") from None
        except ssl.SSLCertVerificationError:
            raise DeliveryFailed(
                "webhook request failed (the receiver's TLS certificate is not trusted for its host)"
            ) from None
        except (OSError, ssl.SSLError, ValueError, asyncio.IncompleteReadError, _Stale) as exc:
            raise DeliveryFailed(f"webhook request failed ({type(exc).__name__})") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"webhook receiver answered HTTP {status}")

    async def _post(
        self,
        pool: ConnectionPool,
        key: PoolKey,
        request: bytes,
        tls: ssl.SSLContext | None,
        host: str,
        port: int,
    ) -> int:
        held = pool.take(key)
        while True:
            if held is None:
                reused = False
                reader, writer = await asyncio.open_connection(
                    key[3], port, ssl=tls, server_hostname=host if tls else None
                )
            else:
                reused, (reader, writer) = True, held
            keep = False
            try:
                status, keep = await _exchange(reader, writer, request, reused=reused)
                return status
            except (_Stale, ConnectionError):
                if not reused:
                    raise
                held = None  # the server closed an idle connection: once more on a new one
            finally:
                if keep:
                    pool.give(key, reader, writer)
                else:
                    _close(writer)


@dataclass
class FakeMailer:
    """Records emails; fails the next ``fail`` sends."""

    sent: list[Email] = field(default_factory=list)
    fail: int = 0

    async def send(self, email: Email) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise DeliveryFailed("fake mailer failure")
        self.sent.append(email)


@dataclass
class FakeWebhookSender:
    """Records webhook calls; fails the next ``fail`` sends."""

    sent: list[WebhookCall] = field(default_factory=list)
    fail: int = 0

    async def send(self, call: WebhookCall) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise DeliveryFailed("fake webhook failure")
        self.sent.append(call)


def mailer_from(settings: Settings) -> Mailer:
    relay = mail.mailer_from(settings)
    if relay is None:
        return UnconfiguredMailer()
    return SmtpMailer(relay)


def webhook_sender_from(settings: Settings) -> WebhookSender:
    return HttpxWebhookSender(
        timeout=settings.webhook_timeout_seconds,
        allow_insecure=settings.webhook_allow_insecure,
        allow_private=settings.webhook_allow_private_addresses,
        ca_bundle=str(settings.webhook_ca_bundle) if settings.webhook_ca_bundle else None,
    )
