"""R29: a tenant token reaches only its own workspace, a viewer only reads, a bad token does nothing.

The walks iterate the gateway's own operation declarations (gateway.openapi.all_operations), so an
operation added later is walked too and cannot forget its authorisation.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from gateway.auth import Access
from gateway.openapi import Operation, all_operations
from tests.support.api import AdminApi
from tests.support.services import ADMIN_TOKEN, Stack
from tests.support.tokens import TokenKit

TENANT = "acme"
OTHER = "globex"
EMAIL = "admin@acme.example"
GUARDED = [op for op in all_operations() if op.access is not Access.PUBLIC]
TENANT_OPS = [op for op in GUARDED if "{tenant}" in op.path]
CHANGES = [op for op in GUARDED if op.method != "get"]
PLATFORM_ONLY = [op for op in GUARDED if "{tenant}" not in op.path and op.access is Access.PLATFORM]


def _id(op: Operation) -> str:
    return f"{op.method.upper()} {op.path}"


def _url(op: Operation, tenant: str) -> str:
    path = op.path.replace("{tenant}", tenant)
    return re.sub(r"{(\w+)}", lambda m: f"{m.group(1)}-12345678", path)


def _body(op: Operation, company: dict[str, Any]) -> Any:
    """A body the operation would act on, so that a missed refusal shows as a change."""
    if op.path.endswith("/ironclad/connection") and op.method == "put":
        app = company["apps"][0]
        return {
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "user_email": EMAIL,
            "region": "na1",
        }
    if op.path.endswith("/field-mapping"):
        return {"rules": [{"source": "name", "target": "title"}]}
    if op.path.endswith("/contract-fields/custom"):
        return {"fields": [{"name": "x_region", "type": "string", "description": "region"}]}
    return {}


async def _counts(stack: Stack) -> dict[str, int]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url)
    try:
        db = client[stack.database]
        return {name: await db[name].count_documents({}) for name in await db.list_collection_names()}
    finally:
        await client.close()


@pytest.fixture
async def walker(tenant_tokens: TokenKit, gateway: str, company: dict[str, Any]) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as session:

        async def call(op: Operation, tenant: str, token: str, **kwargs: Any) -> tuple[int, Any]:
            async with session.request(
                "GET" if op.method == "get" else op.method.upper(),
                gateway + _url(op, tenant),
                json=None if op.method == "get" else _body(op, company),
                headers={"Authorization": f"Bearer {token}"},
                **kwargs,
            ) as response:
                body = await response.json() if response.content_type == "application/json" else None
                if response.status == 401 and body is not None:  # RFC 6750: the challenge names the refusal
                    challenge = response.headers.get("WWW-Authenticate", "")
                    assert challenge.startswith('Bearer realm="contracts-ai"'), challenge
                    assert f'error_description="{body["error"]["code"]}"' in challenge, challenge
                return response.status, body

        yield call


def test_the_walks_cover_every_declared_operation() -> None:
    """Not a formality: the walks below must see the writes, the reads and the tenant-less reads."""
    assert len(TENANT_OPS) >= 20
    assert {op.path for op in GUARDED} >= {"/api/v1/ironclad/scopes", "/api/v1/contract-fields"}
    assert {"put", "post", "delete"} <= {op.method for op in CHANGES}


async def test_another_tenants_token_gets_403_on_every_operation_and_nothing_is_done(
    walker: Any, tenant_tokens: TokenKit, stack: Stack
) -> None:
    before = await _counts(stack)
    token = tenant_tokens.token(OTHER, "admin")
    refused = []
    for op in GUARDED:
        status, body = await walker(op, TENANT, token)
        if "{tenant}" not in op.path and op.access is Access.READ:
            assert status == 200, (_id(op), status, body)  # the tenant-less reads
            continue
        expected = "TENANT_FORBIDDEN" if op.access is not Access.PLATFORM else "PLATFORM_KEY_REQUIRED"
        assert (status, body["error"]["code"]) == (403, expected), (_id(op), status, body)
        refused.append(op)
    # Every tenant operation, and the tenant-less operator ones (dead letters: the platform key only).
    assert len(refused) == len(TENANT_OPS) + len(PLATFORM_ONLY)
    assert await _counts(stack) == before


async def test_a_viewer_gets_403_on_every_change_and_nothing_is_done(
    walker: Any, tenant_tokens: TokenKit, stack: Stack
) -> None:
    before = await _counts(stack)
    token = tenant_tokens.token(TENANT, "viewer")
    for op in CHANGES:
        status, body = await walker(op, TENANT, token)
        expected = "ROLE_FORBIDDEN" if op.access is Access.WRITE else "PLATFORM_KEY_REQUIRED"
        assert (status, body["error"]["code"]) == (403, expected), (_id(op), status, body)
    assert await _counts(stack) == before


async def test_a_viewer_and_an_admin_read_every_read_of_their_workspace(
    walker: Any, tenant_tokens: TokenKit
) -> None:
    for role in ("viewer", "admin"):
        token = tenant_tokens.token(TENANT, role)
        for op in GUARDED:
            if op.method != "get":
                continue
            status, body = await walker(op, TENANT, token)
            if op.access is Access.PLATFORM:  # an operator's read (dead letters), not the workspace's
                assert (status, body["error"]["code"]) == (403, "PLATFORM_KEY_REQUIRED"), (role, _id(op))
                continue
            # Past the access check: the answer of the operation itself (maybe "no such run").
            assert status not in (401, 403), (role, _id(op), status, body)


@pytest.mark.parametrize("case", list(TokenKit().bad_tokens(TENANT)))
async def test_a_bad_token_gets_401_with_its_code_on_every_operation(
    walker: Any, tenant_tokens: TokenKit, stack: Stack, case: str
) -> None:
    token, code = tenant_tokens.bad_tokens(TENANT)[case]
    before = await _counts(stack)
    for op in GUARDED:
        status, body = await walker(op, TENANT, token)
        assert (status, body["error"]["code"]) == (401, code), (case, _id(op), status, body)
    assert await _counts(stack) == before


async def test_a_token_in_the_query_string_is_refused(walker: Any, tenant_tokens: TokenKit) -> None:
    op = next(op for op in GUARDED if op.path.endswith("/ironclad/connection") and op.method == "get")
    good = tenant_tokens.token(TENANT, "admin")
    for name in ("access_token", "token"):
        status, body = await walker(op, TENANT, good, params={name: good})
        assert (status, body["error"]["code"]) == (401, "TOKEN_IN_QUERY"), (name, status, body)


async def test_every_accepted_algorithm_and_key_rotation(walker: Any, tenant_tokens: TokenKit) -> None:
    op = next(op for op in GUARDED if op.path.endswith("/ironclad/connection") and op.method == "get")
    for key in (tenant_tokens.es256, tenant_tokens.rs256, tenant_tokens.eddsa):
        status, body = await walker(op, TENANT, tenant_tokens.token(TENANT, "viewer", key=key))
        assert status == 200, (type(key).__name__, body)


async def test_an_admin_token_changes_its_workspace_and_the_audit_trail_names_the_user(
    tenant_tokens: TokenKit, gateway: str, api: AdminApi, company: dict[str, Any], stack: Stack
) -> None:
    app = company["apps"][0]
    admin = tenant_tokens.token(TENANT, "admin", sub="alice@acme.example")
    viewer = tenant_tokens.token(TENANT, "viewer", sub="bob@acme.example")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as session:
        user = AdminApi(gateway, session)
        assert (await user.connect(TENANT, app, EMAIL)).status == 200
        assert (await user.connect(TENANT, app, EMAIL)).body["reconnected"] is True
    # The platform key keeps working for every tenant, and is recorded as the platform.
    answer = await api.call("DELETE", f"/api/v1/tenants/{TENANT}/ironclad/connection")
    assert answer.status == 200, answer
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {viewer}"}) as session:
        audit = await AdminApi(gateway, session).call("GET", f"/api/v1/tenants/{TENANT}/audit")
    assert audit.status == 200, audit
    items = audit.body["items"]
    assert [i["action"] for i in items] == [
        "connection.disconnected",
        "connection.reconnected",
        "connection.connected",
    ]
    assert items[0]["actor"] == {"kind": "platform", "sub": None, "role": None}
    assert items[2]["actor"] == {"kind": "user", "sub": "alice@acme.example", "role": "admin"}
    assert items[2]["details"]["region"] == "na1"
    assert items[2]["details"]["user_email"] == EMAIL
    assert audit.body["next_cursor"] is None
    # Never a secret.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url)
    try:
        stored = [doc async for doc in client[stack.database].audit.find({})]
    finally:
        await client.close()
    assert app["client_secret"] not in repr(stored) + repr(items)
    assert ADMIN_TOKEN not in repr(stored)
    # Another tenant's trail is empty: nothing crosses tenants.
    other = await api.call("GET", f"/api/v1/tenants/{OTHER}/audit")
    assert other.body == {"items": [], "next_cursor": None}


async def test_the_audit_trail_pages_newest_first(
    tenant_tokens: TokenKit, api: AdminApi, company: dict[str, Any]
) -> None:
    for _ in range(5):
        answer = await api.call("PUT", f"/api/v1/tenants/{TENANT}/contract-fields/custom", {"fields": []})
        assert answer.status == 200, answer
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await api.call("GET", f"/api/v1/tenants/{TENANT}/audit", params=params)
        assert page.status == 200, page
        assert len(page.body["items"]) <= 2
        seen.extend(page.body["items"])
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert [i["at"] for i in seen] == sorted((i["at"] for i in seen), reverse=True)
    bad = await api.call("GET", f"/api/v1/tenants/{TENANT}/audit", params={"cursor": "not-a-cursor"})
    assert (bad.status, bad.body["error"]["code"]) == (400, "INVALID_PARAM")


async def test_without_keys_tenant_tokens_are_refused_and_the_platform_key_works(
    api: AdminApi, gateway: str
) -> None:
    token = TokenKit().token(TENANT, "admin")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        answer = await AdminApi(gateway, session).call("GET", f"/api/v1/tenants/{TENANT}/ironclad/connection")
    assert (answer.status, answer.body["error"]["code"]) == (401, "TENANT_TOKENS_DISABLED")
    assert (await api.call("GET", f"/api/v1/tenants/{TENANT}/ironclad/connection")).status == 200


async def test_each_audited_change_is_recorded_once_with_its_details(
    tenant_tokens: TokenKit, gateway: str, company: dict[str, Any]
) -> None:
    admin = tenant_tokens.token(TENANT, "admin", sub="alice@acme.example")
    base = f"/api/v1/tenants/{TENANT}"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as session:
        user = AdminApi(gateway, session)
        assert (await user.connect(TENANT, company["apps"][0], EMAIL)).status == 200
        mapping = await user.call(
            "PUT", base + "/field-mapping", {"rules": [{"source": "name", "target": "title"}]}
        )
        assert mapping.status == 200, mapping
        refused = await user.call(
            "PUT", base + "/field-mapping", {"rules": [{"source": "name", "target": "nope"}]}
        )
        assert refused.status == 422  # refused: not audited
        started = await user.call("POST", base + "/ironclad/imports", {"max_contracts": 3})
        assert started.status == 202, started
        assert (await user.call("POST", base + "/ironclad/reconcile")).status == 202
        assert (await user.call("POST", base + "/ironclad/automatic-sync")).status == 200
        assert (await user.call("DELETE", base + "/ironclad/automatic-sync")).status == 200
        assert (await user.call("DELETE", base + "/ironclad/connection")).status == 200
        audit = await user.call("GET", base + "/audit")
    items = list(reversed(audit.body["items"]))
    assert [i["action"] for i in items] == [
        "connection.connected",
        "mapping.changed",
        "import.started",
        "reconcile.started",
        "automatic_sync.enabled",
        "automatic_sync.disabled",
        "connection.disconnected",
    ]
    assert {i["actor"]["sub"] for i in items} == {"alice@acme.example"}
    assert items[1]["details"]["version"] == mapping.body["version"]
    assert items[2]["details"] == {"run_id": started.body["run_id"], "max_contracts": 3}
