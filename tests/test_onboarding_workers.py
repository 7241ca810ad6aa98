"""The round trip across processes: started on one gunicorn, proven by a webhook to another."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from receivers.db import Database
from tests.conftest import Gunicorn, random_secret


def _wait_for_state(url: str, token: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        body: dict[str, Any] = requests.get(
            f"{url}/api/onboarding", headers=headers, timeout=10
        ).json()
        if body["state"] in states or time.monotonic() > deadline:
            assert body["state"] in states, body
            return body
        time.sleep(0.1)


def _sandbox_keys(database_url: str) -> tuple[str, str]:
    db = Database(database_url)
    try:
        public = db.stored_value("sandbox_public_key", lambda: "")
        secret = db.stored_value("sandbox_secret_key", lambda: "")
    finally:
        db.dispose()
    return public, secret


@pytest.mark.slow
def test_attempt_started_on_one_instance_is_verified_by_a_webhook_to_another(
    gunicorn: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    token = random_secret()
    database_url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    shared = {"DATABASE_URL": database_url, "ONBOARDING_TOKEN": token}
    receiving = gunicorn(shared, workers=1)
    # The applying instance registers the other one's address as the webhook URL.
    applying = gunicorn({**shared, "PUBLIC_URL": receiving.url}, workers=1)

    started = requests.post(
        f"{applying.url}/api/onboarding",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert started.status_code == 202, started.text
    assert started.json()["webhook_url"] == f"{receiving.url}/webhooks/sendcloud"

    verified = _wait_for_state(applying.url, token, "verified", "failed", "timed_out")
    assert verified["state"] == "verified", verified
    # Every instance reads the same attempt from the shared database.
    seen_by_receiver = _wait_for_state(receiving.url, token, "verified")
    assert seen_by_receiver["attempt_id"] == verified["attempt_id"]

    # The emulated Sendcloud delivered the proving webhook to the receiving instance only.
    public, secret = _sandbox_keys(database_url)
    deliveries = requests.get(
        f"{applying.url}/sandbox/_control/deliveries", auth=(public, secret), timeout=10
    ).json()
    proving = [d for d in deliveries if d["action"] == "integration_updated"]
    assert proving, deliveries
    assert {d["url"] for d in proving} == {f"{receiving.url}/webhooks/sendcloud"}
    assert all(d["status_code"] == 200 for d in proving)
