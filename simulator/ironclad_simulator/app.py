"""The aiohttp application: middleware (latency, auth, faults, rate limits, scopes, stats) and wiring."""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

from aiohttp import web

from ironclad_simulator.clock import iso_ms
from ironclad_simulator.control_api import DISPATCHER_KEY, ControlError, add_control_routes
from ironclad_simulator.errors import ApiError
from ironclad_simulator.http import error_response, json_response
from ironclad_simulator.public_api import (
    CTX_KEY,
    ROUTE_SCOPES,
    STATE_KEY,
    add_public_routes,
    authenticate,
)
from ironclad_simulator.records import API_PREFIX
from ironclad_simulator.state import Company, Fault, SimulatorState
from ironclad_simulator.webhooks import WebhookDispatcher

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_FAULT_BODIES = {
    429: {"code": "TOO_MANY_REQUESTS", "message": "too many requests"},
    500: {"code": "INTERNAL_ERROR", "message": "internal server error"},
    502: {"code": "BAD_GATEWAY", "message": "bad gateway"},
    503: {"code": "SERVICE_UNAVAILABLE", "message": "service unavailable"},
    504: {"code": "GATEWAY_TIMEOUT", "message": "gateway timeout"},
    401: {"code": "UNAUTHORIZED", "message": "invalid authentication token"},
    403: {"code": "FORBIDDEN", "message": "access forbidden"},
    404: {"code": "NOT_FOUND", "message": "not found"},
}


def bucket_for(method: str, rel_path: str) -> str:
    if rel_path == "/records" or rel_path.startswith("/records/"):
        return "records_read" if method in ("GET", "HEAD") else "records_write"
    if rel_path == "/workflows" or rel_path.startswith("/workflows/"):
        return "workflows_read" if method in ("GET", "HEAD") else "workflows_write"
    if rel_path == "/webhooks" or rel_path.startswith("/webhooks/"):
        return "webhooks"
    return "other"


def _route_template(request: web.Request) -> str | None:
    if request.match_info.http_exception is not None:
        return None
    resource = request.match_info.route.resource
    if resource is None:
        return None
    canonical = resource.canonical
    if canonical.startswith(API_PREFIX):
        return canonical[len(API_PREFIX) :] or "/"
    return canonical


def _match_fault(state: SimulatorState, request: web.Request, company_id: str | None) -> Fault | None:
    if not state.faults:
        return None
    query = {k: v for k, v in request.query.items()}
    for fault in state.faults:
        if fault.matches(request.method, request.path, query, company_id):
            return fault
    return None


async def _apply_fault(fault: Fault) -> web.Response | None:
    fault.hits += 1
    if fault.times > 0:
        fault.times -= 1
    if fault.delay_ms:
        await asyncio.sleep(fault.delay_ms / 1000)
    if fault.status is None:
        return None
    body = (
        fault.body
        if fault.body is not None
        else DEFAULT_FAULT_BODIES.get(fault.status, {"code": "ERROR", "message": "simulated fault"})
    )
    if isinstance(body, str):
        return web.Response(text=body, status=fault.status, content_type="text/plain", charset="utf-8")
    return json_response(body, status=fault.status)


def _rate_limit(state: SimulatorState, company: Company, bucket: str) -> web.Response | None:
    cfg = state.config
    if not cfg.rate_limits_enabled:
        return None
    limit = cfg.rate_limits.get(bucket)
    if limit is None or limit <= 0:
        return None
    now = state.clock.now()
    window = company.rate_windows.setdefault(bucket, deque())
    while window and window[0] <= now - 60.0:
        window.popleft()
    if len(window) >= limit:
        company.stats.rate_limited[bucket] += 1
        headers = None
        if cfg.retry_after_header:
            headers = {"Retry-After": str(max(1, math.ceil(window[0] + 60.0 - now)))}
        return json_response({"code": "TOO_MANY_REQUESTS", "message": "too many requests"}, 429, headers)
    window.append(now)
    return None


@web.middleware
async def simulator_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    path = request.path
    if path.startswith("/_sim/") or path == "/_sim":
        try:
            return await handler(request)
        except ControlError as exc:
            return json_response({"error": exc.message}, status=exc.status)
        except ApiError as exc:
            return error_response(exc)
        except ValueError as exc:
            return json_response({"error": str(exc)}, status=400)

    is_public = path == API_PREFIX or path.startswith(API_PREFIX + "/")
    is_oauth = path.startswith("/oauth/")
    if not (is_public or is_oauth):
        return await handler(request)

    cfg = state.config
    if cfg.latency_ms or cfg.latency_jitter_ms:
        delay = cfg.latency_ms + random.uniform(0, cfg.latency_jitter_ms)
        if delay > 0:
            await asyncio.sleep(delay / 1000)

    if is_oauth:
        fault = _match_fault(state, request, None)
        if fault is not None:
            resp = await _apply_fault(fault)
            if resp is not None:
                return resp
        return await handler(request)

    # Auth is checked before routing: an unknown path without a good token is a 401 too.
    try:
        ctx = authenticate(state, request)
    except ApiError as exc:
        return error_response(exc)
    request[CTX_KEY] = ctx
    company = ctx.company
    template = _route_template(request)
    rel = path[len(API_PREFIX) :] or "/"
    method = request.method
    company.stats.requests[f"{method} {template or rel}"] += 1
    if template == "/records" and method == "GET":
        try:
            company.stats.pages_requested.append(int(request.query.get("page") or 0))
        except ValueError:
            company.stats.pages_requested.append(-1)
        company.stats.listings.append(
            {
                "page": request.query.get("page", "0"),
                "sortField": request.query.get("sortField", "agreementDate"),
                "sortDirection": request.query.get("sortDirection", "DESC"),
                "lastUpdated": request.query.get("lastUpdated"),
                # When it arrived (simulator clock, after the latency): benchmarks time each tenant's passes.
                "at": iso_ms(state.clock.now()),
            }
        )

    fault = _match_fault(state, request, company.id)
    if fault is not None:
        resp = await _apply_fault(fault)
        if resp is not None:
            return resp

    limited = _rate_limit(state, company, bucket_for(method, template or rel))
    if limited is not None:
        return limited

    if template is None:
        exc_http = request.match_info.http_exception
        if exc_http is not None and exc_http.status == 405:
            return json_response({"code": "NOT_FOUND", "message": "not found"}, status=404)
        return json_response({"code": "NOT_FOUND", "message": "not found"}, status=404)

    scope = ROUTE_SCOPES.get((method, template))
    if scope is not None and scope not in ctx.token.scopes:
        return json_response({"code": "FORBIDDEN", "message": "access forbidden"}, status=403)
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    if "x-ironclad-requestid" not in response.headers:
        rid = str(uuid.uuid4())
        response.headers["x-ironclad-requestid"] = rid
        response.headers["x-response-id"] = rid
    if request.path.startswith(("/public/", "/oauth/")):
        response.headers.setdefault("cache-control", "no-store, no-cache")


async def _start_dispatcher(app: web.Application) -> None:
    await app[DISPATCHER_KEY].start()


async def _stop_dispatcher(app: web.Application) -> None:
    dispatcher = app.get(DISPATCHER_KEY)
    if dispatcher is not None:
        await dispatcher.stop()


def create_app(state: SimulatorState | None = None) -> web.Application:
    """Build the simulator application around `state` (a fresh one if omitted)."""
    app = web.Application(middlewares=[simulator_middleware], client_max_size=256 * 1024 * 1024)
    app[STATE_KEY] = state if state is not None else SimulatorState()
    app[DISPATCHER_KEY] = WebhookDispatcher(app[STATE_KEY])
    add_public_routes(app)
    add_control_routes(app)
    app.on_response_prepare.append(_add_request_id)
    app.on_startup.append(_start_dispatcher)
    app.on_cleanup.append(_stop_dispatcher)
    return app
