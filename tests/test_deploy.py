"""One-click deploy: app.json follows Heroku's schema and agrees with the Procfile and the docs;
every Procfile process becomes healthy under a Procfile runner (honcho) on a fresh database."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import REPO, free_port, fresh_env, run_flask, wait_for_http

APP_JSON: dict[str, Any] = json.loads((REPO / "app.json").read_text())
# Heroku's published app.json schema (devcenter.heroku.com/articles/app-json-schema): the keys
# it knows and their JSON types; every key is optional.
SCHEMA_TYPES = {
    "name": str,
    "description": str,
    "keywords": list,
    "website": str,
    "repository": str,
    "logo": str,
    "success_url": str,
    "scripts": dict,
    "env": dict,
    "formation": dict,
    "image": str,
    "addons": list,
    "buildpacks": list,
    "environments": dict,
    "stack": str,
}
ENV_KEYS = {"description", "value", "required", "generator"}
# Upper-case strings in the code that are not environment variables of this service.
NOT_VARIABLES = {
    "MAX_CONTENT_LENGTH",
    "SESSION_COOKIE_SAMESITE",
    "PATH_INFO",
    "FLASK_RUN_HOST",  # Flask's own `flask run` options
    "FLASK_RUN_PORT",
}
DOCUMENTED = (REPO / "docs" / "configuration.md").read_text()


def procfile() -> dict[str, str]:
    """The Procfile's process types and commands."""
    lines = (REPO / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_app_json_uses_only_heroku_schema_keys_with_their_types() -> None:
    for key, value in APP_JSON.items():
        assert key in SCHEMA_TYPES, f"{key} is not an app.json key"
        assert isinstance(value, SCHEMA_TYPES[key]), key
    assert 3 <= len(APP_JSON["name"]) <= 30
    assert len(APP_JSON["description"]) <= 140
    for name, spec in APP_JSON["env"].items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name)
        assert isinstance(spec, str) or (set(spec) <= ENV_KEYS and spec.get("description"))
        assert spec.get("generator", "secret") == "secret"
    for process in APP_JSON["formation"].values():
        assert isinstance(process["quantity"], int)
        assert isinstance(process.get("size", ""), str)
    for addon in APP_JSON["addons"]:
        assert isinstance(addon, str) or isinstance(addon["plan"], str)
    assert set(APP_JSON["scripts"]) <= {"postdeploy", "pr-predestroy"}


def test_app_json_generates_the_secrets_and_adds_postgresql_and_the_scheduler() -> None:
    assert APP_JSON["env"]["SECRET_KEY"]["generator"] == "secret"
    assert APP_JSON["env"]["ONBOARDING_TOKEN"]["generator"] == "secret"
    plans = {a if isinstance(a, str) else a["plan"] for a in APP_JSON["addons"]}
    assert {"heroku-postgresql", "scheduler"} <= {p.split(":")[0] for p in plans}
    assert "onboarding-url" in APP_JSON["scripts"]["postdeploy"]


def test_formation_is_the_procfile_process_types_that_run_continuously() -> None:
    running = set(procfile()) - {"release"}  # release runs once per deploy, not as a dyno
    assert set(APP_JSON["formation"]) == running


def test_every_environment_variable_is_documented() -> None:
    names = set(APP_JSON["env"])
    for command in [*procfile().values(), *APP_JSON["scripts"].values()]:
        names |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", command))
    # And every variable the code reads (names of env lookups in the packages).
    code = "\n".join(
        p.read_text() for p in [REPO / "app.py", *REPO.glob("bootstrap/**/*.py")]
    ) + "\n".join(p.read_text() for p in REPO.glob("receivers/**/*.py"))
    names |= set(re.findall(r"\"([A-Z][A-Z0-9]*_[A-Z0-9_]+)\"", code)) - NOT_VARIABLES
    assert {"SECRET_KEY", "PORT", "SENDCLOUD_API_URL"} <= names
    missing = sorted(n for n in names if f"`{n}`" not in DOCUMENTED)
    assert not missing, f"not in docs/configuration.md: {missing}"


@pytest.fixture
def fresh_database(tmp_path: Path) -> dict[str, str]:
    """The environment of a freshly created app: a new database, nothing else."""
    env = fresh_env(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}", WEB_CONCURRENCY="1")
    # The Procfile's commands (flask, gunicorn) from this interpreter's environment.
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def honcho(env: dict[str, str], *args: str, **kwargs: Any) -> Any:
    """`honcho -f Procfile ARGS` in the repository."""
    command = [sys.executable, "-m", "honcho", "-f", str(REPO / "Procfile"), *args]
    return subprocess.Popen(command, cwd=REPO, env=env, text=True, **kwargs)


@pytest.mark.slow
def test_every_procfile_process_becomes_healthy_on_a_fresh_database(
    fresh_database: dict[str, str], tmp_path: Path
) -> None:
    types = procfile()
    assert "web" in types
    if "release" in types:
        release = honcho(fresh_database, "start", "release", stdout=subprocess.PIPE)
        out, _ = release.communicate(timeout=120)
        assert release.returncode == 0, out
    for name in [t for t in types if t != "release"]:
        port = free_port()
        log = (tmp_path / f"{name}.log").open("w")
        proc = honcho(fresh_database, "start", "-p", str(port), name, stdout=log)
        try:
            if name == "web":
                wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
                assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
            else:  # a background worker is healthy when it keeps running
                with pytest.raises(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
        assert "Traceback" not in (tmp_path / f"{name}.log").read_text()


def test_postdeploy_prints_the_onboarding_url_of_a_fresh_deployment(
    fresh_database: dict[str, str],
) -> None:
    token = "generated-by-heroku-" + "x" * 24
    command = APP_JSON["scripts"]["postdeploy"].split()
    assert command[:3] == ["flask", "--app", "app"]
    result = run_flask({**fresh_database, "ONBOARDING_TOKEN": token}, *command[3:])
    assert result.returncode == 0, result.stderr
    # A deploy log knows no public address: a placeholder, never a misleading 127.0.0.1.
    assert result.stdout.strip() == f"https://YOUR-APP-ADDRESS/onboarding?token={token}"
