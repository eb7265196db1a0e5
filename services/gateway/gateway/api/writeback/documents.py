"""Write-back of documents: a processed document uploaded to the linked Ironclad record."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from pydantic import BaseModel, ConfigDict, Field

from contracts_common.storage.audit import AuditAction
from contracts_common.storage.database import Document
from contracts_common.storage.writebacks import WritebackRequest
from contracts_common.writeback import (
    attachment_exists,
    attachment_keys,
    contract_not_linked,
    linked_record_id,
)
from gateway.api.writeback.operations import (
    BASE,
    OPERATION_ID,
    WRITE_ERRORS,
    OperationId,
    api,
    checked_contract,
    queue,
    writeback_audit,
)
from gateway.auth import Access
from gateway.deps import GatewayDeps, deps
from gateway.errors import ApiError
from gateway.models import WritebackQueued

# The largest document the gateway takes for upload (Ironclad states no limit; this bounds our storage).
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
# Ironclad's upload whitelist (reference §4); checked here so a bad name fails before anything is queued.
ALLOWED_EXTENSIONS = (
    ".adoc", ".asice", ".bdoc", ".csv", ".ddoc", ".doc", ".docx", ".edoc", ".eml", ".gif", ".htm", ".jpeg",
    ".jpg", ".msg", ".pdf", ".png", ".ppt", ".pptx", ".rtf", ".tif", ".txt", ".xls", ".xlsx", ".xml",
)  # fmt: skip


class UploadForm(BaseModel):
    """The multipart form of a document upload (documented; read part by part as it streams in)."""

    model_config = ConfigDict(extra="forbid")
    file: bytes = Field(description="the document; its name must end in one of Ironclad's extensions")
    attachment_key: str = Field(description="one of Ironclad's document properties, e.g. signedCopy")
    filename: str | None = Field(default=None, description="the name to give it instead of the part's")
    operation_id: OperationId | None = None


def _clean_filename(raw: str | None) -> str:
    # Some clients (aiohttp's FormData among them) percent-encode a non-ASCII filename in the plain
    # `filename` parameter; browsers send it as UTF-8. Decoding leaves names without escapes alone.
    name = os.path.basename(unquote(raw or "").replace("\\", "/"))
    name = "".join(c for c in name if c.isprintable()).strip()[:255]
    if not name:
        raise ApiError(422, "VALIDATION_FAILED", "The file part needs a filename.", {"field": "file"})
    return name


async def _store_file(
    d: GatewayDeps, tenant: str, contract_id: str, part: BodyPartReader, filename_override: str | None
) -> dict[str, Any]:
    """Stream the file part into GridFS, refusing more than MAX_DOCUMENT_BYTES."""
    filename = _clean_filename(filename_override or part.filename)
    content_type = part.headers.get("Content-Type") or ""
    if not content_type or content_type == "application/octet-stream":
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    digest = hashlib.sha256()
    size = 0
    upload = d.db.documents.open_upload_stream(
        filename,
        metadata={
            "tenant": tenant,
            "contract_id": contract_id,
            "content_type": content_type,
            "source": "writeback",
        },
    )
    try:
        while chunk := await part.read_chunk(64 * 1024):
            size += len(chunk)
            if size > MAX_DOCUMENT_BYTES:
                raise ApiError(
                    413,
                    "DOCUMENT_TOO_LARGE",
                    f"The document is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB.",
                    {"max_bytes": MAX_DOCUMENT_BYTES},
                )
            digest.update(chunk)
            await upload.write(chunk)
    except BaseException:
        await upload.abort()
        raise
    await upload.close()
    sha256 = digest.hexdigest()
    await d.db.db["documents.files"].update_one(
        {"_id": upload._id}, {"$set": {"metadata.sha256": sha256, "metadata.size": size}}
    )
    return {
        "file_id": upload._id,
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "sha256": sha256,
    }


@api.post(
    BASE + "/documents",
    WritebackQueued,
    status=202,
    body=UploadForm,
    body_media="multipart/form-data",
    errors=WRITE_ERRORS,
    access=Access.WRITE,
    audit=writeback_audit(AuditAction.WRITEBACK_UPLOAD_DOCUMENT),
)
async def upload_document(request: web.Request) -> web.Response:
    """Upload a processed document to the linked Ironclad record (multipart/form-data).

    Needs public.records.createAttachments. Ironclad does not overwrite an upload: a key already holding a
    document is refused (409 ATTACHMENT_EXISTS).

    Multipart: a `file` part plus form fields `attachment_key`, optional `filename` and `operation_id`.
    """
    d = deps(request)
    tenant = request.match_info["tenant"]
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415, "UNSUPPORTED_MEDIA_TYPE", "Send the document as multipart/form-data with a `file` part."
        )
    contract = await checked_contract(d, tenant, request.match_info["contract_id"], "upload_document")
    if linked_record_id(contract) is None:
        raise contract_not_linked("use writeback/create-record first")
    form: dict[str, str] = {}
    stored: dict[str, Any] | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file" and stored is None:
                stored = await _store_file(d, tenant, str(contract["_id"]), part, form.get("filename"))
            elif part.name in ("attachment_key", "filename", "operation_id"):
                form[part.name] = (await part.read(decode=True))[:1024].decode("utf-8", "replace").strip()
            else:
                await part.release()
        if stored is None:
            raise ApiError(422, "VALIDATION_FAILED", "The upload needs a `file` part.", {"field": "file"})
        if form.get("filename"):
            stored["filename"] = _clean_filename(form["filename"])
            await d.db.db["documents.files"].update_one(
                {"_id": stored["file_id"]}, {"$set": {"filename": stored["filename"]}}
            )
        _check_upload(form, stored, contract, await d.schemas.metadata(tenant) or {})
    except BaseException:
        if stored is not None:
            await d.db.documents.delete(stored["file_id"])
        raise
    request_doc = WritebackRequest(
        attachment_key=form["attachment_key"],
        document_id=str(stored["file_id"]),
        filename=stored["filename"],
        size=stored["size"],
        sha256=stored["sha256"],
    )
    return await queue(d, tenant, "upload_document", contract, request_doc, form.get("operation_id") or None)


def _check_upload(
    form: dict[str, str], stored: dict[str, Any], contract: Document, metadata: dict[str, Any]
) -> None:
    key = form.get("attachment_key") or ""
    allowed = attachment_keys(metadata)
    if key not in allowed:
        raise ApiError(
            422,
            "INVALID_ATTACHMENT_KEY",
            f"attachment_key must be one of Ironclad's document properties: {', '.join(allowed)}.",
            {"field": "attachment_key", "allowed": allowed},
        )
    if form.get("operation_id") and not re.match(OPERATION_ID, form["operation_id"]):
        raise ApiError(
            422,
            "VALIDATION_FAILED",
            "operation_id must be 8 to 64 letters, digits, - or _.",
            {"field": "operation_id"},
        )
    extension = os.path.splitext(stored["filename"])[1].lower()
    if extension not in ALLOWED_EXTENSIONS:
        raise ApiError(
            422,
            "UNSUPPORTED_FILE_TYPE",
            f"Ironclad does not accept '{stored['filename']}': the name must end in one of "
            f"{', '.join(ALLOWED_EXTENSIONS)}.",
            {"field": "file", "allowed_extensions": list(ALLOWED_EXTENSIONS)},
        )
    if stored["size"] == 0:
        raise ApiError(422, "VALIDATION_FAILED", "The document is empty.", {"field": "file"})
    existing = ((contract.get("raw") or {}).get("attachments") or {}).get(key)
    if existing:
        raise attachment_exists(
            key, filename=existing.get("filename") if isinstance(existing, dict) else None
        )
