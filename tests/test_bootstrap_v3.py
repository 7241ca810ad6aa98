"""The whole bootstrap against the sandbox's API v3, and v3's error bodies in plain words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from bootstrap.sendcloud.schemas import error_message, load_integration
from bootstrap.services import services
from tests.sandbox_calls import CORPUS, corpus
from tests.sandbox_fixture import SendcloudSandbox

OWNED = ("webhook_url", "webhook_active", "service_point_enabled", "service_point_carriers")


@pytest.fixture
def product_v3(product: Callable[..., Flask]) -> Callable[..., Flask]:
    """The product with SENDCLOUD_API_URL ending in /api/v3."""
    return lambda **extra: product(api="v3", **extra)


def bootstrap(app: Flask, *args: str) -> Result:
    """`flask bootstrap ARGS` in-process."""
    return app.test_cli_runner().invoke(args=["bootstrap", *args])


def test_the_whole_bootstrap_runs_on_v3_and_the_read_back_confirms_the_204(
    product_v3: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product_v3()

    result = bootstrap(app, "--wait", "10")

    assert result.exit_code == 0, result.output
    api = [(r.method, r.path, r.status) for r in sendcloud.requests("/api/v3/")]
    assert api == [
        ("GET", "/api/v3/integrations/1", 200),
        ("PATCH", "/api/v3/integrations/1", 204),
        ("GET", "/api/v3/integrations/1", 200),
    ]
    # Only reconciliation reads API v2 (its parcels list: v3 has none).
    assert not sendcloud.requests("/api/v2/integrations")
    attempt = services(app).watcher.latest()
    assert attempt is not None
    assert attempt.state == "verified"
    steps = {step.name: step for step in attempt.steps}
    assert steps["change_applied"].detail == "Sendcloud accepted it"
    assert steps["read_back"].status == "done"
    assert sorted((sendcloud.integration() or {})["service_point_carriers"]) == ["dhl", "ups"]


def test_undo_on_v3_restores_an_empty_webhook_url_with_null(
    product_v3: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    before = {k: (sendcloud.integration() or {})[k] for k in OWNED}
    assert before["webhook_url"] == ""  # the seeded integration has no webhook yet
    app = product_v3()
    assert bootstrap(app, "--wait", "10").exit_code == 0

    result = bootstrap(app, "--undo")

    assert result.exit_code == 0, result.output
    undo = sendcloud.requests(method="PATCH")[-1]
    assert undo.body == {
        "webhook_url": None,
        "webhook_active": False,
        "service_point_enabled": False,
        "service_point_carriers": [],
    }
    assert {k: (sendcloud.integration() or {})[k] for k in OWNED} == before


def test_an_unknown_integration_on_v3_exits_1_naming_the_id(
    product_v3: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    result = bootstrap(product_v3(SENDCLOUD_INTEGRATION_ID="4242"), "--wait", "1")

    assert result.exit_code == 1
    assert "Sendcloud has no integration 4242 (HTTP 404: Sendcloud says" in result.output
    assert "The Integration could not be found with the search criteria given" in result.output
    assert "SENDCLOUD_INTEGRATION_ID" in result.output
    assert "Traceback" not in result.output


def test_a_v3_400_without_a_title_reaches_the_operator_in_plain_words(
    product_v3: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product_v3()
    # Sendcloud's carrier list is unreadable, so its answer to the PATCH is what refuses.
    sendcloud.faults(fail_next=1, fail_status=403, fail_body="", fail_path="/servicepoints/")

    result = bootstrap(app, "--carriers", "nosuchcarrier", "--wait", "1")

    assert result.exit_code == 1, result.output
    assert (
        "Sendcloud rejected the request to update integration 1 (HTTP 400): Sendcloud says "
        "'Service points are not supported for the requested carriers: nosuchcarrier.'"
    ) in result.output
    assert "Traceback" not in result.output
    [patch] = sendcloud.requests(method="PATCH")
    assert patch.status == 400


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (CORPUS / "api").glob("v3_error_*.json")), ids=str
)
def test_every_documented_v3_error_body_becomes_its_detail(name: str) -> None:
    body: dict[str, Any] = corpus(f"api/{name}")
    [error] = body["errors"]
    # Status as a string or a number, title or code missing: the detail is what is shown.
    assert error_message(body) == error["detail"]
    assert error_message({"errors": error}) == error["detail"]  # the schema allows one object


def test_a_v3_answer_reads_the_owned_fields_inside_data() -> None:
    body = corpus("api/v3_get_integration__sendcloud-dev-docs-example.json")
    found = load_integration(body, v3=True)
    assert (found.id, found.shop_name) == (23452345, "Integration #1")
    assert found.owned.service_point_carriers == ("ups", "dhl")
    no_url = load_integration({"data": {**body["data"], "webhook_url": None}}, v3=True)
    assert no_url.owned.webhook_url == ""  # "no URL", as v2 writes it


def test_a_path_ending_in_api_v3_selects_v3(
    make_app: Callable[..., Flask], base_env: dict[str, str]
) -> None:
    sandbox_v3 = make_app({**base_env, "SENDCLOUD_API_URL": "https://panel.sendcloud.sc/api/v3"})
    assert services(sandbox_v3).bootstrapper.client.v3
    assert services(sandbox_v3).settings.api_url.endswith("/sandbox/api/v3")
    assert not services(make_app(base_env)).bootstrapper.client.v3
