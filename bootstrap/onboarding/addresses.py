"""Where the service is reached: the webhook base URL and the onboarding URL (no flask here)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from bootstrap.settings import BootstrapSettings, public_url_problem

# `flask --app app run` serves here unless told otherwise (its --host and --port arrive as
# FLASK_RUN_HOST/PORT, see bootstrap/onboarding/cli.py).
DEV_SERVER_HOST = "127.0.0.1"
DEV_SERVER_PORT = "5000"


def webhook_base(settings: BootstrapSettings, request_root: str) -> str:
    """PUBLIC_URL, else the scheme and host this request came in on (after trusted proxies)."""
    return (settings.public_url or request_root).rstrip("/")


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
    """The base for a printed or logged onboarding URL, and a note on where it comes from.

    Outside a request the service's address is only known from PUBLIC_URL; in sandbox mode
    the dev server's address is a good guess. Returns (None, advice) when nothing fits.
    """
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


def checked_public_url(url: str) -> str:
    """`url` as a webhook base Sendcloud can call: https, a DNS name resolving to public
    addresses only; raise ValueError in plain words otherwise."""
    url, host = url.strip().rstrip("/"), urlsplit(url.strip()).hostname or ""
    if (problem := public_url_problem(url, "the address")) or not url.startswith("https://"):
        raise ValueError(problem or f"the address must start with https://, got {url!r}")
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, 443)}
        ipaddress.ip_address(host)  # an address literal is not a DNS name
    except OSError as exc:
        raise ValueError(f"the host name {host!r} does not resolve") from exc
    except ValueError:
        if all(ipaddress.ip_address(str(a).split("%")[0]).is_global for a in found):
            return url
    raise ValueError(f"{host!r} is not a DNS name of public addresses only")
