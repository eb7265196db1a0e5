"""Write-back of documents: a stored document uploaded to the linked Ironclad record, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from contracts_common.ironclad import IroncladBadRequest, IroncladClient
from contracts_common.messages import WritebackTask
from contracts_common.storage.database import DOCUMENTS_BUCKET, Document
from contracts_common.writeback import attachment_exists
from importer.documents import stored_document
from importer.writeback.context import WriteContext, failed
from importer.writeback.records import linked_contract

FILES = f"{DOCUMENTS_BUCKET}.files"
# Documents up to this size are sent as bytes (the client may retry them); larger ones are streamed once.
REPLAYABLE_UPLOAD_BYTES = 8 * 1024 * 1024


async def upload_document(
    ctx: WriteContext, client: IroncladClient, task: WritebackTask, op: Document
) -> dict[str, Any]:
    contract, record_id = await linked_contract(ctx, task)
    request = op.get("request") or {}
    key = request.get("attachment_key") or task.attachment_key
    document_id = request.get("document_id") or task.document_id
    if not key or not document_id:
        raise failed("INVALID_TASK", "The upload names no document or attachment key.")
    try:
        file_id = ObjectId(document_id)
    except (InvalidId, TypeError) as exc:
        raise failed("DOCUMENT_NOT_FOUND", "The document to upload is not stored.") from exc
    stored = await ctx.db.db[FILES].find_one({"_id": file_id, "metadata.tenant": task.tenant})
    if stored is None:
        raise failed("DOCUMENT_NOT_FOUND", "The document to upload is not stored.")
    meta = stored.get("metadata") or {}
    filename = str(stored["filename"])
    content_type = str(meta.get("content_type") or "application/octet-stream")
    size = int(stored.get("length") or 0)
    if not op.get("uploaded"):
        await _send(ctx, client, record_id, key, filename, content_type, file_id, size, op)
        await ctx.set(task, {"uploaded": True})
    record = await client.get_record(record_id)
    sha256 = str(meta.get("sha256") or "")
    await ctx.db.db[FILES].update_one(
        {"_id": file_id}, {"$set": {"metadata.record_id": record_id, "metadata.key": key}}
    )
    document = stored_document(key, file_id, filename, content_type, size, sha256).model_dump()
    attachments = [a for a in contract.get("attachments") or [] if a.get("key") != key] + [document]
    outcome = await ctx.store(task.tenant, record, contract, attachments)
    return {
        "ironclad_record_id": record_id,
        "attachment_key": key,
        "filename": filename,
        "size": size,
        "sha256": sha256,
        "last_updated": record["lastUpdated"],
        "stored": outcome,
    }


async def _send(
    ctx: WriteContext,
    client: IroncladClient,
    record_id: str,
    key: str,
    filename: str,
    content_type: str,
    file_id: ObjectId,
    size: int,
    op: Document,
) -> None:
    data: bytes | AsyncIterator[bytes]
    if size <= REPLAYABLE_UPLOAD_BYTES:
        stream = await ctx.db.documents.open_download_stream(file_id)
        data = await stream.read()
    else:
        data = _chunks(ctx, file_id)
    try:
        await client.upload_attachment(
            record_id, key, filename=filename, content_type=content_type, data=data
        )
    except IroncladBadRequest as exc:
        if "already exists" not in exc.message:
            raise
        if op.get("attempts", 1) > 1 and await _ours(client, record_id, key, filename):
            return  # an earlier attempt uploaded it and stopped before it could say so
        raise attachment_exists(key, ironclad=str(exc)) from exc


async def _chunks(ctx: WriteContext, file_id: ObjectId) -> AsyncIterator[bytes]:
    stream = await ctx.db.documents.open_download_stream(file_id)
    while chunk := await stream.readchunk():
        yield chunk


async def _ours(client: IroncladClient, record_id: str, key: str, filename: str) -> bool:
    record = await client.get_record(record_id)
    attachment = (record.get("attachments") or {}).get(key)
    return isinstance(attachment, dict) and attachment.get("filename") == filename
