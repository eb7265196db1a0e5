"""Imported contracts and their documents."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from bson import ObjectId
from bson.errors import InvalidId
from gridfs.errors import NoFile

from contracts_common.storage.contracts import public_contract
from gateway.deps import deps
from gateway.errors import ApiError

routes = web.RouteTableDef()


def attachment_disposition(filename: str) -> str:
    """An ASCII fallback name for old clients and the exact UTF-8 name (RFC 6266), never header injection."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@routes.get("/api/v1/tenants/{tenant}/contracts")
async def list_contracts(request: web.Request) -> web.Response:
    d = deps(request)
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError as exc:
        raise ApiError(
            400, "INVALID_PARAM", "limit must be an integer from 1 to 500.", {"field": "limit"}
        ) from exc
    if not 1 <= limit <= 500:
        raise ApiError(400, "INVALID_PARAM", "limit must be an integer from 1 to 500.", {"field": "limit"})
    cursor = request.query.get("cursor") or None
    if cursor is not None and not ObjectId.is_valid(cursor):
        raise ApiError(400, "INVALID_PARAM", "cursor is not one this API gave out.", {"field": "cursor"})
    search = (request.query.get("q") or "").strip()[:200] or None
    docs, next_cursor = await d.contracts.page(
        request.match_info["tenant"], limit=limit, cursor=cursor, search=search
    )
    return web.json_response({"items": [public_contract(doc) for doc in docs], "next_cursor": next_cursor})


@routes.get("/api/v1/tenants/{tenant}/contracts/{contract_id}")
async def get_contract(request: web.Request) -> web.Response:
    d = deps(request)
    doc = await d.contracts.get(request.match_info["tenant"], request.match_info["contract_id"])
    if doc is None:
        raise ApiError(404, "CONTRACT_NOT_FOUND", "No contract with this id in this workspace.")
    return web.json_response(public_contract(doc, with_raw=request.query.get("raw") in ("1", "true")))


@routes.get("/api/v1/tenants/{tenant}/contracts/{contract_id}/attachments/{key}")
async def get_attachment(request: web.Request) -> web.StreamResponse:
    d = deps(request)
    tenant = request.match_info["tenant"]
    doc = await d.contracts.get(tenant, request.match_info["contract_id"])
    if doc is None:
        raise ApiError(404, "CONTRACT_NOT_FOUND", "No contract with this id in this workspace.")
    key = request.match_info["key"]
    attachment = next((a for a in doc.get("attachments", []) if a["key"] == key), None)
    if attachment is None:
        raise ApiError(404, "ATTACHMENT_NOT_FOUND", f"This contract has no stored document '{key}'.")
    try:
        stream = await d.db.documents.open_download_stream(ObjectId(attachment["file_id"]))
    except (NoFile, InvalidId) as exc:
        raise ApiError(404, "ATTACHMENT_NOT_FOUND", "The stored document is missing.") from exc
    response = web.StreamResponse(
        headers={
            "Content-Type": attachment["content_type"],
            "Content-Length": str(attachment["size"]),
            "Content-Disposition": attachment_disposition(attachment["filename"]),
            "X-Content-SHA256": attachment["sha256"],
        }
    )
    await response.prepare(request)
    while chunk := await stream.readchunk():
        await response.write(chunk)
    await response.write_eof()
    return response
