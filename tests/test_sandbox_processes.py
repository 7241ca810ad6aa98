"""Sandbox mode under the README's run command and under gunicorn with two workers."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from receivers.db import Database
from tests.conftest import REPO, free_port, fresh_env, run_flask, wait_for_http

T = 10
pytestmark = pytest.mark.slow


def _keys(database_url: str) -> tuple[str, str]:
    db = Database(database_url)
    try:
        return (
            db.stored_value("sandbox_public_key", lambda: "unexpected"),
            db.stored_value("sandbox_secret_key", lambda: "unexpected"),
        )
    finally:
        db.dispose()


def _wait_for_delivery(base: str, auth: tuple[str, str], timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = requests.get(f"{base}/sandbox/_control/deliveries", auth=auth, timeout=T).json()
        ok = [d for d in found if d["ok"]]
        if ok:
            return dict(ok[0])
        time.sleep(0.1)
    raise AssertionError(f"no successful delivery: {found}")


def test_gunicorn_workers_share_one_sandbox(
    gunicorn: Callable[..., Any], base_env: dict[str, str]
) -> None:
    server = gunicorn(base_env, workers=2)
    auth = _keys(base_env["DATABASE_URL"])
    api = f"{server.url}/sandbox/api/v2/integrations/1"
    control = f"{server.url}/sandbox/_control"

    # The rate limit is counted across both workers (fresh connection per request).
    requests.post(f"{control}/faults", auth=auth, json={"rate_limit": True}, timeout=T)
    statuses = [requests.patch(api, auth=auth, json={}, timeout=T).status_code for _ in range(101)]
    assert statuses[:100] == [200] * 100
    assert statuses[100] == 429
    requests.post(f"{control}/faults", auth=auth, json={"rate_limit": False}, timeout=T)

    hook = f"{server.url}/webhooks/sendcloud"
    changed = requests.patch(
        api, auth=auth, json={"webhook_active": True, "webhook_url": hook}, timeout=T
    )
    assert changed.status_code == 200
    seen = {requests.get(api, auth=auth, timeout=T).json()["webhook_url"] for _ in range(10)}
    assert seen == {hook}
    delivery = _wait_for_delivery(server.url, auth)
    assert (delivery["action"], delivery["status_code"]) == ("integration_updated", 200)


def test_flask_run_starts_in_sandbox_mode_and_the_cli_triggers_against_it(
    tmp_path: Path,
) -> None:
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    env = fresh_env(DATABASE_URL=database_url)
    log_path = tmp_path / "flask-run.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_http(base + "/healthz")
            # The logged onboarding URL names the port given to `flask run`, and opens.
            logged = re.search(
                rf"url=({re.escape(base)}/onboarding\?token=\S+)", log_path.read_text()
            )
            assert logged is not None, log_path.read_text()
            assert requests.get(logged.group(1), timeout=T).status_code == 200
            auth = _keys(database_url)
            api = f"{base}/sandbox/api/v2/integrations/1"
            hook = f"{base}/webhooks/sendcloud"
            changed = requests.patch(
                api, auth=auth, json={"webhook_active": True, "webhook_url": hook}, timeout=T
            )
            assert changed.status_code == 200
            assert _wait_for_delivery(base, auth)["status_code"] == 200
            # Another process (the CLI) delivers through the same shared sandbox state.
            cli = run_flask(env, "sandbox", "trigger", "test_webhook")
            assert cli.returncode == 0, cli.stdout + cli.stderr
            assert f"test_webhook delivered to {hook}: HTTP 200" in cli.stdout
            assert "onboarding_url" not in cli.stderr  # only a serving process logs it
        finally:
            proc.terminate()
            proc.wait(15)
    output = log_path.read_text()
    assert "sandbox_started" in output
    assert "Traceback" not in output
    assert auth[1] not in output
