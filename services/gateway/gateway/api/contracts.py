"""Imported contracts and their documents."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from aiohttp import web
from bson import ObjectId
from bson.errors import InvalidId
from gridfs.errors import NoFile
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts_common.storage.contracts import public_contract
from gateway.auth import Access
from gateway.deps import deps
from gateway.errors import ApiError, parse_query
from gateway.models import Contract, Contracts
from gateway.openapi import READ_ERRORS, Api, Binary, respond

api = Api("Contracts")

# A contracts page's next_cursor: the id of the last contract it showed.
CURSOR_PATTERN = r"^[0-9a-fA-F]{24}$"


class ContractsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)] | None = Field(
        default=None, description="next_cursor of the previous page"
    )
    q: str | None = Field(default=None, description="search in the name and Ironclad ids")


class ContractQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    raw: bool = Field(default=False, description="include Ironclad's record as stored")


def attachment_disposition(filename: str) -> str:
    """An ASCII fallback name for old clients and the exact UTF-8 name (RFC 6266), never header injection."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@api.get(
    "/api/v1/tenants/{tenant}/contracts",
    Contracts,
    query=ContractsQuery,
    errors=(400, 401),
    access=Access.READ,
)
async def list_contracts(request: web.Request) -> web.Response:
    """Imported contracts, newest first, a page at a time."""
    d = deps(request)
    query = parse_query(request, ContractsQuery)
    cursor = query.cursor or None
    if cursor is not None and not ObjectId.is_valid(cursor):
        raise ApiError(400, "INVALID_PARAM", "cursor is not one this API gave out.", {"field": "cursor"})
    search = (query.q or "").strip()[:200] or None
    docs, next_cursor = await d.contracts.page(
        request.match_info["tenant"], limit=query.limit, cursor=cursor, search=search
    )
    return respond(Contracts, {"items": [public_contract(doc) for doc in docs], "next_cursor": next_cursor})


@api.get(
    "/api/v1/tenants/{tenant}/contracts/{contract_id}",
    Contract,
    query=ContractQuery,
    errors=READ_ERRORS,
    access=Access.READ,
)
async def get_contract(request: web.Request) -> web.Response:
    """One contract, by our id, the Ironclad record id or its IC-n id."""
    d = deps(request)
    query = parse_query(request, ContractQuery)
    doc = await d.contracts.get(request.match_info["tenant"], request.match_info["contract_id"])
    if doc is None:
        raise ApiError(404, "CONTRACT_NOT_FOUND", "No contract with this id in this workspace.")
    return respond(Contract, public_contract(doc, with_raw=query.raw))


@api.get(
    "/api/v1/tenants/{tenant}/contracts/{contract_id}/attachments/{key}",
    Binary,
    errors=READ_ERRORS,
    access=Access.READ,
)
async def get_attachment(request: web.Request) -> web.StreamResponse:
    """A stored document's bytes, with its content type and sha256 (X-Content-SHA256)."""
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
