"""The generated OpenAPI document: valid OpenAPI 3.1, every schema valid JSON Schema, every reference
resolvable, and every endpoint of the binding gateway-api.md in it with its verb."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from schemathesis.specs.openapi.definitions import OPENAPI_31

from gateway.openapi import all_apis, openapi_document

GATEWAY_API = Path(__file__).resolve().parents[3] / "shared" / "reference" / "gateway-api.md"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def test_the_document_is_valid_openapi_31() -> None:
    jsonschema.Draft202012Validator(OPENAPI_31).validate(openapi_document())


def test_every_component_schema_is_valid_json_schema() -> None:
    for name, schema in openapi_document()["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            pytest.fail(f"{name}: {exc.message}")


def test_every_reference_resolves() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    refs = _refs(document["paths"]) + _refs(schemas)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, f"dangling {ref}"


def _binding_endpoints() -> set[tuple[str, str]]:
    """(verb, path) of every row of gateway-api.md's endpoint table.

    Cells read `VERB /path`, `GET`/`PUT /path` (two verbs), or `GET /a/runs` and `/runs/{run_id}` (a
    second path under the first, with its verbs)."""
    table = GATEWAY_API.read_text(encoding="utf-8").split("## Endpoints", 1)[1]
    found: set[tuple[str, str]] = set()
    for cell in re.findall(r"^\| (`[^|]+)\|", table, flags=re.M):
        pending: list[str] = []
        verbs: list[str] = []
        last = ""
        for piece in re.findall(r"`([^`]+)`", cell):
            words = piece.split()
            if len(words) == 1 and words[0].isupper():
                pending.append(words[0])
            elif len(words) == 2 and words[0].isupper():
                verbs, last, pending = [*pending, words[0]], words[1], []
                found.update((v, last) for v in verbs)
            elif len(words) == 1 and words[0].startswith("/"):
                # Relative to the path before it: `/runs/{run_id}` after `.../ironclad/runs`.
                head = last.rsplit("/" + words[0].strip("/").split("/")[0], 1)[0]
                found.update((v, head + words[0]) for v in verbs)
    return found


def test_every_binding_endpoint_is_documented_with_its_verb() -> None:
    endpoints = _binding_endpoints()
    assert len(endpoints) == 23, sorted(endpoints)  # the rows of the table, counted by hand
    paths = openapi_document()["paths"]
    missing = sorted((v, p) for v, p in endpoints if v.lower() not in paths.get(p, {}))
    assert not missing, f"gateway-api.md endpoints missing from the document: {missing}"


def test_every_routed_operation_is_documented_and_nothing_else() -> None:
    routed = {
        (route.method.lower(), route.path)
        for api in all_apis()
        for route in api.routes
        if isinstance(route, web.RouteDef)
    }
    documented = {(m, p) for p, item in openapi_document()["paths"].items() for m in item}
    assert routed <= documented
    # Documented without a route in these tables: the probes, the document and the admin page.
    assert {p for _, p in documented - routed} == {
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/admin/",
    }


def test_every_operation_states_who_may_call_it() -> None:
    """Both security schemes are in the document; each operation lists those that reach it and the role."""
    from gateway.auth import Access
    from gateway.openapi import SECURITY, all_operations

    document = openapi_document()
    assert set(document["components"]["securitySchemes"]) == {"platformKey", "tenantToken"}
    for op in all_operations():
        described = document["paths"][op.path][op.method]
        assert described["security"] == SECURITY[op.access], (op.method, op.path)
        assert described["x-required-role"] == op.access.role
        if op.access is not Access.PUBLIC:
            assert {"401", "403"} <= set(described["responses"]), (op.method, op.path)
        if op.access in (Access.READ, Access.WRITE):
            assert described["security"] == [{"platformKey": []}, {"tenantToken": []}]


def test_a_declaration_that_breaks_the_access_rules_is_refused() -> None:
    from gateway.auth import Access
    from gateway.openapi import Api

    api = Api("x")
    with pytest.raises(ValueError, match="viewer may only GET"):
        api.post("/api/v1/tenants/{tenant}/x", dict, access=Access.READ)
    with pytest.raises(ValueError, match="tenant-less change"):
        api.put("/api/v1/x", dict, access=Access.WRITE)
    with pytest.raises(ValueError, match="never public"):
        api.get("/api/v1/tenants/{tenant}/x", dict, access=Access.PUBLIC)


def test_the_transform_kinds_are_listed_in_order_each_with_its_name() -> None:
    """The admin page's Transform list is this union (oneOf order, each model's title), not a copy."""
    from typing import get_args

    from contracts_common.mapping.transforms import AnyTransform

    schemas = openapi_document()["components"]["schemas"]
    choices = schemas["MappingRule"]["properties"]["transform"]["anyOf"]
    union = next(choice for choice in choices if "discriminator" in choice)
    models = [schemas[choice["$ref"].rsplit("/", 1)[1]] for choice in union["oneOf"]]
    kinds = [model["properties"]["kind"]["const"] for model in models]
    assert kinds == [get_args(m.model_fields["kind"].annotation)[0] for m in get_args(AnyTransform)]
    assert sorted(union["discriminator"]["mapping"]) == sorted(kinds)
    titles = [model["title"] for model in models]
    assert titles[:3] == ["Date", "Date and time", "Number"]
    assert all(title and not title.endswith("Transform") for title in titles), titles
