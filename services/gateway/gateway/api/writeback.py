"""Write-back into Ironclad: create a record from a contract, update its metadata, upload a document.

Each call checks what it can up front (connection, the scope it needs, the contract, the record type or
attachment key), stores the operation in `writebacks` as `queued` and queues a `WritebackTask` for the
importer, which makes the Ironclad calls (see `importer.writeback`). The answer is `202 {operation_id}`;
`GET .../writebacks/{operation_id}` follows it to `succeeded` or `failed`.

Write-back is only ever triggered here, explicitly, never by a sync; the importer stores Ironclad's
answer on the contract at once, so our own write coming back through a sync is seen as unchanged.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import uuid
from typing import Annotated, Any
from urllib.parse import unquote

import structlog
from aiohttp import BodyPartReader, web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pymongo.errors import DuplicateKeyError

from contracts_common.ironclad.scopes import CREATE_ATTACHMENTS, CREATE_RECORDS, SCOPES, UPDATE_RECORDS
from contracts_common.messages import WritebackTask
from contracts_common.messaging import BrokerUnavailable
from contracts_common.storage.database import Document
from contracts_common.timeutil import iso, utcnow
from gateway.api.connection_guard import require_connected
from gateway.deps import GatewayDeps, deps
from gateway.errors import ApiError, parse_body

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

BASE = "/api/v1/tenants/{tenant}/contracts/{contract_id}/writeback"
# The largest document the gateway takes for upload (Ironclad states no limit; this bounds our storage).
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
# Ironclad's upload whitelist (reference §4); checked here so a bad name fails before anything is queued.
ALLOWED_EXTENSIONS = (
    ".adoc", ".asice", ".bdoc", ".csv", ".ddoc", ".doc", ".docx", ".edoc", ".eml", ".gif", ".htm", ".jpeg",
    ".jpg", ".msg", ".pdf", ".png", ".ppt", ".pptx", ".rtf", ".tif", ".txt", ".xls", ".xlsx", ".xml",
)  # fmt: skip
DEFAULT_ATTACHMENT_KEYS = ("signedCopy", "fileAttachment")
OPERATION_ID = r"^[A-Za-z0-9_-]{8,64}$"
ACTION_SCOPES = {
    "create_record": CREATE_RECORDS,
    "update_record": UPDATE_RECORDS,
    "upload_document": CREATE_ATTACHMENTS,
}
ACTION_WORDS = {
    "create_record": "create records",
    "update_record": "update records",
    "upload_document": "upload documents",
}

OperationId = Annotated[str, StringConstraints(pattern=OPERATION_ID)]


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


# ---------------------------------------------------------------------------------------------- checks


async def _require_scope(d: GatewayDeps, tenant: str, action: str) -> None:
    """Refuse early when the connection was granted without the scope the write needs."""
    await require_connected(d, tenant)
    connection = await d.connections.get(tenant)
    granted = set((connection or {}).get("granted_scopes") or [])
    scope = ACTION_SCOPES[action]
    if scope not in granted:
        purpose = next((s.purpose for s in SCOPES if s.scope == scope), "")
        raise ApiError(
            403,
            "IRONCLAD_SCOPE_MISSING",
            f"The Ironclad app is missing the scope {scope}, which Contracts AI needs to "
            f"{ACTION_WORDS[action]}"
            " in Ironclad. Add it in Company Settings → API → your app → Requested Resource Scopes, then"
            " connect again.",
            {"missing_scope": scope, "purpose": purpose},
        )


async def _contract(d: GatewayDeps, tenant: str, contract_id: str) -> Document:
    doc = await d.contracts.get(tenant, contract_id)
    if doc is None:
        raise ApiError(404, "CONTRACT_NOT_FOUND", "No contract with this id in this workspace.")
    return doc


def _linked_record(doc: Document) -> str | None:
    record_id = (doc.get("ironclad") or {}).get("id")
    return None if not record_id or doc.get("deleted") else str(record_id)


async def _metadata(d: GatewayDeps, tenant: str) -> dict[str, Any]:
    cached = await d.db.schema_cache.find_one({"tenant": tenant})
    metadata = cached.get("metadata") if cached else None
    return metadata if isinstance(metadata, dict) else {}


def _attachment_keys(metadata: dict[str, Any]) -> list[str]:
    props = metadata.get("properties") or {}
    keys = [k for k, spec in props.items() if isinstance(spec, dict) and spec.get("type") == "document"]
    keys += [k for k in (metadata.get("attachments") or {}) if k not in keys]
    return keys


# ---------------------------------------------------------------------------------------------- queueing


def public_writeback(doc: Document) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operation_id": doc["operation_id"],
        "action": doc["action"],
        "contract_id": doc["contract_id"],
        "status": doc["status"],
        "attempts": doc.get("attempts", 0),
        "created_at": iso(doc.get("created_at")),
        "updated_at": iso(doc.get("updated_at")),
        "finished_at": iso(doc.get("finished_at")),
    }
    if doc.get("ironclad_record_id"):
        out["ironclad_record_id"] = doc["ironclad_record_id"]
    if doc.get("error"):
        out["error"] = doc["error"]
    if doc.get("result") is not None:
        out["result"] = doc["result"]
    return out


async def _replay(
    d: GatewayDeps, tenant: str, operation_id: str | None, action: str, contract: Document
) -> web.Response | None:
    """The answer for an operation id asked before (same action and contract), else None."""
    if operation_id is None:
        return None
    existing = await d.db.writebacks.find_one({"tenant": tenant, "operation_id": operation_id})
    if existing is None:
        return None
    if existing["action"] != action or existing["contract_id"] != str(contract["_id"]):
        raise ApiError(
            409,
            "OPERATION_ID_IN_USE",
            "This operation_id was already used for another write-back.",
            {"operation_id": operation_id},
        )
    body = {"operation_id": operation_id, "status": existing["status"], "already_queued": True}
    return web.json_response(body, status=202)


async def _queue(
    d: GatewayDeps,
    tenant: str,
    action: str,
    contract: Document,
    request: dict[str, Any],
    operation_id: str | None,
) -> web.Response:
    """Store the operation and queue its task; an operation id asked again answers the same operation."""
    operation_id = operation_id or uuid.uuid4().hex
    contract_id = str(contract["_id"])
    now = utcnow()
    doc: Document = {
        "_id": f"{tenant}:{operation_id}",
        "tenant": tenant,
        "operation_id": operation_id,
        "action": action,
        "contract_id": contract_id,
        "ironclad_record_id": _linked_record(contract),
        "status": "queued",
        "request": request,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    if action == "create_record":
        doc["ironclad_record_id"] = None  # set once the record exists
    try:
        await d.db.writebacks.insert_one(doc)
    except DuplicateKeyError as exc:
        replay = await _replay(d, tenant, operation_id, action, contract)
        if replay is None:  # deleted in between
            raise ApiError(503, "TRY_AGAIN", "The operation changed meanwhile; try again.") from exc
        return replay
    task = WritebackTask(
        tenant=tenant,
        operation_id=operation_id,
        action=action,
        contract_id=contract_id,
        document_id=request.get("document_id"),
        attachment_key=request.get("attachment_key"),
        record_type=request.get("record_type"),
    )
    try:
        await d.broker.publish_with_retry(task, attempts=3, max_wait=2.0)
    except BrokerUnavailable as exc:
        error = {
            "code": "BROKER_UNAVAILABLE",
            "message": "The job queue was unavailable; nothing was written.",
            "details": {},
        }
        await d.db.writebacks.update_one(
            {"_id": doc["_id"]}, {"$set": {"status": "failed", "error": error, "finished_at": utcnow()}}
        )
        raise ApiError(
            503, "BROKER_UNAVAILABLE", "The job queue is unavailable right now; try again shortly."
        ) from exc
    log.info("writeback_queued", operation_id=operation_id, action=action, contract_id=contract_id)
    return web.json_response({"operation_id": operation_id, "status": "queued"}, status=202)


# ---------------------------------------------------------------------------------------------- endpoints


@routes.post(BASE + "/create-record")
async def create_record(request: web.Request) -> web.Response:
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = await parse_body(request, CreateRecordRequest)
    await _require_scope(d, tenant, "create_record")
    contract = await _contract(d, tenant, request.match_info["contract_id"])
    if (replay := await _replay(d, tenant, body.operation_id, "create_record", contract)) is not None:
        return replay
    if (linked := _linked_record(contract)) is not None:
        raise ApiError(
            409,
            "CONTRACT_ALREADY_LINKED",
            "This contract already belongs to an Ironclad record; use writeback/update-record instead.",
            {"ironclad_record_id": linked},
        )
    types = (await _metadata(d, tenant)).get("recordTypes") or {}
    if types and body.record_type not in types:
        raise ApiError(
            422,
            "UNKNOWN_RECORD_TYPE",
            f"Ironclad has no record type '{body.record_type}'.",
            {"field": "record_type", "record_types": sorted(types)},
        )
    return await _queue(
        d,
        tenant,
        "create_record",
        contract,
        {"record_type": body.record_type, "name": body.name, "fields": body.fields},
        body.operation_id,
    )


@routes.post(BASE + "/update-record")
async def update_record(request: web.Request) -> web.Response:
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = (
        UpdateRecordRequest() if not request.can_read_body else await parse_body(request, UpdateRecordRequest)
    )
    await _require_scope(d, tenant, "update_record")
    contract = await _contract(d, tenant, request.match_info["contract_id"])
    if (replay := await _replay(d, tenant, body.operation_id, "update_record", contract)) is not None:
        return replay
    if _linked_record(contract) is None:
        raise ApiError(
            409,
            "CONTRACT_NOT_LINKED",
            "This contract has no Ironclad record (never created there, or deleted in Ironclad); "
            "use writeback/create-record first.",
        )
    return await _queue(d, tenant, "update_record", contract, {"fields": body.fields}, body.operation_id)


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


@routes.post(BASE + "/documents")
async def upload_document(request: web.Request) -> web.Response:
    """Multipart: a `file` part plus form fields `attachment_key`, optional `filename` and `operation_id`."""
    d = deps(request)
    tenant = request.match_info["tenant"]
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415, "UNSUPPORTED_MEDIA_TYPE", "Send the document as multipart/form-data with a `file` part."
        )
    await _require_scope(d, tenant, "upload_document")
    contract = await _contract(d, tenant, request.match_info["contract_id"])
    record_id = _linked_record(contract)
    if record_id is None:
        raise ApiError(
            409,
            "CONTRACT_NOT_LINKED",
            "This contract has no Ironclad record to attach the document to; "
            "use writeback/create-record first.",
        )
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
        _check_upload(form, stored, contract, await _metadata(d, tenant))
    except BaseException:
        if stored is not None:
            await d.db.documents.delete(stored["file_id"])
        raise
    request_doc = {
        "attachment_key": form["attachment_key"],
        "document_id": str(stored["file_id"]),
        "filename": stored["filename"],
        "size": stored["size"],
        "sha256": stored["sha256"],
    }
    return await _queue(d, tenant, "upload_document", contract, request_doc, form.get("operation_id") or None)


def _check_upload(
    form: dict[str, str], stored: dict[str, Any], contract: Document, metadata: dict[str, Any]
) -> None:
    key = form.get("attachment_key") or ""
    allowed = _attachment_keys(metadata) or list(DEFAULT_ATTACHMENT_KEYS)
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
        raise ApiError(
            409,
            "ATTACHMENT_EXISTS",
            f"The Ironclad record already has a document under '{key}', and Ironclad does not overwrite "
            "uploads. "
            "Choose another key or delete that document in Ironclad first.",
            {
                "attachment_key": key,
                "filename": existing.get("filename") if isinstance(existing, dict) else None,
            },
        )


@routes.get("/api/v1/tenants/{tenant}/writebacks/{operation_id}")
async def get_writeback(request: web.Request) -> web.Response:
    d = deps(request)
    doc = await d.db.writebacks.find_one(
        {"tenant": request.match_info["tenant"], "operation_id": request.match_info["operation_id"]}
    )
    if doc is None:
        raise ApiError(404, "OPERATION_NOT_FOUND", "No write-back operation with this id in this workspace.")
    return web.json_response(public_writeback(doc))


@routes.get("/api/v1/tenants/{tenant}/writebacks")
async def list_writebacks(request: web.Request) -> web.Response:
    d = deps(request)
    query: dict[str, Any] = {"tenant": request.match_info["tenant"]}
    if contract_id := request.query.get("contract_id"):
        query["contract_id"] = contract_id
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 200:
        raise ApiError(400, "INVALID_PARAM", "limit must be an integer from 1 to 200.", {"field": "limit"})
    docs = [doc async for doc in d.db.writebacks.find(query).sort("created_at", -1).limit(limit)]
    return web.json_response({"items": [public_writeback(doc) for doc in docs]})


# ---------------------------------------------------------------------------------------------- OpenAPI

_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
_ACCEPTED = {
    "description": "Queued; follow it at GET /api/v1/tenants/{tenant}/writebacks/{operation_id}.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["operation_id", "status"],
                "properties": {
                    "operation_id": {"type": "string"},
                    "status": {"type": "string"},
                    "already_queued": {"type": "boolean"},
                },
            }
        }
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        403: "The Ironclad app lacks the scope this write needs (IRONCLAD_SCOPE_MISSING, "
        "details.missing_scope).",
        404: "No such contract (CONTRACT_NOT_FOUND).",
        409: "Not connected, or the contract is (not) linked to an Ironclad record, or the key is taken.",
        413: "The document is too large (DOCUMENT_TOO_LARGE).",
        415: "Wrong content type.",
        422: "Invalid body (VALIDATION_FAILED, UNKNOWN_RECORD_TYPE, INVALID_ATTACHMENT_KEY, "
        "UNSUPPORTED_FILE_TYPE).",
        503: "The job queue is unavailable (BROKER_UNAVAILABLE).",
    }
    return {
        str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}} for c in codes
    }


_PATH_PARAMS = [
    {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}},
    {
        "name": "contract_id",
        "in": "path",
        "required": True,
        "description": "Our contract id, the Ironclad record id or its IC-n id.",
        "schema": {"type": "string"},
    },
]
_FIELDS = {
    "type": "object",
    "additionalProperties": True,
    "description": "Mapped Contracts AI fields by target name; null removes the property. "
    "Default: the contract's stored fields.",
}
_OPERATION_ID = {"type": "string", "pattern": OPERATION_ID, "description": "Optional idempotency key."}
_WRITEBACK = {
    "type": "object",
    "required": ["operation_id", "action", "contract_id", "status"],
    "properties": {
        "operation_id": {"type": "string"},
        "action": {"type": "string", "enum": ["create_record", "update_record", "upload_document"]},
        "contract_id": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]},
        "attempts": {"type": "integer"},
        "ironclad_record_id": {"type": "string"},
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        },
        "result": {
            "type": "object",
            "description": "What was written: ironclad_record_id, last_updated, written (the PATCH body), "
            "skipped [{target, source, reason}], for uploads attachment_key, filename, size, sha256.",
        },
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    BASE + "/create-record": {
        "post": {
            "tags": ["write-back"],
            "summary": "Create an Ironclad record from a contract (POST /records) and link the contract",
            "description": "Properties come from the contract's mapped fields (or `fields`) through the "
            "reverse of the field mapping, typed from Ironclad's /records/metadata. "
            "Needs public.records.createRecords. "
            "Only for a contract without a live Ironclad record.",
            "parameters": _PATH_PARAMS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["record_type"],
                            "additionalProperties": False,
                            "properties": {
                                "record_type": {"type": "string"},
                                "name": {"type": "string"},
                                "fields": _FIELDS,
                                "operation_id": _OPERATION_ID,
                            },
                        }
                    }
                },
            },
            "responses": {"202": _ACCEPTED, **_errors(403, 404, 409, 422, 503)},
        }
    },
    BASE + "/update-record": {
        "post": {
            "tags": ["write-back"],
            "summary": "Update the Ironclad record's metadata from mapped fields "
            "(PATCH addProperties/removeProperties)",
            "description": "Needs public.records.updateRecords. Fields whose rule cannot be reversed are "
            "reported "
            "in result.skipped.",
            "parameters": _PATH_PARAMS,
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"fields": _FIELDS, "operation_id": _OPERATION_ID},
                        }
                    }
                },
            },
            "responses": {"202": _ACCEPTED, **_errors(403, 404, 409, 422, 503)},
        }
    },
    BASE + "/documents": {
        "post": {
            "tags": ["write-back"],
            "summary": "Upload a processed document as an attachment of the contract's Ironclad record",
            "description": "Stored first, then uploaded by the importer "
            "(multipart `attachment` + `metadata`). "
            "Needs public.records.createAttachments. Ironclad does not overwrite: a used key is refused.",
            "parameters": _PATH_PARAMS,
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file", "attachment_key"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "attachment_key": {
                                    "type": "string",
                                    "description": "A document property of the schema, e.g. signedCopy.",
                                },
                                "filename": {
                                    "type": "string",
                                    "description": "Overrides the file part's name.",
                                },
                                "operation_id": _OPERATION_ID,
                            },
                        }
                    }
                },
            },
            "responses": {"202": _ACCEPTED, **_errors(403, 404, 409, 413, 415, 422, 503)},
        }
    },
    "/api/v1/tenants/{tenant}/writebacks/{operation_id}": {
        "get": {
            "tags": ["write-back"],
            "summary": "A write-back operation and its outcome",
            "parameters": [
                {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "operation_id", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The operation",
                    "content": {"application/json": {"schema": _WRITEBACK}},
                },
                "404": {
                    "description": "OPERATION_NOT_FOUND",
                    "content": {"application/json": {"schema": _ERROR}},
                },
            },
        }
    },
    "/api/v1/tenants/{tenant}/writebacks": {
        "get": {
            "tags": ["write-back"],
            "summary": "Recent write-back operations, newest first",
            "parameters": [
                {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "contract_id", "in": "query", "required": False, "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                },
            ],
            "responses": {
                "200": {
                    "description": "Operations",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"items": {"type": "array", "items": _WRITEBACK}},
                            }
                        }
                    },
                }
            },
        }
    },
}
