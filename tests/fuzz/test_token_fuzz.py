"""R29 under fuzzing: whatever is made of a tenant token (bytes flipped in its header, claims or signature;
claims of any shape signed by a foreign key; any `alg`; any junk in the Authorization header), the gateway
answers 401 with a code, never a 5xx or a success, and stores nothing."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import jwt
import pymongo
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts_common.tenant_tokens import thumbprint
from tests.support.services import Stack
from tests.support.tokens import TokenKit

pytestmark = pytest.mark.fuzz

TENANT = "acme"
CODES = {
    "UNAUTHORIZED",
    "TOKEN_MALFORMED",
    "TOKEN_ALGORITHM_REFUSED",
    "TOKEN_KEY_UNKNOWN",
    "TOKEN_SIGNATURE_INVALID",
    "TOKEN_EXPIRED",
    "TOKEN_NOT_YET_VALID",
    "TOKEN_AUDIENCE_INVALID",
    "TOKEN_ISSUER_INVALID",
    "TOKEN_CLAIM_MISSING",
    "TOKEN_CLAIM_INVALID",
    "TOKEN_LIFETIME_TOO_LONG",
    "TOKEN_INVALID",
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _flip(token: str, index: int, char: str) -> str:
    position = index % len(token)
    replaced = token[:position] + char + token[position + 1 :]
    return replaced if replaced != token else token[:position] + "Z" + token[position:]


def _tokens(kit: TokenKit) -> st.SearchStrategy[str]:
    good = kit.token(TENANT, "viewer")
    flipped = st.builds(_flip, st.just(good), st.integers(min_value=0), st.sampled_from("AZaz09-_.=+/ "))
    # Claims of any shape (wrong types included), signed as they are (JWS, no claim checks on the way) by a
    # trusted key or a foreign one, with or without a kid.
    odd_claims = st.builds(
        lambda claims, key, kid: jwt.api_jws.PyJWS().encode(
            json.dumps(claims).encode(), key, algorithm="ES256", headers={"kid": kid} if kid else None
        ),
        st.dictionaries(st.sampled_from(["iss", "aud", "sub", "tenant", "role", "iat", "exp", "nbf"]), JSON),
        st.sampled_from([kit.es256, kit.foreign]),
        st.sampled_from([None, thumbprint(kit.es256.public_key()), "rotated-away"]),
    )
    any_header = st.builds(
        lambda header, payload, signature: f"{_b64(json.dumps(header).encode())}.{payload}.{signature}",
        st.dictionaries(st.sampled_from(["alg", "kid", "typ", "jku", "x5u", "crit"]), JSON),
        st.just(good.split(".")[1]),
        st.sampled_from(["", good.split(".")[2], "AAAA"]),
    )
    # Printable: a control character is refused by the HTTP parser (400) before the gateway sees it.
    junk = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=200)
    return st.one_of(flipped, odd_claims, any_header, junk)


def _fuzz(base_url: str, stack: Stack, kit: TokenKit) -> int:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(stack.mongodb_url)
    db = client[stack.database]
    seen = 0
    good = kit.token(TENANT, "viewer")

    def counts() -> dict[str, int]:
        return {name: db[name].count_documents({}) for name in db.list_collection_names()}

    before = counts()
    try:
        with requests.Session() as http:

            @settings(
                max_examples=300,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(token=_tokens(kit), method=st.sampled_from(["GET", "PUT", "DELETE"]))
            def check(token: str, method: str) -> None:
                nonlocal seen
                if token == good:
                    return
                try:
                    headers = {"Authorization": f"Bearer {token}"}
                    response = http.request(
                        method,
                        f"{base_url}/api/v1/tenants/{TENANT}/ironclad/connection",
                        headers=headers,
                        json={} if method == "PUT" else None,
                        timeout=30,
                    )
                except ValueError:
                    return  # a header the HTTP client itself refuses to send
                seen += 1
                where = f"{method} with {token!r} -> {response.status_code}: {response.text[:300]}"
                assert response.status_code == 401, where
                assert response.json()["error"]["code"] in CODES, where

            check()
    finally:
        after = counts()
        client.close()
    assert after == before, "a refused token stored something"
    return seen


async def test_no_mangled_or_forged_token_gets_in(
    tenant_tokens: TokenKit, gateway: str, stack: Stack
) -> None:
    seen = await asyncio.to_thread(_fuzz, gateway, stack, tenant_tokens)
    assert seen > 250
