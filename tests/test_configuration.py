"""Bad configuration stops the start with one message listing every problem."""

from __future__ import annotations

import pytest

from bootstrap.settings import load_bootstrap_settings
from receivers.errors import ConfigurationError
from tests.conftest import fresh_env, run_flask

SECRET = "sk_live_do_not_print_me_4f9a1c"

BAD_ENV = {
    "SENDCLOUD_SECRET_KEY": SECRET,  # public key missing
    "SENDCLOUD_AUTH": "kerberos",
    "SERVICE_POINT_ENABLED": "true",  # and no carriers
    "PUBLIC_URL": "http://shop.example.com",
    "DATABASE_URL": "mysql://root@localhost/shop",
    "SENDCLOUD_WEBHOOK_SECRET_PREVIOUS": SECRET + "-old",
    "WEBHOOK_MAX_BODY_BYTES": "lots",
}
EXPECTED_NAMES = [
    "SENDCLOUD_PUBLIC_KEY",
    "SENDCLOUD_INTEGRATION_ID",
    "SENDCLOUD_AUTH",
    "SERVICE_POINT_CARRIERS",
    "PUBLIC_URL",
    "DATABASE_URL",
    "WEBHOOK_MAX_BODY_BYTES",
]


def test_cli_start_with_several_problems_prints_one_message_naming_each() -> None:
    result = run_flask(fresh_env(**BAD_ENV), "db", "upgrade")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert output.count("The service cannot start") == 1
    for name in EXPECTED_NAMES:
        assert name in output, f"{name} not mentioned in:\n{output}"
    assert SECRET not in output


def test_problems_are_collected_not_first_only() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_bootstrap_settings({"SENDCLOUD_PUBLIC_KEY": "pk", "SENDCLOUD_SECRET_KEY": SECRET})
    problems = caught.value.problems
    assert len(problems) == 2
    assert any("SENDCLOUD_INTEGRATION_ID" in p for p in problems)
    assert any("SERVICE_POINT_CARRIERS" in p for p in problems)
    assert SECRET not in str(caught.value)


def test_no_keys_means_sandbox_with_default_carriers() -> None:
    settings = load_bootstrap_settings({})
    assert settings.sandbox is True
    assert settings.service_point_carriers == ("postnl", "dhl")


def test_real_keys_parse_and_repr_hides_secrets() -> None:
    settings = load_bootstrap_settings(
        {
            "SENDCLOUD_PUBLIC_KEY": "pk_visible_only_as_client_id",
            "SENDCLOUD_SECRET_KEY": SECRET,
            "SENDCLOUD_INTEGRATION_ID": "4242",
            "SERVICE_POINT_CARRIERS": " UPS, dhl ,ups",
            "PUBLIC_URL": "https://shop.example.com/",
            "ONBOARDING_TOKEN": "x" * 32,
        }
    )
    assert settings.sandbox is False
    assert settings.integration_id == 4242
    assert settings.service_point_carriers == ("ups", "dhl")
    assert settings.public_url == "https://shop.example.com"
    assert SECRET not in repr(settings)
    assert "x" * 32 not in repr(settings)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://shop.example.com", True),
        ("http://127.0.0.1:5000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://shop.example.com", False),
        ("ftp://shop.example.com", False),
        ("https://user:pw@shop.example.com", False),
        ("shop.example.com", False),
    ],
)
def test_public_url_must_be_https_or_loopback(url: str, ok: bool) -> None:
    env = {"PUBLIC_URL": url}
    if ok:
        assert load_bootstrap_settings(env).public_url == url
    else:
        with pytest.raises(ConfigurationError, match="PUBLIC_URL"):
            load_bootstrap_settings(env)


def test_heroku_postgres_scheme_is_accepted() -> None:
    from receivers.db import normalise_url, url_problem

    assert url_problem("postgres://u:p@db.example.com:5432/d") is None
    assert normalise_url("postgres://u:p@h/d") == "postgresql+psycopg://u:p@h/d"
    assert normalise_url("postgresql://u:p@h/d") == "postgresql+psycopg://u:p@h/d"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRUSTED_PROXY_HOPS", "-1"),
        ("TRUSTED_PROXY_HOPS", "two"),
        ("SENDCLOUD_RETRY_BUDGET", "601"),
        ("SENDCLOUD_RETRY_BUDGET", "nan"),
        ("SENDCLOUD_RETRY_BUDGET", "soon"),
    ],
)
def test_bad_numbers_are_named_with_the_value_given(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_bootstrap_settings({name: value})
    assert caught.value.problems == (
        next(p for p in caught.value.problems if p.startswith(f"{name} must be")),
    )
    assert repr(value) in caught.value.problems[0]


def test_numbers_in_range_are_read() -> None:
    settings = load_bootstrap_settings({"TRUSTED_PROXY_HOPS": "2", "SENDCLOUD_RETRY_BUDGET": "0.5"})
    assert settings.trusted_proxy_hops == 2
    assert settings.retry_budget_seconds == 0.5
