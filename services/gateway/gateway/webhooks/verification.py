"""Ironclad's webhook signature: RSA (PKCS#1 v1.5) over eventId + body + nonce, and the key cache.

`X-Ironclad-Webhook-Verification` is a JSON object `{nonce, signAlgorithm, signature, encoding}`. The signed
bytes are the event id, the body as Node's `JSON.stringify` made it, and the nonce, in that order. We try
the raw body bytes first and fall back to a compact re-serialization of the parsed body (API notes §5.4).

Keys are cached per tenant. When a check fails, the key is fetched again once (single-flight per tenant, and
at most once per `min_refetch_seconds`), so a rotated key is picked up without a restart while a flood of
forged deliveries cannot turn into a flood of key requests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "rsa-sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "rsa-sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "rsa-sha512": hashes.SHA512,
}
MAX_HEADER_CHARS = 8192


class VerificationError(Exception):
    """The delivery's signature header is missing, malformed or does not match."""


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    nonce: str
    algorithm: str
    signature: bytes


def parse_header(value: str | None) -> SignatureHeader:
    if not value:
        raise VerificationError("missing X-Ironclad-Webhook-Verification")
    if len(value) > MAX_HEADER_CHARS:
        raise VerificationError("X-Ironclad-Webhook-Verification is too long")
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise VerificationError("X-Ironclad-Webhook-Verification is not JSON") from exc
    if not isinstance(data, dict):
        raise VerificationError("X-Ironclad-Webhook-Verification is not a JSON object")
    nonce, algorithm = data.get("nonce"), str(data.get("signAlgorithm") or "sha256").lower()
    signature, encoding = data.get("signature"), str(data.get("encoding") or "base64").lower()
    if not isinstance(nonce, str) or not isinstance(signature, str) or not signature:
        raise VerificationError("nonce and signature are required")
    if algorithm not in HASHES:
        raise VerificationError(f"unsupported signAlgorithm {algorithm!r}")
    try:
        if encoding == "base64":
            raw = base64.b64decode(signature, validate=True)
        elif encoding in ("base64url", "base64-url"):
            raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        elif encoding == "hex":
            raw = bytes.fromhex(signature)
        else:
            raise VerificationError(f"unsupported encoding {encoding!r}")
    except (binascii.Error, ValueError) as exc:
        raise VerificationError("signature is not validly encoded") from exc
    return SignatureHeader(nonce=nonce, algorithm=algorithm, signature=raw)


def load_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("utf-8"))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise VerificationError("the verification key is not a PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise VerificationError("the verification key is not an RSA key")
    return key


def body_variants(body: bytes) -> list[bytes]:
    """The raw bytes, then what `JSON.stringify` would have made of them (if that differs)."""
    variants = [body]
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return variants
    compact = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if compact != body:
        variants.append(compact)
    return variants


def verify(key: rsa.RSAPublicKey, event_id: str, body: bytes, header: SignatureHeader) -> bool:
    algorithm = HASHES[header.algorithm]
    prefix, suffix = event_id.encode("utf-8"), header.nonce.encode("utf-8")
    for variant in body_variants(body):
        try:
            key.verify(header.signature, prefix + variant + suffix, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            continue
        return True
    return False


KeyFetcher = Callable[[], Awaitable[str]]


@dataclass
class _Entry:
    key: rsa.RSAPublicKey | None = None
    fetched_at: float = 0.0
    generation: Any = None


class KeyCache:
    """Verification keys by tenant; refetched on a failed check (once, single-flight, rate-bounded)."""

    def __init__(
        self, *, min_refetch_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self.fetches = 0

    def forget(self, tenant: str) -> None:
        self._entries.pop(tenant, None)

    async def _fetch(self, tenant: str, fetch: KeyFetcher, generation: Any) -> rsa.RSAPublicKey:
        key = load_key(await fetch())
        self.fetches += 1
        self._entries[tenant] = _Entry(key=key, fetched_at=self._clock(), generation=generation)
        return key

    async def _key(self, tenant: str, fetch: KeyFetcher, generation: Any) -> rsa.RSAPublicKey:
        entry = self._entries.get(tenant)
        if entry is not None and entry.key is not None and entry.generation == generation:
            return entry.key
        async with self._locks.setdefault(tenant, asyncio.Lock()):
            entry = self._entries.get(tenant)
            if entry is not None and entry.key is not None and entry.generation == generation:
                return entry.key
            return await self._fetch(tenant, fetch, generation)

    async def _refetch(
        self, tenant: str, fetch: KeyFetcher, generation: Any, stale: rsa.RSAPublicKey
    ) -> rsa.RSAPublicKey | None:
        """A new key after `stale` failed; None when it was just fetched (or another caller refetched)."""
        async with self._locks.setdefault(tenant, asyncio.Lock()):
            entry = self._entries.get(tenant)
            if entry is not None and entry.key is not None and entry.key is not stale:
                return entry.key  # someone refetched while we waited
            if entry is not None and self._clock() - entry.fetched_at < self._min_refetch:
                return None
            return await self._fetch(tenant, fetch, generation)

    async def check(
        self,
        tenant: str,
        event_id: str,
        body: bytes,
        header: SignatureHeader,
        fetch: KeyFetcher,
        generation: Any = None,
    ) -> bool:
        """True when the signature matches the tenant's key, fetching the key again once if it did not.

        `generation` is the connection's generation: a reconnect (possibly another company) drops the key.
        Errors of `fetch` propagate (the caller answers 5xx so Ironclad retries).
        """
        key = await self._key(tenant, fetch, generation)
        if verify(key, event_id, body, header):
            return True
        renewed = await self._refetch(tenant, fetch, generation, key)
        if renewed is None or renewed is key:
            return False
        return verify(renewed, event_id, body, header)
