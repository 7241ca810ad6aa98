"""The onboarding flow over real loopback HTTP against the sandbox: every state, no secret shown."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask

from bootstrap.sandbox import LoopbackServer, Sandbox, sandbox_of
from bootstrap.services import services
from tests.conftest import random_secret


@dataclass
class Service:
    """A sandbox-mode app served on a loopback port, with the operator's browser session."""

    app: Flask
    server: LoopbackServer
    token: str
    http: requests.Session

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def sandbox(self) -> Sandbox:
        found = sandbox_of(self.app)
        assert found is not None
        return found

    def api(self, method: str = "GET", **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(
            method, f"{self.url}/api/onboarding", headers=headers, timeout=10, **kwargs
        )

    def page(self) -> requests.Response:
        response = self.http.get(f"{self.url}/onboarding", params={"token": self.token}, timeout=10)
        assert response.status_code == 200, response.text
        return response

    def post_form(self, path: str, **fields: str) -> requests.Response:
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.page().text)
        assert found
        data = {"token": self.token, "csrf_token": found.group(1), **fields}
        return self.http.post(f"{self.url}{path}", data=data, timeout=10)

    def wait_for(self, *states: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.api().json()
            if body["state"] in states or time.monotonic() > deadline:
                assert body["state"] in states, body
                return body
            time.sleep(0.05)

    def secrets(self) -> list[str]:
        settings = services(self.app).settings
        found = [settings.public_key, settings.secret_key, self.app.config["SECRET_KEY"]]
        return [value for value in found if value]


@pytest.fixture
def service(
    make_app: Callable[..., Flask],
    base_env: dict[str, str],
    live_server: Callable[..., LoopbackServer],
) -> Iterator[Service]:
    # PUBLIC_URL is this server's own address, so the CLI's desired settings match the page's.
    server = live_server()
    token = random_secret()
    env = {**base_env, "ONBOARDING_TOKEN": token, "PUBLIC_URL": server.url}
    app = server.app = make_app(env)
    with requests.Session() as http:
        yield Service(app, server, token, http)


def _assert_no_secret(service: Service, label: str, *texts: str) -> None:
    for secret in service.secrets():
        for text in texts:
            assert secret not in text, f"a secret is shown in the {label} state"


def test_api_starts_an_attempt_answers_202_and_reaches_verified(service: Service) -> None:
    started = service.api("POST", json={"service_point_carriers": ["dhl", "ups"]})
    assert started.status_code == 202, started.text
    assert started.json()["webhook_url"] == f"{service.url}/webhooks/sendcloud"

    verified = service.wait_for("verified", "failed")

    assert verified["state"] == "verified", verified
    assert [s["status"] for s in verified["steps"]] == ["done"] * 6
    assert verified["verified_at"] is not None
    # What the sandbox (Sendcloud) now holds is what the operator asked for.
    integration = service.sandbox.integration(1)
    assert integration is not None
    assert integration["webhook_url"] == f"{service.url}/webhooks/sendcloud"
    assert sorted(integration["service_point_carriers"]) == ["dhl", "ups"]


def test_api_refuses_bad_input_before_calling_sendcloud(service: Service) -> None:
    refused = service.api(
        "POST", json={"service_point_enabled": True, "service_point_carriers": []}
    )
    assert refused.status_code == 400
    assert "at least one carrier" in refused.json()["error"]
    not_json = service.api("POST", data=b"carriers=dhl")
    assert not_json.status_code == 400
    assert service.api().json()["state"] == "planned"


def test_every_state_is_shown_in_plain_words_without_a_secret(service: Service) -> None:
    planned = service.page().text
    assert "Planned change" in planned
    _assert_no_secret(service, "planned", planned, service.api().text)

    applied = service.post_form(
        "/onboarding", service_point_enabled="on", service_point_carriers="dhl"
    )
    assert applied.status_code == 200  # after the redirect back to the page
    _assert_no_secret(service, "applying", applied.text)
    service.wait_for("verified")
    _assert_no_secret(service, "verified", service.page().text, service.api().text)

    # Sendcloud never calls back: timed out, with the "Test API Webhook" advice...
    service.sandbox.faults(drop_webhooks=1)
    service.api("POST", json={"service_point_carriers": ["dhl", "ups"], "wait_seconds": 1})
    timed_out = service.wait_for("timed_out")
    assert "Test API Webhook" in timed_out["advice"]
    page = service.page().text
    assert "Test API Webhook" in page
    _assert_no_secret(service, "timed_out", page, service.api().text)
    # ...and the panel's test webhook arriving afterwards completes the proof.
    service.sandbox.trigger("test_webhook")
    assert service.wait_for("verified", timeout=5)["steps"][-1]["status"] == "done"
    # It stays verified: the live settings re-read by the page are the ones just set.
    assert service.api().json()["state"] == "verified"

    # Sendcloud refuses the request: failed, with Sendcloud's words and what to do.
    service.sandbox.faults(fail_next=1, fail_status=400, fail_path="/api/v2/integrations")
    service.api("POST", json={"service_point_carriers": ["dhl"]})
    failed = service.wait_for("failed")
    assert failed["message"]
    assert failed["advice"]
    page = service.page().text
    assert "Failed" in page
    _assert_no_secret(service, "failed", page, service.api().text)

    undone = service.post_form("/onboarding/undo")
    assert undone.status_code == 200
    assert "were restored at Sendcloud" in undone.text
    assert "Restored" in undone.text
    _assert_no_secret(service, "undo", undone.text, service.api().text)
    integration = service.sandbox.integration(1)
    assert integration is not None
    assert sorted(integration["service_point_carriers"]) == ["dhl"]


def test_a_change_in_the_sendcloud_panel_is_drift_and_a_deletion_is_deleted(
    service: Service, make_app: Callable[..., Flask], base_env: dict[str, str]
) -> None:
    assert service.api("POST").status_code == 202
    service.wait_for("verified")

    # Someone re-points the webhook in the panel: Sendcloud now calls that URL, not us.
    service.sandbox.panel_update(1, webhook_url="http://127.0.0.1:9/somebody-else")

    # Another worker (fresh live cache, same database) re-reads Sendcloud and says drifted.
    other = make_app({**base_env, "ONBOARDING_TOKEN": service.token, "PUBLIC_URL": service.url})
    seen = other.test_client().get(
        "/api/onboarding", headers={"Authorization": f"Bearer {service.token}"}
    )
    assert seen.get_json()["state"] == "drifted"
    assert "webhook_url" in seen.get_json()["message"]

    check = service.app.test_cli_runner().invoke(args=["bootstrap", "--check"])
    assert check.exit_code == 4, check.output
    assert "webhook_url" in check.output
    assert "somebody-else" in check.output

    drifted = service.wait_for("drifted")
    assert "Apply again" in drifted["advice"]
    page = service.page().text
    assert "Drifted" in page
    _assert_no_secret(service, "drifted", page, service.api().text)

    # A correctly signed integration_deleted delivery reaching us marks the state at once.
    delivery = service.sandbox.trigger(
        "integration_deleted", url=f"{service.url}/webhooks/sendcloud"
    )
    assert delivery.status_code == 200
    deleted = service.wait_for("deleted", timeout=2)
    assert "deleted" in deleted["advice"]
    page = service.page().text
    assert "Integration deleted" in page
    _assert_no_secret(service, "deleted", page, service.api().text)
