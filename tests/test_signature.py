"""Signature check: Sendcloud's test vector, rotation keys, and every rejection cause."""

from __future__ import annotations

import pytest

from receivers.signature import RejectionCause, SignatureRejected, SigningKeys, sign, verify

DOC_BODY = b'{"key": "value"}'
DOC_KEY = "secretkey"
DOC_SIGNATURE = "1eed4b3d41f4653ac64fd56f1bf1cbfd349e4482cbc11dff7134bd93e5da4b0a"


def test_sendclouds_documented_test_vector_is_accepted() -> None:
    assert sign(DOC_BODY, DOC_KEY) == DOC_SIGNATURE
    assert verify(DOC_BODY, DOC_SIGNATURE, SigningKeys(DOC_KEY)) == "current"


def test_the_same_json_without_the_space_is_rejected() -> None:
    with pytest.raises(SignatureRejected) as caught:
        verify(b'{"key":"value"}', DOC_SIGNATURE, SigningKeys(DOC_KEY))
    assert caught.value.cause is RejectionCause.MISMATCH


def test_hex_case_and_surrounding_whitespace_do_not_matter() -> None:
    assert verify(DOC_BODY, f"  {DOC_SIGNATURE.upper()} ", SigningKeys(DOC_KEY)) == "current"


def test_previous_key_is_accepted_during_rotation_and_reported() -> None:
    body = b'{"action": "test_webhook"}'
    keys = SigningKeys(current="new-key", previous="old-key")
    assert verify(body, sign(body, "old-key"), keys) == "previous"
    assert verify(body, sign(body, "new-key"), keys) == "current"


def test_old_key_is_refused_once_the_previous_key_is_removed() -> None:
    body = b'{"action": "test_webhook"}'
    with pytest.raises(SignatureRejected) as caught:
        verify(body, sign(body, "old-key"), SigningKeys(current="new-key"))
    assert caught.value.cause is RejectionCause.MISMATCH
    assert "different key" in str(caught.value)


@pytest.mark.parametrize(
    ("header", "keys", "cause"),
    [
        (DOC_SIGNATURE, SigningKeys(None), RejectionCause.NO_KEY),
        (None, SigningKeys(DOC_KEY), RejectionCause.MISSING),
        ("   ", SigningKeys(DOC_KEY), RejectionCause.MISSING),
        (DOC_SIGNATURE[:-1], SigningKeys(DOC_KEY), RejectionCause.MALFORMED),
        (DOC_SIGNATURE[:-1] + "g", SigningKeys(DOC_KEY), RejectionCause.MALFORMED),
        ("sha256=" + DOC_SIGNATURE, SigningKeys(DOC_KEY), RejectionCause.MALFORMED),
        ("é" * 64, SigningKeys(DOC_KEY), RejectionCause.MALFORMED),
        ("0" * 64, SigningKeys(DOC_KEY), RejectionCause.MISMATCH),
    ],
)
def test_each_rejection_names_its_cause(
    header: str | None, keys: SigningKeys, cause: RejectionCause
) -> None:
    with pytest.raises(SignatureRejected) as caught:
        verify(DOC_BODY, header, keys)
    assert caught.value.cause is cause


def test_rejections_and_key_reprs_never_show_the_key() -> None:
    keys = SigningKeys(current="super-secret-current", previous="super-secret-previous")
    with pytest.raises(SignatureRejected) as caught:
        verify(DOC_BODY, "0" * 64, keys)
    shown = str(caught.value) + repr(caught.value) + repr(keys)
    assert "super-secret" not in shown
