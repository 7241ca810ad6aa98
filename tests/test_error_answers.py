"""Errors no view handled get plain words: no traceback, no secret, JSON for machines."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from receivers.errors import StorageUnavailable

SECRET = "sk_live_this-must-never-be-shown"


def _crash() -> str:
    raise RuntimeError(f"bug while handling token={SECRET}")


def _database_down() -> str:
    raise StorageUnavailable("the database is unavailable (OperationalError)")


@pytest.fixture
def crashing(app: Flask) -> FlaskClient:
    """`app` with routes that fail the way a bug or a database outage would."""
    for path, view in (
        ("/api/crash", _crash),
        ("/crash", _crash),
        ("/api/database-down", _database_down),
        ("/database-down", _database_down),
    ):
        app.add_url_rule(path, endpoint=path, view_func=view)
    return app.test_client()


def test_wrong_method_on_the_webhook_route_is_a_small_json_405(client: FlaskClient) -> None:
    response = client.get("/webhooks/sendcloud")

    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert "POST" in response.headers["Allow"]
    assert response.get_json() == {
        "error": f"method GET is not allowed here (allowed: {response.headers['Allow']})"
    }


def test_unknown_api_route_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/api/no-such-thing")

    assert response.status_code == 404
    assert response.get_json() == {"error": "404 Not Found"}


def test_unknown_page_keeps_the_html_404(client: FlaskClient) -> None:
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("path", ["/api/crash", "/crash"])
def test_a_bug_in_a_view_is_a_plain_500_without_traceback_or_secret(
    crashing: FlaskClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.INFO):
        response = crashing.get(path)

    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "internal error" in text
    assert "Traceback" not in text
    assert SECRET not in text
    assert "RuntimeError" not in text
    [logged] = [r for r in caplog.records if r.getMessage().startswith("unhandled_error")]
    assert "error=RuntimeError" in logged.getMessage()
    assert "test_error_answers.py" in logged.getMessage()
    assert logged.exc_info is None
    assert SECRET not in caplog.text


def test_a_bug_on_a_machine_route_answers_json(crashing: FlaskClient) -> None:
    assert crashing.get("/api/crash").mimetype == "application/json"
    assert crashing.get("/crash").mimetype == "text/plain"


@pytest.mark.parametrize("path", ["/api/database-down", "/database-down"])
def test_storage_unavailable_anywhere_is_a_503_to_retry(crashing: FlaskClient, path: str) -> None:
    response = crashing.get(path)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "the database is unavailable" in response.get_data(as_text=True)
