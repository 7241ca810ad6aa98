"""The webhook endpoint `POST /webhooks/sendcloud`: thin glue around `handling.Receiver`."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from receivers.errors import StorageUnavailable
from receivers.signature import SignatureRejected

blueprint = Blueprint("webhooks", __name__)

# Pre-encoded: the success answer is the same for every delivery.
_STORED = b'{"status": "stored"}'
_DUPLICATE = b'{"status": "duplicate"}'


def _json(body: bytes, status: int, **headers: str) -> Response:
    return Response(body, status=status, mimetype="application/json", headers=headers)


def _error(message: str, status: int, **headers: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


@blueprint.post("/webhooks/sendcloud")
def receive() -> Response:
    """Verify, store durably, then acknowledge (the contract table is in the README)."""
    from receivers import services

    receiver = services(current_app).receiver
    # The raw bytes, unparsed: the signature covers exactly these (any content type).
    body = request.get_data(cache=False)
    try:
        receipt = receiver.receive(body, request.headers.get("Sendcloud-Signature"))
    except SignatureRejected as exc:
        return _error(f"signature rejected: {exc}", 401)
    except StorageUnavailable:
        # Not acknowledged, so Sendcloud delivers it again later.
        return _error(
            "storage unavailable, delivery not stored; retry later", 503, **{"Retry-After": "30"}
        )
    return _json(_DUPLICATE if receipt.duplicate else _STORED, 200)


@blueprint.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge) -> Response:
    """Bodies over the limit are refused before anything is read or stored."""
    from receivers import services

    limit = services(current_app).settings.max_body_bytes
    return _error(f"request body is larger than the {limit} byte limit", 413)
