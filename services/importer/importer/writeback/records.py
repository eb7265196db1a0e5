"""Write-back of records: `POST /records` at most once per operation, then the contract linked to the
new record; or the linked record's metadata updated with a PATCH."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from pymongo.errors import DuplicateKeyError

from contracts_common.ironclad import (
    IroncladAuthError,
    IroncladBadRequest,
    IroncladClient,
    IroncladForbidden,
    IroncladNotFound,
    IroncladRateLimited,
    IroncladServerError,
    OAuthError,
)
from contracts_common.messages import WritebackTask
from contracts_common.storage.contracts import ironclad_summary, parse_timestamp
from contracts_common.storage.database import Document
from contracts_common.timeutil import iso, utcnow
from contracts_common.writeback import (
    contract_already_linked,
    contract_not_linked,
    find_contract,
    linked_record_id,
    unknown_record_type,
)
from importer.writeback.context import WriteContext, failed, field_error, skipped

log = structlog.get_logger(__name__)

# Answers after which Ironclad certainly did not create a record: a new attempt may create it.
NOT_CREATED: tuple[type[Exception], ...] = (
    IroncladBadRequest,
    IroncladForbidden,
    IroncladNotFound,
    IroncladRateLimited,
    IroncladAuthError,
    OAuthError,
)


async def linked_contract(ctx: WriteContext, task: WritebackTask) -> tuple[Document, str]:
    """The task's contract and the Ironclad record it stands for (an update or an upload needs one)."""
    contract = await find_contract(ctx.contracts, task.tenant, task.contract_id)
    record_id = linked_record_id(contract)
    if record_id is None:
        raise contract_not_linked("create one first")
    return contract, record_id


async def create_record(
    ctx: WriteContext, client: IroncladClient, task: WritebackTask, op: Document
) -> dict[str, Any]:
    contract = await find_contract(ctx.contracts, task.tenant, task.contract_id)
    request = op.get("request") or {}
    record: dict[str, Any] | None = None
    not_written: list[dict[str, Any]] = []
    if op.get("ironclad_record_id"):
        # An earlier attempt created the record and stopped before linking it.
        record = await client.get_record(op["ironclad_record_id"])
    else:
        if (linked := linked_record_id(contract)) is not None:
            raise contract_already_linked(linked)
        fields = request.get("fields")
        if not isinstance(fields, dict):
            fields = dict(contract.get("fields") or {})
        patch, metadata = await ctx.patch(task.tenant, client, fields)
        not_written = skipped(patch.skipped)
        record_type = request.get("record_type") or task.record_type
        types = metadata.get("recordTypes") or {}
        if not record_type or (types and record_type not in types):
            raise unknown_record_type(record_type, sorted(types))
        name = request.get("name") or patch.name or (contract.get("fields") or {}).get("title")
        name = name or (contract.get("ironclad") or {}).get("name")
        if not isinstance(name, str) or not name.strip():
            raise failed("NAME_REQUIRED", "An Ironclad record needs a name: send `name`.")
        body = {"type": record_type, "name": name.strip(), "properties": patch.add_properties}
        record = await _create_once(ctx, client, task, op, body)
    await _link(ctx, task.tenant, contract, record)
    return {
        "ironclad_record_id": record["id"],
        "ironclad_id": record.get("ironcladId"),
        "last_updated": record["lastUpdated"],
        "skipped": not_written,
    }


async def _create_once(
    ctx: WriteContext, client: IroncladClient, task: WritebackTask, op: Document, body: dict[str, Any]
) -> dict[str, Any]:
    """`POST /records` at most once per operation, the new id stored before anything else."""
    if not await ctx.writebacks.mark_create_sent(task.tenant, task.operation_id):
        # A previous attempt sent POST /records and stopped before it knew the outcome.
        current = await ctx.writebacks.get(task.tenant, task.operation_id)
        sent_at = current.create_sent_at if current else None
        found = await _find_created(client, body, sent_at)
        if found is not None:
            await ctx.set(task, {"ironclad_record_id": found["id"]})
            return found
        await ctx.set(task, {"create_sent_at": utcnow()})
    try:
        record = await client.create_record(body)
    except NOT_CREATED:
        await ctx.set(task, {}, unset=("create_sent_at",))
        raise
    except IroncladServerError as exc:
        if exc.status == 503:
            await ctx.set(task, {}, unset=("create_sent_at",))
        raise
    await ctx.set(task, {"ironclad_record_id": record["id"]})
    return record


async def _find_created(client: IroncladClient, body: dict[str, Any], sent_at: Any) -> dict[str, Any] | None:
    """The record an interrupted attempt created: same type and name, changed since it was sent."""
    since = iso(sent_at - timedelta(seconds=5)) if sent_at is not None else None
    page = await client.list_records(page=0, page_size=100, types=[body["type"]], last_updated_since=since)
    matching = [r for r in page.records if r.get("name") == body["name"]]
    if len(matching) > 1:
        raise failed(
            "WRITEBACK_UNCERTAIN",
            "An earlier attempt may have created this record in Ironclad, and several records match it. "
            "Check Ironclad before creating it again.",
            {"record_ids": [r["id"] for r in matching]},
        )
    return matching[0] if matching else None


async def _link(ctx: WriteContext, tenant: str, contract: Document, record: dict[str, Any]) -> None:
    """The contract keeps its id and now stands for `record` (Ironclad's answer, stored at once).

    A sync (webhook or listing) may have stored the new record as a contract of its own before we
    linked it; that copy is removed, so the unique (tenant, ironclad.id) index keeps one contract.
    """
    mapping = await ctx.current_mapping.get(tenant)
    version = mapping.version
    for _ in range(3):
        incoming = parse_timestamp(record["lastUpdated"])
        mapped = mapping.compiled.apply(record)
        now = utcnow()
        values = {
            "ironclad": ironclad_summary(record),
            "source_last_updated": incoming,
            "raw": record,
            "fields": mapped.fields,
            "field_errors": [field_error(e) for e in mapped.errors],
            "mapping_version": version,
            "deleted": False,
            "deleted_at": None,
            "updated_at": now,
            "linked_at": now,
        }
        try:
            await ctx.db.contracts.update_one(
                {
                    "_id": contract["_id"],
                    "tenant": tenant,
                    "$or": [
                        {"ironclad.id": {"$ne": record["id"]}},
                        {"source_last_updated": {"$lt": incoming}},
                    ],
                },
                {"$set": values},
            )
            return
        except DuplicateKeyError:
            copy = await ctx.db.contracts.find_one_and_delete(
                {"tenant": tenant, "ironclad.id": record["id"], "_id": {"$ne": contract["_id"]}}
            )
            if (
                copy is not None
                and copy.get("source_last_updated")
                and copy["source_last_updated"] > incoming
            ):
                record = copy["raw"]
            log.info("writeback_removed_sync_copy", record_id=record["id"])
    raise failed("LINK_FAILED", "The new Ironclad record could not be linked to the contract.")


async def update_record(
    ctx: WriteContext, client: IroncladClient, task: WritebackTask, op: Document
) -> dict[str, Any]:
    contract, record_id = await linked_contract(ctx, task)
    fields = (op.get("request") or {}).get("fields")
    if not isinstance(fields, dict):
        fields = dict(contract.get("fields") or {})
    patch, _ = await ctx.patch(task.tenant, client, fields)
    body = patch.body()
    result: dict[str, Any] = {
        "ironclad_record_id": record_id,
        "written": body,
        "skipped": skipped(patch.skipped),
    }
    if not body:
        result["changed"] = False
        return result
    record = await client.update_record(record_id, body)
    result["changed"] = True
    result["last_updated"] = record["lastUpdated"]
    result["stored"] = await ctx.store(task.tenant, record, contract, None)
    return result
