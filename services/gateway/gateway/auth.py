"""Who may call what, decided in one place from each operation's declaration.

Every operation declares its `Access` (gateway.openapi `Api.get(..., access=...)`); `access_middleware`
enforces it before any handler runs, and records the operation's `Audit` action after it succeeded:

- `PUBLIC`: no credential (probes, the page, this document, Ironclad's signed webhooks).
- `PLATFORM`: the platform key (`ADMIN_API_TOKEN`) only: backend to backend, every tenant, and the only
  way to tenant-less operator endpoints.
- `READ`: the platform key, or a tenant token (viewer or admin) of the path's tenant; on a tenant-less
  path (the scopes table, the contract fields) any valid tenant token.
- `WRITE`: the platform key, or an admin's tenant token of the path's tenant.

Refusals: no credential, a wrong one, or a bad, expired or foreign tenant token `401` (each with its code);
a token in the query string `401 TOKEN_IN_QUERY`; another tenant `403 TENANT_FORBIDDEN`; a viewer on
anything but a read `403 ROLE_FORBIDDEN`; a tenant token on a platform operation `403
PLATFORM_KEY_REQUIRED`. A refused request reaches no handler, so nothing is done.
"""

from __future__ import annotations

import enum
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import structlog
from aiohttp import web

from contracts_common.settings import GatewaySettings
from contracts_common.storage.audit import AuditAction, AuditActor, AuditLog
from contracts_common.tenant_tokens import TENANT_PATTERN, TenantTokenVerifier, TokenRefused, load_keys
from gateway.deps import deps
from gateway.errors import ApiError, Handler, error_response

if TYPE_CHECKING:
    from gateway.openapi import Operation

__all__ = ["TENANT_PATTERN", "Access", "Actor", "Audit", "access_middleware"]

log = structlog.get_logger(__name__)

# Query parameters that would carry a credential: refused, so no token ends up in a log or a history.
QUERY_TOKEN_NAMES = frozenset({"access_token", "token", "id_token", "jwt", "authorization", "bearer"})


class Access(enum.Enum):
    PUBLIC = "public"
    PLATFORM = "platform"
    READ = "read"
    WRITE = "write"

    @property
    def role(self) -> str:
        """What the OpenAPI document says the operation needs (`x-required-role`)."""
        return {"public": "none", "platform": "platform", "read": "viewer", "write": "admin"}[self.value]


@dataclass(frozen=True)
class Actor:
    kind: Literal["platform", "user"]
    sub: str | None = None
    role: Literal["admin", "viewer"] | None = None
    tenant: str | None = None

    @property
    def audit(self) -> AuditActor:
        return AuditActor(kind=self.kind, sub=self.sub, role=self.role)


PLATFORM = Actor(kind="platform")
ACTOR = web.RequestKey("actor", Actor)


def _picked(answer: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: answer[name] for name in names if answer.get(name) is not None}


@dataclass(frozen=True)
class Audit:
    """What an operation records in the audit trail when it succeeds: its action (or a choice of
    action from the answer) and the answer fields and path parameters to keep as details."""

    action: AuditAction
    answer: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    choose: Callable[[dict[str, Any]], AuditAction] | None = field(default=None, compare=False)

    def entry(self, request: web.Request, answer: dict[str, Any]) -> tuple[AuditAction, dict[str, Any]]:
        details = {name: request.match_info[name] for name in self.path if name in request.match_info}
        details |= _picked(answer, self.answer)
        return (self.choose(answer) if self.choose else self.action), details


def tenant_token_verifier(settings: GatewaySettings) -> TenantTokenVerifier | None:
    """The verifier of TENANT_TOKEN_PUBLIC_KEYS, or None when unset (only the platform key works).
    Keys that cannot be read stop the gateway at start-up."""
    keys = load_keys(settings.tenant_token_public_keys or "")
    if not keys:
        return None
    assert settings.tenant_token_issuer is not None  # GatewaySettings requires it with keys
    return TenantTokenVerifier(
        keys,
        issuer=settings.tenant_token_issuer,
        audience=settings.tenant_token_audience,
        leeway_seconds=settings.tenant_token_leeway_seconds,
    )


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message)


def _challenge(exc: ApiError) -> web.Response:
    """A 401 with its RFC 6750 challenge, naming the refusal's code."""
    answer = error_response(exc.status, exc.code, exc.message, exc.details)
    error = "invalid_request" if exc.code in ("UNAUTHORIZED", "TOKEN_IN_QUERY") else "invalid_token"
    answer.headers["WWW-Authenticate"] = (
        f'Bearer realm="contracts-ai", error="{error}", error_description="{exc.code}"'
    )
    return answer


def _presented(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise _unauthorized(
            "UNAUTHORIZED",
            "A valid platform key or tenant token is required: send Authorization: Bearer <token>.",
        )
    return presented


class Authenticator:
    def __init__(self, platform_key: str, verifier: TenantTokenVerifier | None) -> None:
        self._platform_key = platform_key.encode()
        self._verifier = verifier

    def actor(self, request: web.Request) -> Actor:
        if QUERY_TOKEN_NAMES & {name.lower() for name in request.query}:
            raise _unauthorized(
                "TOKEN_IN_QUERY",
                "Tokens are not taken from the query string (it ends up in logs and histories); "
                "send Authorization: Bearer <token>.",
            )
        presented = _presented(request)
        if hmac.compare_digest(presented.encode(), self._platform_key):
            return PLATFORM
        if presented.count(".") != 2:
            raise _unauthorized(
                "UNAUTHORIZED",
                "A valid platform key or tenant token is required: send Authorization: Bearer <token>.",
            )
        if self._verifier is None:
            raise _unauthorized(
                "TENANT_TOKENS_DISABLED",
                "This gateway accepts no tenant tokens (TENANT_TOKEN_PUBLIC_KEYS is not set).",
            )
        try:
            claims = self._verifier.verify(presented)
        except TokenRefused as exc:
            log.info("tenant_token_refused", code=exc.code)
            raise _unauthorized(exc.code, exc.message) from exc
        return Actor(kind="user", sub=claims.sub, role=claims.role, tenant=claims.tenant)


def authorize(actor: Actor, access: Access, tenant: str | None) -> None:
    if actor.kind == "platform" or access is Access.PUBLIC:
        return
    if access is Access.PLATFORM:
        raise ApiError(
            403,
            "PLATFORM_KEY_REQUIRED",
            "This operation is for the platform's backend only, not a tenant token.",
        )
    if tenant is not None and tenant != actor.tenant:
        raise ApiError(403, "TENANT_FORBIDDEN", "This token is for another workspace.", {"tenant": tenant})
    if access is Access.WRITE and actor.role != "admin":
        raise ApiError(
            403, "ROLE_FORBIDDEN", f"A {actor.role} may only read; this needs an admin.", {"role": actor.role}
        )


def _operation_of(
    request: web.Request, operations: Mapping[tuple[str, str], Operation]
) -> tuple[bool, Operation | None]:
    """(the path and verb matched a route, its declaration)."""
    resource = request.match_info.route.resource
    if resource is None:
        return False, None
    method = "get" if request.method == "HEAD" else request.method.lower()
    return True, operations.get((method, resource.canonical))


def _tenant(request: web.Request) -> str | None:
    tenant = request.match_info.get("tenant")
    if tenant is not None and not TENANT_PATTERN.fullmatch(tenant):
        raise ApiError(
            400,
            "INVALID_TENANT",
            f"The tenant id must match {TENANT_PATTERN.pattern}.",
            {"field": "tenant"},
        )
    return tenant


async def _record(request: web.Request, audit: Audit, actor: Actor, tenant: str, answer: bytes) -> None:
    try:
        body = json.loads(answer) if answer else {}
        action, details = audit.entry(request, body if isinstance(body, dict) else {})
        await AuditLog(deps(request).db).record(tenant, actor.audit, action, details)
    except Exception:
        # The change was made and answered; a lost audit line is logged loudly, not turned into a failure.
        log.exception("audit_record_failed", action=audit.action.value)


def access_middleware(
    platform_key: str,
    verifier: TenantTokenVerifier | None,
    operations: Mapping[tuple[str, str], Operation],
) -> web.middleware:  # type: ignore[valid-type]
    authenticator = Authenticator(platform_key, verifier)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        matched, op = _operation_of(request, operations)
        if op is not None and op.access is Access.PUBLIC:
            return await handler(request)
        if op is None and not request.path.startswith("/api/v1/"):
            return await handler(request)
        try:
            actor = authenticator.actor(request)
        except ApiError as exc:
            return _challenge(exc)
        if op is None:
            # Under the API without a declaration: a route nobody declared (fail closed: platform key only),
            # or an unknown path or verb (404/405 after a valid credential).
            if matched:
                authorize(actor, Access.PLATFORM, None)
            return await handler(request)
        tenant = _tenant(request)
        authorize(actor, op.access, tenant)
        request[ACTOR] = actor
        with structlog.contextvars.bound_contextvars(
            actor=actor.kind, actor_sub=actor.sub, actor_role=actor.role
        ):
            response = await handler(request)
            if op.audit is not None and tenant is not None and 200 <= response.status < 300:
                body = response.body if isinstance(response, web.Response) else None
                await _record(request, op.audit, actor, tenant, body if isinstance(body, bytes) else b"")
        return response

    return middleware
