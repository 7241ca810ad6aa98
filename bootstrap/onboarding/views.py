"""The onboarding page: preview the change, apply it, watch the round trip, undo it."""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from markupsafe import Markup

from bootstrap.desired import Desired
from bootstrap.errors import AttemptInProgress, BootstrapError, NothingToUndo, SendcloudError
from bootstrap.keys.connect import page_context
from bootstrap.onboarding import inputs
from bootstrap.onboarding.access import csrf_token, page_token_required
from bootstrap.onboarding.addresses import base_problem, webhook_base
from bootstrap.onboarding.presentation import (
    LIVE_STATES,
    PROBLEM_STATES,
    STATE_LABELS,
    advice,
    diff_rows,
    state_label,
    when,
)
from bootstrap.owned import OwnedSettings, desired
from bootstrap.services import live_configuration, services
from receivers.schemas import CREDENTIALS_ACTION

blueprint = Blueprint("onboarding", __name__, template_folder="templates")
STATIC = Path(__file__).parent / "static"
CARRIERS_FORBIDDEN = (
    'An API integration may use Sendcloud\'s Service Points API only with its "Service Points" '
    "setting ticked in the Sendcloud panel."
)


def request_base() -> str:
    """The webhook base for this request (`addresses.webhook_base`)."""
    return webhook_base(services(current_app).settings, request.url_root)


def current_desired() -> Desired:
    """The one desired state; before anything was applied, its webhook URL is this request's."""
    try:
        fallback = (request_base(), "the address of this request (nothing applied yet)")
    except BootstrapError:  # a request-derived base refused (real keys)
        return services(current_app).desired()  # PublicUrlUnknown unless something was applied
    return services(current_app).desired(fallback)


def default_request() -> inputs.ApplyRequest:
    """The service points of the desired state (last applied, else from the environment)."""
    try:
        wanted = current_desired().settings
    except BootstrapError:
        config = services(current_app).settings
        return inputs.ApplyRequest(config.service_point_enabled, config.service_point_carriers)
    return inputs.ApplyRequest(
        bool(wanted.service_point_enabled), wanted.service_point_carriers or ()
    )


def desired_for(wanted: inputs.ApplyRequest) -> OwnedSettings:
    """What this request asks Sendcloud to have."""
    return desired(request_base(), wanted.service_point_enabled, wanted.service_point_carriers)


@blueprint.get("/onboarding")
@page_token_required
def page() -> Response:
    """Show the integration, the planned change and the latest attempt."""
    return _render(default_request())


@blueprint.post("/onboarding")
@page_token_required
def apply() -> Response:
    """Start an attempt with the form's settings, then show its progress."""
    try:
        wanted = inputs.from_form(request.form)
    except inputs.InvalidInput as exc:
        return _render(_form_echo(), problems=list(exc.problems), status=400)
    try:
        services(current_app).bootstrapper.start(desired_for(wanted), wanted.wait_seconds)
    except AttemptInProgress as exc:
        return _render(wanted, problems=[str(exc)], status=409)
    except BootstrapError as exc:
        return _render(wanted, problems=[_with_hint(exc)], status=400)
    return back_to_page()


@blueprint.post("/onboarding/undo")
@page_token_required
def undo() -> Response:
    """Restore the settings recorded before the last change."""
    try:
        services(current_app).bootstrapper.undo()
    except (NothingToUndo, AttemptInProgress) as exc:
        return _render(default_request(), problems=[str(exc)], status=409)
    except BootstrapError as exc:
        return _render(default_request(), problems=[_with_hint(exc)], status=502)
    return back_to_page(notice="undone")


def _render(
    wanted: inputs.ApplyRequest, problems: list[str] | None = None, status: int = 200
) -> Response:
    found = services(current_app)
    plan = plan_error = attempt = attempt_error = None
    try:
        plan = found.bootstrapper.plan(desired_for(wanted))
    except BootstrapError as exc:
        plan_error = _with_hint(exc)
    try:
        latest = found.watcher.latest(refresh_live=True)
        attempt = latest.to_json() if latest is not None else None
    except BootstrapError as exc:
        attempt_error = _with_hint(exc)
    offered = carriers_error = None
    try:
        offered = found.bootstrapper.client.service_point_carriers(found.watcher.integration_id)
    except SendcloudError as exc:  # the page falls back to a text field and says why
        hint = CARRIERS_FORBIDDEN if exc.status == 403 else exc.hint
        carriers_error = f"{exc} {hint}" if hint else str(exc)
    rows = []
    if plan is not None:
        changed = [change.name for change in plan.changes]
        rows = diff_rows(plan.current.to_json(), plan.desired.shown(), changed)
    if attempt is not None:
        attempt["advice"] = advice(attempt["state"], attempt["steps"], attempt.get("hint"))
    nonce = secrets.token_urlsafe(16)
    html = render_template(
        "onboarding_page.html",
        settings=found.settings,
        token=g.onboarding_token,
        csrf_token=csrf_token(),
        nonce=nonce,
        css=Markup(_asset("onboarding.css")),  # noqa: S704 (our own packaged file, not input)
        js=Markup(_asset("onboarding.js")),  # noqa: S704 (our own packaged file, not input)
        destinations_js=Markup(_asset("destinations.js")),  # noqa: S704 (as above)
        plan=plan,
        plan_error=plan_error,
        rows=rows,
        base_problem=_base_problem(),
        wanted=wanted,
        carriers_text=", ".join(wanted.service_point_carriers),
        offered=offered,
        carrier_choices=list(dict.fromkeys((*(offered or ()), *wanted.service_point_carriers))),
        carriers_error=carriers_error,
        new_keys=next(iter(found.watcher.events.recent(1, CREDENTIALS_ACTION)), None),
        attempt=attempt,
        reconcile=services(current_app).reconciler.last(),
        busy=attempt is not None and attempt["state"] in ("planned", "applying"),
        attempt_error=attempt_error,
        # A guess to prefill (unchecked: the form's address is checked when it is sent).
        keys=page_context(live_configuration(current_app), request.url_root.rstrip("/")),
        problems=problems or [],
        notice=request.args.get("notice"),
        live_states=LIVE_STATES,
        problem_states=PROBLEM_STATES,
        state_labels=STATE_LABELS,
        state_label=state_label,
        when=when,
    )
    return _page_response(html, status, nonce)


def _base_problem() -> str | None:
    try:
        return base_problem(request_base())
    except BootstrapError as exc:
        return str(exc)


def render_page(problems: list[str], status: int) -> Response:
    """The page as it is now, with `problems` on top."""
    return _render(default_request(), problems=problems, status=status)


def _form_echo() -> inputs.ApplyRequest:
    """What the operator typed, shown again next to the problem (never silently dropped)."""
    typed = ",".join(request.form.getlist("service_point_carriers"))
    carriers = tuple(c.strip() for c in typed.split(",") if c.strip())
    return inputs.ApplyRequest(request.form.get("service_point_enabled") == "on", carriers)


def _with_hint(exc: BootstrapError) -> str:
    return f"{exc} {exc.hint}" if exc.hint else str(exc)


def back_to_page(**extra: Any) -> Response:
    # Post/redirect/get: reloading the page must not apply the change a second time.
    target = url_for("onboarding.page", **extra)
    return redirect(target, code=303)  # type: ignore[return-value]  # werkzeug returns a Response


def _page_response(html: str, status: int, nonce: str) -> Response:
    response = Response(html, status=status, mimetype="text/html")
    # The page carries the token: keep it out of caches, referrers and other sites' frames.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


@cache
def _asset(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")
