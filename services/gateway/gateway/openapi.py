"""The gateway's OpenAPI 3.1 document, served at /api/v1/openapi.json.

Request bodies reuse the pydantic models the handlers validate with, so the document cannot drift from
what the API accepts. Modules that add endpoints contribute their `OPENAPI_PATHS`.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from gateway.api.connection import ConnectRequest
from gateway.api.mapping import CustomFieldsBody, MappingBody, PreviewBody
from gateway.api.runs import ImportRequest

TENANT = {
    "name": "tenant",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
JSON_OK = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
JSON_LIST = {"description": "ok", "content": {"application/json": {"schema": {"type": "array"}}}}


def _body(model: Any, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": model.model_json_schema()}}}


def _op(
    summary: str,
    *,
    tenant: bool = True,
    ok: str = "200",
    body: Any = None,
    params: list[Any] | None = None,
    ok_response: dict[str, Any] | None = None,
    body_required: bool = True,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "parameters": ([TENANT] if tenant else []) + (params or []),
        "responses": {
            ok: ok_response or JSON_OK,
            "400": ERROR,
            "401": ERROR,
            "404": ERROR,
            "409": ERROR,
            "422": ERROR,
            "502": ERROR,
            "503": ERROR,
        },
    }
    if body is not None:
        op["requestBody"] = _body(body, body_required)
    return op


def _q(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


T = "/api/v1/tenants/{tenant}"

CORE_PATHS: dict[str, Any] = {
    "/api/v1/ironclad/scopes": {
        "get": _op("The Ironclad scopes we use", tenant=False, ok_response=JSON_LIST)
    },
    "/api/v1/contract-fields": {
        "get": _op("Contracts AI's target fields", tenant=False, ok_response=JSON_LIST)
    },
    f"{T}/ironclad/connection": {
        "put": _op("Connect (or reconnect) to Ironclad", body=ConnectRequest),
        "get": _op("The connection, never the secret"),
        "delete": _op("Disconnect; imported contracts remain"),
    },
    f"{T}/ironclad/imports": {
        "post": _op("Start an import", ok="202", body=ImportRequest, body_required=False)
    },
    f"{T}/ironclad/reconcile": {"post": _op("Start a reconciliation now", ok="202")},
    f"{T}/ironclad/runs": {
        "get": _op(
            "Sync runs",
            params=[
                _q("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                _q("kind", {"type": "string"}),
            ],
        )
    },
    f"{T}/ironclad/runs/{{run_id}}": {"get": _op("One run", params=[_p("run_id")])},
    f"{T}/ironclad/fields": {
        "get": _op("Ironclad's record types and properties", params=[_q("refresh", {"type": "boolean"})])
    },
    f"{T}/contract-fields": {
        "get": _op("Target fields including the tenant's custom ones", ok_response=JSON_LIST)
    },
    f"{T}/contract-fields/custom": {
        "put": _op("Replace the tenant's custom target fields", body=CustomFieldsBody)
    },
    f"{T}/field-mapping": {
        "get": _op("The current field mapping"),
        "put": _op("Store a new mapping version and re-map stored contracts", body=MappingBody),
    },
    f"{T}/field-mapping/preview": {"post": _op("What a mapping makes of stored contracts", body=PreviewBody)},
    f"{T}/field-mapping/suggestions": {"get": _op("Rules suggested from Ironclad's schema, with reasons")},
    f"{T}/contracts": {
        "get": _op(
            "Imported contracts",
            params=[
                _q("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                _q("cursor", {"type": "string"}),
                _q("q", {"type": "string"}),
            ],
        )
    },
    f"{T}/contracts/{{contract_id}}": {
        "get": _op("One contract (by our id, the Ironclad record id or IC-n)", params=[_p("contract_id")])
    },
    f"{T}/contracts/{{contract_id}}/attachments/{{key}}": {
        "get": _op(
            "A stored document's bytes",
            params=[_p("contract_id"), _p("key")],
            ok_response={"description": "the document", "content": {"application/octet-stream": {}}},
        )
    },
}

PROBES: dict[str, Any] = {
    "/healthz": {"get": {"summary": "liveness", "responses": {"200": JSON_OK}}},
    "/readyz": {
        "get": {"summary": "readiness: broker and database", "responses": {"200": JSON_OK, "503": JSON_OK}}
    },
    "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
}

CONTRIBUTORS = ("gateway.api.automatic_sync", "gateway.webhooks.receiver", "gateway.api.writeback")


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {**CORE_PATHS}
    for module_name in CONTRIBUTORS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr in ("OPENAPI_PATHS", "WEBHOOK_OPENAPI_PATHS"):
            for path, item in getattr(module, attr, {}).items():
                paths.setdefault(path, {}).update(item)
    paths.update(PROBES)
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
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
        "paths": paths,
    }
