"""The review programme as people use it (issue 7), in Chromium against a real ``forewarn serve --demo``.

A lab that has not yet taken part signs the agreement, registers a model, has it determined (a real
determination job in the server's worker, on the demo's active policy, against a ``mockllm:oracle``
endpoint that the server is told to accept), opens a window and hands over its upstream credential;
the coordinator grants NIST, plans a workstream and issues a key to a NIST reviewer; the reviewer
calls the model through the gateway with that key and files a finding; the lab withdraws and the key
dies on the next call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer
from tests.earlyaccess.gateway.upstream import FakeUpstream
from tests.web.test_browser import browser  # noqa: F401 -- the shared Chromium fixture

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def programme_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("programme"),
        settings={
            "FOREWARN_BENCHMARK_ALLOW_MOCK_ENDPOINTS": "true",
            "FOREWARN_REVIEW_REQUIRE_COVERED": "true",
        },
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


def _sign_in(page: Any, server: LiveServer, email: str) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(server.demo_password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/**")


def test_lab_opts_in_is_determined_opens_a_window_and_reviewers_work(
    browser: Any,  # noqa: F811 -- the shared fixture
    programme_server: LiveServer,
    upstream: FakeUpstream,
) -> None:
    server = programme_server
    lab = browser.new_page()
    _sign_in(lab, server, "safety@lumen.demo")

    # Opt in.
    lab.goto(server.url + "/review/agreement")
    assert lab.get_by_test_id("participation-status").inner_text() == "Your lab does not take part."
    lab.locator("#sign-agreement").click()
    assert "Your lab takes part" in lab.get_by_test_id("participation-status").inner_text()

    # Register a model.
    lab.goto(server.url + "/review")
    lab.locator("#register summary").click()
    lab.locator("#model-name").fill("lumen-large")
    lab.locator("#model-version").fill("2.0")
    lab.locator("#model-family").fill("lumen")
    release = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    lab.locator("#model-planned-release").fill(release)
    lab.locator("#model-access-mode").select_option("enclave")
    lab.locator("#model-endpoint").fill("mockllm:oracle?pass_rate=0.97")
    lab.locator("#model-endpoint-model").fill("lumen-large-2")
    lab.locator("#register-model").click()
    assert lab.get_by_test_id("model-title").inner_text() == "lumen-large 2.0"
    model_url = lab.url.split("?")[0]
    assert lab.get_by_test_id("determination").inner_text().startswith("not determined")
    # Without a verdict there is no window to open (the window is for covered models).
    assert lab.locator("#open-window").count() == 0

    # Get determined: a real job in the server's worker.
    lab.goto(server.url + "/determinations")
    row = lab.get_by_test_id("models").locator("tr", has_text="lumen-large")
    row.get_by_role("button", name="Request a determination").click()
    deadline = time.monotonic() + 240
    verdict = ""
    while time.monotonic() < deadline:
        lab.goto(server.url + "/determinations")
        verdicts = lab.get_by_test_id("determinations").locator("tr", has_text="lumen-large")
        verdict = verdicts.first.get_by_test_id("verdict").inner_text().strip() if verdicts.count() else ""
        if verdict:
            break
        time.sleep(2)
    assert verdict == "covered", server.output[-3000:]

    # Open a window and hand over the one upstream credential.
    lab.goto(model_url)
    assert lab.get_by_test_id("determination").inner_text().startswith("covered")
    lab.locator("#open-window").click()
    window_url = lab.url.split("?")[0]
    assert "/review/windows/" in window_url
    window_id = window_url.rsplit("/", 1)[-1]
    lab.locator("#credential-base-url").fill(upstream.base_url)
    lab.locator("#credential-model").fill("fake")
    lab.locator("#credential-secret").fill("lumen-upstream-secret-7d1c")
    lab.locator("#register-credential").click()
    assert lab.locator("#window-state").inner_text() == "open"
    assert lab.locator("#day-counter").inner_text().startswith("Day 1 of 30")
    assert "lumen-upstream-secret-7d1c" not in lab.content()

    # The coordinator grants NIST, plans a workstream and issues a key to a NIST reviewer.
    coordinator = browser.new_page()
    _sign_in(coordinator, server, "coordinator@nsa.demo")
    coordinator.goto(window_url)
    nist = "National Institute of Standards and Technology (NIST)"
    coordinator.locator("#grant-organisation").select_option(label=nist)
    coordinator.locator("#grant-access").click()
    assert nist.removesuffix(" (NIST)") in coordinator.get_by_test_id("grants").inner_text()
    coordinator.goto(f"{server.url}/assessments/windows/{window_id}")
    coordinator.locator("#ws-title").fill("Exploit development uplift")
    coordinator.locator("#ws-area").select_option("cyber_offence")
    coordinator.locator("#ws-lead").select_option(label="National Institute of Standards and Technology")
    coordinator.locator("#ws-due").fill((datetime.now(UTC) + timedelta(days=20)).date().isoformat())
    coordinator.locator("#ws-submit").click()
    assert "Exploit development uplift" in coordinator.get_by_test_id("workstreams").inner_text()
    coordinator.goto(window_url)
    people = coordinator.locator("#key-person option", has_text="custodian@nist.demo")
    coordinator.locator("#key-person").select_option(people.first.get_attribute("value"))
    coordinator.locator("#issue-key").click()
    secret = coordinator.locator("#issued-key-secret").inner_text().strip()
    assert secret.startswith("fwk_")

    # The reviewer reaches the model only through the gateway, with that key.
    auth = {"Authorization": f"Bearer {secret}"}
    listed = httpx.get(server.url + "/gateway/v1/models", headers=auth, timeout=30)
    assert listed.status_code == 200, listed.text
    assert [m["id"] for m in listed.json()["data"]] == ["lumen-large-2.0"]
    answer = httpx.post(
        server.url + "/gateway/v1/chat/completions",
        headers=auth,
        json={"model": "lumen-large-2.0", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"]
    assert upstream.seen[-1].headers.get("authorization") == "Bearer lumen-upstream-secret-7d1c"

    # The reviewer files a finding.
    reviewer = browser.new_page()
    _sign_in(reviewer, server, "custodian@nist.demo")
    reviewer.goto(f"{server.url}/assessments/windows/{window_id}")
    reviewer.locator("#finding-title").fill("Model writes a working heap exploit when asked twice")
    reviewer.locator("#finding-severity").select_option("high")
    reviewer.locator("#finding-area").select_option("cyber_offence")
    reviewer.locator("#finding-tlp").select_option("AMBER")
    reviewer.locator("#finding-description").fill("A second, reworded request bypasses the refusal.")
    reviewer.locator("#finding-submit").click()
    assert "Model writes a working heap exploit" in reviewer.locator("main").inner_text()

    # The lab withdraws: its window closes and the key dies on the next call.
    lab.goto(server.url + "/review/agreement")
    lab.locator("#withdraw-reason").fill("Release moved to another programme")
    lab.locator("#withdraw").click()
    assert lab.get_by_test_id("participation-status").inner_text() == "Your lab does not take part."
    refused = httpx.get(
        server.url + "/gateway/v1/models", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["message"]
    lab.goto(window_url)
    assert lab.locator("#window-state").inner_text() == "closed"
