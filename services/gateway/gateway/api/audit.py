"""The audit trail of a workspace: who connected, disconnected, re-mapped, imported, wrote back, and when.

Entries are recorded by the access wrapper (gateway.auth) from each operation's declaration, never here.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts_common.storage.audit import CURSOR_PATTERN, AuditLog
from contracts_common.timeutil import iso
from gateway.auth import Access
from gateway.deps import deps
from gateway.errors import parse_query
from gateway.models import AuditPage
from gateway.openapi import Api, respond

api = Api("Audit")


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: int = Field(default=50, ge=1, le=200, description="newest first, at most this many")
    cursor: Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)] | None = Field(
        default=None, description="next_cursor of the previous page"
    )


@api.get("/api/v1/tenants/{tenant}/audit", AuditPage, query=AuditQuery, errors=(400, 401), access=Access.READ)
async def list_audit(request: web.Request) -> web.Response:
    """Who did what to this workspace, newest first.

    Connect, reconnect, disconnect, Automatic Sync on/off, mapping changes, imports and reconciliations
    started, write-backs: each with the actor (the platform key, or a tenant token's user and role), the
    time and details. Never a secret.
    """
    query = parse_query(request, AuditQuery)
    entries, next_cursor = await AuditLog(deps(request).db).page(
        request.match_info["tenant"], limit=query.limit, cursor=query.cursor
    )
    items = [
        {
            "at": iso(e.at),
            "actor": e.actor.model_dump(exclude_none=True),
            "action": e.action.value,
            "details": e.details,
        }
        for e in entries
    ]
    return respond(AuditPage, {"items": items, "next_cursor": next_cursor})
