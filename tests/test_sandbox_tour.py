"""The README's tour with real processes: `flask run`, the page, then the CLI in another process."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from receivers.db import Database
from tests.conftest import REPO, free_port, fresh_env, random_secret, run_flask, wait_for_http

T = 10
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Served:
    """`flask --app app run` in sandbox mode: its address, environment and onboarding token."""

    url: str
    env: dict[str, str]
    token: str

    def api(self) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        found: dict[str, Any] = requests.get(
            f"{self.url}/api/onboarding", headers=headers, timeout=T
        ).json()
        return found

    def sandbox(self, path: str, **json: Any) -> Any:
        """The sandbox's control API (TEST-ONLY), with the sandbox keys from the database."""
        db = Database(self.env["DATABASE_URL"])
        try:
            keys = (
                db.stored_value("sandbox_public_key", str),
                db.stored_value("sandbox_secret_key", str),
            )
        finally:
            db.dispose()
        url = f"{self.url}/sandbox/_control/{path}"
        method = "POST" if json else "GET"
        return requests.request(method, url, auth=keys, json=json or None, timeout=T).json()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`flask run` on a free port; FLASK_RUN_PORT tells the CLI processes where it serves."""
    port = free_port()
    token = random_secret()
    env = fresh_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'tour.sqlite3'}",
        FLASK_RUN_PORT=str(port),
        ONBOARDING_TOKEN=token,
    )
    log_path = tmp_path / "flask-run.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "run"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz")
            yield Served(f"http://127.0.0.1:{port}", env, token)
        finally:
            proc.terminate()
            proc.wait(15)
    assert "Traceback" not in log_path.read_text()


def _wait_for(served: Served, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while (found := served.api())["state"] not in states:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    return found


def test_the_readme_tour_ends_with_check_exit_0_and_a_plain_bootstrap_changes_nothing(
    served: Served,
) -> None:
    with requests.Session() as browser:
        page = browser.get(f"{served.url}/onboarding", params={"token": served.token}, timeout=T)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        assert 'value="ups"' in page.text  # a box from Sendcloud's (the sandbox's) carriers
        form = {
            "token": served.token,
            "csrf_token": csrf.group(1),
            "service_point_enabled": "on",
            "service_point_carriers": "ups",  # the first plan is the sandbox's postnl, dhl
        }
        assert browser.post(f"{served.url}/onboarding", data=form, timeout=T).status_code == 200
    assert _wait_for(served, "verified", "failed", "timed_out")["state"] == "verified"
    # Step 4: a parcel update from a second terminal, then what arrived.
    trigger = ("--parcel-id", "7", "--status-id", "11", "--status-message", "Delivered")
    sent = run_flask(served.env, "sandbox", "trigger", "parcel_status_changed", *trigger)
    listed = run_flask(served.env, "events")
    headers = {"Authorization": f"Bearer {served.token}"}
    parcel = requests.get(f"{served.url}/api/parcels/7", headers=headers, timeout=T).json()
    # A webhook lost on purpose, caught up by the reconciliation; a relay to the catcher.
    lost = ("--parcel-id", "8", "--status-id", "3", "--drop")
    dropped = run_flask(served.env, "sandbox", "trigger", "parcel_status_changed", *lost)
    reconciled = run_flask(served.env, "reconcile")
    catcher = f"{served.url}/sandbox/catcher"
    added = run_flask(served.env, "destinations", "add", catcher)
    tested = run_flask(served.env, "destinations", "test", "1")
    caught = requests.get(catcher, timeout=T).json()["received"]

    check = run_flask(served.env, "bootstrap", "--check")
    plain = run_flask(served.env, "bootstrap", "--wait", "5")

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert re.search(r"parcel_status_changed +applied .* parcel=7", listed.stdout), listed.stdout
    assert parcel["status"] == {"id": 11, "message": "Delivered"}
    assert "dropped" in dropped.stdout, dropped.stdout + dropped.stderr
    assert "1 states corrected" in reconciled.stdout, reconciled.stdout + reconciled.stderr
    eight = requests.get(f"{served.url}/api/parcels/8", headers=headers, timeout=T).json()
    assert eight["status"]["id"] == 3
    assert added.returncode == 0, added.stdout + added.stderr
    assert "whsec_" in added.stdout
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "delivered" in tested.stdout
    assert any(r["verified"] and r["type"] == "test_webhook" for r in caught), caught
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No drift" in check.stdout
    assert f"'{served.url}/webhooks/sendcloud' (last applied" in check.stdout
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "already configured" in plain.stdout
    patches = [r for r in served.sandbox("requests") if r["method"] == "PATCH"]
    assert [p["body"]["service_point_carriers"] for p in patches] == [["ups"]]


def test_no_webhook_after_an_api_change_exits_3_and_the_test_button_verifies_it(
    served: Served,
) -> None:
    # Sendcloud may not announce a change made through its API at all.
    assert served.sandbox("faults", silent_api_changes=True)["silent_api_changes"] is True

    applied = run_flask(served.env, "bootstrap", "--wait", "1")

    assert applied.returncode == 3, applied.stdout + applied.stderr
    assert "no webhook from Sendcloud arrived within 1 s" in applied.stdout
    assert "press 'Test API Webhook'" in applied.stdout
    # The CLI registered where `flask run` serves (FLASK_RUN_PORT), not its own port.
    assert served.api()["webhook_url"] == f"{served.url}/webhooks/sendcloud"
    assert served.api()["state"] == "timed_out"

    pressed = run_flask(served.env, "sandbox", "trigger", "test_webhook")
    assert pressed.returncode == 0, pressed.stdout + pressed.stderr

    assert _wait_for(served, "verified")["steps"][-1]["status"] == "done"
    page = requests.get(f"{served.url}/onboarding", params={"token": served.token}, timeout=T)
    assert re.search(r'id="state" role="status">Verified<', page.text)
    again = run_flask(served.env, "bootstrap", "--wait", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "round trip already proven" in again.stdout
    assert len([r for r in served.sandbox("requests") if r["method"] == "PATCH"]) == 1
