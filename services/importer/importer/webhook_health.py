"""Webhook health: notice a webhook Ironclad disabled (`disabledBySystem`) or deleted, and repair it.

Every `webhook_health_interval_seconds` each tenant with Automatic Sync on has its webhooks looked up in
Ironclad (one importer replica per tenant and interval: the scheduler takes the turn, see scheduler.py).
A webhook that is enabled keeps
`automatic_sync.webhook_state = "enabled"`. One that Ironclad disabled, or that is gone, is registered
again when the app has the scope to do so; a webhook a person disabled in Ironclad is left alone. Whatever
is found is written to the connection (`webhook_state`, `last_problem`, `checked_at`), so the admin sees it,
and while the state is not `enabled` the scheduler reconciles on the shorter interval (see scheduler.py).
"""

from __future__ import annotations

from typing import Any

import structlog

from contracts_common.health_status import HealthMonitor
from contracts_common.ironclad import IroncladClient, IroncladError, IroncladNotFound, OAuthError
from contracts_common.ironclad_access import IroncladAccess, Lane
from contracts_common.notifications import EventType, Notifier
from contracts_common.storage.database import Document
from contracts_common.timeutil import iso, utcnow
from contracts_common.webhook_registration import delete_webhook_quietly, register_webhook

log = structlog.get_logger(__name__)

CREATE_SCOPE = "public.webhooks.createWebhooks"
ENABLED = "enabled"
DELETED = "deleted"


class WebhookHealth:
    def __init__(
        self,
        *,
        access: IroncladAccess,
        notifier: Notifier | None = None,
        monitor: HealthMonitor | None = None,
    ) -> None:
        self._access = access
        self._notifier = notifier
        self._connections = access.connections
        self._monitor = monitor

    async def check(self, connection: Document) -> str:
        """Look at the tenant's webhooks, repair what may be repaired, record it; returns the state.
        A state that changed changes the tenant's health (webhook_disabled), judged again here."""
        previous = (connection.get("automatic_sync") or {}).get("webhook_state") or ENABLED
        state = await self._check(connection)
        if state != previous and self._monitor is not None:
            await self._monitor.observe_quietly(connection["tenant"])
        return state

    async def check_all(self) -> dict[str, str]:
        """Check every tenant with Automatic Sync on now, whatever the schedule (the operator's way);
        returns {tenant: webhook_state} of those checked."""
        states: dict[str, str] = {}
        for connection in await self._connections.connected_tenants():
            tenant = connection["tenant"]
            if not (connection.get("automatic_sync") or {}).get("enabled"):
                continue
            try:
                states[tenant] = await self.check(connection)
            except Exception:
                log.exception("webhook_health_check_failed", tenant=tenant)
        return states

    async def _check(self, connection: Document) -> str:
        tenant = connection["tenant"]
        sync: dict[str, Any] = dict(connection.get("automatic_sync") or {})
        ids = [str(i) for i in sync.get("webhook_ids") or []]
        client = self._access.client_for(tenant, self._connections.credentials(connection), lane=Lane.LIVE)
        try:
            state, hook = await self._observe(client, ids)
        except (IroncladError, OAuthError) as exc:
            # Ironclad unreachable or refusing: nothing learned about the webhook; keep the state, note it.
            log.warning("webhook_health_lookup_failed", tenant=tenant, error=str(exc))
            await self._connections.save_webhook_check(
                tenant, ids, {"checked_at": utcnow(), "last_check_error": f"{type(exc).__name__}: {exc}"}
            )
            return str(sync.get("webhook_state") or ENABLED)
        previous = sync.get("webhook_state") or ENABLED
        if state == ENABLED:
            await self._connections.save_webhook_check(
                tenant,
                ids,
                {"webhook_state": ENABLED, "checked_at": utcnow(), "last_check_error": None},
                state_changed=previous != ENABLED,
            )
            return ENABLED

        problem: dict[str, Any] = {
            "state": state,
            "webhook_ids": ids,
            "detected_at": iso(utcnow()),
            "status_last_updated_by": (hook or {}).get("statusLastUpdatedBy"),
        }
        log.warning("webhook_down", tenant=tenant, state=state, webhook_ids=ids)
        allowed, why_not = self._may_reregister(connection, sync, state, hook)
        if not allowed:
            problem["reregistered"] = False
            problem["reason"] = why_not
            written = await self._connections.save_webhook_check(
                tenant,
                ids,
                {"webhook_state": state, "checked_at": utcnow(), "last_problem": problem},
                state_changed=previous != state,
            )
            await self._announce_down(tenant, previous, problem, written)
            return state
        try:
            new_hook = await self._reregister(client, ids, list(sync["events"]), str(sync["target_url"]))
        except (IroncladError, OAuthError) as exc:
            log.warning("webhook_reregister_failed", tenant=tenant, error=str(exc))
            problem["reregistered"] = False
            problem["reason"] = f"{type(exc).__name__}: {exc}"
            written = await self._connections.save_webhook_check(
                tenant,
                ids,
                {"webhook_state": state, "checked_at": utcnow(), "last_problem": problem},
                state_changed=previous != state,
            )
            await self._announce_down(tenant, previous, problem, written)
            return state
        new_id = str(new_hook["id"])
        problem["reregistered"] = True
        problem["reregistered_at"] = iso(utcnow())
        problem["new_webhook_id"] = new_id
        log.info("webhook_reregistered", tenant=tenant, old=ids, new=new_id)
        written = await self._connections.save_webhook_check(
            tenant,
            ids,
            {
                "webhook_ids": [new_id],
                "webhook_state": ENABLED,
                "webhook_status": new_hook.get("status", ENABLED),
                "checked_at": utcnow(),
                "last_problem": problem,
            },
            inc={"reregistrations": 1},
            state_changed=previous != ENABLED,
        )
        await self._announce_down(tenant, previous, problem, written)
        return ENABLED

    async def _announce_down(
        self, tenant: str, previous: str, problem: dict[str, Any], written: bool
    ) -> None:
        """connection.webhook_disabled, once per incident: when a webhook that was enabled is found down
        (re-registered or not). A check that finds it still down, as the last one did, says nothing."""
        if self._notifier is None or previous != ENABLED or not written:
            return
        await self._notifier.announce(tenant, EventType.CONNECTION_WEBHOOK_DISABLED, problem)

    async def _observe(self, client: IroncladClient, ids: list[str]) -> tuple[str, dict[str, Any] | None]:
        """The worst state among our webhooks: deleted, disabledBySystem, disabled, or enabled."""
        if not ids:
            return DELETED, None
        worst: tuple[str, dict[str, Any] | None] = (ENABLED, None)
        for webhook_id in ids:
            try:
                hook = await client.get_webhook(webhook_id)
            except IroncladNotFound:
                return DELETED, None
            status = str(hook.get("status") or "")
            if status != ENABLED:
                worst = (status or "unknown", hook)
        return worst

    def _may_reregister(
        self, connection: Document, sync: dict[str, Any], state: str, hook: dict[str, Any] | None
    ) -> tuple[bool, str | None]:
        if CREATE_SCOPE not in set(connection.get("granted_scopes") or []):
            return False, f"the Ironclad app lacks the scope {CREATE_SCOPE}"
        if not sync.get("events") or not sync.get("target_url"):
            return False, "the registration (events, target) is unknown; enable Automatic Sync again"
        if state == "disabled" and (hook or {}).get("statusLastUpdatedBy") not in ("system", None):
            return (
                False,
                "a person disabled the webhook in Ironclad; enable Automatic Sync again to restore it",
            )
        return True, None

    async def _reregister(
        self, client: IroncladClient, old_ids: list[str], events: list[str], target: str
    ) -> dict[str, Any]:
        for webhook_id in old_ids:
            try:
                await delete_webhook_quietly(client, webhook_id)
            except (IroncladError, OAuthError) as exc:
                # A disabled webhook does not block a new registration for the same target.
                log.info("webhook_old_delete_failed", webhook_id=webhook_id, error=str(exc))
        # Someone may have re-enabled or re-created it meanwhile: then it is adopted.
        return (await register_webhook(client, target, events)).webhook
