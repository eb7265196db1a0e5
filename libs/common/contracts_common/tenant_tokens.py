"""Tenant tokens: short-lived JWTs that Contracts AI's backend signs for one user of one workspace.

The gateway only verifies them (PyJWT with cryptography; nothing hand-made): public keys from
`TENANT_TOKEN_PUBLIC_KEYS` (PEM public keys or a JWKS document, inline or as file paths), the issuer and
audience checked, only RS256, ES256 and EdDSA accepted, the claims iss, aud, sub, tenant, role, iat and
exp required, and a lifetime (exp - iat) of at most an hour. Each refusal has its own code.

A key is chosen by the token's `kid`: a JWKS key's own `kid`, a PEM key's RFC 7638 thumbprint. A token
without `kid` is tried against every key of its algorithm (rotation with bare PEM keys).

`mint` and `generate_key_pair` serve the local run and the tests (`python -m contracts_common.ops
mint-token`); production tokens are made by Contracts AI's backend with its own private key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

# A workspace id of Contracts AI (the gateway contract's {tenant}); the one pattern every part checks.
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
REQUIRED_CLAIMS: tuple[str, ...] = ("iss", "aud", "sub", "tenant", "role", "iat", "exp")
ROLES: tuple[str, ...] = ("admin", "viewer")
MAX_LIFETIME_SECONDS = 3600
DEFAULT_LEEWAY_SECONDS = 30.0

Role = Literal["admin", "viewer"]
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class TokenRefused(Exception):
    """A tenant token that is not accepted: `code` is stable for clients, `message` a sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidKeys(ValueError):
    """TENANT_TOKEN_PUBLIC_KEYS cannot be read (the gateway refuses to start)."""


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    algorithm: str
    key: PublicKey


@dataclass(frozen=True)
class TenantClaims:
    sub: str
    tenant: str
    role: Role
    issued_at: int
    expires_at: int


def algorithm_of(key: PublicKey | PrivateKey) -> str:
    """The one algorithm a key is used with; any other key type is refused."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise InvalidKeys(f"an RSA key of {key.key_size} bits is too short (2048 at least)")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidKeys(f"an EC key on {key.curve.name}: only P-256 (ES256) is accepted")
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey | ed448.Ed448PublicKey):
        return "EdDSA"
    raise InvalidKeys(f"a {type(key).__name__}: only RSA, P-256 and Ed25519/Ed448 keys are accepted")


def thumbprint(key: PublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (base64url SHA-256 of its required members), used as its kid."""
    jwk: dict[str, Any]
    members: tuple[str, ...]
    if isinstance(key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
        members = ("e", "kty", "n")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
        members = ("crv", "kty", "x", "y")
    else:
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
        members = ("crv", "kty", "x")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]*PUBLIC KEY-----.+?-----END [A-Z ]*PUBLIC KEY-----", re.S)


def _from_pem(text: str) -> list[VerificationKey]:
    keys = []
    for block in _PEM_BLOCK.findall(text):
        try:
            key = serialization.load_pem_public_key(block.encode())
        except ValueError as exc:
            raise InvalidKeys(f"a PEM public key cannot be read: {exc}") from exc
        if not isinstance(key, PublicKey):
            raise InvalidKeys(f"a {type(key).__name__} is not a signing key")
        keys.append(VerificationKey(kid=thumbprint(key), algorithm=algorithm_of(key), key=key))
    if not keys:
        raise InvalidKeys("no '-----BEGIN PUBLIC KEY-----' block found")
    return keys


def _from_jwks(text: str) -> list[VerificationKey]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidKeys(f"the JWKS document is not JSON: {exc}") from exc
    entries = data.get("keys") if isinstance(data, dict) and "keys" in data else [data]
    if not isinstance(entries, list) or not entries:
        raise InvalidKeys("the JWKS document has no keys")
    keys = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if any(m in entry for m in ("d", "p", "q", "k")):
            raise InvalidKeys("the JWKS document holds a private or symmetric key; give public keys only")
        try:
            jwk = jwt.PyJWK.from_dict(entry)
        except jwt.PyJWTError as exc:
            raise InvalidKeys(f"a JWK cannot be read: {exc}") from exc
        key = jwk.key
        if not isinstance(key, PublicKey):
            raise InvalidKeys(f"a {type(key).__name__} is not a public signing key")
        algorithm = algorithm_of(key)
        if entry.get("alg") not in (None, algorithm):
            raise InvalidKeys(f"a JWK says alg {entry.get('alg')}: only {', '.join(ALGORITHMS)} are accepted")
        keys.append(
            VerificationKey(kid=str(entry.get("kid") or thumbprint(key)), algorithm=algorithm, key=key)
        )
    if not keys:
        raise InvalidKeys("the JWKS document has no signing keys")
    return keys


def load_keys(spec: str) -> list[VerificationKey]:
    """PEM public keys or a JWKS document, inline, or file paths (comma or newline separated)."""
    text = spec.strip()
    if not text:
        return []
    if "-----BEGIN" in text:
        return _unique(_from_pem(text))
    if text.startswith("{"):
        return _unique(_from_jwks(text))
    keys: list[VerificationKey] = []
    for name in filter(None, (p.strip() for p in re.split(r"[,\n]", text))):
        path = Path(name).expanduser()
        if not path.is_file():
            raise InvalidKeys(f"{name} is neither a PEM key, a JWKS document nor a readable file")
        keys.extend(load_keys(path.read_text(encoding="utf-8")))
    return _unique(keys)


def _unique(keys: list[VerificationKey]) -> list[VerificationKey]:
    kids = [k.kid for k in keys]
    if len(set(kids)) != len(kids):
        raise InvalidKeys("two keys share one kid")
    return keys


class TenantTokenVerifier:
    """Verifies tenant tokens against the configured keys, issuer and audience."""

    def __init__(
        self,
        keys: Sequence[VerificationKey],
        *,
        issuer: str,
        audience: str,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        max_lifetime_seconds: int = MAX_LIFETIME_SECONDS,
    ) -> None:
        self._keys = list(keys)
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds

    def _candidates(self, header: dict[str, Any]) -> list[VerificationKey]:
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRefused(
                "TOKEN_ALGORITHM_REFUSED",
                f"Tenant tokens must be signed with {', '.join(ALGORITHMS)}; this one says {algorithm!r}.",
            )
        kid = header.get("kid")
        if kid is not None:
            keys = [k for k in self._keys if k.kid == kid]
            if not keys:
                raise TokenRefused("TOKEN_KEY_UNKNOWN", "The token's kid names no key the gateway trusts.")
        else:
            keys = self._keys
        keys = [k for k in keys if k.algorithm == algorithm]
        if not keys:
            raise TokenRefused(
                "TOKEN_ALGORITHM_REFUSED", f"No trusted key is used with {algorithm}; the token is refused."
            )
        return keys

    def verify(self, token: str) -> TenantClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRefused("TOKEN_MALFORMED", "The bearer token is not a readable JWT.") from exc
        claims: dict[str, Any] | None = None
        last: Exception | None = None
        for key in self._candidates(header):
            try:
                claims = jwt.decode(
                    token,
                    key.key,
                    algorithms=[key.algorithm],
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=self._leeway,
                    options={"require": list(REQUIRED_CLAIMS), "verify_sub": False},
                )
                break
            except jwt.InvalidSignatureError as exc:
                last = exc  # another key (rotation without kid) may have signed it
            except jwt.PyJWTError as exc:
                raise _refusal(exc) from exc
        if claims is None:
            raise TokenRefused("TOKEN_SIGNATURE_INVALID", "The token's signature does not verify.") from last
        return self._checked(claims)

    def _checked(self, claims: dict[str, Any]) -> TenantClaims:
        sub, tenant, role = claims["sub"], claims["tenant"], claims["role"]
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(sub, str) or not 0 < len(sub) <= 256:
            raise TokenRefused(
                "TOKEN_CLAIM_INVALID", "The claim sub must name the user (1 to 256 characters)."
            )
        if not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant):
            raise TokenRefused("TOKEN_CLAIM_INVALID", "The claim tenant must be a workspace id.")
        if role not in ROLES:
            raise TokenRefused("TOKEN_CLAIM_INVALID", "The claim role must be admin or viewer.")
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise TokenRefused("TOKEN_CLAIM_INVALID", "The claims iat and exp must be numbers.")
        if exp - iat > self._max_lifetime:
            raise TokenRefused(
                "TOKEN_LIFETIME_TOO_LONG",
                f"A tenant token may live at most {self._max_lifetime} s (exp - iat); this one lives longer.",
            )
        return TenantClaims(sub=sub, tenant=tenant, role=role, issued_at=int(iat), expires_at=int(exp))


def _refusal(exc: Exception) -> TokenRefused:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return TokenRefused("TOKEN_EXPIRED", "The tenant token has expired; get a new one.")
    if isinstance(exc, jwt.ImmatureSignatureError):
        return TokenRefused("TOKEN_NOT_YET_VALID", "The tenant token is not valid yet (iat or nbf).")
    if isinstance(exc, jwt.InvalidAudienceError):
        return TokenRefused("TOKEN_AUDIENCE_INVALID", "The tenant token is meant for another audience.")
    if isinstance(exc, jwt.InvalidIssuerError):
        return TokenRefused("TOKEN_ISSUER_INVALID", "The tenant token comes from an issuer not trusted here.")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return TokenRefused("TOKEN_CLAIM_MISSING", f"The tenant token lacks the claim {exc.claim}.")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return TokenRefused("TOKEN_ALGORITHM_REFUSED", "The token's algorithm is not accepted.")
    if isinstance(exc, jwt.InvalidSignatureError):
        return TokenRefused("TOKEN_SIGNATURE_INVALID", "The token's signature does not verify.")
    return TokenRefused("TOKEN_INVALID", f"The tenant token is invalid: {exc}.")


# ---------------------------------------------------------------------------------------------- minting


def generate_key_pair(directory: Path) -> tuple[Path, Path]:
    """An ES256 (P-256) key pair as `tenant-token-private.pem` / `tenant-token-public.pem` under
    `directory`, made once (kept when present)."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / "tenant-token-private.pem"
    public_path = directory / "tenant-token-public.pem"
    if not private_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        private_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private_path.chmod(0o600)
        public_path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private_path, public_path


def load_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise InvalidKeys(f"{path}: a {type(key).__name__} cannot sign tenant tokens")
    return key


def mint(
    private_key: PrivateKey,
    *,
    issuer: str,
    audience: str,
    tenant: str,
    role: Role,
    sub: str,
    lifetime_seconds: int = 3600,
    now: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A tenant token signed with `private_key` (kid: its public key's thumbprint)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "tenant": tenant,
        "role": role,
        "iat": issued,
        "exp": issued + lifetime_seconds,
        "jti": uuid.uuid4().hex,
        **(extra or {}),
    }
    public = private_key.public_key()
    return jwt.encode(
        claims, private_key, algorithm=algorithm_of(private_key), headers={"kid": thumbprint(public)}
    )
