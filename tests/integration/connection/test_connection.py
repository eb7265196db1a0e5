"""Issue 3: connect, scopes, errors, reconnect, needs_reauth, disconnect, admin auth, tenant isolation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from contracts_common.ironclad import ALL_SCOPES, AUTOMATIC_SYNC_SCOPES, REQUIRED_SCOPES
from tests.support.api import AdminApi
from tests.support.services import ADMIN_TOKEN, wait_for

EMAIL = "admin@acme.example"
CONNECTION = "/api/v1/tenants/{t}/ironclad/connection"


async def test_scopes_table_lists_every_scope_once_with_purpose(api: AdminApi) -> None:
    answer = await api.call("GET", "/api/v1/ironclad/scopes")
    assert answer.status == 200
    assert [row["scope"] for row in answer.body] == list(ALL_SCOPES)
    assert {row["scope"] for row in answer.body if row["required"]} == REQUIRED_SCOPES
    assert all(row["purpose"] for row in answer.body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_id": "x", "client_secret": "s", "user_email": EMAIL, "region": "us2"}, "region"),
        (
            {"client_id": "x", "client_secret": "s", "user_email": "not-an-email", "region": "na1"},
            "user_email",
        ),
        ({"client_id": "  ", "client_secret": "s", "user_email": EMAIL, "region": "na1"}, "client_id"),
        ({"client_id": "x", "client_secret": "", "user_email": EMAIL, "region": "na1"}, "client_secret"),
        ({"client_id": "x", "client_secret": "s", "user_email": EMAIL, "region": "na1", "extra": 1}, "extra"),
    ],
)
async def test_bad_connect_input_is_rejected_naming_the_field(
    api: AdminApi, body: dict[str, Any], field: str
) -> None:
    answer = await api.call("PUT", CONNECTION.format(t="acme"), body)
    assert answer.status == 422
    assert answer.body["error"]["code"] == "VALIDATION_FAILED"
    assert field in [f["field"] for f in answer.body["error"]["details"]["fields"]]
    assert (await api.call("GET", CONNECTION.format(t="acme"))).body["status"] == "disconnected"


async def test_malformed_json_and_bad_tenant(api: AdminApi) -> None:
    async with api.session.put(
        api.base + CONNECTION.format(t="acme"),
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "MALFORMED_JSON"
    answer = await api.call("GET", CONNECTION.format(t="Bad_Tenant"))
    assert answer.status == 400
    assert answer.body["error"]["code"] == "INVALID_TENANT"


async def test_each_ironclad_refusal_has_its_own_code_and_stores_nothing(
    api: AdminApi, sim: Any, company: dict[str, Any]
) -> None:
    app = company["apps"][0]
    cid = company["company_id"]
    no_schema = await sim.add_app(cid, scopes=[s for s in ALL_SCOPES if s != "public.records.readSchemas"])
    no_grant = await sim.add_app(cid, scopes=list(ALL_SCOPES), grant_types=["authorization_code"])
    cases = [
        ({**app, "client_secret": "wrong"}, EMAIL, "IRONCLAD_INVALID_CLIENT"),
        ({**app, "client_id": str(uuid.uuid4())}, EMAIL, "IRONCLAD_INVALID_CLIENT"),
        (no_schema, EMAIL, "IRONCLAD_SCOPE_NOT_REGISTERED"),
        (no_grant, EMAIL, "IRONCLAD_GRANT_NOT_ENABLED"),
        (app, "nobody@acme.example", "IRONCLAD_USER_NOT_FOUND"),
    ]
    for credentials, email, code in cases:
        answer = await api.connect("acme", credentials, email)
        assert answer.status == 422, (code, answer.body)
        assert answer.body["error"]["code"] == code
        assert len(answer.body["error"]["message"]) > 40, "a sentence an admin can act on"
        assert (await api.call("GET", CONNECTION.format(t="acme"))).body["status"] == "disconnected"


async def test_unreachable_region(
    stack: Any, simulator: Any, company: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from contracts_common.settings import GatewaySettings
    from gateway.bootstrap import build
    from tests.support.services import free_port, serve

    # This gateway's Ironclad origin is a port where nothing listens.
    stack.apply_env(monkeypatch, IRONCLAD_BASE_URL=f"http://127.0.0.1:{free_port()}")
    app, _ = await build(GatewaySettings())
    async with (
        serve(app) as url,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as s,
    ):
        answer = await AdminApi(url, s).connect("acme", company["apps"][0], EMAIL)
        assert answer.status == 502
        assert answer.body["error"]["code"] == "IRONCLAD_UNREACHABLE"
        assert (await AdminApi(url, s).call("GET", CONNECTION.format(t="acme"))).body[
            "status"
        ] == "disconnected"


async def test_reconnect_with_webhook_scopes_makes_automatic_sync_available(
    api: AdminApi, sim: Any, company: dict[str, Any]
) -> None:
    cid = company["company_id"]
    app = await sim.add_app(cid, scopes=sorted(REQUIRED_SCOPES))
    first = await api.connect("acme", app, EMAIL)
    assert first.status == 200, first.body
    assert first.body["automatic_sync_available"] is False
    assert set(first.body["missing_scopes"]) == set(AUTOMATIC_SYNC_SCOPES)

    await sim.update_app(app["client_id"], scopes=list(ALL_SCOPES))
    second = await api.connect("acme", app, EMAIL)
    assert second.status == 200
    assert second.body["automatic_sync_available"] is True
    assert second.body["missing_scopes"] == []
    shown = (await api.call("GET", CONNECTION.format(t="acme"))).body
    assert shown["status"] == "connected"
    assert shown["automatic_sync_available"] is True
    assert "client_secret" not in json.dumps(shown)


async def test_admin_token_required_and_nothing_done_without_it(
    gateway: str, company: dict[str, Any]
) -> None:
    app = company["apps"][0]
    body = {
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "user_email": EMAIL,
        "region": "na1",
    }
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}):
            async with session.put(
                gateway + CONNECTION.format(t="acme"), json=body, headers=headers
            ) as response:
                assert response.status == 401
                assert (await response.json())["error"]["code"] == "UNAUTHORIZED"
        async with session.get(
            gateway + CONNECTION.format(t="acme"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as response:
            assert (await response.json())["status"] == "disconnected"


async def test_secret_never_logged_returned_or_stored_in_clear(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any], stack: Any
) -> None:
    from pymongo import AsyncMongoClient

    app = company["apps"][0]
    secret = app["client_secret"]
    await sim.seed(company["company_id"], count=5, seed=3)
    with capture_logs() as logs:
        connected = await api.connect("acme", app, EMAIL)
        run = await api.wait_run("acme", await api.start_import("acme"))
        shown = await api.call("GET", CONNECTION.format(t="acme"))
        wrong = await api.connect("acme", {**app, "client_secret": secret + "x"}, EMAIL)
    assert run["status"] == "succeeded"
    for answer in (connected, shown, wrong):
        assert secret not in json.dumps(answer.body)
    assert secret not in json.dumps(logs, default=str)
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongodb_url)
    try:
        db = client[stack.database]
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                assert secret not in json.dumps(doc, default=str), f"secret in clear in {name}"
        stored = await db.connections.find_one({"tenant": "acme"})
        assert stored is not None
        assert stored["client_secret_encrypted"]
    finally:
        await client.close()


async def test_disconnect_keeps_contracts_and_stops_work(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await sim.seed(company["company_id"], count=6, seed=5, document_ratio=1.0)
    assert (await api.connect("acme", company["apps"][0], EMAIL)).status == 200
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["created"] == 6
    answer = await api.call("DELETE", CONNECTION.format(t="acme"))
    assert answer.status == 200
    assert "stay" in answer.body["message"]
    assert (await api.call("GET", CONNECTION.format(t="acme"))).body["status"] == "disconnected"
    contracts = await api.all_contracts("acme")
    assert len(contracts) == 6
    with_doc = next(c for c in contracts if c["attachments"])
    document = await api.call(
        "GET",
        f"/api/v1/tenants/acme/contracts/{with_doc['contract_id']}/attachments/{with_doc['attachments'][0]['key']}",
    )
    assert document.status == 200
    refused = await api.call("POST", "/api/v1/tenants/acme/ironclad/imports", {})
    assert refused.status == 409
    assert refused.body["error"]["code"] == "NOT_CONNECTED"


async def test_tenants_never_see_each_other(api: AdminApi, workers: None, sim: Any) -> None:
    one = await sim.create_company(users=[EMAIL], apps=[{"scopes": list(ALL_SCOPES)}])
    two = await sim.create_company(users=["ops@beta.example"], apps=[{"scopes": list(ALL_SCOPES)}])
    await sim.seed(one["company_id"], count=4, seed=11)
    await sim.seed(two["company_id"], count=7, seed=12)
    assert (await api.connect("tenant-a", one["apps"][0], EMAIL)).status == 200
    assert (await api.connect("tenant-b", two["apps"][0], "ops@beta.example")).status == 200
    run_a = await api.wait_run("tenant-a", await api.start_import("tenant-a"))
    run_b = await api.wait_run("tenant-b", await api.start_import("tenant-b"))
    a = await api.all_contracts("tenant-a")
    b = await api.all_contracts("tenant-b")
    assert len(a) == 4
    assert len(b) == 7
    assert not {c["ironclad"]["id"] for c in a} & {c["ironclad"]["id"] for c in b}
    assert (await api.call("GET", f"/api/v1/tenants/tenant-b/ironclad/runs/{run_a['run_id']}")).status == 404
    assert (await api.call("GET", f"/api/v1/tenants/tenant-a/contracts/{b[0]['contract_id']}")).status == 404
    assert run_b["status"] == "succeeded"


async def test_revoked_secret_turns_needs_reauth_without_a_retry_loop(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    app = company["apps"][0]
    await sim.seed(company["company_id"], count=5, seed=9)
    assert (await api.connect("acme", app, EMAIL)).status == 200
    await sim.revoke_app(app["client_id"])
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["status"] == "failed"
    assert "invalid_client" in run["error"]
    connection = (await api.call("GET", CONNECTION.format(t="acme"))).body
    assert connection["status"] == "needs_reauth"
    before = (await sim.stats())["token_requests"].get(app["client_id"], 0)
    refused = await api.call("POST", "/api/v1/tenants/acme/ironclad/imports", {})
    assert refused.status == 409
    assert refused.body["error"]["code"] == "NEEDS_REAUTH"
    await wait_for(
        lambda: _settled(sim, app["client_id"], before), timeout=3, what="no further token requests"
    )


async def _settled(sim: Any, client_id: str, before: int) -> bool:
    import asyncio

    await asyncio.sleep(1.0)
    return bool((await sim.stats())["token_requests"].get(client_id, 0) == before)
