"""The Sendcloud API v2 client: OAuth2 (authlib) or Basic auth, retries, errors in plain words.

The only module that imports authlib (it ships no types; mypy ignores it here).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from marshmallow import ValidationError

from bootstrap.errors import SendcloudAuthError, UnexpectedResponse
from bootstrap.responses import (
    Transient,
    call_with_retries,
    raise_for_response,
    transient_for_status,
)
from bootstrap.retry import RETRYABLE_STATUSES, RetryPolicy
from bootstrap.schemas import (
    Integration,
    dump_update_request,
    load_integration,
    load_update_response,
)
from bootstrap.settings import BootstrapSettings

log = logging.getLogger(__name__)

# Sendcloud tokens live 1 hour; renew 60 s early, but never more than a tenth of the
# lifetime, so short-lived tokens (tests, other servers) are still reused.
MAX_LEEWAY_SECONDS = 60.0


class OAuth2Tokens:
    """One client-credentials token per expiry per process, shared by all threads."""

    def __init__(self, settings: BootstrapSettings, policy: RetryPolicy) -> None:
        # grant_type and token_endpoint set explicitly: without them authlib's
        # ensure_active_token never re-fetches an expired client-credentials token
        # (authlib issues #213, #531, #780).
        self._session = OAuth2Session(
            client_id=settings.public_key,
            client_secret=settings.secret_key,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method name)
            scope="api",
            token_endpoint=settings.token_url,
            grant_type="client_credentials",
            leeway=MAX_LEEWAY_SECONDS,
            default_timeout=policy.timeout,
        )
        self._token_url = settings.token_url
        self._lock = threading.Lock()
        self.fetches = 0

    def access_token(self) -> tuple[str, bool]:
        """A valid access token and whether it was fetched just now; fetches under the lock."""
        with self._lock:
            before = self._session.token
            try:
                if not before:
                    self._session.fetch_token()
                else:
                    # authlib's own expiry check (with our leeway) and re-fetch path.
                    self._session.ensure_active_token(before)
            except requests.HTTPError as exc:
                raise self._http_error(exc) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise Transient("could not reach Sendcloud's token endpoint") from exc
            except OAuthError as exc:
                raise SendcloudAuthError(
                    f"Sendcloud's token endpoint refused the keys ({exc.error})"
                ) from exc
            except ValueError as exc:
                raise UnexpectedResponse(
                    "Sendcloud's token endpoint did not answer with a token; "
                    "check SENDCLOUD_TOKEN_URL"
                ) from exc
            token = self._session.token
            fresh = token is not before
            if fresh:
                self.fetches += 1
                lifetime = float(token.get("expires_in") or 3600)
                self._session.leeway = min(MAX_LEEWAY_SECONDS, lifetime / 10)
                log.info("sendcloud_token_fetched expires_in=%s", token.get("expires_in"))
            return str(token["access_token"]), fresh

    def invalidate(self, rejected: str) -> None:
        """Forget `rejected` after a 401, unless another thread already replaced it."""
        with self._lock:
            current = self._session.token
            if current and current.get("access_token") == rejected:
                self._session.token = None

    def close(self) -> None:
        """Close the token endpoint's connection pool."""
        self._session.close()

    def _http_error(self, exc: requests.HTTPError) -> Exception:
        status = exc.response.status_code if exc.response is not None else 0
        if status in RETRYABLE_STATUSES:
            headers = exc.response.headers if exc.response is not None else {}
            return transient_for_status(status, headers.get("Retry-After"), "token endpoint")
        return SendcloudAuthError(
            f"Sendcloud's token endpoint answered HTTP {status} instead of a token", status
        )


class SendcloudClient:
    """Reads and PATCHes one integration through API v2; never PUTs."""

    def __init__(self, settings: BootstrapSettings, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy(budget_seconds=settings.retry_budget_seconds)
        self._api_url = settings.api_url
        self._http = requests.Session()
        self._http.headers.update({"Accept": "application/json"})
        self._tokens: OAuth2Tokens | None = None
        self._basic: tuple[str, str] | None = None
        if settings.auth == "oauth2":
            self._tokens = OAuth2Tokens(settings, self.policy)
        else:
            self._basic = (settings.public_key or "", settings.secret_key or "")
        self.auth_mode = settings.auth

    @property
    def token_fetches(self) -> int:
        """How many OAuth2 tokens this process has fetched (0 with Basic auth)."""
        return self._tokens.fetches if self._tokens else 0

    def check_credentials(self) -> str:
        """Obtain (or reuse) a token; with Basic auth the first call checks the keys."""
        if self._tokens is None:
            return "HTTP Basic with the integration's keys"
        _, fresh = self._with_retries(self._tokens.access_token, "fetch a token")
        return "OAuth2 token fetched" if fresh else "OAuth2 token reused (still valid)"

    def get_integration(self, integration_id: int) -> Integration:
        """GET /integrations/{id}."""
        body = self._call("GET", integration_id, None, "read")
        try:
            return load_integration(body)
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"Sendcloud's answer for integration {integration_id} is not an integration "
                f"(problem fields: {', '.join(sorted(map(str, exc.messages_dict)))})"
            ) from exc

    def patch_integration(self, integration_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        """PATCH /integrations/{id} with owned fields only; returns the owned fields it reports."""
        body = self._call("PATCH", integration_id, dump_update_request(fields), "update")
        try:
            return load_update_response(body)
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"Sendcloud's answer to the change of integration {integration_id} "
                "is not an IntegrationUpdate"
            ) from exc

    def close(self) -> None:
        """Close connection pools."""
        self._http.close()
        if self._tokens:
            self._tokens.close()

    def _call(self, method: str, integration_id: int, json_body: Any, verb: str) -> Any:
        url = f"{self._api_url}/integrations/{integration_id}"
        refetched = False

        def once() -> requests.Response:
            nonlocal refetched
            while True:
                headers, bearer = self._auth_headers()
                try:
                    resp = self._http.request(
                        method,
                        url,
                        json=json_body,
                        headers=headers,
                        auth=self._basic,
                        timeout=self.policy.timeout,
                        allow_redirects=False,
                    )
                except (requests.ConnectionError, requests.Timeout) as exc:
                    raise Transient("could not reach the Sendcloud API") from exc
                log.info(
                    "sendcloud_call method=%s integration_id=%s status=%s",
                    method,
                    integration_id,
                    resp.status_code,
                )
                if resp.status_code == 401 and bearer and self._tokens and not refetched:
                    # Tokens can be revoked early: one fresh token, one more try.
                    refetched = True
                    self._tokens.invalidate(bearer)
                    continue
                if resp.status_code in RETRYABLE_STATUSES:
                    raise transient_for_status(
                        resp.status_code, resp.headers.get("Retry-After"), "API"
                    )
                return resp

        resp = self._with_retries(once, f"{verb} integration {integration_id}")
        return raise_for_response(resp, integration_id, verb, self.auth_mode)

    def _auth_headers(self) -> tuple[dict[str, str], str | None]:
        if self._tokens is None:
            return {}, None
        token, _ = self._tokens.access_token()
        return {"Authorization": f"Bearer {token}"}, token

    def _with_retries(self, call: Any, what: str) -> Any:
        return call_with_retries(self.policy, call, what)
