"""Pure rules of the onboarding page: addresses, the operator's input, and the advice shown."""

from __future__ import annotations

import dataclasses

import pytest
from werkzeug.datastructures import MultiDict

from bootstrap.onboarding import inputs
from bootstrap.onboarding.addresses import (
    base_problem,
    dev_server_base,
    known_base,
    onboarding_url,
    webhook_base,
)
from bootstrap.onboarding.presentation import advice, diff_rows, in_words
from bootstrap.settings import load_bootstrap_settings

SANDBOX = load_bootstrap_settings({})
REAL = load_bootstrap_settings(
    {
        "SENDCLOUD_PUBLIC_KEY": "pk-test-000000",
        "SENDCLOUD_SECRET_KEY": "sk-test-000000",
        "SENDCLOUD_INTEGRATION_ID": "7",
        "SERVICE_POINT_CARRIERS": "ups",
    }
)


def test_public_url_wins_over_the_request_address() -> None:
    with_public = dataclasses.replace(SANDBOX, public_url="https://shop.example.com")
    assert webhook_base(with_public, "http://127.0.0.1:5000/") == "https://shop.example.com"
    assert webhook_base(SANDBOX, "http://127.0.0.1:5000/") == "http://127.0.0.1:5000"


def test_plain_http_on_a_public_host_is_explained_with_what_to_set() -> None:
    problem = base_problem("http://shop.example.com")
    assert problem is not None
    assert "PUBLIC_URL" in problem
    assert "TRUSTED_PROXY_HOPS" in problem
    assert base_problem("https://shop.example.com") is None
    assert base_problem("http://127.0.0.1:5000") is None


def test_onboarding_url_quotes_the_token() -> None:
    assert onboarding_url("https://a.example/", "x+y/z") == (
        "https://a.example/onboarding?token=x%2By%2Fz"
    )


def test_dev_server_address_follows_flask_run_variables() -> None:
    assert dev_server_base({}) == "http://127.0.0.1:5000"
    assert dev_server_base({"FLASK_RUN_PORT": "8000"}) == "http://127.0.0.1:8000"
    listen_all = "0.0.0.0"  # noqa: S104 (an input value; nothing is bound)
    assert dev_server_base({"FLASK_RUN_HOST": listen_all}) == "http://127.0.0.1:5000"


def test_without_public_url_only_the_sandbox_guesses_an_address() -> None:
    assert known_base(SANDBOX, {})[0] == "http://127.0.0.1:5000"
    base, note = known_base(REAL, {})
    assert base is None
    assert "PUBLIC_URL" in note
    with_public = dataclasses.replace(REAL, public_url="https://shop.example.com")
    assert known_base(with_public, {})[0] == "https://shop.example.com"


def test_form_with_service_points_on_and_no_carrier_is_refused() -> None:
    with pytest.raises(inputs.InvalidInput, match="at least one carrier"):
        inputs.from_form(
            MultiDict({"service_point_enabled": "on", "service_point_carriers": " , "})
        )


def test_form_reads_carriers_lowercased_without_duplicates() -> None:
    wanted = inputs.from_form(
        MultiDict({"service_point_enabled": "on", "service_point_carriers": "UPS, dhl,ups"})
    )
    assert wanted == inputs.ApplyRequest(True, ("ups", "dhl"))
    assert inputs.from_form(MultiDict()) == inputs.ApplyRequest(False, ())


def test_form_reads_ticked_carrier_boxes_as_one_list() -> None:
    ticked = MultiDict(
        [
            ("service_point_enabled", "on"),
            ("service_point_carriers", "postnl"),
            ("service_point_carriers", "UPS"),
        ]
    )
    assert inputs.from_form(ticked) == inputs.ApplyRequest(True, ("postnl", "ups"))


def test_form_rejects_a_carrier_code_that_cannot_exist() -> None:
    with pytest.raises(inputs.InvalidInput, match="not a Sendcloud carrier code"):
        inputs.from_form(
            MultiDict({"service_point_enabled": "on", "service_point_carriers": "dhl; ups"})
        )


def test_api_body_keeps_configured_values_for_absent_fields() -> None:
    defaults = inputs.ApplyRequest(True, ("postnl",))
    assert inputs.from_json(None, defaults) == defaults
    assert inputs.from_json({"service_point_carriers": ["DHL"]}, defaults) == (
        inputs.ApplyRequest(True, ("dhl",))
    )
    assert inputs.from_json({"service_point_carriers": "ups,dpd", "wait_seconds": 5}, defaults) == (
        inputs.ApplyRequest(True, ("ups", "dpd"), 5)
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "JSON object"),
        ({"wait_seconds": 0}, "wait_seconds"),
        ({"service_point_carriers": 5}, "service_point_carriers"),
        ({"service_point_carriers": []}, "at least one carrier"),
        ({"service_point_enabled": "maybe"}, "service_point_enabled"),
    ],
)
def test_api_body_problems_are_named(body: object, message: str) -> None:
    with pytest.raises(inputs.InvalidInput, match=message):
        inputs.from_json(body, inputs.ApplyRequest(True, ("postnl",)))


def test_no_webhook_in_time_points_to_the_test_button() -> None:
    text = advice("timed_out", [])
    assert text is not None
    assert "Test API Webhook" in text
    assert "Settings → Integrations" in text


def test_a_failed_step_gets_its_own_advice_unless_the_error_has_a_hint() -> None:
    steps = [{"name": "credentials", "status": "failed"}]
    assert "SENDCLOUD_AUTH" in (advice("failed", steps) or "")
    assert advice("failed", steps, hint="use basic") == "use basic"
    found = [{"name": "integration_found", "status": "failed"}]
    assert "SENDCLOUD_INTEGRATION_ID" in (advice("failed", found) or "")
    assert advice("verified", steps) is None


def test_diff_marks_only_changed_fields_and_shows_values_in_words() -> None:
    rows = diff_rows(
        {"webhook_url": None, "webhook_active": False, "service_point_carriers": ["dhl"]},
        {"webhook_url": "https://a/webhooks/sendcloud", "webhook_active": True},
        ["webhook_url", "webhook_active"],
    )
    assert [(r.name, r.changed) for r in rows] == [
        ("webhook_url", True),
        ("webhook_active", True),
        ("service_point_enabled", False),
        ("service_point_carriers", False),
    ]
    assert rows[0].current == "not set"
    assert rows[1].planned == "on"
    assert in_words([]) == "none"
