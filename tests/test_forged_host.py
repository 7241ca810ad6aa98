"""Real-keys mode: a webhook URL taken from a request must be a public https host name, so a
forged Host or X-Forwarded-Host cannot point Sendcloud (or our signed pre-flight) elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from bootstrap.onboarding.addresses import checked_public_url
from tests.conftest import random_secret
from tests.sandbox_fixture import SendcloudSandbox

FORGED = [
    ({"Host": "127.0.0.1:9"}, "0"),  # the port-scanner request of the attack run
    ({"Host": "localhost:8443"}, "0"),  # a name, but it resolves to loopback
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "10.0.0.5:8443"}, "1"),
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "[fe80::1]"}, "1"),
    ({"X-Forwarded-Proto": "http", "X-Forwarded-Host": "shop.example.com"}, "1"),
]


@pytest.mark.parametrize(("headers", "hops"), FORGED)
def test_a_forged_host_cannot_change_the_registered_webhook_url(
    make_app: Callable[..., Flask],
    sendcloud: SendcloudSandbox,
    tmp_path: Path,
    headers: dict[str, str],
    hops: str,
) -> None:
    token = random_secret()
    env = {
        **sendcloud.env(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'forged.sqlite3'}",
        "SERVICE_POINT_ENABLED": "false",
        "ONBOARDING_TOKEN": token,
        "TRUSTED_PROXY_HOPS": hops,
    }
    client = make_app(env).test_client()
    before = sendcloud.integration()
    response = client.post(
        "/api/onboarding", json={}, headers={**headers, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert "PUBLIC_URL" in response.get_json()["error"]
    assert sendcloud.integration() == before
    assert sendcloud.requests(method="PUT") == []
    # The page still opens and says why, in plain words.
    page = client.get(
        "/onboarding", query_string={"token": token}, headers=headers, follow_redirects=True
    )
    assert page.status_code == 200
    assert "set PUBLIC_URL" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://shop.example.com", "not an https:// address"),
        ("https://127.0.0.1", "IP address"),
        ("https://[::1]:443", "IP address"),
        ("https://localhost", "not a public address"),
        ("https://no-such-host.invalid", "does not resolve"),
    ],
)
def test_checked_public_url_says_why_in_plain_words(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        checked_public_url(url)
