"""Connecting real Sendcloud keys on the page, in Debian's headless Chromium: the service runs
under gunicorn with no SENDCLOUD_* variables; a standalone sandbox (another server, on its own
loopback port) stands in for Sendcloud."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from bootstrap.keys.tables import stored_credentials
from receivers.db import Database
from tests.conftest import (
    REPO,
    free_port,
    fresh_env,
    gunicorn_command,
    random_secret,
    wait_for_http,
)
from tests.sandbox_fixture import SendcloudSandbox
from tests.test_browser_onboarding import browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811 (the fixture, not the import)
    """A fresh browser page in its own context."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    yield context.new_page()
    context.close()


class Service:
    """`gunicorn 'app:create_app()'` (2 workers) on a fixed loopback port, restartable."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                gunicorn_command(self.port, 2),
                cwd=REPO,
                env=fresh_env(**self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_http(self.url + "/healthz", timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def service(tmp_path: Path, sendcloud: SendcloudSandbox) -> Iterator[Service]:
    """The service with the stand-in's URLs but no keys: it starts in sandbox mode."""
    urls = {k: v for k, v in sendcloud.env().items() if k.endswith("_URL")}
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
        "SECRET_KEY": random_secret(),
        "ONBOARDING_TOKEN": random_secret(),
        "SANDBOX_RETRY_SCALE": "0.001",
        **urls,
    }
    started = Service(env, tmp_path / "service.log")
    # With real keys a webhook URL is never taken from a loopback request (test_forged_host.py).
    started.env["PUBLIC_URL"] = started.url
    started.start()
    yield started
    started.stop()


def test_owner_connects_sendcloud_on_the_page_and_it_stays_verified_after_a_restart(
    service: Service,
    sendcloud: SendcloudSandbox,
    page: Page,
    artifacts_dir: Path,
) -> None:
    token = service.env["ONBOARDING_TOKEN"]
    onboarding = f"{service.url}/onboarding?token={token}"
    page.goto(onboarding)
    expect(page.locator("#keys-choice")).to_contain_text("try the sandbox")

    page.click("#connect summary")
    page.fill("#public-key", sendcloud.public_key)
    page.fill("#secret-key", "not-the-secret-key")
    page.click("#save-keys")
    expect(page.get_by_role("alert").filter(has_text="did not accept these keys")).to_be_visible()
    assert stored_rows(service) == []

    page.click("#connect summary") if not page.locator("#public-key").is_visible() else None
    page.fill("#public-key", sendcloud.public_key)
    page.fill("#secret-key", sendcloud.secret_key)
    page.check('input[name="auth"][value="oauth2"]')
    page.click("#save-keys")
    expect(page.locator("#keys-notice")).to_contain_text("Sendcloud accepted the keys")
    page.select_option("#integration-choice", label="Sandbox Shop (integration 1)")
    page.click("#choose")
    expect(page.locator("#keys-stored")).to_contain_text(sendcloud.secret_key[-4:])
    expect(page.locator("#webhook-url")).to_have_text(f"{service.url}/webhooks/sendcloud")
    # Every worker now plans against the stand-in, none against its built-in sandbox.
    for _ in range(4):
        page.reload()
        expect(page.locator(".badge.sandbox")).to_have_count(0)
        expect(page.locator('#diff tr[data-field="service_point_enabled"] .planned')).to_have_text(
            "off"
        )
    page.screenshot(path=str(artifacts_dir / "connect-1-planned.png"), full_page=True)

    page.click("#apply")
    expect(page.locator("#state")).to_have_text("Verified", timeout=30_000)
    assert (sendcloud.integration() or {})["webhook_url"] == f"{service.url}/webhooks/sendcloud"

    service.stop()
    service.start()
    page.goto(onboarding)
    expect(page.locator("#keys-stored")).to_be_visible()
    expect(page.locator("#state")).to_have_text("Verified")
    page.screenshot(path=str(artifacts_dir / "connect-2-verified.png"), full_page=True)

    secrets = (sendcloud.public_key, sendcloud.secret_key)
    bearer = {"Authorization": f"Bearer {token}"}
    answers = [
        requests.get(f"{service.url}{path}", headers=bearer, timeout=10).text
        for path in ("/api/credentials", "/api/onboarding", "/api/events")
    ]
    seen = [page.content(), service.log.read_text(), *answers, str(stored_rows(service))]
    assert len(stored_rows(service)) == 1
    for text in seen:
        for secret in secrets:
            assert secret not in text
    assert '"source":"stored"' in answers[0].replace(" ", "")


def stored_rows(service: Service) -> list[dict[str, object]]:
    """The stored keys' rows, as the database holds them."""
    db = Database(service.env["DATABASE_URL"])
    try:
        with db.begin_read() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(stored_credentials))]
    finally:
        db.dispose()
