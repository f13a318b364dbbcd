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
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from forewarn.core.errors import ForewarnError

if TYPE_CHECKING:
    from pydantic import SecretStr

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


@dataclass
class HttpxWebhookSender:
    """Signed webhooks over HTTP(S) with httpx; any 2xx is accepted, anything else is a failure.

    The SSRF guard (``urls``) runs on every send: the host is resolved here, every address checked,
    and the request goes to the checked address (``Host`` header and TLS SNI / certificate check
    still use the host name), so a DNS answer that changes after the check is never used."""

    timeout: float = 10.0
    allow_insecure: bool = False
    allow_private: bool = False

    async def send(self, call: WebhookCall) -> None:
        import httpx

        from forewarn.clearinghouse.distribution.urls import UnsafeUrl, UrlPolicy, resolve_checked

        policy = UrlPolicy(allow_insecure=self.allow_insecure, allow_private=self.allow_private)
        try:
            target, address = await resolve_checked(call.url, policy)
        except UnsafeUrl as exc:
            raise DeliveryFailed(f"webhook refused: {exc.message}") from None
        url = httpx.URL(call.url)
        headers = signed_headers(call)
        extensions: dict[str, str] = {}
        if target.literal is None:
            headers["host"] = url.netloc.decode("ascii")
            if target.scheme == "https":
                extensions["sni_hostname"] = target.host
            url = url.copy_with(host=str(address))
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as http:
                response = await http.post(
                    url, content=call.payload.encode(), headers=headers, extensions=extensions
                )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"webhook request failed ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"webhook receiver answered HTTP {response.status_code}")


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
