"""One desired state: what was last applied from the page, the API or the CLI is what the CLI,
the drift check and the page use; the environment only seeds the first plan."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from click.testing import Result
from flask import Flask

from bootstrap.attempts.state import AttemptState
from bootstrap.desired import desired_state
from bootstrap.errors import PublicUrlUnknown
from bootstrap.owned import desired
from bootstrap.sandbox import LoopbackServer, sandbox_of
from bootstrap.settings import load_bootstrap_settings
from tests.conftest import random_secret
from tests.sandbox_fixture import SendcloudSandbox

T = 10


def bootstrap(app: Flask, *args: str) -> Result:
    """`flask bootstrap ARGS` in-process."""
    return app.test_cli_runner().invoke(args=["bootstrap", *args])


def api_state(url: str, token: str) -> dict[str, Any]:
    """GET /api/onboarding."""
    headers = {"Authorization": f"Bearer {token}"}
    body: dict[str, Any] = requests.get(f"{url}/api/onboarding", headers=headers, timeout=T).json()
    return body


def wait_until_ended(url: str, token: str) -> dict[str, Any]:
    """Poll the JSON state until the attempt has ended."""
    deadline = time.monotonic() + 20
    while (state := api_state(url, token))["state"] in ("planned", "applying", "awaiting_webhook"):
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    return state


def apply_on_the_page(url: str, token: str, *carriers: str) -> None:
    """Open the page, tick `carriers` and press Apply, as the operator's browser would."""
    with requests.Session() as browser:
        page = browser.get(f"{url}/onboarding", params={"token": token}, timeout=T)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        form = [("token", token), ("csrf_token", csrf.group(1)), ("service_point_enabled", "on")]
        form += [("service_point_carriers", code) for code in carriers]
        applied = browser.post(f"{url}/onboarding", data=form, timeout=T, allow_redirects=False)
        assert applied.status_code == 303, applied.text


@pytest.fixture
def sandboxed(
    make_app: Callable[..., Flask],
    base_env: dict[str, str],
    live_server: Callable[..., LoopbackServer],
) -> tuple[Flask, str, str]:
    """Sandbox mode served on loopback without PUBLIC_URL, like the README's tour."""
    token = random_secret()
    server = live_server()
    env = {**base_env, "ONBOARDING_TOKEN": token, "SERVICE_POINT_CARRIERS": "postnl,dhl"}
    server.app = make_app(env)
    return server.app, server.url, token


@pytest.fixture
def product(product: Callable[..., Flask]) -> Flask:
    """Real-keys mode against the sandbox, with SERVICE_POINT_CARRIERS=ups,dhl."""
    app: Flask = product(SENDCLOUD_RETRY_BUDGET="30")
    return app


def test_carriers_applied_on_the_page_are_what_check_and_a_plain_bootstrap_use(
    sandboxed: tuple[Flask, str, str],
) -> None:
    app, url, token = sandboxed
    sandbox = sandbox_of(app)
    assert sandbox is not None
    apply_on_the_page(url, token, "ups", "dpd")  # not SERVICE_POINT_CARRIERS=postnl,dhl
    assert wait_until_ended(url, token)["state"] == "verified"

    check = bootstrap(app, "--check")
    again = bootstrap(app, "--wait", "5")

    assert check.exit_code == 0, check.output
    assert "No drift" in check.output
    # The webhook URL the page registered, not this command's own loopback address.
    assert f"webhook_url: '{url}/webhooks/sendcloud' (last applied " in check.output
    assert "service_point_carriers: ['ups', 'dpd'] (last applied " in check.output
    assert again.exit_code == 0, again.output
    assert "already configured" in again.output
    assert [r.method for r in sandbox.requests() if r.path.startswith("/api/")].count("PATCH") == 1
    desired = api_state(url, token)["desired"]
    assert desired["service_point_carriers"] == ["ups", "dpd"]
    assert desired["sources"]["service_point_carriers"].startswith("last applied ")


def test_the_cli_changes_the_desired_carriers_explicitly_and_says_so(
    product: Flask, sendcloud: SendcloudSandbox
) -> None:
    chose = bootstrap(product, "--carriers", "DPD,postnl", "--wait", "5")
    check = bootstrap(product, "--check")
    off = bootstrap(product, "--no-service-points", "--wait", "5")
    check_off = bootstrap(product, "--check")

    assert chose.exit_code == 0, chose.output
    assert "service_point_carriers: ['dpd', 'postnl'] (--carriers)" in chose.output
    assert check.exit_code == 0, check.output
    assert "service_point_carriers: ['dpd', 'postnl'] (last applied " in check.output
    assert off.exit_code == 0, off.output
    assert "service_point_carriers: left as it is at Sendcloud (--no-service-points)" in off.output
    first, second = sendcloud.requests(method="PATCH")
    assert first.body["service_point_carriers"] == ["dpd", "postnl"]
    assert second.body["service_point_enabled"] is False
    assert "service_point_carriers" not in second.body  # the merchant's list is left alone
    assert check_off.exit_code == 0, check_off.output
    assert "service_point_enabled: False (last applied " in check_off.output


def test_the_environment_only_seeds_the_first_plan(product: Flask) -> None:
    first = bootstrap(product, "--dry-run")

    assert first.exit_code == 0, first.output
    assert "webhook_url: 'http://127.0.0.1:" in first.output
    assert "(PUBLIC_URL)" in first.output
    assert "service_point_carriers: ['ups', 'dhl'] (SERVICE_POINT_ENABLED/" in first.output
    assert "the first plan: nothing applied yet" in first.output
    assert bootstrap(product, "--carriers", "postnl", "--wait", "5").exit_code == 0
    after = bootstrap(product, "--dry-run")
    assert "service_point_carriers: ['postnl'] (last applied " in after.output
    assert "already configured" in after.output


def test_a_change_sendcloud_refused_does_not_become_the_desired_state(
    product: Flask, sendcloud: SendcloudSandbox
) -> None:
    assert bootstrap(product, "--carriers", "ups", "--wait", "5").exit_code == 0
    # Sendcloud's carrier list unreadable: its 400 to the PATCH refuses the code instead.
    sendcloud.faults(fail_next=9, fail_status=403, fail_body="", fail_path="/servicepoints/")

    refused = bootstrap(product, "--carriers", "nosuchcarrier", "--wait", "1")
    check = bootstrap(product, "--check")

    assert refused.exit_code == 1
    assert "nosuchcarrier" in refused.output
    assert check.exit_code == 0, check.output
    assert "service_point_carriers: ['ups'] (last applied " in check.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--carriers", "ups", "--no-service-points"), "does not go with --no-service-points"),
        (("--carriers", ","), "--carriers needs carrier codes"),
        (("--carriers", "dhl;ups"), "not a Sendcloud carrier code"),
        (("--undo", "--carriers", "ups"), "takes no carriers"),
    ],
)
def test_contradictory_or_malformed_carrier_options_are_usage_errors(
    product: Flask, sendcloud: SendcloudSandbox, args: tuple[str, ...], message: str
) -> None:
    result = bootstrap(product, *args)

    assert result.exit_code == 2
    assert message in result.output
    assert not sendcloud.requests()


def test_the_first_plan_is_shown_with_its_source_and_unoffered_carriers_are_marked(
    make_app: Callable[..., Flask], base_env: dict[str, str]
) -> None:
    token = random_secret()
    env = {**base_env, "ONBOARDING_TOKEN": token, "SERVICE_POINT_CARRIERS": "postnl,bpost"}
    client = make_app(env).test_client()

    state = client.get("/api/onboarding", headers={"Authorization": f"Bearer {token}"})
    page = client.get("/onboarding", query_string={"token": token}).get_data(as_text=True)

    desired = state.get_json()["desired"]
    assert desired["service_point_carriers"] == ["postnl", "bpost"]
    assert desired["webhook_url"] == "http://localhost/webhooks/sendcloud"
    assert desired["sources"]["service_point_carriers"].startswith("SERVICE_POINT_ENABLED/")
    assert desired["sources"]["webhook_url"] == "the address of this request (nothing applied yet)"
    # bpost is not among Sendcloud's carriers for service points: ticked, and marked as such.
    assert re.search(
        r'value="bpost" checked> <code>bpost</code> <span class="hint">not offered', page
    )
    assert 'value="dpd" >' in page


REAL = load_bootstrap_settings(
    {
        "SENDCLOUD_PUBLIC_KEY": "pk-test-000000",
        "SENDCLOUD_SECRET_KEY": "sk-test-000000",
        "SENDCLOUD_INTEGRATION_ID": "7",
        "SERVICE_POINT_CARRIERS": "ups",
    }
)


def applied(base: str, *carriers: str) -> AttemptState:
    """An apply attempt whose change Sendcloud took, started at noon."""
    noon = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    return AttemptState(
        attempt_id="a1",
        integration_id=7,
        kind="apply",
        state="verified",
        target=desired(base, True, carriers),
        previous=None,
        steps=(),
        started_at=noon,
        patched_at=noon,
        since=noon,
        deadline_at=None,
        verified_at=noon,
        message=None,
        hint=None,
    )


def test_public_url_then_the_last_applied_url_then_the_fallback_make_the_webhook_url() -> None:
    last = applied("https://page.example.com", "dhl")
    with_public = dataclasses.replace(REAL, public_url="https://hooks.example.com")

    assert desired_state(with_public, last).settings.webhook_url == (
        "https://hooks.example.com/webhooks/sendcloud"
    )
    found = desired_state(REAL, last, ("https://other.example.com", "the request"))
    assert found.settings.webhook_url == "https://page.example.com/webhooks/sendcloud"
    assert found.sources["webhook_url"] == "last applied 2026-01-02 12:00:00 UTC"
    first = desired_state(REAL, None, ("https://other.example.com", "the request"))
    assert (first.settings.webhook_url, first.sources["webhook_url"]) == (
        "https://other.example.com/webhooks/sendcloud",
        "the request",
    )
    with pytest.raises(PublicUrlUnknown, match="PUBLIC_URL is not set and nothing was applied"):
        desired_state(REAL, None)


def test_chosen_service_points_then_the_last_applied_then_the_environment() -> None:
    last = applied("https://page.example.com", "dhl", "dpd")
    fallback = ("https://x.example.com", "x")

    assert desired_state(REAL, None, fallback).settings.service_point_carriers == ("ups",)
    assert desired_state(REAL, last, fallback).settings.service_point_carriers == ("dhl", "dpd")
    chosen = desired_state(REAL, last, fallback, (False, (), "--no-service-points"))
    assert chosen.settings.service_point_enabled is False
    assert chosen.settings.service_point_carriers is None  # left alone at Sendcloud
    assert chosen.sources["service_point_enabled"] == "--no-service-points"
