"""The sandbox's API v2 integrations answer like Sendcloud's, over HTTP."""

from __future__ import annotations

import json
import re
from datetime import datetime

import requests

from tests.sandbox_calls import T, basic_auth, bearer_headers, corpus, v2_error
from tests.sandbox_fixture import SendcloudSandbox


def test_list_is_a_bare_array_of_integrations(sendcloud: SendcloudSandbox) -> None:
    response = requests.get(
        f"{sendcloud.api_url}/integrations", headers=bearer_headers(sendcloud), timeout=T
    )
    assert response.status_code == 200
    [only] = response.json()
    assert only["id"] == 1
    assert only["shop_name"] == "Sandbox Shop"


def test_get_shows_the_seeded_integration_with_v2_fields_in_order(
    sendcloud: SendcloudSandbox,
) -> None:
    response = requests.get(
        f"{sendcloud.api_url}/integrations/1", auth=basic_auth(sendcloud), timeout=T
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == list(corpus("api/v2_get_integration__sendcloud-dev-docs-example.json"))
    assert body["system"] == "api"
    assert body["service_point_enabled"] is False
    assert body["service_point_carriers"] == []
    assert body["webhook_active"] is False
    # Unset URLs read "" and dates carry microseconds and an offset, as in live answers.
    live = corpus("api/v2_get_integrations__oca-delivery-carrier-vcr-2022.json")
    unset = next(item for item in live if item["webhook_url"] == item["shop_url"] == "")
    assert body["shop_url"] == body["webhook_url"] == unset["webhook_url"]
    assert datetime.fromisoformat(body["last_updated_at"]).utcoffset() is not None
    assert re.fullmatch(r".*T\d\d:\d\d:\d\d\.\d{6}\+\d\d:\d\d", body["last_updated_at"])


def test_unknown_integration_is_404_with_sendclouds_text(sendcloud: SendcloudSandbox) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = requests.request(
            method,
            f"{sendcloud.api_url}/integrations/99",
            auth=basic_auth(sendcloud),
            json={},
            timeout=T,
        )
        assert response.status_code == 404, method
        error = v2_error(response)
        assert error["message"] == "No Integration matches the given query."
        assert error["request"] == "api/v2/integrations/99"


def test_bad_or_missing_credentials_get_the_v2_401(sendcloud: SendcloudSandbox) -> None:
    url = f"{sendcloud.api_url}/integrations/1"
    for kwargs in (
        {"auth": (sendcloud.public_key, "wrong")},
        {"auth": ("nobody", sendcloud.secret_key)},
        {"headers": {"Authorization": "Bearer ory_at_made-up"}},
    ):
        response = requests.get(url, timeout=T, **kwargs)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert v2_error(response) == {
            "code": 401,
            "request": "api/v2/integrations/1",
            "message": "Invalid username/password.",
        }
    missing = requests.get(url, timeout=T)
    assert missing.status_code == 401
    assert v2_error(missing)["message"] == "Authentication credentials were not provided."


def test_patch_changes_only_the_sent_fields_and_answers_an_integration_update(
    sendcloud: SendcloudSandbox,
) -> None:
    before = sendcloud.integration()
    assert before is not None
    response = requests.patch(
        f"{sendcloud.api_url}/integrations/1",
        headers=bearer_headers(sendcloud),
        json={"service_point_enabled": True, "service_point_carriers": ["postnl", "dhl"]},
        timeout=T,
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "shop_name",
        "shop_url",
        "last_updated_at",
        "service_point_enabled",
        "service_point_carriers",
        "webhook_active",
        "webhook_url",
    ]
    assert body["service_point_carriers"] == ["postnl", "dhl"]
    after = sendcloud.integration()
    assert after is not None
    assert after["service_point_enabled"] is True
    assert after["webhook_url"] == ""
    assert after["shop_name"] == before["shop_name"]


def test_patch_ignores_read_only_fields(sendcloud: SendcloudSandbox) -> None:
    response = requests.patch(
        f"{sendcloud.api_url}/integrations/1",
        auth=basic_auth(sendcloud),
        json={
            "id": 77,
            "system": "magento",
            "shop_name": "Renamed",
            "last_fetch": "2019-08-24T14:15:22Z",
            "shop_url": "https://shop.example",
        },
        timeout=T,
    )
    assert response.status_code == 200
    after = sendcloud.integration()
    assert after is not None
    assert (after["id"], after["system"], after["shop_name"], after["last_fetch"]) == (
        1,
        "api",
        "Sandbox Shop",
        None,
    )
    assert after["shop_url"] == "https://shop.example"


def test_null_webhook_fields_get_the_documented_400(sendcloud: SendcloudSandbox) -> None:
    response = requests.patch(
        f"{sendcloud.api_url}/integrations/1",
        auth=basic_auth(sendcloud),
        json={"webhook_active": None, "webhook_url": None},
        timeout=T,
    )
    assert response.status_code == 400
    assert v2_error(response)["message"] == (
        "{'settings': ['webhook_active: This field may not be null.', "
        "'webhook_url: This field may not be null.']}"
    )


def test_service_points_without_a_carrier_are_refused_and_nothing_changes(
    sendcloud: SendcloudSandbox,
) -> None:
    before = sendcloud.integration()
    response = requests.patch(
        f"{sendcloud.api_url}/integrations/1",
        auth=basic_auth(sendcloud),
        json={"service_point_enabled": True, "service_point_carriers": []},
        timeout=T,
    )
    assert response.status_code == 400
    message = v2_error(response)["message"]
    assert message.startswith("{'settings': ['service_point_carriers: ")
    assert sendcloud.integration() == before


def test_non_json_body_is_a_400_in_the_v2_envelope(sendcloud: SendcloudSandbox) -> None:
    response = requests.patch(
        f"{sendcloud.api_url}/integrations/1",
        auth=basic_auth(sendcloud),
        data="webhook_active=true",
        headers={"Content-Type": "application/json"},
        timeout=T,
    )
    assert response.status_code == 400
    assert v2_error(response)["message"].startswith("JSON parse error")
    not_an_object = requests.patch(
        f"{sendcloud.api_url}/integrations/1", auth=basic_auth(sendcloud), json=[1], timeout=T
    )
    assert not_an_object.status_code == 400
    assert "Expected a dictionary" in v2_error(not_an_object)["message"]


def test_put_needs_every_writable_field(sendcloud: SendcloudSandbox) -> None:
    url = f"{sendcloud.api_url}/integrations/1"
    partial = requests.put(
        url, auth=basic_auth(sendcloud), json={"service_point_enabled": False}, timeout=T
    )
    assert partial.status_code == 400
    message = v2_error(partial)["message"]
    for name in ("shop_url", "service_point_carriers", "webhook_active", "webhook_url"):
        assert f"{name}: This field is required." in message
    full = {
        "shop_url": "https://shop.example",
        "service_point_enabled": True,
        "service_point_carriers": ["ups"],
        "webhook_active": True,
        "webhook_url": "https://shop.example/hooks",
    }
    response = requests.put(url, auth=basic_auth(sendcloud), json=full, timeout=T)
    assert response.status_code == 200
    assert {k: response.json()[k] for k in full} == full


def test_delete_answers_204_and_the_integration_is_gone(sendcloud: SendcloudSandbox) -> None:
    url = f"{sendcloud.api_url}/integrations/1"
    response = requests.delete(url, auth=basic_auth(sendcloud), timeout=T)
    assert response.status_code == 204
    assert response.content == b""
    assert requests.get(url, auth=basic_auth(sendcloud), timeout=T).status_code == 404
    assert sendcloud.integration() is None


def test_oauth2_only_integration_refuses_basic_but_takes_bearer(
    sendcloud: SendcloudSandbox,
) -> None:
    sendcloud.set_integration(oauth2_only=True)
    url = f"{sendcloud.api_url}/integrations/1"
    basic = requests.get(url, auth=basic_auth(sendcloud), timeout=T)
    assert basic.status_code == 401
    assert v2_error(basic)["message"] == "Invalid username/password."
    assert requests.get(url, headers=bearer_headers(sendcloud), timeout=T).status_code == 200


def test_unsupported_method_is_405(sendcloud: SendcloudSandbox) -> None:
    response = requests.post(
        f"{sendcloud.api_url}/integrations", auth=basic_auth(sendcloud), json={}, timeout=T
    )
    assert response.status_code == 405
    assert v2_error(response)["message"] == 'Method "POST" not allowed.'


def test_trailing_slash_spelling_works_too(sendcloud: SendcloudSandbox) -> None:
    for path in ("/integrations/", "/integrations/1/"):
        response = requests.get(sendcloud.api_url + path, auth=basic_auth(sendcloud), timeout=T)
        assert response.status_code == 200, path


def test_request_log_records_what_was_asked_but_no_secret(sendcloud: SendcloudSandbox) -> None:
    headers = bearer_headers(sendcloud)
    token = headers["Authorization"].split()[1]
    requests.patch(
        f"{sendcloud.api_url}/integrations/1",
        headers=headers,
        json={"shop_url": "https://shop.example"},
        timeout=T,
    )
    requests.get(f"{sendcloud.api_url}/integrations/1", auth=basic_auth(sendcloud), timeout=T)
    token_call, patch, get = sendcloud.requests()
    assert (token_call.method, token_call.path, token_call.auth) == (
        "POST",
        "/oauth2/token",
        "basic",
    )
    assert (patch.method, patch.path, patch.auth, patch.status) == (
        "PATCH",
        "/api/v2/integrations/1",
        "bearer",
        200,
    )
    assert patch.client_id == sendcloud.public_key
    assert patch.body == {"shop_url": "https://shop.example"}
    assert (get.method, get.auth, get.body) == ("GET", "basic", None)
    dumped = json.dumps([r.to_json() for r in sendcloud.requests()])
    assert sendcloud.secret_key not in dumped
    assert token not in dumped
