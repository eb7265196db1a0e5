"""The gateway's routes and its OpenAPI 3.1 document, from one declaration per operation.

Each API module declares its operations on an `Api` (path, summary, request body model, query model,
response model per status). The same declaration registers the aiohttp route and describes it in the
document served at /api/v1/openapi.json, and `respond` writes every answer through its response model,
so what is documented is what is sent: there are no hand-written schemas to drift.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from contracts_common.mapping import MappingRule, RuleError
from gateway.auth import TENANT_PATTERN, Access, Audit
from gateway.models import ErrorBody

REF = "#/components/schemas/{model}"
# What any admin call may answer besides its success: bad input, token, missing things, conflicts,
# Ironclad or our dependencies unavailable.
ADMIN_ERRORS = (400, 401, 404, 409, 413, 415, 422, 502, 503)
# What a read can answer besides its success: a bad tenant or parameter, a missing token, nothing there.
READ_ERRORS = (400, 401, 404)
ERROR_DESCRIPTIONS = {
    400: "malformed request",
    401: "missing or wrong platform key or tenant token (or, for webhooks, signature)",
    403: "a tenant token of another workspace, a viewer's on a change, or a tenant token on a platform call",
    404: "no such resource",
    409: "conflicts with the current state",
    410: "gone",
    413: "body too large",
    415: "not JSON",
    422: "invalid input, or refused by Ironclad",
    502: "Ironclad failed",
    503: "a dependency is unavailable; retry later",
}

# Named in other schemas without being a body themselves: a rule (mapping bodies keep rules as given,
# to answer every problem with its index) and a rule's problem (INVALID_MAPPING's details.rules).
DOCUMENTED_MODELS: tuple[type[BaseModel], ...] = (MappingRule, RuleError)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Binary:
    """A response that is bytes, not JSON (a stored document)."""


class Text:
    """A plain-text response (Prometheus metrics)."""


class Html:
    """An HTML page (the admin page)."""


@dataclass(frozen=True)
class Header:
    name: str
    description: str = ""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    tag: str
    responses: dict[int, Any]
    body: type[BaseModel] | None = None
    body_required: bool = True
    body_media: str = "application/json"
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ADMIN_ERRORS
    access: Access = Access.PLATFORM
    audit: Audit | None = None
    headers: tuple[Header, ...] = ()


def _check_access(method: str, path: str, access: Access, audit: Audit | None) -> None:
    """The rules of tenant access, checked where an operation is declared (the gateway will not start
    with a declaration that breaks them)."""
    tenant_path = path.startswith("/api/v1/tenants/{tenant}/")
    where = f"{method} {path}"
    if access is Access.WRITE and not tenant_path:
        raise ValueError(f"{where}: a tenant-less change is for the platform key only (Access.PLATFORM)")
    if access is Access.READ and method != "GET":
        raise ValueError(f"{where}: a viewer may only GET; declare Access.WRITE")
    if access is Access.PUBLIC and path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
        raise ValueError(f"{where}: the admin API is never public")
    if audit is not None and (method == "GET" or not tenant_path):
        raise ValueError(f"{where}: only a tenant's changes are audited")


@dataclass
class Api:
    """The operations of one API module, and their aiohttp routes."""

    tag: str
    routes: web.RouteTableDef = field(default_factory=web.RouteTableDef)
    operations: list[Operation] = field(default_factory=list)

    def get(self, path: str, response: Any, **more: Any) -> Callable[[Handler], Handler]:
        return self.operation("GET", path, response, **more)

    def post(self, path: str, response: Any, **more: Any) -> Callable[[Handler], Handler]:
        return self.operation("POST", path, response, **more)

    def put(self, path: str, response: Any, **more: Any) -> Callable[[Handler], Handler]:
        return self.operation("PUT", path, response, **more)

    def delete(self, path: str, response: Any, **more: Any) -> Callable[[Handler], Handler]:
        return self.operation("DELETE", path, response, **more)

    def operation(
        self,
        method: str,
        path: str,
        response: Any,
        *,
        status: int = 200,
        also: dict[int, Any] | None = None,
        summary: str | None = None,
        body: type[BaseModel] | None = None,
        body_required: bool = True,
        body_media: str = "application/json",
        query: type[BaseModel] | None = None,
        errors: tuple[int, ...] = ADMIN_ERRORS,
        access: Access,
        audit: Audit | None = None,
        headers: tuple[Header, ...] = (),
        route: bool = True,
    ) -> Callable[[Handler], Handler]:
        """Declare an operation answering `response` with `status` (and `also`, other statuses with
        their bodies). Its summary and description are the handler's docstring: first paragraph, rest.
        With `route=False` it is only documented (its route is added elsewhere, e.g. the probes every
        service shares). `access` says who may call it (gateway.auth), `audit` what it records."""
        _check_access(method, path, access, audit)

        def register(handler: Handler) -> Handler:
            doc = inspect.cleandoc(handler.__doc__ or "")
            first, _, rest = doc.partition("\n\n")
            self.operations.append(
                Operation(
                    method=method.lower(),
                    path=path,
                    summary=summary or " ".join(first.split()),
                    description=rest.strip(),
                    tag=self.tag,
                    responses={status: response, **(also or {})},
                    body=body,
                    body_required=body_required,
                    body_media=body_media,
                    query=query,
                    errors=errors,
                    access=access,
                    audit=audit,
                    headers=headers,
                )
            )
            if route:
                self.routes.route(method, path)(handler)
            return handler

        return register


@cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def respond(shape: Any, data: Any, status: int = 200) -> web.Response:
    """Answer `data` as `shape` (a response model, or e.g. `list[Model]`): validated, then dumped."""
    adapter = _adapter(shape)
    return web.json_response(adapter.dump_python(adapter.validate_python(data), mode="json"), status=status)


class _Schemas:
    """Component schemas gathered while the document is built, each under its model's name."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, shape: Any, mode: str) -> dict[str, Any]:
        generated = _adapter(shape).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        schema: dict[str, Any] = _named(generated)
        self.components.update(schema.pop("$defs", {}))
        if isinstance(shape, type) and issubclass(shape, BaseModel):
            self.components[shape.__name__] = schema
            return {"$ref": REF.format(model=shape.__name__)}
        return schema


def _named(schema: Any) -> Any:
    """`{"x-model": Name}` (a model named in a hand-typed field's schema) as its component reference."""
    if isinstance(schema, dict):
        if set(schema) == {"x-model"}:
            return {"$ref": REF.format(model=schema["x-model"])}
        return {key: _named(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_named(item) for item in schema]
    return schema


SECURITY_SCHEMES = {
    "platformKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The platform key (ADMIN_API_TOKEN): Contracts AI's backend, every workspace.",
    },
    "tenantToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A tenant token: a JWT (RS256, ES256 or EdDSA) Contracts AI signs for one user of one "
        "workspace, with iss, aud, sub, tenant, role (admin | viewer), iat and exp, living at most an hour. "
        "It reaches its own workspace only; a viewer only reads (x-required-role of each operation).",
    },
}
SECURITY: dict[Access, list[dict[str, list[str]]]] = {
    Access.PUBLIC: [],
    Access.PLATFORM: [{"platformKey": []}],
    Access.READ: [{"platformKey": []}, {"tenantToken": []}],
    Access.WRITE: [{"platformKey": []}, {"tenantToken": []}],
}
ACCESS_ERRORS: dict[Access, tuple[int, ...]] = {
    Access.PUBLIC: (),
    Access.PLATFORM: (401, 403),
    Access.READ: (401, 403),
    Access.WRITE: (401, 403),
}


def operation_table(operations: Iterable[Operation]) -> dict[tuple[str, str], Operation]:
    """Every declared operation by (verb, path template): what the access middleware looks up."""
    return {(op.method, op.path): op for op in operations}


def all_operations() -> list[Operation]:
    return [op for api in all_apis() for op in api.operations]


def _path_parameters(path: str) -> list[dict[str, Any]]:
    out = []
    for name in re.findall(r"{(\w+)}", path):
        pattern = {"pattern": TENANT_PATTERN.pattern} if name == "tenant" else {"minLength": 1}
        out.append({"name": name, "in": "path", "required": True, "schema": {"type": "string", **pattern}})
    return out


def _query_parameters(model: type[BaseModel] | None, schemas: _Schemas) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = _adapter(model).json_schema(ref_template=REF)
    schemas.components.update(schema.get("$defs", {}))
    return [
        {
            "name": name,
            "in": "query",
            "required": info.is_required(),
            "schema": schema["properties"][name],
            **({"description": info.description} if info.description else {}),
        }
        for name, info in model.model_fields.items()
    ]


def _response(status: int, shape: Any, schemas: _Schemas) -> dict[str, Any]:
    if shape is None:
        return {"description": "no body"}
    if shape is Binary:
        return {
            "description": "the bytes, with their content type",
            "content": {
                "*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
            },
        }
    if shape is Text:
        return {"description": "text", "content": {"text/plain": {"schema": {"type": "string"}}}}
    if shape is Html:
        return {"description": "a page", "content": {"text/html": {"schema": {"type": "string"}}}}
    return {
        "description": "ok" if status < 400 else ERROR_DESCRIPTIONS.get(status, "error"),
        "content": {"application/json": {"schema": schemas.of(shape, "serialization")}},
    }


def _operation(op: Operation, schemas: _Schemas) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tags": [op.tag],
        "summary": op.summary,
        "operationId": f"{op.method}_{re.sub(r'[^a-z0-9]+', '_', op.path.lower()).strip('_')}",
        "security": SECURITY[op.access],
        "x-required-role": op.access.role,
        "parameters": [
            *_path_parameters(op.path),
            *_query_parameters(op.query, schemas),
            *(
                {"name": h.name, "in": "header", "required": True, "description": h.description}
                | {"schema": {"type": "string"}}
                for h in op.headers
            ),
        ],
        "responses": {
            **{str(status): _response(status, shape, schemas) for status, shape in op.responses.items()},
            **{
                str(status): _response(status, ErrorBody, schemas)
                for status in sorted({*op.errors, *ACCESS_ERRORS[op.access]})
                if status not in op.responses
            },
        },
    }
    if op.description:
        out["description"] = op.description
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {op.body_media: {"schema": schemas.of(op.body, "validation")}},
        }
    return out


def build_document(operations: Iterable[Operation]) -> dict[str, Any]:
    schemas = _Schemas()
    for model in DOCUMENTED_MODELS:
        schemas.of(model, "validation")
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Contracts AI — Ironclad integration gateway",
            "version": "1",
            "description": "Admin API, Ironclad webhook receiver and probes. Errors: "
            '{"error": {"code", "message", "details"}}.',
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "schemas": dict(sorted(schemas.components.items())),
        },
        "paths": paths,
    }


def all_apis() -> list[Api]:
    """Every API module's operations, in the order the document lists them."""
    from gateway.api import (
        audit,
        automatic_sync,
        changes,
        connection,
        contracts,
        dead_letters,
        health,
        mapping,
        notifications,
        runs,
        schema,
        writeback,
    )
    from gateway.probes import api as probes
    from gateway.webhooks import receiver

    return [
        connection.api,
        # Before runs: its .../runs/stats must be routed before runs' .../runs/{run_id}.
        health.api,
        runs.api,
        contracts.api,
        changes.api,
        mapping.api,
        schema.api,
        automatic_sync.api,
        writeback.api,
        notifications.api,
        audit.api,
        dead_letters.api,
        receiver.api,
        probes,
    ]


@cache
def openapi_document() -> dict[str, Any]:
    return build_document(all_operations())
