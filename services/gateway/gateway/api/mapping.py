"""Field mapping: Contracts AI's target fields, the versioned mapping, its preview, and re-mapping."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts_common.commands import start_remap
from contracts_common.mapping import (
    BUILTIN_TARGET_FIELDS,
    DEFAULT_RULES_WITHOUT_METADATA,
    InvalidTargetFieldsError,
    MappingRule,
    TargetField,
    compile_mapping,
    preview_mapping,
    source_fields,
    target_fields,
    validate_mapping,
)
from contracts_common.messaging import BrokerUnavailable
from contracts_common.timeutil import iso
from gateway.api.schema import cached_schema
from gateway.deps import GatewayDeps, deps
from gateway.errors import ApiError, invalid_body, parse_body, read_json

routes = web.RouteTableDef()

MAX_RULES = 500


class MappingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[dict[str, Any]] = Field(max_length=MAX_RULES)
    version: int | None = None  # ignored on PUT: every PUT makes a new version


class PreviewBody(MappingBody):
    sample_size: int = Field(default=5, ge=1, le=50)
    contract_ids: list[str] | None = Field(default=None, max_length=50)


class CustomFieldsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: list[TargetField] = Field(max_length=200)


def _field(f: TargetField) -> dict[str, Any]:
    return {"name": f.name, "type": f.type.value, "description": f.description, "custom": f.custom}


async def tenant_targets(d: GatewayDeps, tenant: str) -> list[TargetField]:
    custom = [TargetField.model_validate(doc) for doc in await d.mappings.custom_fields(tenant)]
    return target_fields(custom)


@routes.get("/api/v1/contract-fields")
async def contract_fields(_: web.Request) -> web.Response:
    return web.json_response([_field(f) for f in BUILTIN_TARGET_FIELDS])


@routes.get("/api/v1/tenants/{tenant}/contract-fields")
async def tenant_contract_fields(request: web.Request) -> web.Response:
    targets = await tenant_targets(deps(request), request.match_info["tenant"])
    return web.json_response([_field(f) for f in targets])


@routes.put("/api/v1/tenants/{tenant}/contract-fields/custom")
async def put_custom_fields(request: web.Request) -> web.Response:
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = await parse_body(request, CustomFieldsBody)
    custom = [f.model_copy(update={"custom": True}) for f in body.fields]
    try:
        targets = target_fields(custom)
    except InvalidTargetFieldsError as exc:
        raise ApiError(422, "INVALID_CUSTOM_FIELDS", str(exc), {"problems": exc.problems}) from exc
    await d.db.custom_target_fields.delete_many({"tenant": tenant})
    if custom:
        await d.db.custom_target_fields.insert_many(
            [{"tenant": tenant, **f.model_dump(mode="json")} for f in custom]
        )
    return web.json_response([_field(f) for f in targets])


async def _validated(d: GatewayDeps, tenant: str, body: MappingBody) -> list[TargetField]:
    targets = await tenant_targets(d, tenant)
    schema = await cached_schema(d, tenant)
    sources = source_fields(schema["metadata"]) if schema else None
    problems = validate_mapping(body.rules, targets, sources)
    if problems:
        raise ApiError(
            422,
            "INVALID_MAPPING",
            f"{len(problems)} problem(s) in the mapping; nothing was stored.",
            {"rules": [p.model_dump(mode="json") for p in problems]},
        )
    return targets


def _parsed(rules: list[dict[str, Any]]) -> list[MappingRule]:
    return [MappingRule.model_validate(r) for r in rules]


def _normalised(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json", exclude_none=True) for r in _parsed(rules)]


@routes.get("/api/v1/tenants/{tenant}/field-mapping")
async def get_mapping(request: web.Request) -> web.Response:
    doc = await deps(request).mappings.current(request.match_info["tenant"])
    if doc is None:
        rules = [r.model_dump(mode="json", exclude_none=True) for r in DEFAULT_RULES_WITHOUT_METADATA]
        return web.json_response({"version": 0, "rules": rules, "suggested": True, "created_at": None})
    return web.json_response(
        {
            "version": doc["version"],
            "rules": doc["rules"],
            "suggested": doc.get("suggested", False),
            "created_at": iso(doc["created_at"]),
        }
    )


@routes.put("/api/v1/tenants/{tenant}/field-mapping")
async def put_mapping(request: web.Request) -> web.Response:
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = await parse_body(request, MappingBody)
    await _validated(d, tenant, body)
    doc = await d.mappings.save(tenant, _normalised(body.rules))
    remap_run_id = None
    try:
        run = await start_remap(d.db, d.broker, tenant, doc["version"])
        remap_run_id = run["_id"]
    except BrokerUnavailable:
        # The mapping is stored; the next import or a later PUT re-maps. Say so rather than fail.
        remap_run_id = None
    return web.json_response(
        {
            "version": doc["version"],
            "rules": doc["rules"],
            "suggested": False,
            "created_at": iso(doc["created_at"]),
            "remap_run_id": remap_run_id,
        }
    )


@routes.post("/api/v1/tenants/{tenant}/field-mapping/preview")
async def preview(request: web.Request) -> web.Response:
    d = deps(request)
    tenant = request.match_info["tenant"]
    raw = await read_json(request)
    try:
        body = PreviewBody.model_validate(raw)
    except ValidationError as exc:
        raise invalid_body(exc) from exc
    targets = await _validated(d, tenant, body)
    query: dict[str, Any] = {"tenant": tenant}
    if body.contract_ids:
        query["$or"] = [
            {"ironclad.id": {"$in": body.contract_ids}},
            {"ironclad.ironcladId": {"$in": body.contract_ids}},
        ]
    docs = [
        doc async for doc in d.db.contracts.find(query, {"raw": 1}).sort("_id", -1).limit(body.sample_size)
    ]
    compiled = compile_mapping(_parsed(body.rules), targets)
    items = preview_mapping([doc["raw"] for doc in docs], compiled, targets)
    return web.json_response(
        {
            "items": [
                {"contract_id": str(doc["_id"]), **item.model_dump(mode="json")}
                for doc, item in zip(docs, items, strict=True)
            ]
        }
    )
