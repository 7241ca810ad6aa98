"""The sandbox's OAuth2 token endpoint answers like Sendcloud's (Ory Hydra), over HTTP."""

from __future__ import annotations

import json
import time

import requests

from tests.sandbox_calls import T, basic_auth, corpus, token_response, v2_error
from tests.sandbox_fixture import SendcloudSandbox


def test_token_by_http_basic_is_a_hydra_style_access_token(sendcloud: SendcloudSandbox) -> None:
    response = token_response(sendcloud)
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"].startswith("ory_at_")
    assert body["expires_in"] == 3600
    assert body["scope"] == "api"
    assert body["token_type"] == "bearer"
    assert response.headers["Cache-Control"] == "no-store"


def test_token_url_with_a_trailing_slash_is_served_too(sendcloud: SendcloudSandbox) -> None:
    # Sendcloud's OpenAPI securitySchemes spell the token URL as /oauth2/token/.
    response = requests.post(
        sendcloud.token_url + "/",
        auth=basic_auth(sendcloud),
        data={"grant_type": "client_credentials", "scope": "api"},
        timeout=T,
        allow_redirects=False,
    )
    assert response.status_code == 200
    assert response.json()["access_token"].startswith("ory_at_")
    assert [r.path for r in sendcloud.requests()] == ["/oauth2/token/"]


def test_token_by_form_fields_is_accepted_and_logged_without_the_secret(
    sendcloud: SendcloudSandbox,
) -> None:
    response = requests.post(
        sendcloud.token_url,
        data={
            "grant_type": "client_credentials",
            "scope": "api",
            "client_id": sendcloud.public_key,
            "client_secret": sendcloud.secret_key,
        },
        timeout=T,
    )
    assert response.status_code == 200
    [logged] = sendcloud.requests("/oauth2/token")
    assert logged.auth == "form"
    assert logged.client_id == sendcloud.public_key
    assert logged.form == {
        "grant_type": "client_credentials",
        "scope": "api",
        "client_id": sendcloud.public_key,
    }
    assert sendcloud.secret_key not in json.dumps(logged.to_json())


def test_token_with_a_wrong_secret_is_refused_as_invalid_client(
    sendcloud: SendcloudSandbox,
) -> None:
    response = requests.post(
        sendcloud.token_url,
        auth=(sendcloud.public_key, "not-the-secret"),
        data={"grant_type": "client_credentials", "scope": "api"},
        timeout=T,
    )
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["status_code"] == 401
    assert body["error_description"]
    assert "error_hint" not in body  # fosite gives invalid_client no hint


def test_token_without_client_authentication_is_refused(sendcloud: SendcloudSandbox) -> None:
    response = requests.post(
        sendcloud.token_url, data={"grant_type": "client_credentials"}, timeout=T
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_token_errors_are_hydras_legacy_format_with_a_hint(
    sendcloud: SendcloudSandbox,
) -> None:
    schema = corpus(
        "api/oauth2_token_error.schema__sendcloud-stoplight-bundle-toppynl-1a78add.json"
    )
    wrong_scope = token_response(sendcloud, scope="api admin")
    assert wrong_scope.status_code == 400
    assert wrong_scope.json() == {
        "error": "invalid_scope",
        "error_description": "The requested scope is invalid, unknown, or malformed.",
        "error_hint": "The OAuth 2.0 Client is not allowed to request scope 'admin'.",
        "status_code": 400,
    }
    assert set(wrong_scope.json()) <= set(schema["properties"])
    no_grant = requests.post(
        sendcloud.token_url, auth=basic_auth(sendcloud), data={"scope": "api"}, timeout=T
    )
    assert no_grant.status_code == 400
    assert no_grant.json()["error"] == "invalid_request"
    assert no_grant.json()["error_hint"] == "Request parameter 'grant_type' is missing"
    # The hint is not repeated in the description (fosite's legacy format keeps them apart).
    assert "grant_type" not in no_grant.json()["error_description"]
    empty = requests.post(sendcloud.token_url, auth=basic_auth(sendcloud), timeout=T)
    assert empty.json()["error_hint"] == "The POST body can not be empty."


def test_checks_run_in_hydras_order_and_an_unserved_grant_is_a_plain_invalid_request(
    sendcloud: SendcloudSandbox,
) -> None:
    # fosite looks at grant_type before it authenticates the client.
    anonymous = requests.post(sendcloud.token_url, data={"scope": "api"}, timeout=T)
    assert (anonymous.status_code, anonymous.json()["error"]) == (400, "invalid_request")
    wrong_grant = token_response(sendcloud, grant_type="password")
    assert wrong_grant.status_code == 400
    assert wrong_grant.json() == {
        "error": "invalid_request",
        "error_description": (
            "The request is missing a required parameter, includes an invalid parameter value, "
            "includes a parameter more than once, or is otherwise malformed."
        ),
        "status_code": 400,
    }


def test_expired_token_is_refused_with_the_v2_401(sendcloud: SendcloudSandbox) -> None:
    sendcloud.configure(token_lifetime=1)
    token = token_response(sendcloud).json()
    assert token["expires_in"] == 1
    headers = {"Authorization": "Bearer " + token["access_token"]}
    url = f"{sendcloud.api_url}/integrations/1"
    assert requests.get(url, headers=headers, timeout=T).status_code == 200
    time.sleep(1.1)
    expired = requests.get(url, headers=headers, timeout=T)
    assert expired.status_code == 401
    assert v2_error(expired)["message"] == "Invalid username/password."


def test_token_without_the_api_scope_cannot_use_the_api(sendcloud: SendcloudSandbox) -> None:
    response = requests.post(
        sendcloud.token_url,
        auth=basic_auth(sendcloud),
        data={"grant_type": "client_credentials"},
        timeout=T,
    )
    headers = {"Authorization": "Bearer " + response.json()["access_token"]}
    forbidden = requests.get(f"{sendcloud.api_url}/integrations/1", headers=headers, timeout=T)
    assert forbidden.status_code == 403
