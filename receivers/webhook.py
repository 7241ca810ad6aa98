"""`POST /webhooks/sendcloud`, the receiver's route (contract: docs/receiver.md)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from receivers.error_handlers import json_error
from receivers.errors import StorageUnavailable
from receivers.services import services
from receivers.signature import SignatureRejected

log = logging.getLogger(__name__)

PATH = "/webhooks/sendcloud"
blueprint = Blueprint("webhook", __name__)


# POST only: no automatic OPTIONS answer, every other method is a 405 with `Allow: POST`.
@blueprint.post(PATH, provide_automatic_options=False)
def receive() -> Response:
    """Verify, store durably, then answer: 200 stored/duplicate, 401, 400, 413 or 503."""
    found = services(current_app)
    limit = found.settings.max_body_bytes
    declared = request.headers.get("Content-Length")
    if declared is not None and not declared.isdigit():
        return json_error("the Content-Length header is not a number", 400)
    # werkzeug refuses a declared length over this unread, and stops a chunked body there:
    # one byte more than the limit tells a body at the limit from one over it.
    request.max_content_length = limit + 1
    try:
        # The raw bytes, unparsed: the signature covers exactly these (any content type).
        body: bytes | None = request.get_data(cache=False)
    except RequestEntityTooLarge:
        body = None
    except ClientDisconnected:
        return json_error("the request body ended before its Content-Length", 400)
    if body is None or len(body) > limit:
        return json_error(f"request body is larger than the {limit} byte limit", 413)
    try:
        receipt = found.receiver.receive(body, request.headers.get("Sendcloud-Signature"))
    except SignatureRejected as exc:
        return json_error(f"signature rejected: {exc}", 401)
    except StorageUnavailable as exc:
        # Not acknowledged, so Sendcloud delivers it again later.
        log.warning("storage_unavailable method=POST path=%s error=%s", PATH, exc)
        message = "storage unavailable, delivery not stored; retry later"
        return json_error(message, 503, {"Retry-After": "30"})
    answer = b'{"status": "duplicate"}' if receipt.duplicate else b'{"status": "stored"}'
    return Response(answer, mimetype="application/json")
