"""The SSRF guard of webhook URLs, without any network: scheme, address literals (checked with no
lookup), and names through a stubbed resolver (every address checked; a DNS answer that changes
after saving is caught at delivery)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from forewarn.clearinghouse.distribution import urls
from forewarn.clearinghouse.distribution.delivery import DeliveryFailed, HttpxWebhookSender, WebhookCall
from forewarn.clearinghouse.distribution.urls import UnsafeUrl, UrlPolicy, check_url, resolve_checked
from forewarn.core.clock import utcnow

from .conftest import Receiver

STRICT = UrlPolicy()


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(host: str, port: int) -> list[str]:
        raise AssertionError(f"unexpected lookup of {host}")

    monkeypatch.setattr(urls, "lookup", refuse)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://127.8.9.10:8443/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.5/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://240.0.0.1/hook", "reserved"),
        ("http://93.184.216.34/hook", "https"),
        ("ftp://93.184.216.34/hook", "https"),
        ("https://user:pw@93.184.216.34/hook", "credentials"),
    ],
)
async def test_refused_literals(no_dns: None, url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        await resolve_checked(url, STRICT)


async def test_public_literal_is_accepted_without_a_lookup(no_dns: None) -> None:
    target, address = await resolve_checked("https://93.184.216.34/hook", STRICT)
    assert str(address) == "93.184.216.34" and target.port == 443
    await resolve_checked("https://[2606:2800:220:1:248:1893:25c8:1946]:8443/h", STRICT)


async def test_settings_relax_the_guard(no_dns: None) -> None:
    await resolve_checked("http://127.0.0.1:9/h", UrlPolicy(allow_insecure=True, allow_private=True))
    with pytest.raises(UnsafeUrl, match="https"):
        check_url("http://127.0.0.1:9/h", UrlPolicy(allow_private=True))
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url("http://127.0.0.1:9/h", UrlPolicy(allow_insecure=True))


async def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    # ``localhost`` resolves locally (hosts file), no network involved.
    with pytest.raises(UnsafeUrl, match="loopback"):
        await resolve_checked("https://localhost/hook", STRICT)


async def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    monkeypatch.setattr(urls, "lookup", mixed)
    with pytest.raises(UnsafeUrl, match="private"):
        await resolve_checked("https://hooks.example/h", STRICT)

    async def fails(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    monkeypatch.setattr(urls, "lookup", fails)
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        await resolve_checked("https://hooks.example/h", STRICT)


async def test_sender_refuses_a_rebound_name_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    async def rebound(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    monkeypatch.setattr(urls, "lookup", rebound)
    call = WebhookCall(
        url="https://hooks.example/h",
        webhook_id="msg_x",
        payload="{}",
        secret="whsec_" + "A" * 44,
        timestamp=utcnow(),
    )
    with pytest.raises(DeliveryFailed) as caught:
        await HttpxWebhookSender(timeout=1).send(call)
    assert "link-local" in caught.value.message and "169.254" not in caught.value.message
    assert "whsec_" not in caught.value.message


async def test_sender_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    # A name resolved once, checked, and the request sent to that address (Host keeps the name).
    looked_up: list[str] = []

    async def local(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(urls, "lookup", local)
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    receiver.secret = secret
    port = receiver.url.rsplit(":", 1)[1].split("/", 1)[0]
    call = WebhookCall(
        url=f"http://hooks.example:{port}/hooks/forewarn",
        webhook_id="msg_pinned",
        payload='{"type": "notice.created"}',
        secret=secret,
        timestamp=datetime.now(UTC),
    )
    with pytest.raises(DeliveryFailed, match="loopback"):
        await HttpxWebhookSender(timeout=5, allow_insecure=True).send(call)
    await HttpxWebhookSender(timeout=5, allow_insecure=True, allow_private=True).send(call)
    assert looked_up == ["hooks.example", "hooks.example"] and list(receiver.accepted) == ["msg_pinned"]


async def test_resolver_reuses_an_answer_briefly_and_every_use_is_still_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [["127.0.0.1"], ["93.184.215.14"]]
    looked_up: list[str] = []

    async def changing(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return answers[min(len(looked_up), len(answers)) - 1]

    monkeypatch.setattr(urls, "lookup", changing)
    resolver = urls.Resolver(ttl=60)
    relaxed = UrlPolicy(allow_private=True)
    for _ in range(3):  # one lookup for three sends within the time to live
        _, address = await resolve_checked("https://hooks.example/h", relaxed, resolver=resolver)
        assert str(address) == "127.0.0.1"
    assert looked_up == ["hooks.example"]
    # The kept answer is an answer, not a verdict: the strict policy still refuses it.
    with pytest.raises(UnsafeUrl, match="loopback"):
        await resolve_checked("https://hooks.example/h", STRICT, resolver=resolver)
    # Once the time to live has passed, the name is resolved again.
    expired = urls.Resolver(ttl=0)
    await resolve_checked("https://hooks.example/h", relaxed, resolver=expired)
    await resolve_checked("https://hooks.example/h", relaxed, resolver=expired)
    assert looked_up == ["hooks.example"] * 3


async def test_resolver_does_not_keep_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def flaky(host: str, port: int) -> list[str]:
        calls.append(host)
        if len(calls) == 1:
            raise OSError("temporary failure in name resolution")
        return ["93.184.215.14"]

    monkeypatch.setattr(urls, "lookup", flaky)
    resolver = urls.Resolver(ttl=60)
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        await resolve_checked("https://hooks.example/h", STRICT, resolver=resolver)
    _, address = await resolve_checked("https://hooks.example/h", STRICT, resolver=resolver)
    assert str(address) == "93.184.215.14" and len(calls) == 2
