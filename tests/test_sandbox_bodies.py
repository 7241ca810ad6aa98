"""The sandbox's webhook bodies against real Sendcloud material, and the no-webhook fault."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import requests

from tests.sandbox_calls import T, basic_auth, corpus
from tests.sandbox_fixture import CapturedWebhook, SendcloudSandbox, WebhookCatcher

LIVE = "webhooks/parcel_status_changed__megastore-live-capture-2024-04-03.json"
CREDENTIALS = "webhooks/integration_credentials__oca-delivery-sendcloud-oca-test-fixture.json"


def _signed_with(hook: CapturedWebhook, key: str) -> bool:
    expected = hmac.new(key.encode(), hook.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, hook.headers["Sendcloud-Signature"])


def _sent(sc: SendcloudSandbox, catcher: WebhookCatcher, action: str, **options: Any) -> Any:
    assert sc.trigger(action, url=catcher.url, **options).ok
    return json.loads(catcher.received[-1].body)


def test_a_parcel_update_has_the_shape_of_the_live_capture(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    live = corpus(LIVE)
    sent = _sent(sendcloud, webhook_catcher, "parcel_status_changed", timestamp=1712163088943)

    assert list(sent) == ["action", "parcel", "timestamp", "carrier_status_change_timestamp"]
    assert list(sent) == list(live)
    assert list(sent["parcel"]) == list(live["parcel"])
    assert sent["carrier_status_change_timestamp"] != sent["timestamp"]
    # dd-mm-yyyy without a zone, in UTC: the capture's own date for its own timestamp.
    assert sent["parcel"]["date_created"] == live["parcel"]["date_created"] == "03-04-2024 16:51:28"
    assert sent["parcel"]["date_updated"] == "03-04-2024 16:51:28"
    assert sent["parcel"]["carrier"] == live["parcel"]["carrier"]
    assert sent["parcel"]["carrier"]["name"] == "Chronopost"
    assert [k for k, v in sent["parcel"].items() if v is None] == [
        k for k, v in live["parcel"].items() if v is None
    ]


def test_integration_credentials_carry_the_keys_signed_with_the_current_secret(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    sent = _sent(sendcloud, webhook_catcher, "integration_credentials")

    assert list(sent) == list(corpus(CREDENTIALS))
    assert (sent["public_key"], sent["secret_key"]) == (sendcloud.public_key, sendcloud.secret_key)
    assert sent["integration_id"] == sendcloud.integration_id
    hook = webhook_catcher.received[-1]
    # The current secret is also the one in the body: either reading of the signing agrees.
    assert _signed_with(hook, sendcloud.secret_key)
    assert _signed_with(hook, sent["secret_key"])


def test_return_delivered_carries_the_refund_connectors_read(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    sent = _sent(sendcloud, webhook_catcher, "return_delivered", timestamp=1642069322871)

    assert sent["action"] == "return_delivered"
    read_by_the_odoo_connector = {
        "created_at",
        "reason",
        "status",
        "message",
        "total_refund",
        "outgoing_parcel",
        "incoming_parcel",
    }
    assert set(sent["refund"]) == read_by_the_odoo_connector
    assert isinstance(sent["refund"]["total_refund"], str)  # a string in GET /returns too
    assert datetime.fromisoformat(sent["refund"]["created_at"]) == datetime.fromtimestamp(
        1642069322.871, UTC
    )


def test_integration_webhooks_show_an_unset_url_as_an_empty_string(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    sent = _sent(sendcloud, webhook_catcher, "integration_updated")

    assert sent["integration"]["shop_url"] == ""
    assert sent["integration"]["webhook_url"] == ""


def test_under_the_silent_fault_an_api_change_sends_no_webhook_but_the_test_button_does(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    assert sendcloud.faults(silent_api_changes=True).silent_api_changes
    changed = requests.patch(
        f"{sendcloud.api_url}/integrations/1",
        auth=basic_auth(sendcloud),
        json={"webhook_active": True, "webhook_url": webhook_catcher.url},
        timeout=T,
    )
    assert changed.status_code == 200
    sendcloud.trigger("test_webhook")  # Sendcloud's "Test API Webhook" button

    assert [d.action for d in sendcloud.deliveries()] == ["test_webhook"]
    [hook] = webhook_catcher.received
    assert json.loads(hook.body)["action"] == "test_webhook"
    # A change in the panel still notifies: only API changes are silent.
    sendcloud.panel_update(shop_name="Renamed Shop")
    assert [json.loads(h.body)["action"] for h in webhook_catcher.wait_for(2)] == [
        "test_webhook",
        "integration_updated",
    ]
