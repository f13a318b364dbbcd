"""How notices leave: the ``Mailer`` and ``WebhookSender`` Protocols, real and fake (CONVENTIONS §5).

Invariants:

- a sender either returns (the receiver accepted the message) or raises :class:`DeliveryFailed` with
  a message that is safe to record: never a secret, a credential or a signature;
- webhooks are signed per Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``: HMAC-SHA256 over ``id.timestamp.body``); the id is the delivery's stable id,
  the same on every attempt, so a receiver that de-duplicates on it sees each notice once;
- emails carry the same stable id as their ``Message-ID`` for the same reason.

The real implementations are chosen by the entry point from settings (:func:`mailer_from`,
:func:`webhook_sender_from`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from forewarn.core.errors import ForewarnError

if TYPE_CHECKING:
    from pydantic import SecretStr

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


def _message(email: Email, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Message-ID"] = f"<{email.message_id}@forewarn>"
    msg.set_content(email.body)
    return msg


@dataclass
class SmtpMailer:
    """Email through an SMTP relay (stdlib ``smtplib``, run in a thread)."""

    host: str
    port: int
    sender: str
    starttls: bool = True
    user: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0

    def _send(self, email: Email) -> None:
        import smtplib

        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user and self.password is not None:
                smtp.login(self.user, self.password.get_secret_value())
            smtp.send_message(_message(email, self.sender))

    async def send(self, email: Email) -> None:
        import smtplib

        try:
            await asyncio.to_thread(self._send, email)
        except smtplib.SMTPResponseException as exc:
            # The server's code only: its text may echo what was sent.
            raise DeliveryFailed(f"SMTP server refused the message (code {exc.smtp_code})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP delivery failed ({type(exc).__name__})") from None


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
def _tls_context() -> ssl.SSLContext:
    # Built once per process: loading the CA bundle costs more than a webhook. Certificates and host
    # names are checked (``create_default_context``); the bundle is certifi's, as httpx's is.
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


@dataclass
class HttpxWebhookSender:
    """Signed webhooks over HTTP(S); any 2xx is accepted, anything else is a failure.

    The SSRF guard (``urls``) runs on every send: the host is resolved here (an answer reused for a
    few seconds by the sender's :class:`~forewarn.clearinghouse.distribution.urls.Resolver`), every
    address checked, and the request goes to the checked address (``Host`` header and TLS SNI /
    certificate check still use the host name), so a DNS answer that changes after the check is
    never used.

    One connection per request (``Connection: close``), opened with asyncio streams: no pool, so no
    connection ever carries a request for another host name than the one its certificate was
    checked for, and none of a general client's per-request machinery (a fan-out posts 10⁵ of
    these). httpx parses and normalises the URL (percent-encoding, IDNA), so the request line and
    ``Host`` carry no raw input. Only the status line of the answer is read."""

    timeout: float = 10.0
    allow_insecure: bool = False
    allow_private: bool = False
    #: Host answers reused for a few seconds (a sender lives for one job); checked at every send.
    resolver: Resolver = field(default_factory=_resolver)

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
        lines = [
            b"POST " + url.raw_path + b" HTTP/1.1",
            b"Host: " + url.netloc,
            b"Connection: close",
            b"Content-Length: " + str(len(body)).encode(),
            b"User-Agent: forewarn-notices",
            *(f"{k}: {v}".encode("ascii") for k, v in signed_headers(call).items()),
        ]
        tls = _tls_context() if target.scheme == "https" else None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(
                    str(address), target.port, ssl=tls, server_hostname=target.host if tls else None
                )
                try:
                    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
                    await writer.drain()
                    status_line = await reader.readline()
                finally:
                    writer.close()
                    with contextlib.suppress(OSError, ssl.SSLError):
                        await writer.wait_closed()
        except TimeoutError:
            raise DeliveryFailed("webhook request failed (timeout)") from None
        except (OSError, ssl.SSLError, ValueError, asyncio.IncompleteReadError) as exc:
            raise DeliveryFailed(f"webhook request failed ({type(exc).__name__})") from None
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise DeliveryFailed("webhook receiver did not answer with HTTP")
        status = int(parts[1])
        if not 200 <= status < 300:
            raise DeliveryFailed(f"webhook receiver answered HTTP {status}")


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
    if not settings.smtp_host:
        return UnconfiguredMailer()
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        starttls=settings.smtp_starttls,
        user=settings.smtp_user,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout_seconds,
    )


def webhook_sender_from(settings: Settings) -> WebhookSender:
    return HttpxWebhookSender(
        timeout=settings.webhook_timeout_seconds,
        allow_insecure=settings.webhook_allow_insecure,
        allow_private=settings.webhook_allow_private_addresses,
    )
