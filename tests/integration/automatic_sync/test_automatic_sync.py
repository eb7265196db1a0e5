"""Automatic Sync (issue 6): registration, the webhook receiver (R1-R3), event resolution, webhook health."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from pydantic import SecretStr

from tests.integration.automatic_sync.conftest import EMAIL, TENANT, OwnGateway, connect_and_enable
from tests.integration.automatic_sync.webhook_support import (
    envelope,
    post,
    queue_depth,
    signed,
    webhook_metric,
)
from tests.support.api import AdminApi
from tests.support.services import Stack, messages_handled, wait_for

BASE = f"/api/v1/tenants/{TENANT}/ironclad"


def hook_url(base: str, tenant: str = TENANT) -> str:
    return f"{base}/webhooks/ironclad/{tenant}"


def sim_client(sim_url: str, app: dict[str, Any], session: aiohttp.ClientSession) -> Any:
    """An Ironclad client of the company's app, to play 'someone else' in Ironclad."""
    from contracts_common.ironclad import (
        IroncladClient,
        IroncladCredentials,
        NoRateLimiter,
        RetryPolicy,
        TokenCache,
    )

    credentials = IroncladCredentials(
        client_id=app["client_id"],
        client_secret=SecretStr(app["client_secret"]),
        user_email=EMAIL,
        region="na1",
    )
    return IroncladClient(
        session,
        credentials,
        tenant="other",
        base_url_override=sim_url,
        token_cache=TokenCache(),
        rate_limiter=NoRateLimiter(),
        retry=RetryPolicy(max_retries=0),
    )


def hooks_of(simulator: Any, company_id: str) -> list[Any]:
    return list(simulator.companies[company_id].webhooks.values())


async def contract_of(api: AdminApi, record_id: str) -> dict[str, Any] | None:
    answer = await api.call("GET", f"/api/v1/tenants/{TENANT}/contracts/{record_id}")
    return dict(answer.body) if answer.status == 200 else None


async def webhook_runs(api: AdminApi) -> list[dict[str, Any]]:
    answer = await api.call("GET", f"{BASE}/runs", params={"kind": "webhook"})
    assert answer.status == 200, answer.body
    return list(answer.body["items"])


async def import_all(api: AdminApi) -> None:
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["status"] == "succeeded", run


# ------------------------------------------------------------------------------------------ registration


async def test_enable_needs_the_webhook_scopes(api: AdminApi, sim: Any, simulator: Any) -> None:
    from contracts_common.ironclad import AUTOMATIC_SYNC_SCOPES, REQUIRED_SCOPES

    company = await sim.create_company(users=[EMAIL], apps=[{"scopes": sorted(REQUIRED_SCOPES)}])
    assert (await api.connect(TENANT, company["apps"][0], EMAIL)).status == 200
    answer = await api.call("POST", f"{BASE}/automatic-sync")
    assert answer.status == 422, answer.body
    assert answer.body["error"]["code"] == "AUTOMATIC_SYNC_SCOPES_MISSING"
    assert set(answer.body["error"]["details"]["missing_scopes"]) == AUTOMATIC_SYNC_SCOPES
    for scope in AUTOMATIC_SYNC_SCOPES:
        assert scope in answer.body["error"]["message"]
    assert hooks_of(simulator, company["company_id"]) == []


async def test_enable_twice_leaves_one_webhook_and_disable_removes_it(
    api: AdminApi, gateway: str, simulator: Any, company: dict[str, Any]
) -> None:
    first = await connect_and_enable(api, company)
    assert first["enabled"] is True
    assert len(first["webhook_ids"]) == 1
    assert "workflow_completed" in first["events"]
    assert "record_contract_status_changed" in first["events"]
    hooks = hooks_of(simulator, company["company_id"])
    assert len(hooks) == 1
    assert hooks[0].target_url == hook_url(gateway)
    assert hooks[0].status == "enabled"

    again = await api.call("POST", f"{BASE}/automatic-sync")
    assert again.status == 200, again.body
    assert again.body["webhook_ids"] == first["webhook_ids"]
    assert len(hooks_of(simulator, company["company_id"])) == 1

    shown = (await api.call("GET", f"{BASE}/connection")).body["automatic_sync"]
    assert shown["enabled"] is True
    assert shown["webhook_ids"] == first["webhook_ids"]
    assert shown["webhook_state"] == "enabled"
    assert shown["checked_at"]

    off = await api.call("DELETE", f"{BASE}/automatic-sync")
    assert off.status == 200, off.body
    assert off.body["enabled"] is False
    assert off.body["removed_webhook_ids"] == first["webhook_ids"]
    assert hooks_of(simulator, company["company_id"]) == []
    assert (await api.call("GET", f"{BASE}/connection")).body["automatic_sync"]["enabled"] is False


async def test_an_existing_webhook_with_our_target_is_adopted(
    api: AdminApi,
    gateway: str,
    simulator: Any,
    stack: Stack,
    company: dict[str, Any],
    http: aiohttp.ClientSession,
) -> None:
    from contracts_common.webhook_registration import WEBHOOK_EVENTS

    client = sim_client(stack.simulator_url or "", company["apps"][0], http)
    existing = await client.create_webhook(list(WEBHOOK_EVENTS), hook_url(gateway))
    enabled = await connect_and_enable(api, company)
    assert enabled["webhook_ids"] == [existing["id"]]
    assert len(hooks_of(simulator, company["company_id"])) == 1


async def test_a_webhook_with_our_target_but_missing_events_is_replaced(
    api: AdminApi,
    gateway: str,
    simulator: Any,
    stack: Stack,
    company: dict[str, Any],
    http: aiohttp.ClientSession,
) -> None:
    client = sim_client(stack.simulator_url or "", company["apps"][0], http)
    existing = await client.create_webhook(["workflow_launched"], hook_url(gateway))
    enabled = await connect_and_enable(api, company)
    assert enabled["webhook_ids"] != [existing["id"]]
    hooks = hooks_of(simulator, company["company_id"])
    assert [h.id for h in hooks] == enabled["webhook_ids"]


# ------------------------------------------------------------------------------------------ the receiver


async def test_tampered_body_nonce_or_event_id_is_401_and_nothing_is_published(
    api: AdminApi,
    gateway: str,
    simulator: Any,
    stack: Stack,
    company: dict[str, Any],
    http: aiohttp.ClientSession,
) -> None:
    await connect_and_enable(api, company)
    cid = company["company_id"]
    body = envelope(cid, "record_contract_status_changed", {"recordID": "r1", "status": "active"})
    event_id, headers = signed(simulator, cid, body)
    url = hook_url(gateway)
    rejected_before = webhook_metric("rejected")

    tampered_body = body.replace(b"active", b"expired")
    assert await post(http, url, tampered_body, headers) == 401
    other_nonce = dict(headers)
    other_nonce["X-Ironclad-Webhook-Verification"] = headers["X-Ironclad-Webhook-Verification"].replace(
        '"nonce":"', '"nonce":"x'
    )
    assert await post(http, url, body, other_nonce) == 401
    other_event = {**headers, "X-Ironclad-Webhook-Event-Id": event_id + "0"}
    assert await post(http, url, body, other_event) == 401
    no_signature = {k: v for k, v in headers.items() if k != "X-Ironclad-Webhook-Verification"}
    assert await post(http, url, body, no_signature) == 401
    garbage = {**headers, "X-Ironclad-Webhook-Verification": "not json"}
    assert await post(http, url, body, garbage) == 401
    assert webhook_metric("rejected") - rejected_before == 5
    assert await queue_depth(stack) == 0

    # The untampered delivery goes through: 200, one message.
    assert await post(http, url, body, headers) == 200
    assert await queue_depth(stack) == 1


async def test_oversized_body_is_413(
    api: AdminApi,
    gateway: str,
    simulator: Any,
    company: dict[str, Any],
    http: aiohttp.ClientSession,
    stack: Stack,
) -> None:
    await connect_and_enable(api, company)
    cid = company["company_id"]
    body = envelope(cid, "workflow_completed", {"workflowID": "w", "pad": "x" * 300_000})
    _, headers = signed(simulator, cid, body)
    assert await post(http, hook_url(gateway), body, headers) == 413
    assert await queue_depth(stack) == 0


async def test_the_receiver_needs_no_admin_token_and_rejects_unknown_shapes(
    api: AdminApi,
    gateway: str,
    simulator: Any,
    company: dict[str, Any],
    http: aiohttp.ClientSession,
    stack: Stack,
) -> None:
    await connect_and_enable(api, company)
    cid = company["company_id"]
    body = b'{"not":"an envelope"}'
    _, headers = signed(simulator, cid, body)
    # http carries no admin token: the signature alone decides.
    assert await post(http, hook_url(gateway), body, headers) == 400
    assert await post(http, hook_url(gateway, "Bad_Tenant"), body, headers) == 404
    assert await queue_depth(stack) == 0


async def test_a_rotated_key_is_accepted_after_one_refetch(
    api: AdminApi,
    gateway: str,
    simulator: Any,
    sim: Any,
    stack: Stack,
    company: dict[str, Any],
    http: aiohttp.ClientSession,
) -> None:
    await connect_and_enable(api, company)
    cid = company["company_id"]
    url = hook_url(gateway)

    def key_fetches() -> int:
        return int(simulator.companies[cid].stats.requests.get("GET /webhooks/verification-key", 0))

    body = envelope(cid, "record_contract_status_changed", {"recordID": "r1"})
    assert await post(http, url, body, signed(simulator, cid, body)[1]) == 200
    assert key_fetches() == 1
    body2 = envelope(cid, "record_contract_status_changed", {"recordID": "r2"})
    assert await post(http, url, body2, signed(simulator, cid, body2)[1]) == 200
    assert key_fetches() == 1, "the key is cached"

    await sim.rotate_verification_key(cid)
    await asyncio.sleep(1.1)  # refetches are bounded to one a second per tenant
    body3 = envelope(cid, "record_contract_status_changed", {"recordID": "r3"})
    assert await post(http, url, body3, signed(simulator, cid, body3)[1]) == 200
    assert key_fetches() == 2, "fetched again once"
    body4 = envelope(cid, "record_contract_status_changed", {"recordID": "r4"})
    assert await post(http, url, body4, signed(simulator, cid, body4)[1]) == 200
    assert key_fetches() == 2
    assert await queue_depth(stack) == 4


async def test_a_forged_flood_does_not_flood_ironclad_with_key_requests(
    api: AdminApi, gateway: str, simulator: Any, company: dict[str, Any], http: aiohttp.ClientSession
) -> None:
    await connect_and_enable(api, company)
    cid = company["company_id"]
    body = envelope(cid, "record_contract_status_changed", {"recordID": "r1"})
    _, headers = signed(simulator, cid, body)
    forged = body.replace(b"r1", b"r9")
    statuses = await asyncio.gather(*(post(http, hook_url(gateway), forged, headers) for _ in range(30)))
    assert set(statuses) == {401}
    assert simulator.companies[cid].stats.requests.get("GET /webhooks/verification-key", 0) <= 2


async def test_twelve_deliveries_of_one_event_publish_once(
    api: AdminApi,
    gateway: str,
    simulator: Any,
    stack: Stack,
    company: dict[str, Any],
    http: aiohttp.ClientSession,
) -> None:
    await connect_and_enable(api, company)
    cid = company["company_id"]
    body = envelope(cid, "record_contract_status_changed", {"recordID": "r1"})
    event_id, _ = signed(simulator, cid, body)
    url = hook_url(gateway)
    handed_off, deduplicated = webhook_metric("handed_off"), webhook_metric("deduplicated")
    # Six at once, then six one after the other; each delivery has its own nonce, as Ironclad's retries do.
    first = await asyncio.gather(
        *(post(http, url, body, signed(simulator, cid, body, event_id)[1]) for _ in range(6))
    )
    rest = [await post(http, url, body, signed(simulator, cid, body, event_id)[1]) for _ in range(6)]
    assert set(first + rest) == {200}, first + rest
    assert await queue_depth(stack) == 1
    assert webhook_metric("handed_off") - handed_off == 1
    assert webhook_metric("deduplicated") - deduplicated == 11


async def test_twelve_deliveries_make_one_piece_of_work(
    api: AdminApi,
    gateway: str,
    workers: None,
    simulator: Any,
    sim: Any,
    company: dict[str, Any],
    http: aiohttp.ClientSession,
) -> None:
    cid = company["company_id"]
    await sim.seed(cid, count=3, seed=1)
    await connect_and_enable(api, company)
    record = (await sim.list_records(cid))[0]
    body = envelope(cid, "record_contract_status_changed", {"recordID": record["id"]})
    event_id, _ = signed(simulator, cid, body)
    record_gets = simulator.companies[cid].stats.requests.get("GET /records/{id}", 0)
    handed_off = webhook_metric("handed_off")
    events = messages_handled("importer.events"), messages_handled("importer.events", "error")
    for _ in range(12):
        assert await post(http, hook_url(gateway), body, signed(simulator, cid, body, event_id)[1]) == 200
    runs = await wait_for(lambda: webhook_runs(api), what="a webhook run")
    run = await api.wait_run(TENANT, runs[0]["run_id"])
    # Decided, not waited out: one event left the gateway, and the importer has handled (acked, after its
    # records were published) exactly that one, once: there is nothing left that could start more work.
    assert webhook_metric("handed_off") - handed_off == 1

    async def the_event_handled() -> bool:
        return messages_handled("importer.events") - events[0] >= 1

    await wait_for(the_event_handled, what="the event handled")
    assert messages_handled("importer.events") - events[0] == 1
    assert messages_handled("importer.events", "error") == events[1]
    assert len(await webhook_runs(api)) == 1
    assert (run["fetched"], run["created"], run["status"]) == (1, 1, "succeeded"), run
    assert simulator.companies[cid].stats.requests.get("GET /records/{id}", 0) - record_gets == 1


async def test_broker_down_is_5xx_and_the_retry_is_processed_when_it_is_back(
    own_gateway: OwnGateway, workers: None, simulator: Any, sim: Any, company: dict[str, Any]
) -> None:
    api = own_gateway.api
    cid = company["company_id"]
    await sim.seed(cid, count=3, seed=2)
    assert (await api.connect(TENANT, company["apps"][0], EMAIL)).status == 200
    await import_all(api)
    await connect_and_enable(api, company)
    await sim.set_config(webhook_retry_base_seconds=0.2)
    record = (await sim.list_records(cid))[0]

    await own_gateway.deps.broker.close()  # the gateway loses the broker
    changed = await sim.set_record_status(cid, record["id"], "terminated")
    new_last_updated = changed["record"]["lastUpdated"]

    async def refused() -> bool:
        return any(d["status_code"] == 503 for d in await sim.deliveries(cid))

    await wait_for(refused, timeout=10, what="a 503 answer")
    contract = await contract_of(api, record["id"])
    assert contract is not None
    assert contract["ironclad"]["lastUpdated"] != new_last_updated

    await own_gateway.deps.broker.connect()  # back

    async def current() -> bool:
        found = await contract_of(api, record["id"])
        return found is not None and found["ironclad"]["lastUpdated"] == new_last_updated

    await wait_for(current, timeout=20, what="the retried delivery to update the contract")
    statuses = [d["status_code"] for d in await sim.deliveries(cid)]
    assert statuses[-1] == 200, statuses
    assert 503 in statuses


async def test_disconnect_and_disable_answer_410(
    api: AdminApi,
    gateway: str,
    simulator: Any,
    company: dict[str, Any],
    http: aiohttp.ClientSession,
    stack: Stack,
) -> None:
    cid = company["company_id"]
    await connect_and_enable(api, company)
    body = envelope(cid, "record_contract_status_changed", {"recordID": "r1"})
    assert (await api.call("DELETE", f"{BASE}/automatic-sync")).status == 200
    assert await post(http, hook_url(gateway), body, signed(simulator, cid, body)[1]) == 410

    await connect_and_enable(api, company)
    assert (await api.call("DELETE", f"{BASE}/connection")).status == 200
    assert hooks_of(simulator, cid) == [], "disconnect removes the webhook from Ironclad"
    assert await post(http, hook_url(gateway), body, signed(simulator, cid, body)[1]) == 410
    assert (
        await post(http, hook_url(gateway, "never-connected"), body, signed(simulator, cid, body)[1]) == 410
    )
    assert await queue_depth(stack) == 0


# ------------------------------------------------------------------------------------------ events → data


async def test_a_changed_record_is_current_in_mongodb_after_its_webhook(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    cid = company["company_id"]
    await sim.seed(cid, count=5, seed=3)
    assert (await api.connect(TENANT, company["apps"][0], EMAIL)).status == 200
    await import_all(api)
    await connect_and_enable(api, company)
    record = (await sim.list_records(cid))[0]

    # A status change fires record_contract_status_changed.
    changed = await sim.set_record_status(cid, record["id"], "expired")

    async def current(last_updated: str) -> bool:
        found = await contract_of(api, record["id"])
        return found is not None and found["ironclad"]["lastUpdated"] == last_updated

    await wait_for(lambda: current(changed["record"]["lastUpdated"]), timeout=20, what="the status change")

    # An edit followed by its event: the contract is the fresh record, not what the event says.
    edited = await sim.edit_record(cid, record["id"], name="Renamed by a webhook test")
    await sim.fire_event(cid, "record_contract_status_changed", {"recordID": record["id"]})
    await wait_for(lambda: current(edited["lastUpdated"]), timeout=20, what="the edit")
    contract = await contract_of(api, record["id"])
    assert contract is not None
    assert contract["ironclad"]["name"] == "Renamed by a webhook test"


async def test_a_completed_workflow_brings_its_records(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    cid = company["company_id"]
    await connect_and_enable(api, company)
    done = await sim.complete_workflow(cid, records=2, fire_launched=True)

    async def both() -> bool:
        return all([await contract_of(api, rid) for rid in done["record_ids"]])

    await wait_for(both, timeout=20, what="the workflow's records")
    runs = await webhook_runs(api)
    run = await api.wait_run(TENANT, runs[0]["run_id"])
    assert run["created"] == 2


async def test_a_burst_for_one_tenant_becomes_few_calls_not_a_storm(
    api: AdminApi, workers: None, simulator: Any, sim: Any, company: dict[str, Any]
) -> None:
    """40 events for 8 records within moments: the records are fetched in one (rarely two) syncs.

    The exact batching depends on arrival times on a shared machine; the unit tests of the coalescer
    pin it down deterministically.
    """
    cid = company["company_id"]
    await sim.seed(cid, count=10, seed=4)
    assert (await api.connect(TENANT, company["apps"][0], EMAIL)).status == 200
    await import_all(api)
    await connect_and_enable(api, company)
    records = (await sim.list_records(cid))[:8]
    gets = simulator.companies[cid].stats.requests.get("GET /records/{id}", 0)
    statuses = ("expired", "active", "expired", "active", "terminated")
    await asyncio.gather(
        *(sim.set_record_status(cid, r["id"], status) for r in records for status in statuses)
    )
    assert await sim.wait_deliveries(20) == 0

    async def all_current() -> bool:
        fresh = {r["id"]: r["lastUpdated"] for r in await sim.list_records(cid)}
        for record in records:
            contract = await contract_of(api, record["id"])
            if contract is None or contract["ironclad"]["lastUpdated"] != fresh[record["id"]]:
                return False
        return True

    await wait_for(all_current, timeout=30, what="all eight records current")
    runs = [await api.wait_run(TENANT, r["run_id"]) for r in await webhook_runs(api)]
    fetched = simulator.companies[cid].stats.requests.get("GET /records/{id}", 0) - gets
    assert len(runs) <= 3, runs
    assert fetched <= 16, f"{fetched} record fetches for 40 events"
    assert sum(r["fetched"] for r in runs) == fetched


# ------------------------------------------------------------------------------------------ health


async def _health(stack: Stack) -> Any:
    from types import SimpleNamespace

    from contracts_common.settings import ImporterSettings
    from contracts_common.storage.database import Database
    from importer.bootstrap import build_access
    from importer.webhook_health import WebhookHealth

    settings = ImporterSettings()
    db = Database.connect(stack.mongodb_url, stack.database)
    session = aiohttp.ClientSession()
    access = build_access(SimpleNamespace(db=db), settings, session)  # type: ignore[arg-type]
    health = WebhookHealth(access=access)
    return health, db, session, settings


async def test_health_reregisters_a_webhook_ironclad_disabled_or_deleted(
    api: AdminApi, simulator: Any, sim: Any, stack: Stack, company: dict[str, Any]
) -> None:
    cid = company["company_id"]
    first = await connect_and_enable(api, company)
    health, db, session, _ = await _health(stack)
    try:
        assert await health.check_all() == {TENANT: "enabled"}

        await sim.disable_webhook_by_system(first["webhook_ids"][0])
        assert await health.check_all() == {TENANT: "enabled"}
        shown = (await api.call("GET", f"{BASE}/connection")).body["automatic_sync"]
        assert shown["webhook_ids"] != first["webhook_ids"]
        assert shown["last_problem"]["state"] == "disabledBySystem"
        assert shown["last_problem"]["reregistered"]
        hooks = hooks_of(simulator, cid)
        assert [h.id for h in hooks] == shown["webhook_ids"]
        assert hooks[0].status == "enabled"

        del simulator.companies[cid].webhooks[hooks[0].id]  # deleted in Ironclad
        assert await health.check_all() == {TENANT: "enabled"}
        shown = (await api.call("GET", f"{BASE}/connection")).body["automatic_sync"]
        assert shown["last_problem"]["state"] == "deleted"
        assert shown["reregistrations"] == 2
        assert len(hooks_of(simulator, cid)) == 1
    finally:
        await session.close()
        await db.close()


async def test_health_shows_a_webhook_it_may_not_repair_and_shortens_reconciliation(
    api: AdminApi, simulator: Any, sim: Any, stack: Stack, company: dict[str, Any]
) -> None:
    from importer.scheduler import reconcile_interval

    first = await connect_and_enable(api, company)
    health, db, session, settings = await _health(stack)
    try:
        # The app lost the scope to create webhooks.
        await db.connections.update_one(
            {"tenant": TENANT}, {"$pull": {"granted_scopes": "public.webhooks.createWebhooks"}}
        )
        connection = await db.connections.find_one({"tenant": TENANT})
        assert reconcile_interval(connection, settings) == settings.reconcile_interval_seconds
        await sim.disable_webhook_by_system(first["webhook_ids"][0])
        assert await health.check_all() == {TENANT: "disabledBySystem"}
        shown = (await api.call("GET", f"{BASE}/connection")).body["automatic_sync"]
        assert shown["webhook_state"] == "disabledBySystem"
        assert shown["last_problem"]["reregistered"] is False
        assert "createWebhooks" in shown["last_problem"]["reason"]
        connection = await db.connections.find_one({"tenant": TENANT})
        assert reconcile_interval(connection, settings) == settings.reconcile_interval_degraded_seconds
    finally:
        await session.close()
        await db.close()
