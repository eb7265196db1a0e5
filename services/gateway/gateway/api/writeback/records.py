"""Write-back of records: create an Ironclad record from a contract, or update the linked one."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts_common.storage.audit import AuditAction
from contracts_common.storage.writebacks import WritebackRequest
from contracts_common.writeback import (
    contract_already_linked,
    contract_not_linked,
    linked_record_id,
    unknown_record_type,
)
from gateway.api.writeback.operations import (
    BASE,
    WRITE_ERRORS,
    OperationId,
    api,
    checked_contract,
    queue,
    replay,
    writeback_audit,
)
from gateway.auth import Access
from gateway.deps import deps
from gateway.errors import parse_body
from gateway.models import WritebackQueued


class CreateRecordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = None
    # Mapped fields to write instead of the contract's stored ones.
    fields: Annotated[dict[str, Any], Field(max_length=500)] | None = None
    operation_id: OperationId | None = None


class UpdateRecordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Mapped fields to write (a field set to null removes its property); default: the stored fields.
    fields: Annotated[dict[str, Any], Field(max_length=500)] | None = None
    operation_id: OperationId | None = None


@api.post(
    BASE + "/create-record",
    WritebackQueued,
    status=202,
    body=CreateRecordRequest,
    errors=WRITE_ERRORS,
    access=Access.WRITE,
    audit=writeback_audit(AuditAction.WRITEBACK_CREATE_RECORD),
)
async def create_record(request: web.Request) -> web.Response:
    """Create an Ironclad record from a contract (POST /records) and link the contract.

    Properties come from the contract's mapped fields (or `fields`) through the reverse of the field mapping,
    typed from Ironclad's /records/metadata. Needs public.records.createRecords. Only for a contract without a
    live Ironclad record. Follow it at GET .../writebacks/{operation_id}.
    """
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = await parse_body(request, CreateRecordRequest)
    contract = await checked_contract(d, tenant, request.match_info["contract_id"], "create_record")
    if (answer := await replay(d, tenant, body.operation_id, "create_record", contract)) is not None:
        return answer
    if (linked := linked_record_id(contract)) is not None:
        raise contract_already_linked(linked)
    types = (await d.schemas.metadata(tenant) or {}).get("recordTypes") or {}
    if types and body.record_type not in types:
        raise unknown_record_type(body.record_type, sorted(types))
    return await queue(
        d,
        tenant,
        "create_record",
        contract,
        WritebackRequest(record_type=body.record_type, name=body.name, fields=body.fields),
        body.operation_id,
    )


@api.post(
    BASE + "/update-record",
    WritebackQueued,
    status=202,
    body=UpdateRecordRequest,
    body_required=False,
    errors=WRITE_ERRORS,
    access=Access.WRITE,
    audit=writeback_audit(AuditAction.WRITEBACK_UPDATE_RECORD),
)
async def update_record(request: web.Request) -> web.Response:
    """Update the Ironclad record's metadata from mapped fields (PATCH add/removeProperties).

    Needs public.records.updateRecords. Fields whose rule cannot be reversed are reported in result.skipped.
    """
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = (
        UpdateRecordRequest() if not request.can_read_body else await parse_body(request, UpdateRecordRequest)
    )
    contract = await checked_contract(d, tenant, request.match_info["contract_id"], "update_record")
    if (answer := await replay(d, tenant, body.operation_id, "update_record", contract)) is not None:
        return answer
    if linked_record_id(contract) is None:
        raise contract_not_linked("use writeback/create-record first")
    return await queue(
        d, tenant, "update_record", contract, WritebackRequest(fields=body.fields), body.operation_id
    )
