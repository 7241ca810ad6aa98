"""The Sendcloud API v2/v3 client: OAuth2 tokens by authlib (or Basic), retries by stamina; the
only module that imports authlib (it ships no types; mypy ignores it here)."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import requests
import stamina
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from marshmallow import ValidationError

from bootstrap.errors import (
    IntegrationNotFound,
    SendcloudAuthError,
    SendcloudRejected,
    UnexpectedResponse,
)
from bootstrap.owned import OwnedSettings
from bootstrap.sendcloud.responses import (
    RETRYABLE_STATUSES,
    Transient,
    raise_for_response,
    retried,
    token_endpoint_error,
    transient,
)
from bootstrap.sendcloud.schemas import Integration, load_integration, load_update_response
from bootstrap.settings import BootstrapSettings

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 20.0)  # (connect, read) seconds of every single HTTP call
# Sendcloud tokens live 1 hour; renew 60 s early, but never more than a tenth of the
# lifetime, so short-lived tokens (tests, other servers) are still reused.
MAX_LEEWAY_SECONDS = 60.0


class _Tokens:
    """One client-credentials token per expiry per process, shared by all threads."""

    def __init__(self, settings: BootstrapSettings) -> None:
        # grant_type and token_endpoint given: with them authlib's ensure_active_token
        # fetches a new client-credentials token itself once the current one expires.
        self._session = OAuth2Session(
            client_id=settings.public_key,
            client_secret=settings.secret_key,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method name)
            scope="api",
            token_endpoint=settings.token_url,
            grant_type="client_credentials",
            leeway=MAX_LEEWAY_SECONDS,
            default_timeout=TIMEOUT,
        )
        # authlib does not serialise its fetches: threads of one process share one token.
        self._lock = threading.Lock()

    def bearer(self) -> tuple[str, bool]:
        """A valid access token, and whether it was fetched just now."""
        with self._lock:
            before = self._session.token
            try:
                if before:
                    self._session.ensure_active_token(before)
                else:
                    self._session.fetch_token()
            except OAuthError as exc:
                raise SendcloudAuthError(
                    f"Sendcloud's token endpoint refused the keys ({exc.error})"
                ) from exc
            except (requests.RequestException, ValueError) as exc:
                raise token_endpoint_error(exc) from exc
            token = self._session.token
            if token is not before:
                lifetime = float(token.get("expires_in") or 3600)
                self._session.leeway = min(MAX_LEEWAY_SECONDS, lifetime / 10)
                log.info("sendcloud_token_fetched expires_in=%s", token.get("expires_in"))
            return str(token["access_token"]), token is not before

    def forget(self, rejected: str) -> None:
        """Drop `rejected` after a 401, unless another thread already replaced it."""
        with self._lock:
            current = self._session.token
            if current and current.get("access_token") == rejected:
                self._session.token = None

    def close(self) -> None:
        """Close the token endpoint's connection pool."""
        self._session.close()


class SendcloudClient:
    """Reads and PATCHes one integration through API v2 or v3 (never PUT); lists carriers."""

    def __init__(self, settings: BootstrapSettings) -> None:
        self.auth_mode = settings.auth
        self.budget_seconds = settings.retry_budget_seconds
        self.v3 = settings.api_v3
        # The budget bounds the retries; the last wait may end up to wait_max past it.
        self._retrying = stamina.RetryingCaller(
            attempts=None, timeout=self.budget_seconds or None, wait_initial=0.5, wait_max=5.0
        )
        self._api_url = settings.api_url
        self.integration_id = settings.integration_id or 0
        # Reconciliation reads API v2's parcels list, whatever the version (v3 has none).
        self.v2_url = re.sub(r"/api/v3$", "/api/v2", settings.api_url)
        self._service_points_url = settings.service_points_url
        self._http = requests.Session()
        self._http.headers.update({"Accept": "application/json"})
        self._tokens = _Tokens(settings) if settings.auth == "oauth2" else None
        self._basic = (
            None if self._tokens else (settings.public_key or "", settings.secret_key or "")
        )

    def check_credentials(self) -> str:
        """Obtain (or reuse) a token; with Basic auth the first call checks the keys."""
        if self._tokens is None:
            return "HTTP Basic with the integration's keys"
        _, fresh = retried(
            self._retrying, self.budget_seconds, self._tokens.bearer, "fetch a token"
        )
        return "OAuth2 token fetched" if fresh else "OAuth2 token reused (still valid)"

    def get_integration(self, integration_id: int) -> Integration:
        """GET /integrations/{id} (v3 wraps it in `data`)."""
        body = self._call("GET", self._integration(integration_id), integration_id, None, "read")
        try:
            return load_integration(body, self.v3)
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"Sendcloud's answer for integration {integration_id} is not an integration "
                f"(problem fields: {', '.join(sorted(map(str, exc.messages_dict)))})"
            ) from exc

    def list_integrations(self) -> list[Integration]:
        """GET /integrations: every integration these keys can see (v3 wraps them in `data`)."""
        body = self._call("GET", f"{self._api_url}/integrations", "list", None, "read the")
        items = body.get("data") if self.v3 and isinstance(body, dict) else body
        try:
            if not isinstance(items, list):
                raise ValidationError("expected a list")
            return [load_integration(item) for item in items]
        except ValidationError as exc:
            raise UnexpectedResponse("Sendcloud's list of integrations is not a list") from exc

    def patch_integration(self, integration_id: int, wanted: OwnedSettings) -> dict[str, Any]:
        """PATCH /integrations/{id} with the owned fields `wanted` sets; returns those the
        answer reports (none in v3: its 204 has no body, the read-back confirms the change)."""
        body = wanted.patch_body()
        if self.v3 and body.get("webhook_url") == "":
            body["webhook_url"] = None  # "no URL": v3 takes null, v2 refuses both null and ""
        url = self._integration(integration_id)
        answer = self._call("PATCH", url, integration_id, body, "update")
        try:
            return load_update_response(answer, self.v3)
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"Sendcloud's answer to the change of integration {integration_id} "
                "is not an IntegrationUpdate"
            ) from exc

    def service_point_carriers(self, integration_id: int) -> tuple[str, ...]:
        """GET /carriers of the Service Points API: the codes this integration may offer."""
        url = f"{self._service_points_url}/carriers"
        body = self._call("GET", url, integration_id, None, "list the service-point carriers of")
        if not (isinstance(body, list) and all(isinstance(code, str) for code in body)):
            raise UnexpectedResponse("Sendcloud's list of carriers is not a list of carrier codes")
        return tuple(body)

    def parcels_page(self, url: str) -> Any:
        """GET one page of API v2's parcels list (`url`: the first page or Sendcloud's `next`)."""
        try:
            return self._call("GET", url, self.integration_id, None, "list the parcels of")
        except IntegrationNotFound as exc:  # not about the integration: "Invalid cursor"
            raise SendcloudRejected(f"Sendcloud refused the page {url} (HTTP 404)", 404) from exc

    def _integration(self, integration_id: int) -> str:
        return f"{self._api_url}/integrations/{integration_id}"

    def close(self) -> None:
        """Close connection pools."""
        self._http.close()
        if self._tokens:
            self._tokens.close()

    def _call(
        self, method: str, url: str, integration_id: int | str, json_body: Any, verb: str
    ) -> Any:
        refetched = False

        def once() -> requests.Response:
            nonlocal refetched
            while True:
                bearer = self._tokens.bearer()[0] if self._tokens else None
                headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
                try:
                    resp = self._http.request(
                        method,
                        url,
                        json=json_body,
                        headers=headers,
                        auth=self._basic,
                        timeout=TIMEOUT,
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
                if resp.status_code == 401 and self._tokens and bearer and not refetched:
                    # Tokens can be revoked early: one fresh token, one more try.
                    refetched = True
                    self._tokens.forget(bearer)
                    continue
                if resp.status_code in RETRYABLE_STATUSES:
                    raise transient(resp.status_code, resp.headers.get("Retry-After"), "API")
                return resp

        resp = retried(
            self._retrying, self.budget_seconds, once, f"{verb} integration {integration_id}"
        )
        return raise_for_response(resp, integration_id, verb, self.auth_mode)
