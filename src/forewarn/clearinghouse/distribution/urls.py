"""The SSRF guard of webhook URLs: where the clearinghouse may send a subscriber's webhooks.

Invariants:

- a webhook URL is ``https`` (``http`` only when the setting ``webhook_allow_insecure`` is true),
  has a host, and carries no credentials;
- every address its host resolves to is public: not loopback, private, link-local, multicast,
  reserved or unspecified (:mod:`ipaddress`), unless ``webhook_allow_private_addresses`` is true;
- the check runs when the URL is saved and again at every delivery, on the addresses resolved
  then; the sender connects to the address it checked (no second lookup, so no DNS rebinding);
- a :class:`Resolver` may reuse a host's answer for a few seconds (one fan-out batch sends to the
  same host many times): the answer is still checked at every delivery, and only answers are kept,
  never a verdict, so a policy that changes applies at once;
- the reasons given never contain the resolved address or anything secret.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from forewarn.core.errors import ForewarnError

__all__ = ["Resolver", "UnsafeUrl", "UrlPolicy", "check_address", "check_url", "resolve_checked"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ForewarnError):
    """A webhook URL the clearinghouse refuses to call; the message is safe to show and record."""


@dataclass(frozen=True)
class UrlPolicy:
    allow_insecure: bool = False
    allow_private: bool = False


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    #: The host as an address when the URL names one, else ``None`` (a name to resolve).
    literal: IpAddress | None


def _forbidden(address: IpAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _forbidden(address.ipv4_mapped)
    for label, hit in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if hit:
            return label
    if not address.is_global:
        return "non-public"
    return None


def check_address(address: IpAddress, policy: UrlPolicy) -> None:
    """Raise :class:`UnsafeUrl` when *policy* forbids connecting to *address*."""
    if policy.allow_private:
        return
    label = _forbidden(address)
    if label is not None:
        raise UnsafeUrl(f"the webhook URL points to a {label} address, which is not allowed")


def check_url(url: str, policy: UrlPolicy) -> Target:
    """The syntactic checks (scheme, host, no credentials; an address literal is checked too).
    Makes no network call."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeUrl("the webhook URL is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.allow_insecure):
        raise UnsafeUrl("the webhook URL must use https")
    if not parts.hostname:
        raise UnsafeUrl("the webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("the webhook URL must not carry credentials")
    host = parts.hostname
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal, policy)
    return Target(scheme, host, port or (443 if scheme == "https" else 80), literal)


async def lookup(host: str, port: int) -> list[str]:
    """Every address *host* resolves to now (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass
class Resolver:
    """:func:`lookup` with each host's answer kept for *ttl* seconds (at most *size* hosts), and
    concurrent lookups of one host made once. Failures are not kept."""

    ttl: float = 5.0
    size: int = 1024
    _answers: dict[tuple[str, int], tuple[float, asyncio.Future[list[str]]]] = field(
        default_factory=dict, repr=False
    )

    async def lookup(self, host: str, port: int) -> list[str]:
        key, now = (host, port), time.monotonic()
        held = self._answers.get(key)
        if held is None or now - held[0] >= self.ttl:
            if len(self._answers) >= self.size:
                self._answers.clear()
            held = (now, asyncio.ensure_future(lookup(host, port)))
            self._answers[key] = held
        try:
            return list(await asyncio.shield(held[1]))
        except BaseException:
            if self._answers.get(key) is held:
                del self._answers[key]
            raise


async def resolve_checked(
    url: str, policy: UrlPolicy, *, resolver: Resolver | None = None
) -> tuple[Target, IpAddress]:
    """Check *url*, resolve its host (through *resolver*, if given) and check every address;
    returns the address to connect to."""
    target = check_url(url, policy)
    if target.literal is not None:
        return target, target.literal
    try:
        found = await (resolver.lookup if resolver is not None else lookup)(target.host, target.port)
    except (OSError, UnicodeError):
        raise UnsafeUrl("the webhook URL's host does not resolve") from None
    addresses: list[IpAddress] = []
    for raw in found:
        try:
            addresses.append(ipaddress.ip_address(raw.split("%", 1)[0]))
        except ValueError:
            raise UnsafeUrl("the webhook URL's host resolves to an unusable address") from None
    if not addresses:
        raise UnsafeUrl("the webhook URL's host does not resolve")
    for address in addresses:
        check_address(address, policy)
    return target, addresses[0]
