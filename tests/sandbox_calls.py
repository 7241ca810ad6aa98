"""Direct HTTP calls to the sandbox for the tests of the sandbox itself (token, auth, errors),
and the real Sendcloud material they compare it with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from tests.sandbox_fixture import SendcloudSandbox

T = 5  # seconds: every request in these tests has a timeout
CORPUS = Path(__file__).parent / "corpus"


def corpus(path: str) -> Any:
    """One file of real Sendcloud material (tests/corpus), parsed."""
    return json.loads((CORPUS / path).read_text(encoding="utf-8"))


def token_response(sc: SendcloudSandbox, **form: str) -> requests.Response:
    """POST a client_credentials token request with HTTP Basic client auth (form overridable)."""
    data = {"grant_type": "client_credentials", "scope": "api", **form}
    return requests.post(sc.token_url, auth=(sc.public_key, sc.secret_key), data=data, timeout=T)


def bearer_headers(sc: SendcloudSandbox) -> dict[str, str]:
    """Headers with a fresh Bearer token."""
    return {"Authorization": "Bearer " + token_response(sc).json()["access_token"]}


def basic_auth(sc: SendcloudSandbox) -> tuple[str, str]:
    """The sandbox keys as a requests Basic auth pair."""
    return (sc.public_key, sc.secret_key)


def v2_error(response: requests.Response) -> dict[str, Any]:
    """The inner object of Sendcloud's v2 error envelope, checking the envelope's shape."""
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "request", "message"}
    assert body["error"]["code"] == response.status_code
    inner: dict[str, Any] = body["error"]
    return inner
