"""The webhook URL comes from PUBLIC_URL, else from the request; proxies only when trusted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.conftest import random_secret

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com"}


@pytest.fixture
def token() -> str:
    return random_secret()


def _planned_webhook_url(app: Flask, token: str, headers: dict[str, str]) -> str:
    client = app.test_client()
    api = client.get("/api/onboarding", headers={**headers, "Authorization": f"Bearer {token}"})
    assert api.status_code == 200, api.get_data(as_text=True)
    body = api.get_json()
    assert body["state"] == "planned"
    page = client.get(
        "/onboarding", query_string={"token": token}, headers=headers, follow_redirects=True
    )
    assert page.status_code == 200
    # The page shows the same URL the API plans, for the operator to confirm.
    assert f'<code id="webhook-url">{body["webhook_url"]}</code>' in page.get_data(as_text=True)
    url: str = body["webhook_url"]
    return url


def test_forwarded_scheme_and_host_from_a_trusted_proxy_make_the_webhook_url(
    make_app: Callable[..., Flask], base_env: dict[str, str], token: str
) -> None:
    app = make_app({**base_env, "ONBOARDING_TOKEN": token, "TRUSTED_PROXY_HOPS": "1"})
    assert (
        _planned_webhook_url(app, token, FORWARDED) == "https://shop.example.com/webhooks/sendcloud"
    )


def test_a_client_cannot_prepend_its_own_host_to_a_trusted_proxy_header(
    make_app: Callable[..., Flask], base_env: dict[str, str], token: str
) -> None:
    app = make_app({**base_env, "ONBOARDING_TOKEN": token, "TRUSTED_PROXY_HOPS": "1"})
    # The proxy appends what it saw; only the last (proxy-written) value is believed.
    headers = {
        "X-Forwarded-Proto": "http, https",
        "X-Forwarded-Host": "attacker.example, shop.example.com",
    }
    assert (
        _planned_webhook_url(app, token, headers) == "https://shop.example.com/webhooks/sendcloud"
    )


def test_forwarded_headers_are_ignored_without_trusted_hops(
    make_app: Callable[..., Flask], base_env: dict[str, str], token: str
) -> None:
    app = make_app({**base_env, "ONBOARDING_TOKEN": token})
    assert _planned_webhook_url(app, token, FORWARDED) == "http://localhost/webhooks/sendcloud"


def test_public_url_wins_over_forwarded_headers(
    make_app: Callable[..., Flask], base_env: dict[str, str], token: str
) -> None:
    env = {
        **base_env,
        "ONBOARDING_TOKEN": token,
        "TRUSTED_PROXY_HOPS": "1",
        "PUBLIC_URL": "https://hooks.example.org",
    }
    app = make_app(env)
    assert (
        _planned_webhook_url(app, token, FORWARDED)
        == "https://hooks.example.org/webhooks/sendcloud"
    )
