"""Tenant tokens for tests: key pairs made once per session, good tokens minted by the project's own
`mint`, and the bad tokens an attacker or a broken client would send."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from contracts_common.tenant_tokens import PrivateKey, Role, mint, thumbprint

ISSUER = "https://contracts-ai.test"
AUDIENCE = "contracts-ai-ironclad"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_pem(key: PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class TokenKit:
    """Three trusted keys (ES256, RS256, EdDSA: rotation and every accepted algorithm) and a foreign one."""

    es256: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    rs256: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    eddsa: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    foreign: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_keys(self) -> str:
        """TENANT_TOKEN_PUBLIC_KEYS: the three trusted public keys, PEM, one after the other."""
        return "\n".join(public_pem(k) for k in (self.es256, self.rs256, self.eddsa))

    def env(self) -> dict[str, str]:
        return {
            "TENANT_TOKEN_PUBLIC_KEYS": self.public_keys,
            "TENANT_TOKEN_ISSUER": ISSUER,
            "TENANT_TOKEN_AUDIENCE": AUDIENCE,
        }

    def token(
        self,
        tenant: str,
        role: Role = "admin",
        *,
        sub: str = "user-1@customer.example",
        key: PrivateKey | None = None,
        lifetime: int = 900,
        now: float | None = None,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
    ) -> str:
        return mint(
            key or self.es256,
            issuer=issuer,
            audience=audience,
            tenant=tenant,
            role=role,
            sub=sub,
            lifetime_seconds=lifetime,
            now=now,
        )

    def claims(self, for_tenant: str, /, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-1@customer.example",
            "tenant": for_tenant,
            "role": "admin",
            "iat": now,
            "exp": now + 600,
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def signed(self, claims: dict[str, Any], key: PrivateKey | None = None) -> str:
        return jwt.encode(claims, key or self.es256, algorithm="ES256")

    def bad_tokens(self, tenant: str) -> dict[str, tuple[str, str]]:
        """name -> (token, the 401 code it must get)."""
        now = int(time.time())
        header = {"alg": "HS256", "typ": "JWT"}
        payload = self.claims(tenant)
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        # The classic key-confusion attack: HMAC with the public key's PEM text as the shared secret.
        mac = hmac.new(public_pem(self.es256).encode(), signing_input.encode(), hashlib.sha256).digest()
        hs256_with_public_key = f"{signing_input}.{_b64(mac)}"
        none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        alg_none = f"{none_header}.{_b64(json.dumps(payload).encode())}."
        return {
            "expired": (self.signed(self.claims(tenant, iat=now - 1200, exp=now - 600)), "TOKEN_EXPIRED"),
            "not yet valid": (
                self.signed(self.claims(tenant, iat=now + 600, exp=now + 1200)),
                "TOKEN_NOT_YET_VALID",
            ),
            "not before": (self.signed(self.claims(tenant, nbf=now + 600)), "TOKEN_NOT_YET_VALID"),
            "wrong audience": (
                self.signed(self.claims(tenant, aud="someone-else")),
                "TOKEN_AUDIENCE_INVALID",
            ),
            "wrong issuer": (
                self.signed(self.claims(tenant, iss="https://evil.example")),
                "TOKEN_ISSUER_INVALID",
            ),
            "alg none": (alg_none, "TOKEN_ALGORITHM_REFUSED"),
            "HS256 with the public key as secret": (hs256_with_public_key, "TOKEN_ALGORITHM_REFUSED"),
            "missing tenant claim": (self.signed(self.claims(tenant, tenant=None)), "TOKEN_CLAIM_MISSING"),
            "missing role claim": (self.signed(self.claims(tenant, role=None)), "TOKEN_CLAIM_MISSING"),
            "missing sub claim": (self.signed(self.claims(tenant, sub=None)), "TOKEN_CLAIM_MISSING"),
            "unknown role": (self.signed(self.claims(tenant, role="owner")), "TOKEN_CLAIM_INVALID"),
            "lives over an hour": (
                self.signed(self.claims(tenant, iat=now, exp=now + 3601 + 60)),
                "TOKEN_LIFETIME_TOO_LONG",
            ),
            "signed by a foreign key": (self.token(tenant, key=self.foreign), "TOKEN_KEY_UNKNOWN"),
            "a trusted kid, signed by a foreign key": (
                jwt.encode(
                    self.claims(tenant),
                    self.foreign,
                    algorithm="ES256",
                    headers={"kid": thumbprint(self.es256.public_key())},
                ),
                "TOKEN_SIGNATURE_INVALID",
            ),
            "foreign key without kid": (
                jwt.encode(self.claims(tenant), self.foreign, algorithm="ES256"),
                "TOKEN_SIGNATURE_INVALID",
            ),
            "tampered payload": (_tampered(self.token(tenant, "viewer")), "TOKEN_SIGNATURE_INVALID"),
            "garbage": ("a.b.c", "TOKEN_MALFORMED"),
        }


def _tampered(token: str) -> str:
    """The same signature over claims changed from viewer to admin."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"
