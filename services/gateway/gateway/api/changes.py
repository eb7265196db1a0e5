"""The change feed: every stored change of a tenant's contracts, in the order it was stored."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from contracts_common.storage.changes import CursorGone, read_page
from contracts_common.storage.contracts import public_contract
from contracts_common.timeutil import iso
from gateway.auth import Access
from gateway.deps import deps
from gateway.errors import ApiError, parse_query
from gateway.models import ChangesPage
from gateway.openapi import Api

api = Api("Change feed")

CURSOR_PATTERN = r"^(0|[1-9][0-9]{0,17})$"


class ChangesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cursor: str | None = Field(
        default=None,
        pattern=CURSOR_PATTERN,
        description="next_cursor (or an item's cursor) of an earlier answer; without it, from the oldest "
        "change retained",
    )
    limit: int = Field(default=100, ge=1, le=1000)


@api.get(
    "/api/v1/tenants/{tenant}/changes",
    ChangesPage,
    query=ChangesQuery,
    errors=(400, 401, 410),
    access=Access.READ,
)
async def list_changes(request: web.Request) -> web.Response:
    """The workspace's contract changes (created, updated, deleted) in the order they were stored.

    A reader that keeps asking with `next_cursor` sees every change at least once, whatever writes
    concurrently (a change may come twice). A cursor older than what is retained (CHANGES_RETENTION_DAYS)
    or never given out is answered 410 CURSOR_EXPIRED, never skipped ahead: start again without one."""
    d = deps(request)
    tenant = request.match_info["tenant"]
    query = parse_query(request, ChangesQuery)
    cursor = int(query.cursor) if query.cursor is not None else None
    try:
        rows, next_cursor = await read_page(d.changes, tenant, cursor, query.limit)
    except CursorGone as exc:
        details = {"field": "cursor", "cursor": str(exc.cursor)}
        raise ApiError(410, "CURSOR_EXPIRED", exc.reason, details) from exc
    wanted = [row.contract_id for row in rows if row.action != "deleted"]
    contracts = await d.contracts.by_ids(tenant, wanted) if wanted else {}
    items = []
    for row in rows:
        item: dict[str, object] = {
            "cursor": str(row.seq),
            "contract_id": row.contract_id,
            "ironclad_id": row.ironclad_id,
            "action": row.action,
            "changed_at": iso(row.changed_at),
        }
        doc = contracts.get(row.contract_id)
        if row.action != "deleted" and doc is not None:
            item["contract"] = public_contract(doc)
        items.append(item)
    # Written through its model like every answer; `contract` is left out, not null, for a deletion.
    page = ChangesPage.model_validate({"items": items, "next_cursor": str(next_cursor)})
    body = page.model_dump(mode="json")
    for item in body["items"]:
        if item["contract"] is None:
            del item["contract"]
    return web.json_response(body)
