"""Ironclad's webhook signature (eventId + body + nonce, RSA PKCS#1 v1.5) and the per-tenant key cache."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from contracts_common.messages import WebhookEvent
from gateway.webhooks.verification import (
    KeyCache,
    SignatureHeader,
    VerificationError,
    body_variants,
    parse_header,
    verify,
)
from importer.events import targets_of

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def header(
    key: rsa.RSAPrivateKey, event_id: str, body: bytes, nonce: str = "n0nce", encoding: str = "base64"
) -> str:
    signature = key.sign(event_id.encode() + body + nonce.encode(), padding.PKCS1v15(), hashes.SHA256())
    encoded = signature.hex() if encoding == "hex" else base64.b64encode(signature).decode()
    return json.dumps({"nonce": nonce, "signAlgorithm": "sha256", "signature": encoded, "encoding": encoding})


BODY = b'{"companyID":"c1","payload":{"event":"workflow_completed","workflowID":"w1"},"webhookID":"h1"}'


def test_a_valid_signature_verifies() -> None:
    parsed = parse_header(header(KEY, "ev1", BODY))
    assert verify(KEY.public_key(), "ev1", BODY, parsed)


@pytest.mark.parametrize(
    ("event_id", "body", "nonce"),
    [("ev2", BODY, "n0nce"), ("ev1", BODY.replace(b"w1", b"w2"), "n0nce"), ("ev1", BODY, "other")],
    ids=["event id", "body", "nonce"],
)
def test_tampering_fails(event_id: str, body: bytes, nonce: str) -> None:
    signed = parse_header(header(KEY, "ev1", BODY))
    tampered = SignatureHeader(nonce=nonce, algorithm=signed.algorithm, signature=signed.signature)
    assert not verify(KEY.public_key(), event_id, body, tampered)


def test_another_key_fails() -> None:
    assert not verify(OTHER.public_key(), "ev1", BODY, parse_header(header(KEY, "ev1", BODY)))


def test_a_pretty_printed_body_verifies_through_compact_json() -> None:
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert body_variants(pretty)[1] == BODY
    assert verify(KEY.public_key(), "ev1", pretty, parse_header(header(KEY, "ev1", BODY)))


def test_hex_encoding_is_accepted() -> None:
    assert verify(KEY.public_key(), "ev1", BODY, parse_header(header(KEY, "ev1", BODY, encoding="hex")))


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "not json",
        "[1]",
        json.dumps({"nonce": "n", "signature": ""}),
        json.dumps({"nonce": "n", "signature": "!!", "encoding": "base64"}),
        json.dumps({"nonce": "n", "signature": "AAAA", "signAlgorithm": "md5"}),
        json.dumps({"nonce": "n", "signature": "AAAA", "encoding": "rot13"}),
    ],
)
def test_malformed_headers_are_refused(value: str | None) -> None:
    with pytest.raises(VerificationError):
        parse_header(value)


async def test_the_key_is_cached_and_fetched_again_once_after_rotation() -> None:
    now = [0.0]
    cache = KeyCache(min_refetch_seconds=1.0, clock=lambda: now[0])
    current = [pem(KEY)]

    async def fetch() -> str:
        return current[0]

    ok = parse_header(header(KEY, "ev1", BODY))
    assert await cache.check("t", "ev1", BODY, ok, fetch)
    assert await cache.check("t", "ev1", BODY, ok, fetch)
    assert cache.fetches == 1

    current[0] = pem(OTHER)  # rotated in Ironclad
    rotated = parse_header(header(OTHER, "ev2", BODY))
    assert not await cache.check("t", "ev2", BODY, rotated, fetch), "refetches are bounded in time"
    assert cache.fetches == 1
    now[0] = 5.0
    assert await cache.check("t", "ev2", BODY, rotated, fetch)
    assert cache.fetches == 2
    # A forged delivery right after: no further fetch.
    assert not await cache.check("t", "ev3", BODY, ok, fetch)
    assert cache.fetches == 2


async def test_a_reconnect_drops_the_cached_key() -> None:
    cache = KeyCache()
    keys = iter([pem(KEY), pem(OTHER)])

    async def fetch() -> str:
        return next(keys)

    assert await cache.check("t", "e", BODY, parse_header(header(KEY, "e", BODY)), fetch, generation=1)
    assert await cache.check("t", "e", BODY, parse_header(header(OTHER, "e", BODY)), fetch, generation=2)
    assert cache.fetches == 2


def _event(event: str, payload: dict[str, object], event_id: str = "e") -> WebhookEvent:
    return WebhookEvent(
        tenant="t", event_id=event_id, event=event, payload=payload, received_at=datetime.now(UTC)
    )


def test_events_resolve_into_records_and_workflows() -> None:
    targets = targets_of(
        [
            _event("record_contract_status_changed", {"recordID": "r1"}),
            _event("record_contract_status_changed", {"recordId": "r1"}),
            _event("record_contract_status_changed", {"record": {"id": "r2"}}),
            _event("workflow_completed", {"workflowID": "w1"}),
            _event("workflow_updated", {"workflowID": "w1"}),
            _event("obligation_created", {"obligationID": "o1"}),
        ]
    )
    assert targets.record_ids == ["r1", "r2"]
    assert targets.workflow_ids == ["w1"]
    assert targets.ignored == 1
