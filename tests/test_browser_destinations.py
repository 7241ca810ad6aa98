"""The Destinations section of the onboarding page in headless Chromium: add, test, fail, retry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from bootstrap.sandbox import LoopbackServer
from receivers.relay import relay_of
from tests.conftest import random_secret
from tests.relay_kit import Consumer, consumers
from tests.test_browser_onboarding import browser, page  # noqa: F401 (fixtures, used by name)

__all__ = ["consumers"]

pytestmark = pytest.mark.browser


def test_operator_adds_a_destination_tests_it_sees_a_failure_and_retries_it(
    make_app: Callable[..., Flask],
    base_env: dict[str, str],
    live_server: Callable[..., LoopbackServer],
    consumers: Callable[..., Consumer],
    page: Page,  # noqa: F811
    artifacts_dir: Path,
) -> None:
    token = random_secret()
    # Sandbox mode; the schedule compressed 100,000x: a dead destination fails within a second.
    app = make_app({**base_env, "ONBOARDING_TOKEN": token, "RELAY_RETRY_SCALE": "0.00001"})
    url = live_server(app).url
    relay_of(app).start()
    consumer = consumers()
    try:
        page.goto(f"{url}/onboarding?token={token}")
        section = page.locator("#destinations")
        section.locator("#dest-url").fill(consumer.url)
        section.locator("#dest-description").fill("order system")
        section.locator("#dest-add").click()
        expect(section.locator("#dest-secret code")).to_contain_text("whsec_")
        secret = section.locator("#dest-secret code").inner_text()
        row = section.locator("#dest-rows tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("order system")

        row.get_by_role("button", name="Test").click()
        deliveries = section.locator("#dest-delivery-rows tr")
        expect(deliveries.first.locator(".delivery-state")).to_have_text("delivered")
        assert consumer.received[0].verified(secret)["type"] == "test_webhook"

        consumer.default = 500
        row.get_by_role("button", name="Test").click()
        expect(deliveries.first.locator(".delivery-state")).to_have_text("failed", timeout=15_000)
        expect(deliveries.first).to_contain_text("consumer says 500")

        consumer.default = 200
        deliveries.first.get_by_role("button", name="Retry").click()
        expect(deliveries.first.locator(".delivery-state")).to_have_text("delivered")
        page.screenshot(path=str(artifacts_dir / "destinations.png"), full_page=True)
        assert len({d.webhook_id for d in consumer.received[1:]}) == 1  # retries: one message

        row.get_by_role("button", name="Disable").click()
        expect(row.locator(".dest-state")).to_have_text("disabled")
    finally:
        relay_of(app).stop()


def test_a_bad_destination_url_is_refused_in_plain_words(
    make_app: Callable[..., Flask],
    base_env: dict[str, str],
    live_server: Callable[..., LoopbackServer],
    page: Page,  # noqa: F811
) -> None:
    token = random_secret()
    url = live_server(make_app({**base_env, "ONBOARDING_TOKEN": token})).url
    page.goto(f"{url}/onboarding?token={token}")
    page.locator("#dest-url").fill("https://user:secret@example.com/hook")
    page.locator("#dest-add").click()
    expect(page.locator("#dest-alerts")).to_contain_text("must not carry credentials")
    expect(page.locator("#dest-table")).to_be_hidden()
