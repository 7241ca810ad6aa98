"""The sandbox's API v3 and Service Points carriers answer like Sendcloud's documented ones."""

from __future__ import annotations

import requests

from tests.sandbox_calls import T, basic_auth, bearer_headers, corpus, v2_error
from tests.sandbox_fixture import SendcloudSandbox


def test_v3_get_wraps_the_integration_in_data_with_v3_field_names(
    sendcloud: SendcloudSandbox,
) -> None:
    response = requests.get(
        f"{sendcloud.api_url_v3}/integrations/1", headers=bearer_headers(sendcloud), timeout=T
    )
    assert response.status_code == 200
    assert list(response.json()) == ["data"]
    found = response.json()["data"]
    documented = list(corpus("api/v3_get_integration__sendcloud-dev-docs-example.json")["data"])
    # The documented fields in the documented order; created_at and feedback_type are not kept.
    assert list(found) == [n for n in documented if n not in ("created_at", "feedback_type")]
    assert (found["id"], found["type"], found["shop_name"]) == (1, "api", "Sandbox Shop")
    listed = requests.get(
        f"{sendcloud.api_url_v3}/integrations", auth=basic_auth(sendcloud), timeout=T
    ).json()
    assert listed == {"data": [found]}


def test_v3_patch_answers_204_without_a_body_over_the_state_v2_reads(
    sendcloud: SendcloudSandbox,
) -> None:
    changed = requests.patch(
        f"{sendcloud.api_url_v3}/integrations/1",
        auth=basic_auth(sendcloud),
        json={"service_point_enabled": True, "service_point_carriers": ["ups"]},
        timeout=T,
    )
    assert (changed.status_code, changed.content) == (204, b"")
    seen = requests.get(
        f"{sendcloud.api_url}/integrations/1", auth=basic_auth(sendcloud), timeout=T
    )
    assert seen.json()["service_point_carriers"] == ["ups"]


def test_v3_takes_a_null_webhook_url_where_v2_refuses_it(sendcloud: SendcloudSandbox) -> None:
    sendcloud.set_integration(webhook_active=True, webhook_url="https://shop.example.com/hook")
    body = {"webhook_active": False, "webhook_url": None}
    url = "integrations/1"
    refused = requests.patch(
        f"{sendcloud.api_url}/{url}", auth=basic_auth(sendcloud), json=body, timeout=T
    )
    taken = requests.patch(
        f"{sendcloud.api_url_v3}/{url}", auth=basic_auth(sendcloud), json=body, timeout=T
    )
    assert refused.status_code == 400
    assert "webhook_url: This field may not be null." in v2_error(refused)["message"]
    assert taken.status_code == 204
    assert (sendcloud.integration() or {})["webhook_url"] == ""


def test_v3_errors_are_the_documented_json_api_bodies(sendcloud: SendcloudSandbox) -> None:
    base = sendcloud.api_url_v3
    unknown = requests.get(f"{base}/integrations/99", auth=basic_auth(sendcloud), timeout=T)
    wrong = requests.get(f"{base}/integrations/1", auth=("nobody", "x"), timeout=T)
    anonymous = requests.get(f"{base}/integrations/1", timeout=T)
    invalid = requests.patch(
        f"{base}/integrations/1",
        auth=basic_auth(sendcloud),
        json={"webhook_active": True},
        timeout=T,
    )

    assert unknown.status_code == 404
    # Status as a number here, as a string in the others: both as Sendcloud documents them.
    assert unknown.json() == corpus("api/v3_error_404_integration__sendcloud-dev-docs-example.json")
    assert wrong.status_code == anonymous.status_code == 401
    assert wrong.json() == corpus(
        "api/v3_error_401_invalid_credentials__sendcloud-dev-docs-example.json"
    )
    assert anonymous.json() == corpus(
        "api/v3_error_401_no_credentials__sendcloud-dev-docs-example.json"
    )
    assert invalid.status_code == 400
    assert invalid.json() == corpus(
        "api/v3_error_400_integration_patch__sendcloud-dev-docs-example.json"
    )


def test_an_unknown_carrier_is_a_400_in_each_version(sendcloud: SendcloudSandbox) -> None:
    body = {"service_point_enabled": True, "service_point_carriers": ["dhl", "nosuchcarrier"]}
    v2 = requests.patch(
        f"{sendcloud.api_url}/integrations/1", auth=basic_auth(sendcloud), json=body, timeout=T
    )
    v3 = requests.patch(
        f"{sendcloud.api_url_v3}/integrations/1", auth=basic_auth(sendcloud), json=body, timeout=T
    )

    assert v2.status_code == v3.status_code == 400
    assert v2_error(v2)["message"] == (
        "{'settings': ['service_point_carriers: Service points are not supported for the "
        "requested carriers: nosuchcarrier.']}"
    )
    [error] = v3.json()["errors"]
    documented = corpus(
        "api/v3_error_400_service_points_carrier_not_supported__sendcloud-dev-docs-example.json"
    )["errors"][0]
    assert list(error) == list(documented)  # no title, like the documented carrier error
    assert error["detail"].endswith("carriers: nosuchcarrier.")
    assert (sendcloud.integration() or {})["service_point_carriers"] == []


def test_carriers_are_a_bare_array_behind_the_same_credentials(
    sendcloud: SendcloudSandbox,
) -> None:
    url = f"{sendcloud.service_points_url}/carriers"
    found = requests.get(url, headers=bearer_headers(sendcloud), timeout=T)
    refused = requests.get(url, auth=(sendcloud.public_key, "wrong"), timeout=T)

    assert found.status_code == 200
    assert found.json() == corpus(
        "api/servicepoints_v2_get_carriers__sendcloud-dev-docs-example-2026.json"
    )
    assert refused.status_code == 401
    assert v2_error(refused)["message"] == "Invalid username/password."
