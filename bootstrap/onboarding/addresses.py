"""Where the service is reached: the webhook base URL and the onboarding URL (no flask here)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from bootstrap.errors import InvalidDesiredSettings
from bootstrap.settings import BootstrapSettings, public_url_problem

# `flask --app app run` serves here unless told otherwise (its --host and --port arrive as
# FLASK_RUN_HOST/PORT, see bootstrap/onboarding/cli.py).
DEV_SERVER_HOST = "127.0.0.1"
DEV_SERVER_PORT = "5000"


def webhook_base(settings: BootstrapSettings, request_root: str) -> str:
    """PUBLIC_URL, else the scheme and host this request came in on (after trusted proxies);
    with real keys only if `checked_public_url` passes (the client chooses its Host, and a
    signed pre-flight goes there), else InvalidDesiredSettings in plain words."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    base = request_root.rstrip("/")
    if settings.sandbox:
        return base
    try:
        return checked_public_url(base)
    except ValueError as exc:
        raise InvalidDesiredSettings(
            [f"{exc}; set PUBLIC_URL to this service's public https:// address"]
        ) from exc


def checked_public_url(url: str) -> str:
    """`url` when it is https with a DNS name that resolves to public addresses only (no IP
    literal, no private, loopback or link-local address); raises ValueError in plain words."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or not host:
        raise ValueError(f"the address {url!r} is not an https:// address with a host name")
    if problem := public_url_problem(url, "the address"):
        raise ValueError(problem)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ValueError(f"the address {url!r} names an IP address, not a DNS host name")
    try:
        found = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"the host name {host!r} does not resolve") from exc
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global:
            raise ValueError(
                f"the host name {host!r} resolves to {ip}, which is not a public address "
                "(private, loopback or link-local)"
            )
    return url


def base_problem(base: str) -> str | None:
    """Why Sendcloud could not call a webhook under `base`, in plain words, or None."""
    problem = public_url_problem(base, "this service's address")
    if problem is None:
        return None
    return (
        f"{problem}. Set PUBLIC_URL to the https:// address of this service "
        "(behind a proxy or a platform router, set TRUSTED_PROXY_HOPS instead)."
    )


def onboarding_url(base: str, token: str) -> str:
    """The full onboarding URL under `base`, token included."""
    return f"{base.rstrip('/')}/onboarding?{urlencode({'token': token})}"


def dev_server_base(environ: Mapping[str, str]) -> str:
    """The address `flask run` most likely serves on (FLASK_RUN_HOST/PORT, else its defaults)."""
    host = environ.get("FLASK_RUN_HOST", "").strip() or DEV_SERVER_HOST
    if host in ("0.0.0.0", "::"):  # noqa: S104 (compared, not bound: listening on all means loopback works)
        host = DEV_SERVER_HOST
    port = environ.get("FLASK_RUN_PORT", "").strip() or DEV_SERVER_PORT
    return f"http://{host}:{port}"


def known_base(settings: BootstrapSettings, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """The base for a logged onboarding URL outside a request (PUBLIC_URL, or in sandbox mode the
    dev server's address) and where it comes from; (None, advice) when nothing fits."""
    if settings.public_url:
        return settings.public_url, "from PUBLIC_URL"
    if settings.sandbox:
        return dev_server_base(environ), (
            "the address of `flask --app app run`; if the service listens elsewhere, "
            "open the same path there"
        )
    return None, (
        "PUBLIC_URL is not set, so this service's public address is unknown here: put the "
        "service's address (e.g. https://your-app.herokuapp.com) in front of the path, or set "
        "PUBLIC_URL (e.g. `heroku config:set PUBLIC_URL=https://your-app.herokuapp.com`)"
    )
