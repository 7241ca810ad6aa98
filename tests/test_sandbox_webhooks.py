"""The sandbox delivers signed webhooks like Sendcloud: exact bytes, Python-style JSON, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

import requests
import sqlalchemy as sa

from bootstrap.sandbox import Sandbox, delivery, outbox, webhooks
from bootstrap.sandbox.tables import outbox as outbox_table
from receivers.db import Database
from tests.sandbox_fixture import CapturedWebhook, SendcloudSandbox, WebhookCatcher

T = 5


def _signature_ok(hook: CapturedWebhook, key: str) -> bool:
    expected = hmac.new(key.encode(), hook.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, hook.headers["Sendcloud-Signature"])


def _python_style(body: bytes) -> bool:
    return body == json.dumps(json.loads(body)).encode("ascii")


def _activate(sc: SendcloudSandbox, url: str) -> requests.Response:
    return requests.patch(
        f"{sc.api_url}/integrations/1",
        auth=(sc.public_key, sc.secret_key),
        json={"webhook_active": True, "webhook_url": url},
        timeout=T,
    )


def test_patch_activating_the_webhook_delivers_a_signed_integration_updated(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    before_ms = time.time_ns() // 1_000_000
    assert _activate(sendcloud, webhook_catcher.url).status_code == 200
    [hook] = webhook_catcher.wait_for(1)
    assert hook.headers["Content-Type"] == "application/json"
    assert _signature_ok(hook, sendcloud.secret_key)
    assert not _signature_ok(hook, sendcloud.secret_key + "x")
    assert _python_style(hook.body)
    payload = json.loads(hook.body)
    assert payload["action"] == "integration_updated"
    assert isinstance(payload["timestamp"], int)
    assert before_ms <= payload["timestamp"] <= time.time_ns() // 1_000_000
    assert payload["integration"] == sendcloud.integration()
    assert payload["integration"]["webhook_url"] == webhook_catcher.url
    [attempt] = sendcloud.wait_for_deliveries(1)
    assert (attempt.action, attempt.status_code, attempt.state) == (
        "integration_updated",
        200,
        "delivered",
    )


def test_non_ascii_parcel_name_is_escaped_and_the_signature_covers_the_exact_bytes(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    attempt = sendcloud.trigger(
        "parcel_status_changed",
        url=webhook_catcher.url,
        parcel_id=42,
        status_id=11,
        status_message="Delivered",
        timestamp=1700000000123,
    )
    assert attempt.ok
    [hook] = webhook_catcher.received
    assert b"Zo\\u00eb M\\u00fcller" in hook.body
    hook.body.decode("ascii")  # ensure_ascii: nothing but ASCII on the wire
    assert hook.body.startswith(b'{"action": "parcel_status_changed", "parcel": {"id": 42, ')
    assert hook.body.endswith(
        b'"timestamp": 1700000000123, "carrier_status_change_timestamp": 1700000000088}'
    )
    assert _python_style(hook.body)
    assert _signature_ok(hook, sendcloud.secret_key)
    compact = json.dumps(json.loads(hook.body), separators=(",", ":")).encode()
    assert not _signature_ok(CapturedWebhook(compact, hook.headers), sendcloud.secret_key)
    parcel = json.loads(hook.body)["parcel"]
    assert parcel["name"] == "Zoë Müller"
    assert (parcel["id"], parcel["status"]) == (42, {"id": 11, "message": "Delivered"})


def test_return_created_carries_its_payload_under_data(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    sendcloud.set_integration(webhook_active=True, webhook_url=webhook_catcher.url)
    assert sendcloud.trigger("return_created").ok
    [hook] = webhook_catcher.received
    payload = json.loads(hook.body)
    assert payload["action"] == "return_created"
    assert "parcel" not in payload
    assert payload["data"]["id"] == 1
    assert _signature_ok(hook, sendcloud.secret_key)


def test_change_while_the_webhook_is_inactive_queues_nothing(
    sendcloud: SendcloudSandbox,
) -> None:
    response = requests.patch(
        f"{sendcloud.api_url}/integrations/1",
        auth=(sendcloud.public_key, sendcloud.secret_key),
        json={"webhook_active": False, "webhook_url": "http://127.0.0.1:9/hook"},
        timeout=T,
    )
    assert response.status_code == 200
    with sendcloud.db.begin_read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_table)).scalar() == 0


def test_panel_change_of_the_webhook_url_notifies_the_new_url(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    sendcloud.set_integration(webhook_active=True, webhook_url="http://127.0.0.1:9/old")
    sendcloud.panel_update(webhook_url=webhook_catcher.url)
    [hook] = webhook_catcher.wait_for(1)
    payload = json.loads(hook.body)
    assert payload["action"] == "integration_updated"
    assert payload["integration"]["webhook_url"] == webhook_catcher.url


def test_delete_sends_integration_deleted_with_the_last_state(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    sendcloud.set_integration(webhook_active=True, webhook_url=webhook_catcher.url)
    before = sendcloud.integration()
    response = requests.delete(
        f"{sendcloud.api_url}/integrations/1",
        auth=(sendcloud.public_key, sendcloud.secret_key),
        timeout=T,
    )
    assert response.status_code == 204
    [hook] = webhook_catcher.wait_for(1)
    payload = json.loads(hook.body)
    assert payload["action"] == "integration_deleted"
    assert payload["integration"] == before
    assert _signature_ok(hook, sendcloud.secret_key)


def test_failed_delivery_is_retried_with_the_same_signed_body(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    sendcloud.configure(retry_scale=0.0005)  # 5 min -> 0.15 s, 10 min -> 0.3 s
    webhook_catcher.statuses = [500, 503]
    _activate(sendcloud, webhook_catcher.url)
    hooks = webhook_catcher.wait_for(3)
    assert len({(h.body, h.headers["Sendcloud-Signature"]) for h in hooks}) == 1
    attempts = sendcloud.wait_for_deliveries(3)
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 500), (2, 503), (3, 200)]
    assert attempts[-1].state == "delivered"
    assert attempts[1].at_ms - attempts[0].at_ms >= 150


def test_delivery_gives_up_after_ten_retries(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    sendcloud.configure(retry_scale=0.00001)
    webhook_catcher.statuses = [500] * 50
    _activate(sendcloud, webhook_catcher.url)
    attempts = sendcloud.wait_for_deliveries(11)
    time.sleep(0.3)  # would be long enough for a 12th attempt at this scale
    attempts = sendcloud.deliveries()
    assert [a.attempt for a in attempts] == list(range(1, 12))
    assert attempts[-1].state == "failed"
    assert len(webhook_catcher.received) == 11


def test_unreachable_receiver_is_recorded_and_retried_later(sendcloud: SendcloudSandbox) -> None:
    sendcloud.set_integration(webhook_active=True, webhook_url="http://127.0.0.1:9/nothing-here")
    attempt = sendcloud.trigger("test_webhook")
    assert attempt.status_code is None
    assert attempt.error is not None
    assert "could not reach" in attempt.error
    assert attempt.state == "pending"


def test_dropped_webhook_never_arrives_and_the_next_one_does(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    sendcloud.set_integration(webhook_active=True, webhook_url=webhook_catcher.url)
    sendcloud.faults(drop_webhooks=1)
    dropped = sendcloud.trigger("test_webhook")
    assert (dropped.state, dropped.status_code) == ("dropped", None)
    delivered = sendcloud.trigger("test_webhook")
    assert delivered.ok
    assert len(webhook_catcher.received) == 1
    assert sendcloud.faults().drop_webhooks == 0


def test_retry_schedule_is_sendclouds_compressed() -> None:
    delays = [outbox.retry_delay_s(n, 1.0) for n in range(1, 11)]
    assert delays == [300, 600, 1200, 2400, 3600, 3600, 3600, 3600, 3600, 3600]
    assert outbox.retry_delay_s(1, 1 / 300) == 1.0


def test_two_delivery_workers_deliver_each_webhook_once(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    # A second process's worker on the same database, racing the fixture's own worker.
    other_db = Database(sendcloud.db.url)
    other = delivery.DeliveryWorker(other_db, lambda: 1.0)
    try:
        box = Sandbox(sendcloud.db)
        with sendcloud.db.begin_write() as conn:
            for n in range(20):
                outbox.enqueue(conn, "test_webhook", webhook_catcher.url, {"n": n}, "k")
        racer = threading.Thread(target=other.run_once)
        racer.start()
        box.worker.run_once()
        racer.join(10)
        webhook_catcher.wait_for(20)
        time.sleep(0.2)
        bodies = sorted(json.loads(h.body)["n"] for h in webhook_catcher.received)
        assert bodies == list(range(20))
    finally:
        other_db.dispose()


def test_signing_matches_sendclouds_documented_test_vector() -> None:
    body = webhooks.serialise({"key": "value"})
    assert body == '{"key": "value"}'
    assert webhooks.sign(body.encode(), "secretkey") == (
        "1eed4b3d41f4653ac64fd56f1bf1cbfd349e4482cbc11dff7134bd93e5da4b0a"
    )
