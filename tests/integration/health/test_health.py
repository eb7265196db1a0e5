"""Issue 24: sync health with its reasons, run statistics, and health changes announced once (R30)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from contracts_common.health_status import HealthChange
from tests.support.api import AdminApi
from tests.support.services import Stack

EMAIL = "admin@acme.example"
HEALTH = "/api/v1/tenants/acme/ironclad/health"
STATS = "/api/v1/tenants/acme/ironclad/runs/stats"


@pytest.fixture
def fast_failures(stack: Stack) -> None:
    """Before the services start: a failing Ironclad call ends its run after two deliveries and no
    client retries, so runs fail fast; pages of ten records."""
    stack.shared_settings.update({"DELIVERY_LIMIT": "2", "MAX_RETRIES": "0", "PAGE_SIZE": "10"})


@pytest.fixture
def client_retries(stack: Stack) -> None:
    stack.shared_settings.update({"MAX_RETRIES": "4", "PAGE_SIZE": "10"})


async def _connected(api: AdminApi, sim: Any, company: dict[str, Any], count: int = 25) -> None:
    await sim.seed(company["company_id"], count=count, seed=3)
    answer = await api.connect("acme", company["apps"][0], EMAIL)
    assert answer.status == 200, answer.body


async def _health(api: AdminApi) -> dict[str, Any]:
    answer = await api.call("GET", HEALTH)
    assert answer.status == 200, answer
    return dict(answer.body)


def _codes(health: dict[str, Any]) -> list[str]:
    return [r["code"] for r in health["reasons"]]


async def test_health_from_disconnected_to_healthy_to_failing_on_rejected_credentials(
    fast_failures: None, api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    assert await _health(api) == {
        "status": "disconnected",
        "reasons": [],
        "last_success_at": None,
        "next": {"reconcile": None, "delta": None, "webhook_health": None},
    }
    await _connected(api, sim, company)
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["status"] == "succeeded"
    health = await _health(api)
    assert health["status"] == "healthy", health
    assert health["reasons"] == []
    assert health["last_success_at"] is not None
    assert set(health["next"]) == {"reconcile", "delta", "webhook_health"}

    await sim.revoke_app(company["apps"][0]["client_id"])
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["status"] == "failed"
    health = await _health(api)
    assert health["status"] == "failing", health
    assert _codes(health) == ["needs_reauth"]
    reason = health["reasons"][0]
    assert "Reconnect" in reason["message"]
    assert reason["since"] is not None


async def test_ironclad_429s_are_counted_per_run_and_make_health_degraded(
    client_retries: None, api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await _connected(api, sim, company)
    await sim.add_fault(path_regex=r"/records$", method="GET", status=429, times=3)
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["status"] == "succeeded", run
    assert run["ironclad_rate_limited"] == 3, run
    assert run["ironclad_requests"] >= 3 + 3, run  # three pages listed, three 429s retried
    health = await _health(api)
    assert health["status"] == "degraded", health
    assert _codes(health) == ["rate_limited"]
    assert "429" in health["reasons"][0]["message"]


async def test_run_stats_bucket_runs_and_records_by_the_database(
    fast_failures: None, api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await _connected(api, sim, company)
    first = await api.wait_run("acme", await api.start_import("acme"))
    second = await api.wait_run("acme", await api.start_import("acme"))
    assert (first["status"], second["status"]) == ("succeeded", "succeeded")

    answer = await api.call("GET", STATS, params={"days": "7", "bucket": "day"})
    assert answer.status == 200, answer
    stats = answer.body
    assert set(stats) == {"days", "bucket", "from", "to", "buckets"}
    assert (stats["days"], stats["bucket"]) == (7, "day")
    assert len(stats["buckets"]) == 7
    starts = [datetime.fromisoformat(b["start"].replace("Z", "+00:00")) for b in stats["buckets"]]
    assert starts == sorted(starts)
    assert starts[0].isoformat().replace("+00:00", "Z") == stats["from"]
    assert starts[-1] == datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for empty in stats["buckets"][:-1]:
        assert empty["records"] == dict.fromkeys(
            ("created", "updated", "unchanged", "deleted", "failed", "skipped_stale"), 0
        )
        assert empty["duration_seconds"] == {"avg": None, "max": None}
        assert empty["ironclad"] == {"requests": 0, "rate_limited": 0}
        assert all(n == 0 for by_status in empty["runs"].values() for n in by_status.values())
    today = stats["buckets"][-1]
    assert set(today) == {"start", "runs", "records", "duration_seconds", "ironclad"}
    assert today["runs"]["import"]["succeeded"] == 2
    assert today["records"]["created"] == first["created"] + second["created"] == 25
    assert today["records"]["unchanged"] == first["unchanged"] + second["unchanged"]
    assert today["records"]["updated"] == first["updated"] + second["updated"]
    assert today["ironclad"]["requests"] == first["ironclad_requests"] + second["ironclad_requests"] > 0
    assert today["duration_seconds"]["max"] is not None
    assert 0 <= today["duration_seconds"]["avg"] <= today["duration_seconds"]["max"]

    hourly = await api.call("GET", STATS, params={"days": "2", "bucket": "hour"})
    assert hourly.status == 200, hourly
    assert len(hourly.body["buckets"]) == 48
    assert hourly.body["buckets"][-1]["runs"]["import"]["succeeded"] == 2

    for params, field in (
        ({"days": "0"}, "days"),
        ({"days": "91"}, "days"),
        ({"days": "x"}, "days"),
        ({"bucket": "week"}, "bucket"),
    ):
        refused = await api.call("GET", STATS, params=params)
        assert refused.status == 422, (params, refused)
        assert refused.body["error"]["details"]["field"] == field


async def test_a_change_of_health_is_announced_once_and_its_resolution_once(
    fast_failures: None,
    api: AdminApi,
    watched_workers: None,
    sim: Any,
    company: dict[str, Any],
    changes: list[HealthChange],
) -> None:
    """R30: runs failing in a row make one transition to failing, however many fail; clearing the fault
    makes one transition back to healthy."""
    await _connected(api, sim, company)
    fault = await sim.add_fault(path_regex=r"/records$", method="GET", status=500, times=10_000)
    for n in range(1, 6):
        run = await api.wait_run("acme", await api.start_import("acme"))
        assert run["status"] == "failed", run
        if n < 3:
            assert changes == [], f"no change before the third failure in a row: {changes}"
    assert [c.status.value for c in changes] == ["failing"], changes
    assert [r.code.value for r in changes[0].reasons] == ["runs_failing"]
    assert changes[0].previous_status == "healthy"
    health = await _health(api)
    assert (health["status"], _codes(health)) == ("failing", ["runs_failing"])
    assert "The last 5 runs failed" in health["reasons"][0]["message"]

    await sim.delete_fault(fault)
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["status"] == "succeeded", run
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["status"] == "succeeded", run
    assert [c.status.value for c in changes] == ["failing", "healthy"], changes
    assert changes[1].resolved == ["runs_failing"]
    assert changes[1].previous_status == "failing"
    assert (await _health(api))["status"] == "healthy"


async def test_a_webhook_ironclad_disabled_is_a_reason_announced_once_and_resolved_on_repair(
    api: AdminApi, simulator: Any, sim: Any, stack: Stack, company: dict[str, Any]
) -> None:
    from types import SimpleNamespace

    import aiohttp

    from contracts_common.health_status import build_monitor
    from contracts_common.settings import ImporterSettings
    from contracts_common.storage.database import Database
    from importer.bootstrap import build_access
    from importer.webhook_health import WebhookHealth

    await _connected(api, sim, company)
    enabled = await api.call("POST", "/api/v1/tenants/acme/ironclad/automatic-sync")
    assert enabled.status == 200, enabled
    seen: list[HealthChange] = []

    async def record(tenant: str, change: HealthChange) -> None:
        seen.append(change)

    settings = ImporterSettings()
    db = Database.connect(stack.mongodb_url, stack.database)
    session = aiohttp.ClientSession()
    try:
        access = build_access(SimpleNamespace(db=db), settings, session)  # type: ignore[arg-type]
        checks = WebhookHealth(access=access, monitor=build_monitor(db, settings, record))
        # Without the scope to register webhooks, a webhook Ironclad disabled stays down.
        scope = "public.webhooks.createWebhooks"
        await db.connections.update_one({"tenant": "acme"}, {"$pull": {"granted_scopes": scope}})
        await sim.disable_webhook_by_system(enabled.body["webhook_ids"][0])
        assert await checks.check_all() == {"acme": "disabledBySystem"}
        assert await checks.check_all() == {"acme": "disabledBySystem"}
        health = await _health(api)
        assert (health["status"], _codes(health)) == ("degraded", ["webhook_disabled"])
        assert "polling fallback" in health["reasons"][0]["message"]
        assert scope in health["reasons"][0]["message"]
        assert health["reasons"][0]["since"] is not None
        assert [(c.status.value, [r.code.value for r in c.reasons]) for c in seen] == [
            ("degraded", ["webhook_disabled"])
        ]

        await db.connections.update_one({"tenant": "acme"}, {"$push": {"granted_scopes": scope}})
        assert await checks.check_all() == {"acme": "enabled"}
        assert [c.status.value for c in seen] == ["degraded", "healthy"]
        assert seen[1].resolved == ["webhook_disabled"]
        assert (await _health(api))["status"] == "healthy"
    finally:
        await session.close()
        await db.close()


async def test_changes_the_gateway_causes_are_announced_by_it_once_each(
    fast_failures: None,
    watched_api: AdminApi,
    watched_workers: None,
    sim: Any,
    company: dict[str, Any],
    changes: list[HealthChange],
) -> None:
    """Credentials rejected (seen by a run) → failing; a reconnect (the gateway) → healthy; a disconnect
    (the gateway) → disconnected: one change each, whichever service noticed it."""
    api = watched_api
    await _connected(api, sim, company)
    assert changes == [], "a first healthy connection is no change"
    await sim.revoke_app(company["apps"][0]["client_id"])
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["status"] == "failed"
    assert [(c.status.value, [r.code.value for r in c.reasons]) for c in changes] == [
        ("failing", ["needs_reauth"])
    ]

    app = await sim.add_app(company["company_id"], scopes=list(company["apps"][0]["scopes"]))
    answer = await api.connect("acme", app, EMAIL)
    assert answer.status == 200, answer
    assert [c.status.value for c in changes] == ["failing", "healthy"]
    assert changes[1].resolved == ["needs_reauth"]
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["status"] == "succeeded"

    assert (await api.call("DELETE", "/api/v1/tenants/acme/ironclad/connection")).status == 200
    assert [c.status.value for c in changes] == ["failing", "healthy", "disconnected"]
    assert changes[2].previous_status == "healthy"
    assert (await _health(api))["status"] == "disconnected"
