"""Field mapping: Contracts AI's target fields, the versioned mapping, its preview, and re-mapping."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from annotated_types import Ge, Le
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
from contracts_common.storage.audit import AuditAction
from contracts_common.timeutil import iso
from gateway.auth import Access, Audit
from gateway.deps import GatewayDeps, deps
from gateway.errors import ApiError, invalid_body, parse_body, read_json
from gateway.models import ContractField, FieldMapping, JsonInteger, Preview, Rules, integer_schema
from gateway.openapi import Api, respond

api = Api("Field mapping")

MAX_RULES = 500


class MappingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Checked rule by rule after parsing, so every problem is answered with its rule's index.
    rules: Rules = Field(max_length=MAX_RULES)
    # Ignored on PUT: every PUT makes a new version.
    version: Annotated[JsonInteger, Ge(0), Le(2**31), integer_schema(0, 2**31)] | None = None


class PreviewBody(MappingBody):
    sample_size: Annotated[JsonInteger, Ge(1), Le(50), integer_schema(1, 50)] = 5
    contract_ids: list[str] | None = Field(default=None, max_length=50)


class CustomFieldsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: list[TargetField] = Field(max_length=200)


def _field(f: TargetField) -> dict[str, Any]:
    return {"name": f.name, "type": f.type.value, "description": f.description, "custom": f.custom}


async def tenant_targets(d: GatewayDeps, tenant: str) -> list[TargetField]:
    custom = [TargetField.model_validate(doc) for doc in await d.mappings.custom_fields(tenant)]
    return target_fields(custom)


@api.get("/api/v1/contract-fields", list[ContractField], errors=(401,), access=Access.READ)
async def contract_fields(_: web.Request) -> web.Response:
    """Contracts AI's target fields."""
    return respond(list[ContractField], [_field(f) for f in BUILTIN_TARGET_FIELDS])


@api.get(
    "/api/v1/tenants/{tenant}/contract-fields", list[ContractField], errors=(400, 401), access=Access.READ
)
async def tenant_contract_fields(request: web.Request) -> web.Response:
    """Target fields including the tenant's custom ones."""
    targets = await tenant_targets(deps(request), request.match_info["tenant"])
    return respond(list[ContractField], [_field(f) for f in targets])


@api.put(
    "/api/v1/tenants/{tenant}/contract-fields/custom",
    list[ContractField],
    body=CustomFieldsBody,
    access=Access.WRITE,
    audit=Audit(AuditAction.CUSTOM_FIELDS_CHANGED),
)
async def put_custom_fields(request: web.Request) -> web.Response:
    """Replace the tenant's custom target fields."""
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = await parse_body(request, CustomFieldsBody)
    custom = [f.model_copy(update={"custom": True}) for f in body.fields]
    try:
        targets = target_fields(custom)
    except InvalidTargetFieldsError as exc:
        raise ApiError(422, "INVALID_CUSTOM_FIELDS", str(exc), {"problems": exc.problems}) from exc
    await d.mappings.replace_custom_fields(tenant, [f.model_dump(mode="json") for f in custom])
    return respond(list[ContractField], [_field(f) for f in targets])


async def _validated(d: GatewayDeps, tenant: str, body: MappingBody) -> list[TargetField]:
    targets = await tenant_targets(d, tenant)
    schema = await d.schemas.get(tenant)
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


@api.get("/api/v1/tenants/{tenant}/field-mapping", FieldMapping, errors=(400, 401), access=Access.READ)
async def get_mapping(request: web.Request) -> web.Response:
    """The current field mapping (version 0: the default until one is stored)."""
    doc = await deps(request).mappings.current(request.match_info["tenant"])
    if doc is None:
        rules = [r.model_dump(mode="json", exclude_none=True) for r in DEFAULT_RULES_WITHOUT_METADATA]
        return respond(FieldMapping, {"version": 0, "rules": rules, "suggested": True, "created_at": None})
    return respond(
        FieldMapping,
        {
            "version": doc["version"],
            "rules": doc["rules"],
            "suggested": doc.get("suggested", False),
            "created_at": iso(doc["created_at"]),
        },
    )


@api.put(
    "/api/v1/tenants/{tenant}/field-mapping",
    FieldMapping,
    body=MappingBody,
    access=Access.WRITE,
    audit=Audit(AuditAction.MAPPING_CHANGED, answer=("version", "remap_run_id")),
)
async def put_mapping(request: web.Request) -> web.Response:
    """Store a new mapping version and re-map the stored contracts with it.

    Every problem is answered at once (422 INVALID_MAPPING, details.rules: [{index, source, target, code,
    message}]) and nothing is stored.
    """
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
    return respond(
        FieldMapping,
        {
            "version": doc["version"],
            "rules": doc["rules"],
            "suggested": False,
            "created_at": iso(doc["created_at"]),
            "remap_run_id": remap_run_id,
        },
    )


# A preview changes nothing, but it is a POST: a viewer may only GET (the contract), so it needs an admin.
@api.post("/api/v1/tenants/{tenant}/field-mapping/preview", Preview, body=PreviewBody, access=Access.WRITE)
async def preview(request: web.Request) -> web.Response:
    """What a mapping would make of a few stored contracts, with per-field errors."""
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
    return respond(
        Preview,
        {
            "items": [
                {"contract_id": str(doc["_id"]), **item.model_dump(mode="json")}
                for doc, item in zip(docs, items, strict=True)
            ]
        },
    )
