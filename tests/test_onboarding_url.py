"""How the operator gets the onboarding URL: the command, and the start-up log."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask

from tests.conftest import random_secret
from tests.sandbox_fixture import SendcloudSandbox


@pytest.fixture(autouse=True)
def _no_dev_server_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # The guessed dev-server address honours these; a developer's shell must not leak in.
    monkeypatch.delenv("FLASK_RUN_HOST", raising=False)
    monkeypatch.delenv("FLASK_RUN_PORT", raising=False)


def _real_env(sendcloud: SendcloudSandbox, base_env: dict[str, str]) -> dict[str, str]:
    return {**base_env, **sendcloud.env(), "SERVICE_POINT_CARRIERS": "dhl"}


def test_command_prints_the_url_under_public_url(
    make_app: Callable[..., Flask], base_env: dict[str, str]
) -> None:
    token = random_secret()
    env = {**base_env, "ONBOARDING_TOKEN": token, "PUBLIC_URL": "https://shop.example.com"}
    result = make_app(env).test_cli_runner().invoke(args=["onboarding-url"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"https://shop.example.com/onboarding?token={token}"


def test_command_in_sandbox_mode_uses_the_dev_server_address(
    make_app: Callable[..., Flask], base_env: dict[str, str]
) -> None:
    token = random_secret()
    result = (
        make_app({**base_env, "ONBOARDING_TOKEN": token})
        .test_cli_runner()
        .invoke(args=["onboarding-url"])
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"http://127.0.0.1:5000/onboarding?token={token}"
    assert "flask --app app run" in result.stderr


def test_command_without_public_url_says_how_to_set_it(
    make_app: Callable[..., Flask], base_env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    token = random_secret()
    app = make_app({**_real_env(sendcloud, base_env), "ONBOARDING_TOKEN": token})
    result = app.test_cli_runner().invoke(args=["onboarding-url"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"/onboarding?token={token}"
    assert "PUBLIC_URL" in result.stderr
    explicit = app.test_cli_runner().invoke(
        args=["onboarding-url", "--base-url", "https://my-shop.herokuapp.com/"]
    )
    assert explicit.stdout.strip() == f"https://my-shop.herokuapp.com/onboarding?token={token}"


def test_sandbox_start_logs_a_clickable_onboarding_url(
    make_app: Callable[..., Flask], base_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    token = random_secret()
    with caplog.at_level(logging.INFO, logger="bootstrap.onboarding"):
        make_app({**base_env, "ONBOARDING_TOKEN": token})
    assert f"url=http://127.0.0.1:5000/onboarding?token={token}" in caplog.text


def test_configured_token_stays_out_of_the_production_log(
    make_app: Callable[..., Flask],
    base_env: dict[str, str],
    sendcloud: SendcloudSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = random_secret()
    env = {**_real_env(sendcloud, base_env), "ONBOARDING_TOKEN": token}
    with caplog.at_level(logging.DEBUG):
        make_app({**env, "PUBLIC_URL": "https://shop.example.com"})
    assert token not in caplog.text
    assert "flask --app app onboarding-url" in caplog.text


def test_a_just_generated_token_is_logged_once_then_only_the_hint(
    make_app: Callable[..., Flask],
    base_env: dict[str, str],
    sendcloud: SendcloudSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {**_real_env(sendcloud, base_env), "PUBLIC_URL": "https://shop.example.com"}
    with caplog.at_level(logging.INFO, logger="bootstrap.onboarding"):
        first = make_app(env)
    url = first.test_cli_runner().invoke(args=["onboarding-url"]).stdout.strip()
    assert url.startswith("https://shop.example.com/onboarding?token=")
    assert f"url={url}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bootstrap.onboarding"):
        make_app(env)  # a second worker or a restart: the stored token is reused, not logged
    assert url.split("token=")[1] not in caplog.text
    assert "flask --app app onboarding-url" in caplog.text
