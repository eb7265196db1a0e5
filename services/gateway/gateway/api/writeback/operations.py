"""Write-back operations: stored as `queued`, queued for the importer, followed to their end.

An operation id asked again answers the same operation (`already_queued`); see the package docstring.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts_common.messages import WritebackTask
from contracts_common.messaging import BrokerUnavailable
from contracts_common.storage.audit import AuditAction
from contracts_common.storage.database import Document
from contracts_common.storage.writebacks import WritebackAction, WritebackOperation, WritebackRequest
from contracts_common.timeutil import iso
from contracts_common.writeback import (
    ACTIONS,
    find_contract,
    linked_record_id,
    scope_missing,
)
from gateway.api.connection_guard import require_connected
from gateway.auth import Access, Audit
from gateway.deps import GatewayDeps, deps
from gateway.errors import ApiError, parse_query
from gateway.models import Writeback, WritebackQueued, Writebacks
from gateway.openapi import READ_ERRORS, Api, respond

log = structlog.get_logger(__name__)
api = Api("Write-back")

BASE = "/api/v1/tenants/{tenant}/contracts/{contract_id}/writeback"
OPERATION_ID = r"^[A-Za-z0-9_-]{8,64}$"
OperationId = Annotated[str, StringConstraints(pattern=OPERATION_ID)]
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)


def writeback_audit(action: AuditAction) -> Audit:
    """A write-back's audit entry: the contract, the operation and whether it was asked before."""
    return Audit(action, answer=("operation_id", "status", "already_queued"), path=("contract_id",))


class WritebacksQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    contract_id: str | None = None
    limit: int = Field(default=50, ge=1, le=200)


async def checked_contract(d: GatewayDeps, tenant: str, contract_id: str, action: str) -> Document:
    """The contract to write back, once the connection and the scope the action needs are there."""
    await require_connected(d, tenant)
    connection = await d.connections.get(tenant)
    if ACTIONS[action].scope not in set((connection or {}).get("granted_scopes") or []):
        raise scope_missing(action)
    return await find_contract(d.contracts, tenant, contract_id)


def public_writeback(op: WritebackOperation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operation_id": op.operation_id,
        "action": op.action,
        "contract_id": op.contract_id,
        "status": op.status,
        "attempts": op.attempts,
        "created_at": iso(op.created_at),
        "updated_at": iso(op.updated_at),
        "finished_at": iso(op.finished_at),
    }
    if op.ironclad_record_id:
        out["ironclad_record_id"] = op.ironclad_record_id
    if op.error:
        out["error"] = op.error
    if op.result is not None:
        out["result"] = op.result
    return out


async def replay(
    d: GatewayDeps, tenant: str, operation_id: str | None, action: str, contract: Document
) -> web.Response | None:
    """The answer for an operation id asked before (same action and contract), else None."""
    if operation_id is None:
        return None
    existing = await d.writebacks.get(tenant, operation_id)
    if existing is None:
        return None
    if existing.action != action or existing.contract_id != str(contract["_id"]):
        raise ApiError(
            409,
            "OPERATION_ID_IN_USE",
            "This operation_id was already used for another write-back.",
            {"operation_id": operation_id},
        )
    body = {"operation_id": operation_id, "status": existing.status, "already_queued": True}
    return respond(WritebackQueued, body, status=202)


async def queue(
    d: GatewayDeps,
    tenant: str,
    action: WritebackAction,
    contract: Document,
    request: WritebackRequest,
    operation_id: str | None,
) -> web.Response:
    """Store the operation and queue its task; an operation id asked again answers the same operation."""
    operation_id = operation_id or uuid.uuid4().hex
    contract_id = str(contract["_id"])
    operation = WritebackOperation.queued(
        tenant,
        operation_id,
        action,
        contract_id,
        request,
        # A created record's id is set once the record exists.
        ironclad_record_id=None if action == "create_record" else linked_record_id(contract),
    )
    if not await d.writebacks.add(operation):
        answer = await replay(d, tenant, operation_id, action, contract)
        if answer is None:  # deleted in between
            raise ApiError(503, "TRY_AGAIN", "The operation changed meanwhile; try again.")
        return answer
    task = WritebackTask(
        tenant=tenant,
        operation_id=operation_id,
        action=action,
        contract_id=contract_id,
        document_id=request.document_id,
        attachment_key=request.attachment_key,
        record_type=request.record_type,
    )
    try:
        await d.broker.publish_with_retry(task, attempts=3, max_wait=2.0)
    except BrokerUnavailable as exc:
        error = {
            "code": "BROKER_UNAVAILABLE",
            "message": "The job queue was unavailable; nothing was written.",
            "details": {},
        }
        await d.writebacks.fail(tenant, operation_id, error)
        raise ApiError(
            503, "BROKER_UNAVAILABLE", "The job queue is unavailable right now; try again shortly."
        ) from exc
    log.info("writeback_queued", operation_id=operation_id, action=action, contract_id=contract_id)
    return respond(WritebackQueued, {"operation_id": operation_id, "status": "queued"}, status=202)


@api.get(
    "/api/v1/tenants/{tenant}/writebacks/{operation_id}", Writeback, errors=READ_ERRORS, access=Access.READ
)
async def get_writeback(request: web.Request) -> web.Response:
    """One write-back operation."""
    op = await deps(request).writebacks.get(request.match_info["tenant"], request.match_info["operation_id"])
    if op is None:
        raise ApiError(404, "OPERATION_NOT_FOUND", "No write-back operation with this id in this workspace.")
    return respond(Writeback, public_writeback(op))


@api.get(
    "/api/v1/tenants/{tenant}/writebacks",
    Writebacks,
    query=WritebacksQuery,
    errors=(400, 401),
    access=Access.READ,
)
async def list_writebacks(request: web.Request) -> web.Response:
    """Write-back operations, newest first."""
    d = deps(request)
    params = parse_query(request, WritebacksQuery)
    ops = await d.writebacks.recent(
        request.match_info["tenant"], limit=params.limit, contract_id=params.contract_id
    )
    return respond(Writebacks, {"items": [public_writeback(op) for op in ops]})
