"""The Sendcloud client over real loopback HTTP: retries, token reuse, 401 handling, errors."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from werkzeug.wrappers import Request, Response

from bootstrap.errors import (
    AUTH_HINT,
    IntegrationNotFound,
    SendcloudAuthError,
    SendcloudRejected,
    SendcloudUnavailable,
)
from bootstrap.owned import OwnedSettings
from bootstrap.sandbox import LoopbackServer
from bootstrap.sendcloud.client import SendcloudClient
from bootstrap.sendcloud.responses import Transient, backoff, retry_after_seconds
from bootstrap.services import services
from bootstrap.settings import load_bootstrap_settings
from tests.conftest import free_port
from tests.sandbox_fixture import SendcloudSandbox

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

INTEGRATION = {
    "id": 7,
    "shop_name": "Fake Shop",
    "system": "api",
    "webhook_url": None,
    "webhook_active": False,
    "service_point_enabled": False,
    "service_point_carriers": [],
}


class ScriptedSendcloud:
    """A loopback fake: answers queued responses first, then a valid token / integration."""

    def __init__(self) -> None:
        self.script: list[tuple[int, bytes, dict[str, str]]] = []
        self.token_script: list[tuple[int, bytes, dict[str, str]]] = []
        self.received: list[dict[str, Any]] = []
        self.tokens_issued = 0
        self.latency = 0.0  # seconds each API answer takes
        self._server = LoopbackServer(self._app)
        self.url = self._server.url

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        scheme = request.headers.get("Authorization", "").partition(" ")[0].lower()
        self.received.append({"method": request.method, "path": request.path, "auth": scheme})
        if request.path == "/token":
            if self.token_script:
                return Response(*self._pop(self.token_script))
            self.tokens_issued += 1
            body = {"access_token": f"tok{self.tokens_issued}", "expires_in": 3600}
            return Response(json.dumps(body), 200, {"Content-Type": "application/json"})
        time.sleep(self.latency)
        if self.script:
            return Response(*self._pop(self.script))
        return Response(json.dumps(INTEGRATION), 200, {"Content-Type": "application/json"})

    @staticmethod
    def _pop(script: list[tuple[int, bytes, dict[str, str]]]) -> tuple[bytes, int, dict[str, str]]:
        status, body, headers = script.pop(0)
        return body, status, headers

    def api_calls(self) -> list[dict[str, Any]]:
        """Requests to the API (not the token endpoint)."""
        return [r for r in self.received if r["path"] != "/token"]

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()


@pytest.fixture
def fake() -> Iterator[ScriptedSendcloud]:
    """A scripted loopback Sendcloud."""
    server = ScriptedSendcloud()
    yield server
    server.stop()


@pytest.fixture
def make_client(fake: ScriptedSendcloud) -> Iterator[Callable[..., SendcloudClient]]:
    """Clients pointed at the fake with a small retry budget; closed afterwards."""
    made: list[SendcloudClient] = []

    def make(auth: str = "oauth2", budget: float = 3.0) -> SendcloudClient:
        settings = load_bootstrap_settings(
            {
                "SENDCLOUD_PUBLIC_KEY": "pub-key-123",
                "SENDCLOUD_SECRET_KEY": "very-secret-456",
                "SENDCLOUD_INTEGRATION_ID": "7",
                "SENDCLOUD_API_URL": fake.url + "/api/v2",
                "SENDCLOUD_TOKEN_URL": fake.url + "/token",
                "SENDCLOUD_AUTH": auth,
                "SERVICE_POINT_ENABLED": "false",
                "SENDCLOUD_RETRY_BUDGET": str(budget),
            }
        )
        client = SendcloudClient(settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_empty_429_and_non_json_503_are_retried_then_succeed(
    fake: ScriptedSendcloud, make_client: Callable[..., SendcloudClient]
) -> None:
    fake.script = [
        (429, b"", {"Retry-After": "0"}),
        (503, b"<html>upstream connect error</html>", {"Content-Type": "text/html"}),
    ]

    integration = make_client().get_integration(7)

    assert integration.shop_name == "Fake Shop"
    assert [r["method"] for r in fake.api_calls()] == ["GET", "GET", "GET"]


def test_retry_after_is_honoured(
    fake: ScriptedSendcloud,
    make_client: Callable[..., SendcloudClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.script = [(429, b"", {"Retry-After": "1"})]

    with caplog.at_level(logging.WARNING):
        make_client().get_integration(7)

    assert len(fake.api_calls()) == 2
    # The backoff stamina was given for the retry (its testing mode then skips the sleep).
    assert "sendcloud_retry status=429 retry_after=1.0" in caplog.text


def test_the_backoff_waits_as_long_as_retry_after_says_if_the_budget_allows() -> None:
    assert backoff(Transient("429", 429, retry_after=1.0), remaining=30) == 1.0
    assert backoff(Transient("503", 503), remaining=30) is True  # stamina's exponential
    assert backoff(Transient("429", 429, retry_after=120.0), remaining=30) is False
    assert backoff(Transient("503", 503), remaining=0) is False
    assert backoff(SendcloudRejected("400"), remaining=30) is False


def test_a_retry_after_beyond_the_budget_fails_at_once_in_plain_words(
    fake: ScriptedSendcloud, make_client: Callable[..., SendcloudClient]
) -> None:
    fake.script = [(429, b"", {"Retry-After": "120"})]

    with pytest.raises(SendcloudUnavailable, match=r"HTTP 429 \(too many requests\)"):
        make_client(budget=2).get_integration(7)

    assert len(fake.api_calls()) == 1


def test_a_permanent_503_is_retried_until_the_budget_is_spent(
    fake: ScriptedSendcloud, make_client: Callable[..., SendcloudClient]
) -> None:
    fake.script = [(503, b"upstream reset", {})] * 200
    fake.latency = 0.2  # each answer takes 0.2 s of the 0.5 s budget: about three tries fit
    started = time.monotonic()

    with pytest.raises(SendcloudUnavailable) as raised:
        make_client(budget=0.5).get_integration(7)

    assert time.monotonic() - started < 1.5
    tries = len(fake.api_calls())
    assert 1 < tries < 5  # stopped by the budget, before stamina's own limit
    assert f"tried to read integration 7 {tries} time(s) within 0.5 s" in str(raised.value)
    assert "HTTP 503" in str(raised.value)
    assert "upstream reset" not in str(raised.value)


def test_retries_stop_after_stamina_s_attempts_without_a_budget_left_to_spend(
    fake: ScriptedSendcloud, make_client: Callable[..., SendcloudClient]
) -> None:
    fake.script = [(503, b"", {})] * 200

    with pytest.raises(SendcloudUnavailable):
        make_client(budget=30).get_integration(7)

    assert len(fake.api_calls()) == 5  # conftest's stamina testing mode: 5 attempts


def test_a_401_fetches_one_new_token_and_retries_once(
    fake: ScriptedSendcloud, make_client: Callable[..., SendcloudClient]
) -> None:
    fake.script = [(401, b'{"error": {"code": 401, "message": "expired"}}', {})]

    make_client().get_integration(7)

    assert fake.tokens_issued == 2
    assert [r["path"] for r in fake.received] == [
        "/token",
        "/api/v2/integrations/7",
        "/token",
        "/api/v2/integrations/7",
    ]


def test_a_second_401_is_a_plain_message_with_the_oauth2_hint(
    fake: ScriptedSendcloud, make_client: Callable[..., SendcloudClient]
) -> None:
    body = b'{"error": {"code": 401, "request": "api/v2/integrations/7", "message": "Invalid"}}'
    fake.script = [(401, body, {})] * 2

    with pytest.raises(SendcloudAuthError) as raised:
        make_client().get_integration(7)

    assert fake.tokens_issued == 2
    assert len(fake.api_calls()) == 2
    assert "integration 7" in str(raised.value)
    assert raised.value.hint == AUTH_HINT
    assert "SENDCLOUD_AUTH=basic" in AUTH_HINT


def test_basic_auth_sends_the_keys_and_never_asks_for_a_token(
    fake: ScriptedSendcloud, make_client: Callable[..., SendcloudClient]
) -> None:
    make_client(auth="basic").get_integration(7)

    assert fake.received == [{"method": "GET", "path": "/api/v2/integrations/7", "auth": "basic"}]


def test_token_endpoint_outage_is_retried_like_the_api(
    fake: ScriptedSendcloud, make_client: Callable[..., SendcloudClient]
) -> None:
    fake.token_script = [(503, b"down", {}), (429, b"", {})]

    assert make_client().check_credentials() == "OAuth2 token fetched"
    assert [r["path"] for r in fake.received] == ["/token"] * 3


def test_a_stringified_dict_400_message_is_shown_as_text(
    fake: ScriptedSendcloud, make_client: Callable[..., SendcloudClient]
) -> None:
    message = "{'settings': ['webhook_url: This field may not be null.']}"
    body = {"error": {"code": 400, "request": "api/v2/integrations/", "message": message}}
    fake.script = [(400, json.dumps(body).encode(), {"Content-Type": "application/json"})]

    with pytest.raises(SendcloudRejected) as raised:
        make_client().patch_integration(7, OwnedSettings(webhook_active=True))

    assert message in str(raised.value)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# --- against the sandbox: the real-keys product, through the CLI -----------------------------


@pytest.fixture
def product(
    make_app: Callable[..., Flask], base_env: dict[str, str], sendcloud: SendcloudSandbox
) -> Callable[..., Flask]:
    """The product in real-keys mode against the sandbox (no live server needed for errors)."""

    def build(**extra: str) -> Flask:
        env = {
            **base_env,
            **sendcloud.env(extra.pop("auth", "oauth2")),
            "PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
            "SERVICE_POINT_CARRIERS": "ups",
            "SENDCLOUD_RETRY_BUDGET": "1",
            **extra,
        }
        return make_app(env)

    return build


def cli(app: Flask, *args: str) -> Any:
    """`flask bootstrap ARGS`, in-process."""
    return app.test_cli_runner().invoke(args=["bootstrap", *args])


def test_ten_runs_share_one_token_and_expiry_brings_exactly_one_more(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    # authlib reads the wall clock (expiry in whole seconds): 2 s is the shortest lifetime
    # that outlives ten calls, since it is renewed a tenth of it early.
    sendcloud.configure(token_lifetime=2)
    client = services(product()).bootstrapper.client
    for _ in range(10):
        client.get_integration(sendcloud.integration_id)
    assert len(sendcloud.requests("/oauth2/token")) == 1

    deadline = time.monotonic() + 5
    while len(sendcloud.requests("/oauth2/token")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        client.get_integration(sendcloud.integration_id)
    for _ in range(3):
        client.get_integration(sendcloud.integration_id)

    assert len(sendcloud.requests("/oauth2/token")) == 2
    assert all(r.auth == "bearer" for r in sendcloud.requests("/api/"))


def test_ten_dry_runs_in_one_process_fetch_one_token(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    for _ in range(10):
        assert cli(app, "--dry-run").exit_code == 0
    assert len(sendcloud.requests("/oauth2/token")) == 1
    assert len(sendcloud.requests("/api/v2/integrations/1", "GET")) == 10


def test_threads_share_one_token(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    client = services(product()).bootstrapper.client
    threads = [
        threading.Thread(target=client.get_integration, args=(sendcloud.integration_id,))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(sendcloud.requests("/oauth2/token")) == 1
    assert len(sendcloud.requests("/api/")) == 8


def test_sandbox_503s_are_retried_then_the_dry_run_succeeds(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product(SENDCLOUD_RETRY_BUDGET="5")
    sendcloud.faults(fail_next=2, fail_status=503, fail_path="/api/")

    result = cli(app, "--dry-run")

    assert result.exit_code == 0, result.output
    assert [r.status for r in sendcloud.requests("/api/")] == [503, 503, 200]


def test_a_permanent_503_exits_1_with_a_plain_message_within_the_budget(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product(SENDCLOUD_RETRY_BUDGET="1")
    sendcloud.faults(fail_next=1000, fail_status=503, fail_path="/api/")
    started = time.monotonic()

    result = cli(app, "--wait", "1")

    assert time.monotonic() - started < 4
    assert result.exit_code == 1
    assert "Sendcloud is unavailable" in result.output
    assert "HTTP 503" in result.output
    assert "Traceback" not in result.output
    assert not sendcloud.requests(method="PATCH")


@pytest.mark.parametrize("auth", ["oauth2", "basic"])
def test_wrong_keys_exit_1_with_the_auth_hint(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox, auth: str
) -> None:
    app = product(auth=auth, SENDCLOUD_SECRET_KEY="not-the-secret-key-at-all")

    result = cli(app, "--wait", "1")

    assert result.exit_code == 1
    assert "refused" in result.output
    assert "Use OAuth2 authentication" in result.output
    assert "not-the-secret-key-at-all" not in result.output
    assert "Traceback" not in result.output


def test_basic_auth_on_an_oauth2_only_integration_names_the_setting(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    sendcloud.sandbox.panel_update(sendcloud.integration_id, notify=False, oauth2_only=True)
    app = product(auth="basic")

    result = cli(app, "--dry-run")

    assert result.exit_code == 1
    assert "HTTP 401" in result.output
    assert "SENDCLOUD_AUTH=oauth2" in result.output


def test_unknown_integration_exits_1_naming_the_id(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product(SENDCLOUD_INTEGRATION_ID="4242")

    result = cli(app, "--wait", "1")

    assert result.exit_code == 1
    assert "no integration 4242" in result.output
    assert "SENDCLOUD_INTEGRATION_ID" in result.output
    assert "Traceback" not in result.output


def test_a_400_exits_1_showing_sendcloud_text(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    message = "{'settings': ['service_point_carriers: Unknown carrier code.']}"
    envelope = {"error": {"code": 400, "request": "api/v2/integrations/1", "message": message}}
    sendcloud.faults(
        fail_next=1, fail_status=400, fail_body=json.dumps(envelope), fail_path="/api/"
    )

    result = cli(app, "--dry-run")

    assert result.exit_code == 1
    assert f"Sendcloud says {message!r}" in result.output
    assert "integration 1" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_integration_is_a_typed_error_naming_the_id(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    client = services(product()).bootstrapper.client

    with pytest.raises(IntegrationNotFound, match="no integration 99") as raised:
        client.get_integration(99)

    assert raised.value.status == 404
    assert "No Integration matches the given query." in str(raised.value)
