"""What the event schemas accept as a timestamp and as a URL, without an app."""

from __future__ import annotations

from typing import Any

import pytest

from receivers.schemas import classify


def _parcel(timestamp: Any) -> dict[str, Any]:
    return {
        "action": "parcel_status_changed",
        "timestamp": timestamp,
        "parcel": {"id": 1, "status": {"id": 3}},
    }


@pytest.mark.parametrize(
    ("given", "read"),
    [
        (1712163088943, 1712163088943),
        (1712163088943.0, 1712163088943),
        ("1712163088943", 1712163088943),
        (0, 0),
    ],
)
def test_milliseconds_come_as_integers_integral_floats_or_digit_strings(
    given: Any, read: int
) -> None:
    found = classify(_parcel(given))
    assert (found.recognised, found.event_timestamp, found.state["status_id"]) == (True, read, 3)


@pytest.mark.parametrize(
    "given",
    [
        True,
        False,
        None,
        1.5,
        float("nan"),
        float("inf"),
        2.0**63,
        2**63,
        "",
        " 1",
        "-1",
        "1.0",
        "١٢",
        "1e3",
        {},
        [],
    ],
)
def test_any_other_timestamp_is_unrecognised_and_not_listed(given: Any) -> None:
    found = classify(_parcel(given))
    assert (found.recognised, found.event_timestamp, found.state) == (False, None, {})


@pytest.mark.parametrize("url", ["", False, None, 0, ["x"]])
def test_an_integration_url_that_is_not_text_or_empty_is_none(url: Any) -> None:
    event = {
        "action": "integration_updated",
        "timestamp": 1,
        "integration": {"id": 7, "webhook_url": url, "shop_url": False},
    }
    found = classify(event)
    assert found.recognised
    assert found.state["webhook_url"] is None


def test_new_keys_need_the_integration_they_are_for() -> None:
    keys = {"action": "integration_credentials", "public_key": "p", "secret_key": "s"}
    assert classify({**keys, "integration_id": 7}).integration_id == 7
    assert classify({**keys, "integration_id": 7}).recognised
    assert not classify(keys).recognised
