"""The operator's whole onboarding flow in Debian's headless Chromium, against the sandbox."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from bootstrap.sandbox import LoopbackServer, sandbox_of
from bootstrap.sandbox.integrations import OFFERED_CARRIERS
from bootstrap.services import services
from tests.conftest import IN_CI, random_secret

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_LABELS = [
    "Credentials",
    "Integration found",
    "Public URL reachable",
    "Change applied",
    "Read back",
    "Webhook received",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium; missing it fails under CI=true (the CI gate installs it)."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        message = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def served(
    make_app: Callable[..., Flask],
    base_env: dict[str, str],
    live_server: Callable[..., LoopbackServer],
) -> tuple[Flask, str, str]:
    """A sandbox-mode app served on loopback: the app, its URL and its onboarding token."""
    token = random_secret()
    app = make_app({**base_env, "ONBOARDING_TOKEN": token})
    return app, live_server(app).url, token


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser page (its own context: no cookies from another test)."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    yield context.new_page()
    context.close()


def test_operator_sees_the_diff_applies_and_every_step_turns_green(
    served: tuple[Flask, str, str], page: Page, artifacts_dir: Path
) -> None:
    _, url, token = served
    webhook_url = f"{url}/webhooks/sendcloud"
    problems: list[str] = []
    page.on("console", lambda m: _collect(problems, m))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    page.goto(f"{url}/onboarding?token={token}")
    # The token was exchanged for a session: the address bar (and history) no longer hold it.
    assert page.url == f"{url}/onboarding"
    (cookie,) = page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Lax")
    assert token not in cookie["value"]

    expect(page.locator("#integration-id")).to_have_text("1")
    expect(page.locator("#webhook-url")).to_have_text(webhook_url)
    changed = page.locator('#diff tr[data-field="webhook_url"]')
    expect(changed).to_have_class("changed")
    expect(changed.locator(".planned")).to_have_text(webhook_url)
    expect(page.locator('#diff tr[data-field="webhook_active"] .planned')).to_have_text("on")
    page.screenshot(path=str(artifacts_dir / "onboarding-1-planned.png"), full_page=True)

    # Unticking every carrier while service points are on is caught before anything is sent.
    for code in ("postnl", "dhl"):
        page.uncheck(f'#carrier-list input[value="{code}"]')
    expect(page.locator("#carriers-error")).to_be_visible()
    expect(page.locator("#apply")).to_be_disabled()
    for code in ("postnl", "dhl"):
        page.check(f'#carrier-list input[value="{code}"]')
    expect(page.locator("#apply")).to_be_enabled()

    page.click("#apply")

    # The page polls the state; once the attempt ends it reloads, and the diff re-read from
    # Sendcloud says there is nothing left to change.
    expect(page.locator("#nothing-to-do")).to_be_visible(timeout=20_000)
    expect(page.locator("#state")).to_have_text("Verified")
    steps = page.locator("#steps li")
    expect(steps.locator(".name")).to_have_text(STEP_LABELS)
    expect(steps).to_have_class(["step status-done"] * len(STEP_LABELS))
    expect(page.locator("#undo")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "onboarding-2-verified.png"), full_page=True)

    for row in page.locator("#diff tbody tr").all():
        expect(row).to_have_class("same")
    assert problems == []


def _collect(problems: list[str], message: ConsoleMessage) -> None:
    # CSP violations and script errors show up as console errors.
    if message.type == "error":
        problems.append(message.text)


def test_timed_out_page_turns_verified_by_itself_when_a_test_webhook_arrives(
    served: tuple[Flask, str, str], page: Page, artifacts_dir: Path
) -> None:
    app, url, token = served
    sandbox = sandbox_of(app)
    assert sandbox is not None
    sandbox.faults(silent_api_changes=True)  # Sendcloud does not announce an API change
    started = requests.post(
        f"{url}/api/onboarding",
        headers={"Authorization": f"Bearer {token}"},
        json={"wait_seconds": 1},
        timeout=10,
    )
    assert started.status_code == 202
    page.goto(f"{url}/onboarding?token={token}")
    expect(page.locator("#state")).to_have_text("No webhook yet", timeout=10_000)
    expect(page.locator("#advice")).to_contain_text('press "Test API Webhook"')
    page.screenshot(path=str(artifacts_dir / "onboarding-3-timed-out.png"), full_page=True)

    # The operator presses "Test API Webhook" in the panel; the open page notices by itself.
    sandbox.trigger("test_webhook")

    expect(page.locator("#state")).to_have_text("Verified", timeout=15_000)
    expect(page.locator("#steps li").last).to_have_class("step status-done")
    expect(page.locator("#advice")).to_be_hidden()


def test_carrier_boxes_come_from_sendclouds_list_and_the_choice_becomes_the_desired_one(
    served: tuple[Flask, str, str], page: Page
) -> None:
    app, url, token = served
    sandbox = sandbox_of(app)
    assert sandbox is not None
    page.goto(f"{url}/onboarding?token={token}")

    boxes = page.locator("#carrier-list input[type=checkbox]")
    # Sendcloud's GET /carriers, in its order; the desired ones (here the first plan) ticked.
    expect(boxes).to_have_count(len(OFFERED_CARRIERS))
    assert [box.get_attribute("value") for box in boxes.all()] == list(OFFERED_CARRIERS)
    ticked = [box.get_attribute("value") for box in boxes.all() if box.is_checked()]
    assert ticked == ["postnl", "dhl"]
    assert any(r.path == "/servicepoints/api/v2/carriers" for r in sandbox.requests())

    page.uncheck('#carrier-list input[value="dhl"]')
    page.check('#carrier-list input[value="ups"]')
    expect(page.locator('#diff tr[data-field="service_point_carriers"] .planned')).to_have_text(
        "postnl, ups"
    )
    page.click("#apply")

    expect(page.locator("#state")).to_have_text("Verified", timeout=20_000)
    [patch] = [r for r in sandbox.requests() if r.method == "PATCH"]
    assert patch.body["service_point_carriers"] == ["postnl", "ups"]
    # Opened again, the page ticks what was applied, not the environment's first plan.
    page.goto(f"{url}/onboarding?token={token}")
    ticked = [box.get_attribute("value") for box in boxes.all() if box.is_checked()]
    assert ticked == ["postnl", "ups"]


def test_an_unknown_carrier_from_the_api_or_the_cli_is_refused_before_any_patch(
    served: tuple[Flask, str, str],
) -> None:
    app, url, token = served
    sandbox = sandbox_of(app)
    assert sandbox is not None

    answer = requests.post(
        f"{url}/api/onboarding",
        headers={"Authorization": f"Bearer {token}"},
        json={"service_point_carriers": ["postnl", "nosuchcarrier"]},
        timeout=10,
    )
    cli = app.test_cli_runner().invoke(args=["bootstrap", "--carriers", "nosuchcarrier,dhl"])

    assert answer.status_code == 400, answer.text
    assert "nosuchcarrier" in answer.json()["error"]
    assert "postnl" not in answer.json()["error"].split("(")[0]  # only the unknown one named
    assert cli.exit_code == 1, cli.output
    assert "does not offer service points with nosuchcarrier" in cli.output
    assert [r.method for r in sandbox.requests() if r.path.startswith("/api/")].count("PATCH") == 0
    assert services(app).watcher.latest() is None  # refused before an attempt exists


def test_without_sendclouds_list_the_page_takes_typed_carriers_and_says_why(
    served: tuple[Flask, str, str], page: Page
) -> None:
    app, url, token = served
    sandbox = sandbox_of(app)
    assert sandbox is not None
    # The integration's "Service Points" setting is off: Sendcloud answers 403 without a body.
    sandbox.faults(fail_next=1, fail_status=403, fail_body="", fail_path="/servicepoints/")

    page.goto(f"{url}/onboarding?token={token}")

    expect(page.locator("#carriers-unavailable")).to_contain_text("HTTP 403")
    expect(page.locator("#carriers-unavailable")).to_contain_text('"Service Points" setting')
    expect(page.locator("#carrier-list")).to_have_count(0)
    page.fill("#sp-carriers", "dpd")
    expect(page.locator('#diff tr[data-field="service_point_carriers"] .planned')).to_have_text(
        "dpd"
    )
    page.click("#apply")
    expect(page.locator("#state")).to_have_text("Verified", timeout=20_000)
