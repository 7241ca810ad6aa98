"""Sendcloud keys stored by the service (`/api/credentials`): checked live, encrypted at rest,
used by every surface, rotated with a grace period, removed; the environment wins."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from bootstrap import MIGRATIONS
from bootstrap.keys.connect import connect, parse_keys
from bootstrap.keys.store import KeyStore, StoredKeys, effective_env
from bootstrap.keys.tables import stored_credentials
from bootstrap.onboarding.addresses import checked_public_url
from bootstrap.services import live_configuration, services
from receivers import MIGRATIONS as RECEIVER_MIGRATIONS
from receivers.db import Database
from tests.conftest import fresh_env, random_secret, run_flask
from tests.receiver_kit import encode, parcel_event, post_signed
from tests.sandbox_fixture import SendcloudSandbox

TOKEN = "operator-token-" + "x" * 20


def urls(sendcloud: SendcloudSandbox) -> dict[str, str]:
    """Where the stand-in Sendcloud is; no keys in the environment."""
    env = sendcloud.env()
    return {k: v for k, v in env.items() if k.endswith("_URL")}


@pytest.fixture
def env(tmp_path: Path, sendcloud: SendcloudSandbox) -> dict[str, str]:
    """A service with no SENDCLOUD_* keys, its own database, a fixed SECRET_KEY and token."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
        "SECRET_KEY": random_secret(),
        "ONBOARDING_TOKEN": TOKEN,
        "PUBLIC_URL": "http://127.0.0.1:9",
        **urls(sendcloud),
    }


def put(app: Flask, **body: object) -> tuple[int, dict[str, object]]:
    """PUT /api/credentials with the operator token."""
    answer = app.test_client().put(
        "/api/credentials", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    return answer.status_code, answer.get_json()


def store_keys(app: Flask, sendcloud: SendcloudSandbox) -> dict[str, object]:
    """PUT the stand-in's keys for integration 1; they must be accepted."""
    status, body = put(
        app, public_key=sendcloud.public_key, secret_key=sendcloud.secret_key, integration_id=1
    )
    assert status == 200, body
    return body


def get(app: Flask) -> dict[str, object]:
    """GET /api/credentials with the operator token."""
    answer = app.test_client().get("/api/credentials", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    found: dict[str, object] = answer.get_json()
    return found


def stored_rows(env: dict[str, str]) -> list[dict[str, object]]:
    """The table's rows as the database holds them."""
    db = Database(env["DATABASE_URL"])
    try:
        with db.begin_read() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(stored_credentials))]
    finally:
        db.dispose()


def test_wrong_keys_are_refused_in_plain_words_and_nothing_is_stored(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app(env)
    status, body = put(
        app, public_key=sendcloud.public_key, secret_key="wrong-secret", integration_id=1
    )
    assert status == 400
    assert "Sendcloud did not accept these keys" in str(body["error"])
    assert "wrong-secret" not in str(body)
    assert stored_rows(env) == []
    assert get(app)["source"] == "none"
    assert services(app).settings.sandbox


def test_right_keys_are_stored_encrypted_and_used_at_once_and_after_a_restart(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app(env)
    body = store_keys(app, sendcloud)
    assert body["source"] == "stored"
    assert body["secret_key_last4"] == "…" + sendcloud.secret_key[-4:]
    assert sendcloud.secret_key not in str(body)
    assert sendcloud.public_key not in str(body)
    (row,) = stored_rows(env)
    assert sendcloud.secret_key not in str(row)
    assert sendcloud.public_key not in str(row)
    assert not services(app).settings.sandbox
    assert services(app).bootstrapper.plan(services(app).desired().settings).shop_name

    restarted = make_app(env)
    assert get(restarted)["integration_id"] == 1
    found = services(restarted)
    assert not found.settings.sandbox
    assert found.settings.api_url == sendcloud.api_url
    body_bytes = encode(parcel_event(5, 1_700_000_000_000, 11))
    assert post_signed(restarted.test_client(), body_bytes, sendcloud.secret_key).status_code == 200


def test_bootstrap_check_from_the_scheduler_uses_the_stored_keys(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app(env)
    store_keys(app, sendcloud)
    result = run_flask(fresh_env(**env), "bootstrap", "--check")
    output = result.stdout + result.stderr
    assert result.returncode == 4, output  # drift: nothing applied yet, but it read Sendcloud
    assert sendcloud.requests("/api/v2/integrations/1", "GET")
    assert sendcloud.secret_key not in output


def test_replaced_secret_stays_accepted_for_the_grace_period_only(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    new_public, new_secret = "sandbox-public-new", random_secret()
    sendcloud.sandbox.install(new_public, new_secret, 1)  # a second key pair, same integration
    app = make_app(env)
    store_keys(app, sendcloud)
    assert put(app, public_key=new_public, secret_key=new_secret, integration_id=1)[0] == 200
    client = app.test_client()
    assert post_signed(client, encode(parcel_event(1, 1, 11)), new_secret).status_code == 200
    assert (
        post_signed(client, encode(parcel_event(2, 1, 11)), sendcloud.secret_key).status_code == 200
    )

    db = Database(env["DATABASE_URL"])
    with db.begin_write() as conn:
        conn.execute(
            stored_credentials.update().values(
                previous_until=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    db.dispose()
    later = make_app(env)
    answer = post_signed(later.test_client(), encode(parcel_event(3, 1, 11)), sendcloud.secret_key)
    assert answer.status_code == 401


def test_removed_keys_are_forgotten(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app(env)
    store_keys(app, sendcloud)
    answer = app.test_client().delete(
        "/api/credentials", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 200
    assert answer.get_json()["source"] == "none"
    assert stored_rows(env) == []


def test_environment_keys_win_and_storing_is_refused(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app({**env, **sendcloud.env(), "SERVICE_POINT_ENABLED": "false"})
    status, body = put(app, public_key="pk", secret_key="sk", integration_id=1)
    assert status == 409
    assert "environment" in str(body["error"])
    shown = get(app)
    assert shown["source"] == "environment"
    assert sendcloud.secret_key not in str(shown)


def test_unknown_integration_and_bad_input_are_refused(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app(env)
    keys = {"public_key": sendcloud.public_key, "secret_key": sendcloud.secret_key}
    status, body = put(app, **keys, integration_id=99)
    assert status == 400
    assert "cannot see integration 99" in str(body["error"])
    assert "Sandbox Shop" in str(body["error"])  # the ones it can see, by shop name
    status, body = put(app, auth="kerberos")
    assert status == 400
    assert "public key" in str(body["error"])
    assert "auth" in str(body["error"])
    assert stored_rows(env) == []


def test_a_different_secret_key_cannot_read_the_stored_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    db.upgrade([RECEIVER_MIGRATIONS, MIGRATIONS])
    KeyStore(db, "one secret").save(StoredKeys("pk-1234", "sk-5678", "oauth2", 7, None), None)
    assert KeyStore(db, "one secret").load() == StoredKeys("pk-1234", "sk-5678", "oauth2", 7, None)
    assert KeyStore(db, "another secret").load() is None
    db.dispose()


def test_environment_keys_win_over_stored_ones() -> None:
    stored = StoredKeys("pk", "sk", "basic", 7, "https://shop.example")
    assert effective_env({"SENDCLOUD_PUBLIC_KEY": "env"}, stored) == {"SENDCLOUD_PUBLIC_KEY": "env"}
    filled = effective_env({}, stored)
    assert filled["SENDCLOUD_INTEGRATION_ID"] == "7"
    assert filled["PUBLIC_URL"] == "https://shop.example"
    assert effective_env({}, StoredKeys("pk", "sk", "basic", None, None)) == {}


@pytest.mark.parametrize(
    "url", ["http://shop.example.com", "https://127.0.0.1", "https://localhost", "https://10.0.0.1"]
)
def test_confirmed_public_url_must_be_https_and_public(url: str) -> None:
    with pytest.raises(ValueError, match=r"https|public|resolve"):
        checked_public_url(url)


def test_page_says_environment_keys_win_and_offers_no_form(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app({**env, **sendcloud.env(), "SERVICE_POINT_ENABLED": "false"})
    html = (
        app.test_client()
        .get(f"/onboarding?token={TOKEN}", follow_redirects=True)
        .get_data(as_text=True)
    )
    assert "Environment variables win over keys entered here" in html
    assert 'id="keys-form"' not in html
    assert sendcloud.secret_key not in html
    assert sendcloud.public_key not in html


def test_page_removes_stored_keys(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app(env)
    store_keys(app, sendcloud)
    client = app.test_client()
    html = client.get(f"/onboarding?token={TOKEN}", follow_redirects=True).get_data(as_text=True)
    assert 'id="keys-stored"' in html
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf is not None
    answer = client.post(
        "/onboarding/keys/remove", data={"token": TOKEN, "csrf_token": csrf.group(1)}
    )
    assert answer.status_code == 303
    assert stored_rows(env) == []
    html = client.get(f"/onboarding?token={TOKEN}", follow_redirects=True).get_data(as_text=True)
    assert "Connect Sendcloud" in html
    assert "badge sandbox" in html  # back to the built-in sandbox


def test_leaving_the_sandbox_drops_its_attempts_so_none_counts_for_the_real_integration(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app(env)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    client = app.test_client()
    tried = client.post("/api/onboarding", json={"wait_seconds": 5}, headers=bearer)
    assert tried.status_code in (200, 202)
    assert client.get("/api/onboarding", headers=bearer).get_json()["attempt_id"]
    store_keys(app, sendcloud)
    state = client.get("/api/onboarding", headers=bearer).get_json()
    assert state["attempt_id"] is None
    assert state["state"] == "planned"
    assert sendcloud.requests("/api/v2/integrations/1", "GET")  # planned against the real one


def test_an_address_confirmed_without_public_url_must_pass_the_hardening_rule(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app({k: v for k, v in env.items() if k != "PUBLIC_URL"})
    keys = {"public_key": sendcloud.public_key, "secret_key": sendcloud.secret_key}
    status, body = put(app, **keys, integration_id=1, public_url="https://127.0.0.1:8443")
    assert status == 400
    assert "public address" in str(body["error"])
    assert stored_rows(env) == []


def test_replacing_keys_that_see_the_same_integration_keeps_it_connected(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    new_public, new_secret = "sandbox-public-next", random_secret()
    sendcloud.sandbox.install(new_public, new_secret, 1)
    app = make_app(env)
    store_keys(app, sendcloud)
    live = live_configuration(app)
    connect(live, parse_keys({"public_key": new_public, "secret_key": new_secret}, {}, False))
    assert get(app)["integration_id"] == 1
    assert get(app)["secret_key_last4"] == "…" + new_secret[-4:]
    assert not services(app).settings.sandbox
