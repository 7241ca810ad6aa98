"""Only the onboarding token opens the onboarding routes; forms need a CSRF token."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from receivers.access import MAX_FAILURES_PER_WINDOW
from tests.conftest import random_secret

WRONG = "not-the-onboarding-token-0000"


@pytest.fixture
def token() -> str:
    return random_secret()


@pytest.fixture
def app(make_app: Callable[..., Flask], base_env: dict[str, str], token: str) -> Flask:
    return make_app({**base_env, "ONBOARDING_TOKEN": token})


def _page_get(client: FlaskClient, token: str | None) -> object:
    return client.get(
        "/onboarding", query_string={"token": token} if token else {}, follow_redirects=True
    )


def _page_post(path: str) -> Callable[[FlaskClient, str | None], object]:
    def send(client: FlaskClient, token: str | None) -> object:
        return client.post(path, data={"token": token} if token else {})

    return send


def _api(method: str) -> Callable[[FlaskClient, str | None], object]:
    def send(client: FlaskClient, token: str | None) -> object:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.open("/api/onboarding", method=method, headers=headers)

    return send


ROUTES = {
    "GET /onboarding": _page_get,
    "POST /onboarding": _page_post("/onboarding"),
    "POST /onboarding/undo": _page_post("/onboarding/undo"),
    "GET /api/onboarding": _api("GET"),
    "POST /api/onboarding": _api("POST"),
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("presented", [None, WRONG], ids=["missing", "wrong"])
def test_every_onboarding_route_answers_404_without_the_token(
    client: FlaskClient, route: str, presented: str | None
) -> None:
    response = ROUTES[route](client, presented)
    assert response.status_code == 404  # type: ignore[attr-defined]
    body = response.get_data(as_text=True).lower()  # type: ignore[attr-defined]
    for word in ("integration", "sendcloud", "shop", "webhook", "carrier"):
        assert word not in body


def test_the_token_only_counts_on_its_own_channel(client: FlaskClient, token: str) -> None:
    # The API wants a Bearer header; a token in its query string is not accepted.
    assert client.get("/api/onboarding", query_string={"token": token}).status_code == 404
    # The page wants the query string; a Bearer header alone is not accepted.
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/onboarding", headers=headers).status_code == 404


def test_repeated_failures_never_lock_out_the_right_token(client: FlaskClient, token: str) -> None:
    for _ in range(MAX_FAILURES_PER_WINDOW * 2):
        assert _page_get(client, WRONG).status_code == 404  # type: ignore[attr-defined]
    assert _page_get(client, token).status_code == 200  # type: ignore[attr-defined]
    assert _api("GET")(client, token).status_code == 200  # type: ignore[attr-defined]


def _csrf_from(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def _latest_state(client: FlaskClient, token: str) -> str:
    response = client.get("/api/onboarding", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    state: str = response.get_json()["state"]
    return state


@pytest.mark.parametrize("path", ["/onboarding", "/onboarding/undo"])
def test_form_posts_without_a_valid_csrf_token_are_refused(
    client: FlaskClient, token: str, path: str
) -> None:
    page = client.get("/onboarding", query_string={"token": token}, follow_redirects=True)
    assert page.status_code == 200
    good = _csrf_from(page.get_data(as_text=True))
    form = {"token": token, "service_point_enabled": "on", "service_point_carriers": "dhl"}

    missing = client.post(path, data=form)
    wrong = client.post(path, data={**form, "csrf_token": good[::-1]})
    # A token from this browser is useless in another browser (no shared session cookie).
    stranger = client.application.test_client().post(path, data={**form, "csrf_token": good})

    for response in (missing, wrong, stranger):
        assert response.status_code == 400
        assert "Reload the onboarding page" in response.get_data(as_text=True)
    assert _latest_state(client, token) == "planned"


def test_service_points_without_carrier_are_refused_on_the_page(
    client: FlaskClient, token: str
) -> None:
    page = client.get("/onboarding", query_string={"token": token}, follow_redirects=True)
    csrf = _csrf_from(page.get_data(as_text=True))
    response = client.post(
        "/onboarding",
        data={"token": token, "csrf_token": csrf, "service_point_enabled": "on"},
    )
    assert response.status_code == 400
    assert "at least one carrier" in response.get_data(as_text=True)
    assert _latest_state(client, token) == "planned"


def test_page_is_kept_out_of_caches_referrers_and_frames(client: FlaskClient, token: str) -> None:
    response = client.get("/onboarding", query_string={"token": token}, follow_redirects=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    # No external assets: nothing is loaded from another origin.
    assert not re.search(r'(src|href)="(https?:)?//', response.get_data(as_text=True))


def test_undo_with_nothing_recorded_says_so_in_plain_words(client: FlaskClient, token: str) -> None:
    page = client.get("/onboarding", query_string={"token": token}, follow_redirects=True)
    csrf = _csrf_from(page.get_data(as_text=True))
    response = client.post("/onboarding/undo", data={"token": token, "csrf_token": csrf})
    assert response.status_code == 409
    assert "nothing to undo" in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_the_token_is_exchanged_for_a_session_cookie_and_leaves_the_url(
    client: FlaskClient, token: str, scheme: str
) -> None:
    base = f"{scheme}://shop.example"
    first = client.get("/onboarding", query_string={"token": token, "notice": "x"}, base_url=base)
    assert first.status_code == 303
    assert first.headers["Location"] == "/onboarding?notice=x"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert token not in cookie
    assert ("Secure" in cookie) == (scheme == "https")
    hsts = first.headers.get("Strict-Transport-Security")
    assert (hsts == "max-age=31536000") == (scheme == "https")
    # The cookie alone opens the page from now on; another browser has none.
    assert client.get("/onboarding", base_url=base).status_code == 200
    assert client.application.test_client().get("/onboarding").status_code == 404
