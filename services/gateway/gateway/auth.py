"""Admin API authentication: a bearer token compared in constant time; tenant ids checked up front."""

from __future__ import annotations

import hmac
import re

from aiohttp import web

from gateway.errors import Handler, error_response

TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def admin_auth_middleware(token: str) -> web.middleware:  # type: ignore[valid-type]
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/v1/") and request.path != "/api/v1/openapi.json":
            header = request.headers.get("Authorization", "")
            scheme, _, presented = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
                return error_response(
                    401,
                    "UNAUTHORIZED",
                    "A valid admin token is required: send Authorization: Bearer <token>.",
                )
            tenant = request.match_info.get("tenant")
            if tenant is not None and not TENANT_PATTERN.fullmatch(tenant):
                return error_response(
                    400,
                    "INVALID_TENANT",
                    "The tenant id must match ^[a-z0-9][a-z0-9-]{0,62}$.",
                    {"field": "tenant"},
                )
        return await handler(request)

    return middleware
