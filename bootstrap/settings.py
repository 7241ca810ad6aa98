"""Settings of the bootstrap side, built from an environment mapping by a pure function."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from receivers.errors import ConfigurationError
from receivers.settings import decimal_number, whole_number

DEFAULT_API_URL = "https://panel.sendcloud.sc/api/v2"
# Sendcloud serves the carriers offered for service points from a separate host.
DEFAULT_SERVICE_POINTS_URL = "https://servicepoints.sendcloud.sc/api/v2"
DEFAULT_TOKEN_URL = "https://account.sendcloud.com/oauth2/token"  # noqa: S105 (a URL, not a secret)
# Carriers of the sandbox's seeded integration, so zero configuration plans a real change.
SANDBOX_DEFAULT_CARRIERS = ("postnl", "dhl")
DEFAULT_RETRY_BUDGET_SECONDS = 30.0

_CARRIER = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

AuthMode = Literal["oauth2", "basic"]


@dataclass(frozen=True)
class BootstrapSettings:
    """Who we are at Sendcloud and what we want the integration to look like."""

    sandbox: bool
    integration_id: int | None
    # Keys and tokens stay out of every repr, log line and error message.
    public_key: str | None = field(repr=False)
    secret_key: str | None = field(repr=False)
    auth: AuthMode
    api_url: str
    service_points_url: str
    token_url: str
    service_point_enabled: bool
    service_point_carriers: tuple[str, ...]
    public_url: str | None
    onboarding_token: str | None = field(repr=False)
    flask_secret_key: str | None = field(repr=False)
    trusted_proxy_hops: int
    # Total time one Sendcloud call may spend retrying 429/5xx/connection errors.
    retry_budget_seconds: float = DEFAULT_RETRY_BUDGET_SECONDS
    # Days of parcels reconciled once after the first verified onboarding.
    reconcile_backfill_days: int = 7

    @property
    def api_v3(self) -> bool:
        """True when SENDCLOUD_API_URL is an API v3 base (its path ends in /api/v3)."""
        return urlsplit(self.api_url).path.endswith("/api/v3")


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_url_problem(url: str, name: str = "PUBLIC_URL") -> str | None:
    """Say why `url` cannot be where Sendcloud (or we) send requests, or return None."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{name} must be an absolute https:// URL, got {url!r}"
    if parts.username or parts.password:
        return f"{name} must not carry a user name or password"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return (
            f"{name} must use https:// (plain http is only accepted for loopback hosts "
            f"such as 127.0.0.1, for local tests), got {url!r}"
        )
    if parts.query or parts.fragment:
        return f"{name} must not have a query string or fragment"
    return None


def parse_carriers(raw: str) -> tuple[tuple[str, ...], list[str]]:
    """Split a comma-separated carrier list; return the codes and any problems."""
    codes = tuple(dict.fromkeys(c.strip().lower() for c in raw.split(",") if c.strip()))
    bad = [c for c in codes if not _CARRIER.match(c)]
    problems = [f"carrier code {c!r} is not a Sendcloud carrier code (e.g. ups, dhl)" for c in bad]
    return codes, problems


def load_bootstrap_settings(env: Mapping[str, str]) -> BootstrapSettings:
    """Read the bootstrap variables; raise ConfigurationError listing every problem."""
    problems: list[str] = []

    public_key = env.get("SENDCLOUD_PUBLIC_KEY", "").strip() or None
    secret_key = env.get("SENDCLOUD_SECRET_KEY", "").strip() or None
    sandbox = public_key is None and secret_key is None
    if (public_key is None) != (secret_key is None):
        present, missing = (
            ("SENDCLOUD_PUBLIC_KEY", "SENDCLOUD_SECRET_KEY")
            if public_key
            else ("SENDCLOUD_SECRET_KEY", "SENDCLOUD_PUBLIC_KEY")
        )
        problems.append(
            f"{present} is set but {missing} is not: set both (real Sendcloud) "
            "or neither (built-in sandbox)"
        )

    integration_id: int | None = None
    raw_id = env.get("SENDCLOUD_INTEGRATION_ID", "").strip()
    if raw_id:
        if raw_id.isdigit() and int(raw_id) > 0:
            integration_id = int(raw_id)
        else:
            problems.append(
                f"SENDCLOUD_INTEGRATION_ID must be a positive whole number "
                f"(the number at the end of the integration's URL in the Sendcloud panel), "
                f"got {raw_id!r}"
            )
    elif not sandbox:
        problems.append(
            "SENDCLOUD_INTEGRATION_ID is missing: the id of the Sendcloud integration to "
            "manage (the number at the end of its URL in the Sendcloud panel)"
        )

    auth = env.get("SENDCLOUD_AUTH", "oauth2").strip().lower() or "oauth2"
    if auth not in ("oauth2", "basic"):
        problems.append(f"SENDCLOUD_AUTH must be 'oauth2' or 'basic', got {auth!r}")
        auth = "oauth2"

    urls = {
        name: env.get(name, "").strip() or default
        for name, default in (
            ("SENDCLOUD_API_URL", DEFAULT_API_URL),
            ("SENDCLOUD_SERVICE_POINTS_URL", DEFAULT_SERVICE_POINTS_URL),
            ("SENDCLOUD_TOKEN_URL", DEFAULT_TOKEN_URL),
        )
    }
    for name, value in urls.items():
        if problem := public_url_problem(value, name):
            problems.append(problem)

    raw_enabled = env.get("SERVICE_POINT_ENABLED", "true").strip().lower() or "true"
    if raw_enabled not in _TRUE | _FALSE:
        problems.append(f"SERVICE_POINT_ENABLED must be 'true' or 'false', got {raw_enabled!r}")
    service_point_enabled = raw_enabled not in _FALSE

    carriers, carrier_problems = parse_carriers(env.get("SERVICE_POINT_CARRIERS", ""))
    problems.extend(carrier_problems)
    if service_point_enabled and not carriers:
        if sandbox:
            carriers = SANDBOX_DEFAULT_CARRIERS
        else:
            problems.append(
                "SERVICE_POINT_CARRIERS is missing while service points are enabled: "
                "Sendcloud needs at least one carrier code (e.g. SERVICE_POINT_CARRIERS=ups,dhl), "
                "or set SERVICE_POINT_ENABLED=false"
            )

    public_url = env.get("PUBLIC_URL", "").strip().rstrip("/") or None
    if public_url and (problem := public_url_problem(public_url)):
        problems.append(problem)

    onboarding_token = env.get("ONBOARDING_TOKEN", "").strip() or None
    if onboarding_token is not None and len(onboarding_token) < 20:
        problems.append(
            "ONBOARDING_TOKEN is too short: use at least 20 random characters, "
            "or leave it unset to have one generated"
        )

    trusted_proxy_hops = whole_number(
        env, "TRUSTED_PROXY_HOPS", 0, problems, what="0 or a positive whole number"
    )
    retry_budget = decimal_number(
        env,
        "SENDCLOUD_RETRY_BUDGET",
        DEFAULT_RETRY_BUDGET_SECONDS,
        problems,
        what="a number of seconds between 0 and 600",
        valid=lambda s: 0 <= s <= 600,
    )

    backfill_days = whole_number(
        env, "RECONCILE_BACKFILL_DAYS", 7, problems, what="days (0 or more)"
    )
    if problems:
        raise ConfigurationError(problems)
    return BootstrapSettings(
        sandbox=sandbox,
        integration_id=integration_id,
        public_key=public_key,
        secret_key=secret_key,
        auth="basic" if auth == "basic" else "oauth2",
        # Base URLs without a trailing slash (the token URL is used exactly as given).
        api_url=urls["SENDCLOUD_API_URL"].rstrip("/"),
        service_points_url=urls["SENDCLOUD_SERVICE_POINTS_URL"].rstrip("/"),
        token_url=urls["SENDCLOUD_TOKEN_URL"],
        service_point_enabled=service_point_enabled,
        service_point_carriers=carriers,
        public_url=public_url,
        onboarding_token=onboarding_token,
        flask_secret_key=env.get("SECRET_KEY", "").strip() or None,
        trusted_proxy_hops=trusted_proxy_hops,
        retry_budget_seconds=retry_budget,
        reconcile_backfill_days=backfill_days,
    )
