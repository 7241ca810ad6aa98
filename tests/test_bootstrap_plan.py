"""Pure parts of the bootstrap: planning, local validation, schemas, round-trip verdicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from marshmallow import ValidationError

from bootstrap.attempts.state import round_trip_verdict
from bootstrap.owned import OwnedSettings, desired
from bootstrap.sendcloud.schemas import error_message, load_integration, load_update_response
from receivers.store import StoredEvent

URL = "https://shop.example.com/webhooks/sendcloud"
DESIRED = OwnedSettings(URL, True, True, ("dhl", "ups"))


def live(**changes: Any) -> OwnedSettings:
    """Settings at Sendcloud already configured as DESIRED, with `changes`."""
    values: dict[str, Any] = {
        "webhook_url": URL,
        "webhook_active": True,
        "service_point_enabled": True,
        "service_point_carriers": ("ups", "dhl"),
        **changes,
    }
    return OwnedSettings(**values)


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
    assert DESIRED.changes_from(live()) == []
    assert live() == DESIRED  # equality compares carriers as a set
    assert hash(live()) == hash(DESIRED)
    assert live(service_point_carriers=("ups",)) != DESIRED


def test_plan_lists_only_owned_fields_that_differ() -> None:
    changes = DESIRED.changes_from(live(webhook_url=None, service_point_carriers=("ups",)))
    assert [c.name for c in changes] == ["webhook_url", "service_point_carriers"]
    assert changes[0].current is None
    assert changes[0].desired == URL
    assert changes[1].current == ["ups"]  # JSON values, as the CLI and the page show them


def test_disabled_service_points_without_carriers_leave_the_carrier_list_alone() -> None:
    assert "service_point_carriers" not in desired(URL, False, ()).patch_body()
    assert desired(URL, False, ("ups",)).patch_body()["service_point_carriers"] == ["ups"]
    unmanaged = desired("https://shop.example.com", False, ())
    assert unmanaged.changes_from(live(service_point_enabled=False)) == []


def test_desired_builds_the_webhook_url_from_the_base() -> None:
    wanted = desired("https://shop.example.com/", True, ["UPS", " dhl", "ups"])
    assert wanted.webhook_url == URL
    assert wanted.webhook_active is True
    assert wanted.service_point_carriers == ("ups", "dhl")


@pytest.mark.parametrize(
    ("wanted", "fragment"),
    [
        (OwnedSettings(URL, True, True, ()), "no carrier"),
        (OwnedSettings("http://shop.example.com/webhooks/sendcloud", True, False), "https://"),
        (OwnedSettings("shop.example.com/webhooks", True, False), "not an absolute URL"),
        (OwnedSettings("https://u:p@shop.example.com/x", True, False), "user name or password"),
    ],
)
def test_local_validation_explains_what_cannot_work(wanted: OwnedSettings, fragment: str) -> None:
    problems = wanted.problems()
    assert len(problems) == 1
    assert fragment in problems[0]


def test_loopback_http_is_accepted_for_local_tests() -> None:
    assert desired("http://127.0.0.1:5000", True, ("ups",)).problems() == []


def test_integration_schema_ignores_unknown_fields_and_tolerates_nulls() -> None:
    found = load_integration(
        {"id": 3, "shop_name": "S", "webhook_url": None, "service_point_carriers": None, "x": 1}
    )
    assert found.owned.service_point_carriers == ()
    assert found.owned.webhook_active is False
    with pytest.raises(ValidationError):
        load_integration({"shop_name": "no id"})
    with pytest.raises(ValidationError):
        load_integration(["not", "an", "object"])


def test_the_patch_body_carries_only_the_owned_fields_that_are_set() -> None:
    assert OwnedSettings(webhook_active=True).patch_body() == {"webhook_active": True}
    body = desired(URL, True, ("dhl",)).patch_body()
    assert set(body) == {
        "webhook_url",
        "webhook_active",
        "service_point_enabled",
        "service_point_carriers",
    }
    assert body["service_point_carriers"] == ["dhl"]


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
    verdict = round_trip_verdict([event("test_webhook")], 5, DESIRED)
    assert verdict is not None
    assert verdict.state == "verified"


def test_an_integration_event_must_show_what_was_set() -> None:
    target = DESIRED
    stale_fields: dict[str, Any] = {
        "id": 5,
        "webhook_url": "https://old.example.com",
        "webhook_active": True,
    }
    ours = {**target.to_json(), "id": 5}
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
    verdict = round_trip_verdict([event("integration_deleted", id=5)], 5, DESIRED)
    assert verdict is not None
    assert verdict.state == "deleted"


def test_undo_never_sends_a_null_webhook_url() -> None:
    previous = OwnedSettings(None, False, False, ())
    assert previous.restoring().patch_body() == {
        "webhook_active": False,
        "service_point_enabled": False,
        "service_point_carriers": [],
    }
    earlier = OwnedSettings("https://old.example.com/hook", False, True, ("postnl",))
    assert earlier.restoring() == earlier
