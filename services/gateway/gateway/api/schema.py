"""Ironclad's record schema (`/records/metadata`): cached per tenant, and the mapping suggested from it."""

from __future__ import annotations

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from contracts_common.ironclad import IroncladClient, IroncladError, OAuthError
from contracts_common.mapping import source_fields, suggest_mapping
from contracts_common.timeutil import iso
from gateway.api.connection_guard import connected_client
from gateway.auth import Access
from gateway.deps import GatewayDeps, deps
from gateway.errors import ApiError, parse_query
from gateway.models import IroncladFields, Suggestions
from gateway.openapi import Api, respond

log = structlog.get_logger(__name__)
api = Api("Field mapping")


class FieldsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    refresh: bool = Field(default=False, description="read /records/metadata again instead of the cache")


async def refresh_schema_and_suggest(d: GatewayDeps, tenant: str, client: IroncladClient) -> None:
    """After a connect: cache the schema and, if the tenant has no mapping yet, store the suggested one."""
    try:
        metadata = await client.get_records_metadata()
    except (IroncladError, OAuthError) as exc:
        log.warning("schema_fetch_failed", tenant=tenant, error=str(exc))
        return
    await d.schemas.store(tenant, metadata)
    if await d.mappings.current(tenant) is None:
        rules = [s.rule.model_dump(mode="json", exclude_none=True) for s in suggest_mapping(metadata)]
        await d.mappings.save(tenant, rules, suggested=True)


@api.get("/api/v1/tenants/{tenant}/ironclad/fields", IroncladFields, query=FieldsQuery, access=Access.READ)
async def ironclad_fields(request: web.Request) -> web.Response:
    """Ironclad's record types and properties (from /records/metadata, cached)."""
    d = deps(request)
    tenant = request.match_info["tenant"]
    query = parse_query(request, FieldsQuery)
    doc = None if query.refresh else await d.schemas.get(tenant)
    if doc is None:
        client = await connected_client(d, tenant)
        try:
            metadata = await client.get_records_metadata()
        except (IroncladError, OAuthError) as exc:
            raise ApiError(502, "IRONCLAD_ERROR", f"Could not read Ironclad's record schema: {exc}") from exc
        doc = await d.schemas.store(tenant, metadata)
    metadata = doc["metadata"]
    record_types = [
        {"key": key, "display_name": spec.get("displayName"), "description": spec.get("description")}
        for key, spec in (metadata.get("recordTypes") or {}).items()
    ]
    return respond(
        IroncladFields,
        {
            "record_types": record_types,
            "fields": [f.model_dump(mode="json") for f in source_fields(metadata)],
            "fetched_at": iso(doc["fetched_at"]),
        },
    )


@api.get(
    "/api/v1/tenants/{tenant}/field-mapping/suggestions", Suggestions, errors=(400, 401), access=Access.READ
)
async def mapping_suggestions(request: web.Request) -> web.Response:
    """Rules suggested from the cached Ironclad schema, each with why (the admin page marks them)."""
    doc = await deps(request).schemas.get(request.match_info["tenant"])
    suggestions = suggest_mapping(doc["metadata"]) if doc else []
    return respond(
        Suggestions,
        {
            "items": [
                {"rule": s.rule.model_dump(mode="json", exclude_none=True), "reason": s.reason}
                for s in suggestions
            ],
            "schema_fetched_at": iso(doc["fetched_at"]) if doc else None,
        },
    )
