"""Pure parts of the bootstrap: planning, local validation, schemas, round-trip verdicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from marshmallow import ValidationError

from bootstrap.plan import Desired, desired_for, desired_problems, make_plan
from bootstrap.roundtrip import round_trip_verdict
from bootstrap.schemas import (
    Integration,
    dump_update_request,
    error_message,
    load_integration,
    load_update_response,
)
from bootstrap.settings import load_bootstrap_settings
from bootstrap.steps import restorable
from receivers.store import StoredEvent

URL = "https://shop.example.com/webhooks/sendcloud"


def integration(**changes: Any) -> Integration:
    """An integration already configured as DESIRED, with `changes`."""
    values: dict[str, Any] = {
        "id": 5,
        "shop_name": "Shop",
        "system": "api",
        "webhook_url": URL,
        "webhook_active": True,
        "service_point_enabled": True,
        "service_point_carriers": ("ups", "dhl"),
        **changes,
    }
    return Integration(**values)


DESIRED = Desired(URL, True, ("dhl", "ups"))


def event(action: str, outcome: str = "applied", **integration_fields: Any) -> StoredEvent:
    """A stored delivery as the receiver's store returns it."""
    payload: dict[str, Any] = {"action": action, "timestamp": 1}
    if integration_fields:
        payload["integration"] = integration_fields
    return StoredEvent(
        id=1,
        action=action,
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
        event_timestamp=1,
        outcome=outcome,
        key="current",
        integration_id=integration_fields.get("id"),
        parcel_id=None,
        payload=payload,
    )


def test_matching_settings_plan_nothing_even_with_carriers_in_another_order() -> None:
    plan = make_plan(integration(), DESIRED)
    assert plan.nothing_to_do
    assert plan.changes == []


def test_plan_lists_only_owned_fields_that_differ() -> None:
    plan = make_plan(integration(webhook_url=None, service_point_carriers=("ups",)), DESIRED)
    assert [c.name for c in plan.changes] == ["webhook_url", "service_point_carriers"]
    assert plan.changes[0].current is None
    assert plan.changes[0].desired == URL
    assert not plan.nothing_to_do


def test_disabled_service_points_without_carriers_leave_the_carrier_list_alone() -> None:
    assert "service_point_carriers" not in Desired(URL, False, ()).fields()
    assert Desired(URL, False, ("ups",)).fields()["service_point_carriers"] == ["ups"]


def test_desired_for_builds_the_webhook_url_from_the_base() -> None:
    settings = load_bootstrap_settings({"SERVICE_POINT_CARRIERS": "UPS, dhl"})
    desired = desired_for("https://shop.example.com/", settings)
    assert desired.webhook_url == URL
    assert desired.service_point_carriers == ("ups", "dhl")
    assert desired_for(URL, settings, carriers=[], enabled=False).service_point_carriers == ()


@pytest.mark.parametrize(
    ("desired", "fragment"),
    [
        (Desired(URL, True, ()), "no carrier"),
        (Desired("http://shop.example.com/webhooks/sendcloud", False, ()), "https://"),
        (Desired("shop.example.com/webhooks", False, ()), "not an absolute URL"),
        (Desired("https://u:p@shop.example.com/x", False, ()), "user name or password"),
    ],
)
def test_local_validation_explains_what_cannot_work(desired: Desired, fragment: str) -> None:
    problems = desired_problems(desired)
    assert len(problems) == 1
    assert fragment in problems[0]


def test_loopback_http_is_accepted_for_local_tests() -> None:
    assert (
        desired_problems(Desired("http://127.0.0.1:5000/webhooks/sendcloud", True, ("ups",))) == []
    )


def test_integration_schema_ignores_unknown_fields_and_tolerates_nulls() -> None:
    found = load_integration(
        {"id": 3, "shop_name": "S", "webhook_url": None, "service_point_carriers": None, "x": 1}
    )
    assert found.service_point_carriers == ()
    assert found.webhook_active is False
    with pytest.raises(ValidationError):
        load_integration({"shop_name": "no id"})
    with pytest.raises(ValidationError):
        load_integration(["not", "an", "object"])


def test_the_patch_body_can_only_carry_owned_fields() -> None:
    assert dump_update_request({"webhook_active": True}) == {"webhook_active": True}
    with pytest.raises(ValueError, match="does not own"):
        dump_update_request({"shop_name": "mine now"})


def test_update_response_reports_the_owned_fields_it_contains() -> None:
    reported = load_update_response({"shop_name": "S", "webhook_active": True, "x": 2})
    assert reported == {"webhook_active": True}


def test_error_text_is_taken_as_text_from_every_known_envelope() -> None:
    stringified = "{'settings': ['webhook_url: This field may not be null.']}"
    assert error_message({"error": {"code": 400, "message": stringified}}) == stringified
    assert error_message({"errors": [{"title": "Invalid", "detail": "URL required"}]}) == (
        "URL required"
    )
    assert error_message({"error": "invalid_client", "error_description": "bad"}) == "bad"
    assert error_message(None) is None
    assert error_message({"error": {"code": 500, "message": {"nested": 1}}}) == "{'nested': 1}"


def test_any_signed_delivery_proves_the_round_trip() -> None:
    verdict = round_trip_verdict([event("test_webhook")], 5, DESIRED.fields())
    assert verdict is not None
    assert verdict.state == "verified"


def test_an_integration_event_must_show_what_was_set() -> None:
    target = DESIRED.fields()
    stale_fields: dict[str, Any] = {
        "id": 5,
        "webhook_url": "https://old.example.com",
        "webhook_active": True,
    }
    ours = {**target, "id": 5}
    assert round_trip_verdict([event("integration_updated", **stale_fields)], 5, target) is None
    assert (
        round_trip_verdict([event("integration_updated", **{**ours, "id": 6})], 5, target) is None
    )
    stale = event("integration_updated", outcome="stale", **ours)
    assert round_trip_verdict([stale], 5, target) is None
    verdict = round_trip_verdict([event("integration_updated", **ours)], 5, target)
    assert verdict is not None
    assert verdict.state == "verified"


def test_a_deletion_of_our_integration_ends_the_wait() -> None:
    verdict = round_trip_verdict([event("integration_deleted", id=5)], 5, DESIRED.fields())
    assert verdict is not None
    assert verdict.state == "deleted"


def test_undo_never_sends_a_null_webhook_url() -> None:
    previous: dict[str, Any] = {
        "webhook_url": None,
        "webhook_active": False,
        "service_point_enabled": False,
        "service_point_carriers": [],
    }
    assert restorable(previous) == {
        "webhook_active": False,
        "service_point_enabled": False,
        "service_point_carriers": [],
    }
