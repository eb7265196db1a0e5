"""Imports, reconciliations and the run history."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from contracts_common.commands import start_import, start_reconcile
from contracts_common.messaging import BrokerUnavailable
from contracts_common.storage.runs import public_run
from gateway.api.connection_guard import require_connected
from gateway.deps import deps
from gateway.errors import ApiError, parse_body, read_json

routes = web.RouteTableDef()


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_contracts: Annotated[int, Field(ge=1, le=10_000_000, strict=True)] | None = None


def _broker_down(exc: Exception) -> ApiError:
    return ApiError(503, "BROKER_UNAVAILABLE", "The job queue is unavailable right now; try again shortly.")


@routes.post("/api/v1/tenants/{tenant}/ironclad/imports")
async def start_import_route(request: web.Request) -> web.Response:
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = ImportRequest() if not request.can_read_body else await parse_body(request, ImportRequest)
    await require_connected(d, tenant)
    try:
        run = await start_import(d.db, d.broker, tenant, body.max_contracts)
    except BrokerUnavailable as exc:
        raise _broker_down(exc) from exc
    return web.json_response({"run_id": run["_id"], "status": run["status"]}, status=202)


@routes.post("/api/v1/tenants/{tenant}/ironclad/reconcile")
async def start_reconcile_route(request: web.Request) -> web.Response:
    d = deps(request)
    tenant = request.match_info["tenant"]
    if request.can_read_body:
        body = await read_json(request)
        if body not in ({}, None):
            raise ApiError(
                422, "VALIDATION_FAILED", "This call takes no body fields.", {"fields": list(body)}
            )
    await require_connected(d, tenant)
    try:
        run, started = await start_reconcile(d.db, d.broker, tenant)
    except BrokerUnavailable as exc:
        raise _broker_down(exc) from exc
    return web.json_response(
        {"run_id": run["_id"], "status": run["status"], "already_running": not started}, status=202
    )


@routes.get("/api/v1/tenants/{tenant}/ironclad/runs")
async def list_runs(request: web.Request) -> web.Response:
    d = deps(request)
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError as exc:
        raise ApiError(
            400, "INVALID_PARAM", "limit must be an integer from 1 to 200.", {"field": "limit"}
        ) from exc
    if not 1 <= limit <= 200:
        raise ApiError(400, "INVALID_PARAM", "limit must be an integer from 1 to 200.", {"field": "limit"})
    kind = request.query.get("kind")
    runs = await d.runs.recent(request.match_info["tenant"], limit=limit, kind=kind)
    return web.json_response({"items": [public_run(r) for r in runs]})


@routes.get("/api/v1/tenants/{tenant}/ironclad/runs/{run_id}")
async def get_run(request: web.Request) -> web.Response:
    run = await deps(request).runs.get(request.match_info["tenant"], request.match_info["run_id"])
    if run is None:
        raise ApiError(404, "RUN_NOT_FOUND", "No run with this id for this workspace.")
    return web.json_response(public_run(run))
