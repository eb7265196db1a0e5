"""Ironclad's record schema (`/records/metadata`): cached per tenant, and the mapping suggested from it."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from contracts_common.ironclad import IroncladClient, IroncladError, OAuthError
from contracts_common.mapping import source_fields, suggest_mapping
from contracts_common.storage.database import Document
from contracts_common.timeutil import iso, utcnow
from gateway.api.connection_guard import connected_client
from gateway.deps import GatewayDeps, deps
from gateway.errors import ApiError

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()


async def cached_schema(d: GatewayDeps, tenant: str) -> Document | None:
    return await d.db.schema_cache.find_one({"tenant": tenant})


async def store_schema(d: GatewayDeps, tenant: str, metadata: dict[str, Any]) -> Document:
    doc = {"tenant": tenant, "metadata": metadata, "fetched_at": utcnow()}
    await d.db.schema_cache.replace_one({"tenant": tenant}, doc, upsert=True)
    return doc


async def refresh_schema_and_suggest(d: GatewayDeps, tenant: str, client: IroncladClient) -> None:
    """After a connect: cache the schema and, if the tenant has no mapping yet, store the suggested one."""
    try:
        metadata = await client.get_records_metadata()
    except (IroncladError, OAuthError) as exc:
        log.warning("schema_fetch_failed", tenant=tenant, error=str(exc))
        return
    await store_schema(d, tenant, metadata)
    if await d.mappings.current(tenant) is None:
        rules = [s.rule.model_dump(mode="json", exclude_none=True) for s in suggest_mapping(metadata)]
        await d.mappings.save(tenant, rules, suggested=True)


@routes.get("/api/v1/tenants/{tenant}/ironclad/fields")
async def ironclad_fields(request: web.Request) -> web.Response:
    d = deps(request)
    tenant = request.match_info["tenant"]
    refresh = request.query.get("refresh", "false").lower() in ("1", "true", "yes")
    doc = None if refresh else await cached_schema(d, tenant)
    if doc is None:
        client = await connected_client(d, tenant)
        try:
            metadata = await client.get_records_metadata()
        except (IroncladError, OAuthError) as exc:
            raise ApiError(502, "IRONCLAD_ERROR", f"Could not read Ironclad's record schema: {exc}") from exc
        doc = await store_schema(d, tenant, metadata)
    metadata = doc["metadata"]
    record_types = [
        {"key": key, "display_name": spec.get("displayName"), "description": spec.get("description")}
        for key, spec in (metadata.get("recordTypes") or {}).items()
    ]
    return web.json_response(
        {
            "record_types": record_types,
            "fields": [f.model_dump(mode="json") for f in source_fields(metadata)],
            "fetched_at": iso(doc["fetched_at"]),
        }
    )


@routes.get("/api/v1/tenants/{tenant}/field-mapping/suggestions")
async def mapping_suggestions(request: web.Request) -> web.Response:
    """The rules suggested from the cached Ironclad schema, each with why (the admin page marks them)."""
    doc = await cached_schema(deps(request), request.match_info["tenant"])
    suggestions = suggest_mapping(doc["metadata"]) if doc else []
    return web.json_response(
        {
            "items": [
                {"rule": s.rule.model_dump(mode="json", exclude_none=True), "reason": s.reason}
                for s in suggestions
            ],
            "schema_fetched_at": iso(doc["fetched_at"]) if doc else None,
        }
    )
