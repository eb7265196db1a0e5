"""The gateway's aiohttp application: middlewares, routes, probes, OpenAPI and the admin page."""

from __future__ import annotations

import uuid
from pathlib import Path

import structlog
from aiohttp import web

from contracts_common.health import add_probe_routes
from gateway.auth import access_middleware, tenant_token_verifier
from gateway.deps import DEPS, GatewayDeps
from gateway.errors import Handler, error_middleware
from gateway.openapi import all_apis, all_operations, openapi_document, operation_table

ADMIN_DIR = Path(__file__).parent / "admin" / "static"
ADMIN_STATIC = "/admin/static/"
# The page's scripts are ES modules, which a browser runs only when served with a JavaScript type. The
# static route guesses types from the host's mime tables, which differ (application/javascript, or none
# without /etc/mime.types): the admin files get theirs from this table instead, the same everywhere.
ADMIN_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a correlation id (and the tenant) to every log line of this request."""
    correlation_id = request.headers.get("X-Correlation-Id") or uuid.uuid4().hex
    values = {"correlation_id": correlation_id}
    if tenant := request.match_info.get("tenant"):
        values["tenant"] = tenant
    with structlog.contextvars.bound_contextvars(**values):
        response = await handler(request)
    response.headers["X-Correlation-Id"] = correlation_id
    return response


async def admin_content_type(request: web.Request, response: web.StreamResponse) -> None:
    """Give the admin page's static files their content type from ADMIN_TYPES, and forbid sniffing."""
    if request.path.startswith(ADMIN_STATIC):
        wanted = ADMIN_TYPES.get(Path(request.path).suffix)
        if wanted and response.status == 200:
            response.headers["Content-Type"] = f"{wanted}; charset=utf-8"
        response.headers["X-Content-Type-Options"] = "nosniff"


def create_app(d: GatewayDeps) -> web.Application:
    app = web.Application(
        middlewares=[
            context_middleware,
            error_middleware,
            access_middleware(
                d.settings.admin_api_token.get_secret_value(),
                tenant_token_verifier(d.settings),
                operation_table(all_operations()),
            ),
        ],
        client_max_size=d.settings.api_max_body_bytes,
    )
    app[DEPS] = d

    async def readiness() -> dict[str, bool]:
        return {"broker": d.broker.is_ready(), "database": await d.db.ping()}

    add_probe_routes(app, readiness)
    for api in all_apis():
        app.router.add_routes(api.routes)

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def admin_index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(ADMIN_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def admin_redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/admin/")

    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/admin", admin_redirect)
    app.router.add_get("/admin/", admin_index)
    if ADMIN_DIR.exists():
        app.router.add_static(ADMIN_STATIC, ADMIN_DIR)
        app.on_response_prepare.append(admin_content_type)
    return app
