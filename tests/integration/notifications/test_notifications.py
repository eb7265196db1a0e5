"""Issue 23 / R28: outbound notifications, with the real broker and database, the gateway and the workers'
production setup in this process, the Ironclad simulator, and a receiver that verifies every delivery with
`standardwebhooks`. Retry delays are compressed by settings (support.FAST_NOTIFICATIONS); nothing sleeps
for a tier.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts_common.crypto import SecretBox
from contracts_common.messaging import Broker, Topology
from contracts_common.notifications import EventType, Notifier
from contracts_common.storage.database import Database
from contracts_common.storage.notifications import NotificationEndpoints
from tests.integration.feed.support import feed_recording, mongo_db
from tests.integration.notifications.support import (
    FAST_NOTIFICATIONS,
    Receiver,
    deliveries,
    receiving,
    settle,
    subscribe,
)
from tests.support.api import AdminApi
from tests.support.services import SECRETS_KEY, Stack, wait_for

TENANT = "acme"
EMAIL = "admin@acme.example"


@pytest.fixture
def notify_overrides() -> dict[str, str]:
    """Settings of this test's world besides FAST_NOTIFICATIONS (tests parametrize it)."""
    return {}


@pytest.fixture
def notify_env(stack: Stack, notify_overrides: dict[str, str]) -> None:
    """Request before `gateway`/`workers`: every service of the world gets these settings."""
    stack.shared_settings.update({**FAST_NOTIFICATIONS, **notify_overrides})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@pytest.fixture
async def notifier(stack: Stack) -> AsyncIterator[Notifier]:
    """The public announcing API, on a broker client of the test's own (as another service would)."""
    broker = Broker(stack.amqp_url, Topology(stack.prefix, 5), prefetch=1, name="test-announcer")
    await broker.connect()
    try:
        yield Notifier(broker)
    finally:
        await broker.close()


async def test_a_finished_import_is_announced_once_signed_and_the_secret_shown_once(
    notify_env: None, receiver: Receiver, api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    settings = await subscribe(api, TENANT, receiver)
    assert settings["secret"].startswith("whsec_"), settings
    assert settings["signing_key_rotated"] is True
    assert settings["events"] == [e.value for e in EventType]
    shown = await api.call("GET", f"/api/v1/tenants/{TENANT}/notifications")
    assert shown.status == 200
    assert "secret" not in shown.body
    assert settings["secret"] not in str(shown.body)
    assert shown.body["source"] == "tenant"
    assert shown.body["url"] == receiver.url
    again = await subscribe(api, TENANT, receiver)
    assert again["secret"] is None
    assert again["signing_key_rotated"] is False

    await sim.seed(company["company_id"], count=5, seed=7)
    assert (await api.connect(TENANT, company["apps"][0], EMAIL)).status == 200
    run_id = await api.start_import(TENANT)
    run = await api.wait_run(TENANT, run_id)
    assert run["status"] == "succeeded", run

    [arrived] = await receiver.wait_for("sync.succeeded")
    assert arrived.body["tenant"] == TENANT
    data = arrived.body["data"]
    assert data["run_id"] == run_id
    assert data["kind"] == "import"
    assert data["error"] is None
    assert data["counters"]["created"] == 5
    assert data["counters"]["fetched"] == 5
    assert arrived.headers["webhook-id"].startswith("msg_")
    await settle(1.5)
    assert len(receiver.of_type("sync.succeeded")) == 1, "announced once per run"
    assert receiver.unverified == []

    async def recorded() -> list[dict[str, Any]] | None:
        items = [r for r in (await deliveries(api, TENANT))["items"] if r["type"] == "sync.succeeded"]
        return items or None

    [row] = await wait_for(recorded, timeout=10, what="the delivery recorded")
    assert row["status"] == "delivered"
    assert row["status_code"] == 204
    assert row["attempt"] == 1
    assert row["notification_id"] == arrived.headers["webhook-id"]

    audit = await api.call("GET", f"/api/v1/tenants/{TENANT}/audit")
    changed = [e for e in audit.body["items"] if e["action"] == "notifications.changed"]
    assert len(changed) == 2
    assert changed[-1]["details"]["url"] == receiver.url
    assert "whsec_" not in str(audit.body)

    rotated = await subscribe(api, TENANT, receiver, rotate_secret=True)
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != settings["secret"]


@pytest.mark.parametrize("notify_overrides", [{"NOTIFICATIONS_ALLOW_PRIVATE_TARGETS": "false"}])
async def test_put_refuses_private_targets_http_and_bad_input_and_stores_nothing(
    notify_env: None, api: AdminApi
) -> None:
    path = f"/api/v1/tenants/{TENANT}/notifications"
    for url in (
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://[::1]/x",
        "https://[::ffff:192.168.0.1]/x",
        "https://localhost/x",
    ):
        answer = await api.call("PUT", path, {"url": url})
        assert answer.status == 422, (url, answer.body)
        assert answer.body["error"]["code"] == "NOTIFICATION_TARGET_REFUSED"
        assert answer.body["error"]["details"]["field"] == "url"
    answer = await api.call("PUT", path, {"url": "https://93.184.216.34/x", "events": ["sync.exploded"]})
    assert answer.status == 422
    assert answer.body["error"]["details"]["fields"][0]["field"].startswith("events")
    answer = await api.call("PUT", path, {"url": "https://93.184.216.34/x", "secret": "whsec_mine"})
    assert answer.status == 422
    shown = await api.call("GET", path)
    assert shown.body == {
        "url": None,
        "events": [e.value for e in EventType],
        "enabled": False,
        "source": "none",
        **{k: None for k in shown.body if k not in ("url", "events", "enabled", "source")},
    }
    audit = await api.call("GET", f"/api/v1/tenants/{TENANT}/audit")
    assert audit.body["items"] == []


async def test_a_failing_receiver_is_retried_until_it_answers_and_every_attempt_is_listed(
    notify_env: None, receiver: Receiver, api: AdminApi, workers: None, notifier: Notifier
) -> None:
    await subscribe(api, TENANT, receiver, events=["health.changed"])
    receiver.failing = 503
    assert await notifier.announce(TENANT, EventType.HEALTH_CHANGED, {"status": "degraded"})
    await wait_for(lambda: _at_least(receiver, 3), timeout=20, what="three refused attempts")
    receiver.failing = None
    [arrived] = await receiver.wait_for("health.changed", timeout=20)
    assert arrived.body["data"] == {"status": "degraded"}

    async def recorded() -> list[dict[str, Any]] | None:
        # The receiver answers before the importer records the attempt.
        items: list[dict[str, Any]] = (await deliveries(api, TENANT))["items"]
        return items if items and items[0]["status"] == "delivered" else None

    rows = await wait_for(recorded, timeout=10, what="the delivered attempt recorded")
    attempts = sorted(rows, key=lambda r: r["attempt"])
    assert [r["attempt"] for r in attempts] == list(range(1, len(attempts) + 1))
    assert len(attempts) >= 4
    assert {r["notification_id"] for r in attempts} == {arrived.headers["webhook-id"]}
    for failed in attempts[:-1]:
        assert (failed["status"], failed["status_code"]) == ("pending", 503), failed
        assert failed["error"] == "HTTP 503"
        assert failed["next_retry_at"] is not None
    assert attempts[-1]["status"] == "delivered"
    assert attempts[-1]["next_retry_at"] is None
    # Newest first, and pages follow next_cursor.
    assert [r["attempt"] for r in rows] == sorted((r["attempt"] for r in rows), reverse=True)
    first = await deliveries(api, TENANT, limit=2)
    second = await deliveries(api, TENANT, limit=2, cursor=first["next_cursor"])
    assert [r["id"] for r in first["items"] + second["items"]] == [r["id"] for r in rows[:4]]
    shown = await api.call("GET", f"/api/v1/tenants/{TENANT}/notifications")
    assert shown.body["failing_since"] is None
    assert shown.body["last_success_at"] is not None


async def _at_least(receiver: Receiver, refused: int) -> bool:
    return receiver.refused >= refused


@pytest.mark.parametrize(
    "notify_overrides", [{"NOTIFICATION_DISABLE_AFTER_SECONDS": "2", "NOTIFICATION_GIVE_UP_SECONDS": "60"}]
)
async def test_an_endpoint_failing_for_the_whole_limit_is_disabled_and_reported(
    notify_env: None, receiver: Receiver, api: AdminApi, workers: None, notifier: Notifier
) -> None:
    """The 24-hour rule, with the day compressed to 2 s by NOTIFICATION_DISABLE_AFTER_SECONDS."""
    await subscribe(api, TENANT, receiver)
    receiver.failing = 500
    assert await notifier.announce(TENANT, EventType.HEALTH_CHANGED, {"status": "failing"})

    async def disabled() -> dict[str, Any] | None:
        shown = await api.call("GET", f"/api/v1/tenants/{TENANT}/notifications")
        return shown.body if shown.body["enabled"] is False else None

    shown = await wait_for(disabled, timeout=20, what="the endpoint disabled")
    assert shown["disabled_at"] is not None
    assert "HTTP 500" in shown["disabled_reason"]
    audit = await api.call("GET", f"/api/v1/tenants/{TENANT}/audit")
    [entry] = [e for e in audit.body["items"] if e["action"] == "notifications.disabled"]
    assert entry["actor"]["kind"] == "system"
    assert "HTTP 500" in entry["details"]["reason"]
    rows = (await deliveries(api, TENANT))["items"]
    assert rows[0]["status"] == "failed"
    assert rows[0]["next_retry_at"] is None
    count = len(rows)
    refused_before = receiver.refused

    # Off means off: a new event is not attempted; turning it on again clears the reason.
    assert await notifier.announce(TENANT, EventType.HEALTH_CHANGED, {"status": "healthy"})
    await settle(1.5)
    assert len((await deliveries(api, TENANT))["items"]) == count
    assert receiver.refused == refused_before
    receiver.failing = None
    again = await subscribe(api, TENANT, receiver, enabled=True)
    assert again["disabled_at"] is None
    assert again["failing_since"] is None
    assert await notifier.announce(TENANT, EventType.HEALTH_CHANGED, {"status": "healthy"})
    await receiver.wait_for("health.changed")


async def test_a_target_that_became_private_fails_as_an_attempt(
    stack: Stack, receiver: Receiver, workers: None, notifier: Notifier
) -> None:
    """Checked again at delivery: here the importer does not allow private targets and the stored URL
    (as if its DNS had changed since it was set) is on loopback."""
    db = Database.connect(stack.mongodb_url, stack.database, service="test")
    try:
        await NotificationEndpoints(db, SecretBox(SECRETS_KEY)).save(
            TENANT,
            url=receiver.url.replace("http://", "https://"),
            events=["health.changed"],
            enabled=True,
            new_secret="whsec_" + "A" * 43,
        )
        assert await notifier.announce(TENANT, EventType.HEALTH_CHANGED, {"status": "degraded"})

        async def attempted() -> dict[str, Any] | None:
            return await db.notification_deliveries.find_one({"tenant": TENANT})

        row = await wait_for(attempted, timeout=20, what="the first attempt")
        assert row["status"] == "pending"
        assert row["status_code"] is None
        assert "target refused" in row["error"], row
        assert "loopback" in row["error"], row
        assert receiver.received == []
        assert receiver.refused == 0
    finally:
        with contextlib.suppress(Exception):
            await db.close()


@pytest.mark.parametrize(
    "notify_overrides", [{"CHANGE_FEED_ENABLED": "true", "CHANGE_FEED_LEASE_SECONDS": "3"}]
)
async def test_stored_changes_are_announced_per_recorded_group_with_their_feed_cursors(
    notify_env: None,
    stack: Stack,
    receiver: Receiver,
    api: AdminApi,
    workers: None,
    sim: Any,
    company: dict[str, Any],
) -> None:
    """contracts.changed, coalesced per group the feed recorder writes: the counts add up to what was
    stored, and the cursors read exactly those changes from GET .../changes."""
    await subscribe(api, TENANT, receiver, events=["contracts.changed"])
    async with mongo_db(stack) as db:
        await wait_for(lambda: feed_recording(db), timeout=20, what="the feed recorder")
    await sim.seed(company["company_id"], count=12, seed=3)
    assert (await api.connect(TENANT, company["apps"][0], EMAIL)).status == 200
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["created"] == 12

    async def all_announced() -> bool:
        changed = receiver.of_type("contracts.changed")
        return sum(int(r.body["data"]["counts"]["created"]) for r in changed) >= 12

    await wait_for(all_announced, timeout=30, what="12 creations announced")
    announced = sorted(
        receiver.of_type("contracts.changed"), key=lambda r: int(r.body["data"]["cursor_from"])
    )
    seen: list[int] = []
    for notification in announced:
        data = notification.body["data"]
        assert set(data["counts"]) == {"created", "updated", "deleted"}
        start, end = int(data["cursor_from"]), int(data["cursor_to"])
        answer = await api.call(
            "GET", f"/api/v1/tenants/{TENANT}/changes", params={"cursor": str(start - 1), "limit": "1000"}
        )
        window = [item for item in answer.body["items"] if int(item["cursor"]) <= end]
        assert [int(item["cursor"]) for item in window] == list(range(start, end + 1))
        assert sum(data["counts"].values()) == len(window)
        seen.extend(range(start, end + 1))
    assert seen == list(range(1, 13))
    assert receiver.unverified == []


async def test_revoked_credentials_announce_needs_reauth_once_and_the_run_fails(
    notify_env: None, receiver: Receiver, api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await subscribe(api, TENANT, receiver, events=["connection.needs_reauth", "sync.failed"])
    app = company["apps"][0]
    await sim.seed(company["company_id"], count=5, seed=9)
    assert (await api.connect(TENANT, app, EMAIL)).status == 200
    await sim.revoke_app(app["client_id"])
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["status"] == "failed"
    [reauth] = await receiver.wait_for("connection.needs_reauth")
    assert "invalid_client" in reauth.body["data"]["reason"]
    [failed] = await receiver.wait_for("sync.failed")
    assert failed.body["data"]["run_id"] == run["run_id"]
    assert failed.body["data"]["status"] == "failed"
    assert "invalid_client" in failed.body["data"]["error"]
    await settle(1.5)
    assert len(receiver.of_type("connection.needs_reauth")) == 1
    assert len(receiver.of_type("sync.failed")) == 1


async def test_a_webhook_ironclad_disabled_is_announced_once_per_incident(
    notify_env: None,
    receiver: Receiver,
    api: AdminApi,
    workers: None,
    sim: Any,
    simulator: Any,
    stack: Stack,
    company: dict[str, Any],
    notifier: Notifier,
) -> None:
    from types import SimpleNamespace

    import aiohttp

    from contracts_common.settings import ImporterSettings
    from importer.bootstrap import build_access
    from importer.webhook_health import WebhookHealth

    await subscribe(api, TENANT, receiver, events=["connection.webhook_disabled"])
    assert (await api.connect(TENANT, company["apps"][0], EMAIL)).status == 200
    enabled = await api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/automatic-sync")
    assert enabled.status == 200, enabled.body
    db = Database.connect(stack.mongodb_url, stack.database)
    session = aiohttp.ClientSession()
    try:
        access = build_access(SimpleNamespace(db=db), ImporterSettings(), session)  # type: ignore[arg-type]
        health = WebhookHealth(access=access, notifier=notifier)
        assert await health.check_all() == {TENANT: "enabled"}
        await sim.disable_webhook_by_system(enabled.body["webhook_ids"][0])
        assert await health.check_all() == {TENANT: "enabled"}  # found down, registered again
        [down] = await receiver.wait_for("connection.webhook_disabled")
        assert down.body["data"]["state"] == "disabledBySystem"
        assert down.body["data"]["reregistered"] is True
        assert down.body["data"]["webhook_ids"] == enabled.body["webhook_ids"]
        assert await health.check_all() == {TENANT: "enabled"}  # healthy again: nothing to say
        await settle(1.0)
        assert len(receiver.of_type("connection.webhook_disabled")) == 1
    finally:
        await session.close()
        await db.close()


async def test_a_run_whose_announcement_was_lost_is_announced_by_the_sweep_once(
    notify_env: None, stack: Stack, receiver: Receiver, api: AdminApi, workers: None, notifier: Notifier
) -> None:
    """A process that died between the terminal write and the announcement (here: a store without
    `on_finish`, as the gateway's) leaves the run marked; the importer's run supervisor sweep announces it."""
    from datetime import timedelta

    from contracts_common.messages import RunKind
    from contracts_common.storage.runs import Runs, RunStatus
    from contracts_common.timeutil import utcnow

    await subscribe(api, TENANT, receiver, events=["sync.succeeded"])
    db = Database.connect(stack.mongodb_url, stack.database, service="test")
    try:
        silent = Runs(db)
        run = await silent.create(TENANT, RunKind.RECONCILE)
        assert await silent.finish(TENANT, run["_id"], status=RunStatus.SUCCEEDED) is not None
        await settle(1.0)
        assert receiver.of_type("sync.succeeded") == []

        sweeping = Runs(db, on_finish=notifier.run_finished)
        assert await sweeping.announce_overdue(utcnow() - timedelta(seconds=30)) == 0  # not overdue yet
        assert await sweeping.announce_overdue(utcnow() + timedelta(seconds=1)) == 1
        [arrived] = await receiver.wait_for("sync.succeeded")
        assert arrived.body["data"]["run_id"] == run["_id"]
        assert arrived.body["data"]["kind"] == "reconcile"
        assert await sweeping.announce_overdue(utcnow() + timedelta(seconds=1)) == 0
        shown = await api.call("GET", f"/api/v1/tenants/{TENANT}/ironclad/runs/{run['_id']}")
        assert shown.status == 200, shown.body
        assert "announce_pending" not in shown.body
    finally:
        await db.close()


@pytest.mark.parametrize("notify_overrides", [{"NOTIFICATION_TIMEOUT_SECONDS": "3"}])
async def test_a_tenant_whose_endpoint_hangs_does_not_hold_the_others(
    notify_env: None, receiver: Receiver, api: AdminApi, workers: None, notifier: Notifier
) -> None:
    """Twelve notifications to a hanging endpoint: at most NOTIFICATION_TENANT_CONCURRENCY (2) of them
    are attempted at once, and another tenant's notification is delivered meanwhile."""
    async with receiving() as hanging:
        hanging.hang = 5.0
        await subscribe(api, "slowco", hanging)
        await subscribe(api, TENANT, receiver)
        for n in range(12):
            assert await notifier.announce("slowco", EventType.HEALTH_CHANGED, {"n": n})
        await wait_for(lambda: _at_least(hanging, 2), timeout=10, what="the hanging endpoint called")
        started = time.monotonic()
        assert await notifier.announce(TENANT, EventType.HEALTH_CHANGED, {"status": "healthy"})
        await receiver.wait_for("health.changed", timeout=10)
        assert time.monotonic() - started < 2.0
        assert hanging.refused <= 2

        async def timed_out() -> list[dict[str, Any]] | None:
            rows: list[dict[str, Any]] = (await deliveries(api, "slowco"))["items"]
            return rows or None

        rows = await wait_for(timed_out, timeout=10, what="the hanging attempts recorded")
        assert rows[0]["error"] == "no answer within 3 s", rows[0]
        assert rows[0]["status"] == "pending"


DEFAULT_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="


@pytest.fixture
def default_endpoint(notify_env: None, stack: Stack, receiver: Receiver) -> None:
    """The operator's default endpoint is this test's receiver (request before `api`/`workers`)."""
    receiver.secret = DEFAULT_SECRET
    stack.shared_settings.update(
        {"NOTIFICATIONS_DEFAULT_URL": receiver.url, "NOTIFICATIONS_DEFAULT_SECRET": DEFAULT_SECRET}
    )


async def test_a_tenant_without_its_own_endpoint_uses_the_default(
    default_endpoint: None, receiver: Receiver, api: AdminApi, workers: None, notifier: Notifier
) -> None:
    shown = await api.call("GET", f"/api/v1/tenants/{TENANT}/notifications")
    assert shown.body["source"] == "default"
    assert shown.body["url"] == receiver.url
    assert shown.body["enabled"] is True
    assert DEFAULT_SECRET not in str(shown.body)
    assert await notifier.announce(TENANT, EventType.HEALTH_CHANGED, {"status": "degraded"})
    [arrived] = await receiver.wait_for("health.changed")
    assert arrived.body["tenant"] == TENANT


def test_a_default_url_needs_its_secret_and_empty_values_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from contracts_common.settings import NotificationSettings

    monkeypatch.setenv("NOTIFICATIONS_DEFAULT_URL", "")
    monkeypatch.setenv("NOTIFICATIONS_DEFAULT_SECRET", "")
    assert NotificationSettings().notifications_default_url is None
    monkeypatch.setenv("NOTIFICATIONS_DEFAULT_URL", "https://hooks.example.com/x")
    with pytest.raises(ValidationError, match="NOTIFICATIONS_DEFAULT_SECRET"):
        NotificationSettings()
    monkeypatch.setenv("NOTIFICATIONS_DEFAULT_SECRET", DEFAULT_SECRET)
    assert NotificationSettings().notifications_default_secret is not None


async def test_a_retry_after_the_admin_switched_the_endpoint_off_is_closed_as_failed(
    notify_env: None, receiver: Receiver, api: AdminApi, workers: None, notifier: Notifier
) -> None:
    await subscribe(api, TENANT, receiver)
    receiver.failing = 503
    assert await notifier.announce(TENANT, EventType.HEALTH_CHANGED, {"status": "degraded"})
    await wait_for(lambda: _at_least(receiver, 1), timeout=10, what="the first attempt")
    await subscribe(api, TENANT, receiver, enabled=False)
    refused = receiver.refused

    async def closed() -> dict[str, Any] | None:
        rows = (await deliveries(api, TENANT))["items"]
        return rows[0] if rows and rows[0]["status"] == "failed" else None

    row = await wait_for(closed, timeout=10, what="the retry closed")
    assert row["error"].startswith("not attempted")
    assert receiver.refused == refused


async def test_a_change_of_health_is_announced_signed_once_and_its_resolution_once(
    notify_env: None,
    stack: Stack,
    receiver: Receiver,
    api: AdminApi,
    workers: None,
    sim: Any,
    company: dict[str, Any],
) -> None:
    """R30 end to end: the composition roots' default on_health_change is the health.changed notification.
    Credentials rejected (a run, in the importer) → failing once; a reconnect (the gateway) → healthy once,
    the resolved reason named; a run that then succeeds changes nothing. Every delivery verified by the
    receiver."""
    await subscribe(api, TENANT, receiver, events=["health.changed"])
    app = company["apps"][0]
    await sim.seed(company["company_id"], count=5, seed=11)
    assert (await api.connect(TENANT, app, EMAIL)).status == 200
    await sim.revoke_app(app["client_id"])
    assert (await api.wait_run(TENANT, await api.start_import(TENANT)))["status"] == "failed"
    [failing] = await receiver.wait_for("health.changed")
    data = failing.body["data"]
    assert (data["status"], data["previous_status"]) == ("failing", "healthy")
    assert [reason["code"] for reason in data["reasons"]] == ["needs_reauth"]

    fresh = await sim.add_app(company["company_id"], scopes=list(app["scopes"]))
    assert (await api.connect(TENANT, fresh, EMAIL)).status == 200
    _, healthy = await receiver.wait_for("health.changed", count=2)
    assert (healthy.body["data"]["status"], healthy.body["data"]["resolved"]) == ("healthy", ["needs_reauth"])
    assert (await api.wait_run(TENANT, await api.start_import(TENANT)))["status"] == "succeeded"
    await settle(1.5)
    assert [r.body["data"]["status"] for r in receiver.of_type("health.changed")] == ["failing", "healthy"]
    # Both were confirmed as they were announced: the sweep finds nothing to announce again.
    from datetime import timedelta

    from contracts_common.health_status import build_monitor
    from contracts_common.settings import SharedSettings
    from contracts_common.timeutil import utcnow

    db = Database.connect(stack.mongodb_url, stack.database, service="test")
    try:
        settings = SharedSettings(amqp_url=stack.amqp_url, mongodb_url=stack.mongodb_url)
        assert await build_monitor(db, settings).announce_overdue(utcnow() + timedelta(minutes=1)) == 0
    finally:
        await db.close()


async def test_runs_a_disconnect_cancels_are_announced_as_failed_by_the_sweep(
    notify_env: None, stack: Stack, receiver: Receiver, api: AdminApi, workers: None, notifier: Notifier
) -> None:
    """A disconnect fails the tenant's active runs in one write (Runs.cancel_active); each is marked like any
    run that ends, so the sweep announces its sync.failed with the reason."""
    from datetime import timedelta

    from contracts_common.messages import RunKind
    from contracts_common.storage.runs import Runs
    from contracts_common.timeutil import utcnow

    await subscribe(api, TENANT, receiver, events=["sync.failed"])
    db = Database.connect(stack.mongodb_url, stack.database, service="test")
    try:
        runs = Runs(db, on_finish=notifier.run_finished)
        active = await runs.create(TENANT, RunKind.IMPORT)
        assert await runs.cancel_active(TENANT, "disconnected by an admin") == 1
        assert await runs.announce_overdue(utcnow() + timedelta(seconds=1)) == 1
        [failed] = await receiver.wait_for("sync.failed")
        assert failed.body["data"]["run_id"] == active["_id"]
        assert failed.body["data"]["error"] == "disconnected by an admin"
        assert await runs.announce_overdue(utcnow() + timedelta(seconds=1)) == 0
    finally:
        await db.close()


async def test_a_change_of_health_whose_announcement_was_refused_is_announced_by_the_sweep_once(
    notify_env: None, stack: Stack, receiver: Receiver, api: AdminApi, workers: None, notifier: Notifier
) -> None:
    """The transition is recorded before it is announced; an announcement not confirmed (a broker that
    refused it, a process that died) leaves it marked, and the importer's sweep announces it, once."""
    from datetime import timedelta

    from contracts_common.health_status import HealthChange, build_monitor
    from contracts_common.settings import SharedSettings
    from contracts_common.timeutil import utcnow

    await subscribe(api, TENANT, receiver, events=["health.changed"])
    db = Database.connect(stack.mongodb_url, stack.database, service="test")
    try:
        refused: list[HealthChange] = []

        async def refusing(tenant: str, change: HealthChange) -> bool:
            refused.append(change)
            return False

        settings = SharedSettings(amqp_url=stack.amqp_url, mongodb_url=stack.mongodb_url)
        change = await build_monitor(db, settings, refusing).observe_health(TENANT)
        assert change is not None
        assert change.status.value == "disconnected"
        assert refused == [change]

        sweeping = build_monitor(db, settings, notifier.health_changed)
        assert await sweeping.announce_overdue(utcnow() - timedelta(seconds=30)) == 0  # not overdue yet
        assert await sweeping.announce_overdue(utcnow() + timedelta(seconds=1)) == 1
        [arrived] = await receiver.wait_for("health.changed")
        assert arrived.body["data"] == change.public()
        assert await sweeping.announce_overdue(utcnow() + timedelta(seconds=1)) == 0
        assert await sweeping.observe_health(TENANT) is None  # recorded once: no second change
    finally:
        await db.close()
