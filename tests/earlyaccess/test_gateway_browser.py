"""A reviewer's gateway key and a lab's usage page, in Chromium against a real ``forewarn serve --demo``
(issue 7), reached by following links from each person's home page.

Northwind AI (signed in the demo) opens a window for orca 1.0 and hands over a credential for a fake
OpenAI-compatible upstream on 127.0.0.1; the coordinator grants NIST and issues a key to a NIST
reviewer (the secret appears once, on the answer to the form); the reviewer finds the key on their
keys page (prefix, window, expiry, rate limit, budget; never the secret), calls the model through
``/gateway/v1`` with it, and the lab sees the call on its usage page under NIST (calls and tokens).
The coordinator revokes the key: the reviewer's page says revoked and the next call is refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer
from tests.earlyaccess.gateway.upstream import PROMPT_TOKENS, FakeUpstream
from tests.web.test_browser import browser  # noqa: F401 -- the shared Chromium fixture

pytestmark = pytest.mark.browser

NIST = "National Institute of Standards and Technology"
CREDENTIAL = "northwind-upstream-secret-52e0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # The demo's orca has no determination yet; this programme lets a window open without one.
    live = LiveServer(
        tmp_path_factory.mktemp("gateway-pages"), settings={"FOREWARN_REVIEW_REQUIRE_COVERED": "false"}
    )
    yield live
    live.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def _sign_in(page: Any, server: LiveServer, email: str) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(server.demo_password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/")


def _call(server: LiveServer, secret: str) -> httpx.Response:
    return httpx.post(
        server.url + "/gateway/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "orca-1.0", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 3},
        timeout=30,
    )


def test_reviewer_key_page_lab_usage_page_and_revocation(
    browser: Any,  # noqa: F811 -- the shared fixture
    server: LiveServer,
    upstream: FakeUpstream,
) -> None:
    # The lab opens a window from its review page and hands over the one upstream credential.
    lab = browser.new_page()
    _sign_in(lab, server, "safety@northwind.demo")
    lab.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    lab.get_by_test_id("models").get_by_role("link", name="orca 1.0").click()
    lab.locator("#open-window").click()
    window_url = lab.url.split("?")[0]
    window_id = window_url.rsplit("/", 1)[-1]
    lab.locator("#credential-base-url").fill(upstream.base_url)
    lab.locator("#credential-model").fill("fake")
    lab.locator("#credential-secret").fill(CREDENTIAL)
    lab.locator("#register-credential").click()
    assert lab.locator("#window-state").inner_text() == "open"
    closes_at = lab.get_by_test_id("closes-at").inner_text()  # "YYYY-MM-DD HH:MM UTC"

    # The coordinator reaches the window from the home page's card, grants NIST, issues a key.
    coordinator = browser.new_page()
    _sign_in(coordinator, server, "coordinator@nsa.demo")
    coordinator.get_by_test_id("capabilities").get_by_role("link", name="Assessment windows").click()
    coordinator.locator(f'tr[data-window-id="{window_id}"]').get_by_role("link", name="orca 1.0").click()
    assert coordinator.url.split("?")[0] == window_url
    coordinator.locator("#grant-organisation").select_option(label=f"{NIST} (NIST)")
    coordinator.locator("#grant-access").click()
    person = coordinator.locator("#key-person option", has_text="custodian@nist.demo").first
    coordinator.locator("#key-person").select_option(person.get_attribute("value"))
    coordinator.locator("#key-rate").fill("30")
    coordinator.locator("#key-budget").fill("5000")
    coordinator.locator("#issue-key").click()
    secret = coordinator.locator("#issued-key-secret").inner_text().strip()
    assert secret.startswith("fwk_")
    keys_table = coordinator.get_by_test_id("keys")
    prefix = keys_table.locator("tbody tr").first.locator("td").first.inner_text().strip()
    assert secret.startswith(prefix) and len(prefix) < len(secret)
    # Shown once: the window page, loaded again, has the key's prefix and never its secret.
    coordinator.goto(window_url)
    assert prefix in coordinator.get_by_test_id("keys").inner_text()
    assert secret not in coordinator.content() and coordinator.locator("#issued-key-secret").count() == 0

    # The reviewer finds the key from the home page: prefix, window, expiry, limits; no secret.
    reviewer = browser.new_page()
    _sign_in(reviewer, server, "custodian@nist.demo")
    reviewer.get_by_test_id("capabilities").get_by_role("link", name="Review access").click()
    assert reviewer.url == server.url + "/gateway/keys"
    row = reviewer.get_by_test_id("keys").locator("tbody tr").first
    assert row.locator("td").first.inner_text().startswith(prefix)
    assert row.locator("td").nth(1).inner_text() == "orca-1.0"
    assert row.get_by_test_id("expires").inner_text().startswith(closes_at.removesuffix(" UTC"))
    assert row.get_by_test_id("rate").inner_text() == "30/min"
    assert row.get_by_test_id("remaining").inner_text() == "5,000 of 5,000 tokens"
    assert row.get_by_test_id("state").inner_text() == "active"
    assert reviewer.get_by_test_id("base-url").inner_text() == server.url + "/gateway/v1"
    assert secret not in reviewer.content() and CREDENTIAL not in reviewer.content()
    # From the key to its window page and on to the window's assessment page.
    row.get_by_test_id("window-link").click()
    assert reviewer.url.split("?")[0] == window_url
    assert reviewer.locator("#my-keys-link").count() == 1
    reviewer.locator("#assessment-link").click()
    assert reviewer.url == f"{server.url}/assessments/windows/{window_id}"
    assert reviewer.locator("#finding-form").count() == 1

    # A call through the gateway with the key.
    answer = _call(server, secret)
    assert answer.status_code == 200, answer.text
    assert upstream.seen[-1].headers.get("authorization") == f"Bearer {CREDENTIAL}"
    completion = answer.json()["usage"]["completion_tokens"]

    # The lab sees it on its usage page, under NIST: one call, its tokens.
    lab.goto(server.url + "/review")
    lab.locator("#usage-link").click()
    assert lab.url == server.url + "/gateway/usage"
    section = lab.get_by_test_id(f"window-{window_id}")
    deadline = time.monotonic() + 30
    while section.locator("tbody tr", has_text=NIST).count() == 0 and time.monotonic() < deadline:
        time.sleep(0.5)  # usage is recorded as the call settles
        lab.reload()
    usage = section.locator("tbody tr", has_text=NIST)
    assert usage.get_by_test_id("calls").inner_text() == "1"
    assert usage.get_by_test_id("prompt-tokens").inner_text() == str(PROMPT_TOKENS)
    assert usage.get_by_test_id("completion-tokens").inner_text() == str(completion)
    assert CREDENTIAL not in lab.content() and secret not in lab.content()
    section.get_by_test_id("window-link").click()
    assert lab.url.split("?")[0] == window_url
    assert "1" in lab.get_by_test_id("usage").locator("tr", has_text=NIST).inner_text()
    # The reviewer's remaining budget went down by the call's tokens.
    reviewer.goto(server.url + "/gateway/keys")
    spent = PROMPT_TOKENS + completion
    assert reviewer.get_by_test_id("remaining").first.inner_text() == f"{5000 - spent:,} of 5,000 tokens"

    # The coordinator revokes the key: the reviewer's page says so, and the next call is refused.
    coordinator.goto(window_url)
    coordinator.get_by_test_id("keys").locator("tr", has_text=prefix).get_by_role(
        "button", name="Revoke"
    ).click()
    assert coordinator.get_by_test_id("done").inner_text() == "The key is revoked."
    assert coordinator.get_by_test_id("keys").locator("tr", has_text=prefix).locator("td").nth(
        5
    ).inner_text() == ("revoked")
    reviewer.goto(server.url + "/gateway/keys")
    state = reviewer.get_by_test_id("state").first.inner_text()
    assert state.startswith("revoked"), state
    # A revoked key's page no longer links to a window the reviewer may have lost access to.
    assert reviewer.get_by_test_id("window-link").count() == 0
    refused = _call(server, secret)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["message"]
