"""Imports, reconciliations and the run history."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from contracts_common.commands import start_import, start_reconcile
from contracts_common.messaging import BrokerUnavailable
from contracts_common.storage.audit import AuditAction
from contracts_common.storage.runs import public_run
from gateway.api.connection_guard import require_connected
from gateway.auth import Access, Audit
from gateway.deps import deps
from gateway.errors import ApiError, parse_body, parse_query, read_json
from gateway.models import JsonInteger, Run, Runs, RunStarted, integer_schema
from gateway.openapi import READ_ERRORS, Api, respond

api = Api("Runs")


class RunsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: int = Field(default=50, ge=1, le=200, description="newest first, at most this many")
    kind: Literal["import", "webhook", "reconcile", "remap", "delta"] | None = None


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_contracts: Annotated[JsonInteger, Ge(1), Le(10_000_000), integer_schema(1, 10_000_000)] | None = None


def _broker_down(exc: Exception) -> ApiError:
    return ApiError(503, "BROKER_UNAVAILABLE", "The job queue is unavailable right now; try again shortly.")


@api.post(
    "/api/v1/tenants/{tenant}/ironclad/imports",
    RunStarted,
    status=202,
    body=ImportRequest,
    body_required=False,
    access=Access.WRITE,
    audit=Audit(AuditAction.IMPORT_STARTED, answer=("run_id", "max_contracts")),
)
async def start_import_route(request: web.Request) -> web.Response:
    """Start an import (records and their documents), optionally up to max_contracts."""
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = ImportRequest() if not request.can_read_body else await parse_body(request, ImportRequest)
    await require_connected(d, tenant)
    try:
        run = await start_import(d.db, d.broker, tenant, body.max_contracts)
    except BrokerUnavailable as exc:
        raise _broker_down(exc) from exc
    return respond(
        RunStarted,
        {"run_id": run["_id"], "status": run["status"], "max_contracts": body.max_contracts},
        status=202,
    )


@api.post(
    "/api/v1/tenants/{tenant}/ironclad/reconcile",
    RunStarted,
    status=202,
    access=Access.WRITE,
    audit=Audit(AuditAction.RECONCILE_STARTED, answer=("run_id", "already_running")),
)
async def start_reconcile_route(request: web.Request) -> web.Response:
    """Start a reconciliation now (full listing, repairs, deletions); one per tenant at a time."""
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
    return respond(
        RunStarted,
        {"run_id": run["_id"], "status": run["status"], "already_running": not started},
        status=202,
    )


@api.get(
    "/api/v1/tenants/{tenant}/ironclad/runs", Runs, query=RunsQuery, errors=(400, 401), access=Access.READ
)
async def list_runs(request: web.Request) -> web.Response:
    """Sync runs (import, webhook, reconcile, remap, delta), newest first, with their counters."""
    d = deps(request)
    query = parse_query(request, RunsQuery)
    runs = await d.runs.recent(request.match_info["tenant"], limit=query.limit, kind=query.kind)
    return respond(Runs, {"items": [public_run(r) for r in runs]})


@api.get("/api/v1/tenants/{tenant}/ironclad/runs/{run_id}", Run, errors=READ_ERRORS, access=Access.READ)
async def get_run(request: web.Request) -> web.Response:
    """One run."""
    run = await deps(request).runs.get(request.match_info["tenant"], request.match_info["run_id"])
    if run is None:
        raise ApiError(404, "RUN_NOT_FOUND", "No run with this id for this workspace.")
    return respond(Run, public_run(run))
