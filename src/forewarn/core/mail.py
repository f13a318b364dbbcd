"""A small mailer for programme notices: a ``Mailer`` Protocol and its SMTP form (CONVENTIONS §5).

Invariants:

- :meth:`Mailer.send` either returns (the relay accepted the message for every recipient) or raises
  :class:`MailFailed` with a message safe to record: never a credential or the relay's own text
  (which may echo what was sent).
- A message carries a stable ``Message-ID`` chosen by the caller, so a resend after a crash is
  recognisable as the same message.
- :func:`mailer_from` returns None when no SMTP relay is configured: callers record that email is
  not configured instead of pretending to send.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from forewarn.core.errors import ForewarnError

if TYPE_CHECKING:
    from pydantic import SecretStr

    from forewarn.core.settings import Settings


class MailFailed(ForewarnError):
    """The relay did not accept a message; the text is safe to record and show."""


@dataclass(frozen=True)
class Mail:
    to: tuple[str, ...]
    subject: str
    body: str
    message_id: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


def build_message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(mail.to)
    msg["Subject"] = mail.subject
    msg["Message-ID"] = f"<{mail.message_id}@forewarn>"
    msg.set_content(mail.body)
    return msg


@dataclass
class SmtpMailer:
    """Email through an SMTP relay (stdlib ``smtplib`` in a thread, so the event loop is not blocked)."""

    host: str
    port: int
    sender: str
    starttls: bool = True
    user: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0

    def _send(self, mail: Mail) -> None:
        import smtplib

        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user and self.password is not None:
                smtp.login(self.user, self.password.get_secret_value())
            smtp.send_message(build_message(mail, self.sender), to_addrs=list(mail.to))

    async def send(self, mail: Mail) -> None:
        import smtplib

        if not mail.to:
            raise MailFailed("no recipients")
        try:
            await asyncio.to_thread(self._send, mail)
        except smtplib.SMTPResponseException as exc:
            raise MailFailed(f"SMTP server refused the message (code {exc.smtp_code})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailFailed(f"SMTP delivery failed ({type(exc).__name__})") from None


def mailer_from(settings: Settings) -> Mailer | None:
    """The SMTP mailer of ``settings``, or None when no relay is configured."""
    if not settings.smtp_host:
        return None
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        starttls=settings.smtp_starttls,
        user=settings.smtp_user,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout_seconds,
    )
