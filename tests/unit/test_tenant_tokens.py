"""TENANT_TOKEN_PUBLIC_KEYS in each accepted form, rotation by kid, and keys that must stop the gateway."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from contracts_common.tenant_tokens import (
    InvalidKeys,
    TenantTokenVerifier,
    TokenRefused,
    load_keys,
    mint,
    thumbprint,
)
from tests.support.tokens import AUDIENCE, ISSUER, TokenKit, public_pem

KIT = TokenKit()


def _verifier(spec: str) -> TenantTokenVerifier:
    return TenantTokenVerifier(load_keys(spec), issuer=ISSUER, audience=AUDIENCE)


def test_pem_keys_inline_get_their_thumbprint_as_kid_and_each_verifies_its_tokens() -> None:
    keys = load_keys(KIT.public_keys)
    assert [k.algorithm for k in keys] == ["ES256", "RS256", "EdDSA"]
    assert keys[0].kid == thumbprint(KIT.es256.public_key())
    verifier = _verifier(KIT.public_keys)
    for key in (KIT.es256, KIT.rs256, KIT.eddsa):
        claims = verifier.verify(KIT.token("acme", "viewer", key=key, sub="u1"))
        assert (claims.tenant, claims.role, claims.sub) == ("acme", "viewer", "u1")


def test_a_jwks_document_inline_or_as_a_file(tmp_path: Path) -> None:
    jwks = {
        "keys": [
            {**jwt.algorithms.ECAlgorithm.to_jwk(KIT.es256.public_key(), as_dict=True), "kid": "2026-12"},
            {**jwt.algorithms.RSAAlgorithm.to_jwk(KIT.rs256.public_key(), as_dict=True), "kid": "2026-11"},
        ]
    }
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    for spec in (json.dumps(jwks), str(path)):
        verifier = _verifier(spec)
        token = jwt.encode(KIT.claims("acme"), KIT.rs256, algorithm="RS256", headers={"kid": "2026-11"})
        assert verifier.verify(token).tenant == "acme"
        # The kid chooses the key: the other key's kid does not verify it.
        wrong = jwt.encode(KIT.claims("acme"), KIT.rs256, algorithm="RS256", headers={"kid": "2026-12"})
        with pytest.raises(TokenRefused) as refused:
            verifier.verify(wrong)
        assert refused.value.code == "TOKEN_ALGORITHM_REFUSED"


def test_several_pem_files_rotate(tmp_path: Path) -> None:
    old, new = tmp_path / "old.pem", tmp_path / "new.pem"
    old.write_text(public_pem(KIT.rs256))
    new.write_text(public_pem(KIT.es256))
    verifier = _verifier(f"{old},{new}")
    for key in (KIT.rs256, KIT.es256):
        assert verifier.verify(KIT.token("acme", key=key)).role == "admin"


@pytest.mark.parametrize(
    "spec",
    [
        "/no/such/file.pem",
        "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----",
        json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        public_pem(ec.generate_private_key(ec.SECP384R1())),
        json.dumps({"keys": []}),
    ],
    ids=["missing file", "bad pem", "symmetric jwk", "short rsa", "p-384", "empty jwks"],
)
def test_keys_that_cannot_be_trusted_stop_the_start(spec: str) -> None:
    with pytest.raises(InvalidKeys):
        load_keys(spec)


def test_unset_keys_are_no_keys() -> None:
    assert load_keys("") == []
    assert load_keys("  \n") == []


def test_every_bad_token_has_its_code() -> None:
    verifier = _verifier(KIT.public_keys)
    for name, (token, code) in KIT.bad_tokens("acme").items():
        with pytest.raises(TokenRefused) as refused:
            verifier.verify(token)
        assert refused.value.code == code, name


def test_small_clock_skew_is_tolerated() -> None:
    verifier = _verifier(KIT.public_keys)
    now = time.time()
    assert verifier.verify(KIT.token("acme", now=now + 10)).tenant == "acme"  # iat 10 s ahead
    expired_just = KIT.signed(KIT.claims("acme", iat=int(now) - 620, exp=int(now) - 20))
    assert verifier.verify(expired_just).tenant == "acme"


def test_minted_tokens_name_their_key() -> None:
    token = mint(KIT.eddsa, issuer=ISSUER, audience=AUDIENCE, tenant="demo", role="admin", sub="dev")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": thumbprint(KIT.eddsa.public_key()), "typ": "JWT"}
