"""R18: schema-driven fuzzing of the gateway's OpenAPI document (schemathesis).

For generated valid and invalid requests: never a 5xx, every answer conforms to the document (its
status is documented for the operation, and its content type and body match the schema given there),
every 4xx is our error shape with a code and a sentence, and a rejected request stores nothing (every
collection keeps its document count).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pymongo
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.openapi import openapi_document
from tests.support.api import AdminApi
from tests.support.services import ADMIN_TOKEN, Stack

pytestmark = pytest.mark.fuzz

WATCHED = (
    "connections",
    "mappings",
    "runs",
    "custom_target_fields",
    "contracts",
    "webhook_deliveries",
    "writebacks",
)
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
EXAMPLES = 12
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def _counts(db: Any) -> dict[str, int]:
    return {name: db[name].count_documents({}) for name in WATCHED}


def _fuzz(base_url: str, stack: Stack) -> dict[str, int]:
    schema = schemathesis.openapi.from_dict(openapi_document())
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(stack.mongodb_url)
    db = client[stack.database]
    seen = {"requests": 0, "4xx": 0, "2xx": 0}
    try:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                for fixed in ({}, {"tenant": "acme"}):
                    if fixed and "{tenant}" not in operation.path:
                        continue
                    strategy = operation.as_strategy(mode, path_parameters=fixed or None)

                    @settings(
                        max_examples=EXAMPLES,
                        deadline=None,
                        derandomize=True,
                        database=None,
                        suppress_health_check=list(HealthCheck),
                    )
                    @given(case=strategy)
                    def check(case: Any) -> None:
                        before = _counts(db) if case.method.upper() in MUTATING else None
                        response = case.call(
                            base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
                        )
                        seen["requests"] += 1
                        status = response.status_code
                        where = f"{case.method} {case.formatted_path} -> {status}: {response.text[:300]}"
                        assert status < 500, where
                        case.validate_response(response, checks=CONFORMANCE)
                        if 400 <= status < 500:
                            seen["4xx"] += 1
                            if case.path.startswith("/api/"):
                                error = response.json()["error"]
                                assert error["code"], where
                                assert len(error["message"]) >= 10, where
                            if before is not None:
                                assert _counts(db) == before, f"a rejected request stored something: {where}"
                        else:
                            seen["2xx"] += 1

                    try:
                        check()
                    except Unsatisfiable:
                        # Nothing to make invalid (an operation without parameters or body).
                        assert mode is GenerationMode.NEGATIVE
    finally:
        client.close()
    return seen


async def test_no_5xx_clear_4xx_and_nothing_stored_from_rejected_requests(
    api: AdminApi, gateway: str, stack: Stack, company: dict[str, Any]
) -> None:
    assert (await api.connect("acme", company["apps"][0], "admin@acme.example")).status == 200
    seen = await asyncio.to_thread(_fuzz, gateway, stack)
    assert seen["requests"] > 300
    assert seen["4xx"] > 50, "negative cases must actually be rejected"
    assert seen["2xx"] > 20
