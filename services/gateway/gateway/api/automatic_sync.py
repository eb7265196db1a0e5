"""Enable and disable Automatic Sync: one Ironclad webhook per tenant, pointing at our receiver."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlparse

import structlog
from aiohttp import web

from contracts_common.ironclad import (
    AUTOMATIC_SYNC_SCOPES,
    IroncladError,
    IroncladForbidden,
    IroncladRateLimited,
    OAuthError,
    OAuthInvalidClient,
    missing_scopes,
)
from contracts_common.runtime import instance_name
from contracts_common.storage.audit import AuditAction
from contracts_common.storage.connections import ConnectionStatus
from contracts_common.storage.leases import Leases
from contracts_common.timeutil import iso, utcnow
from contracts_common.webhook_registration import (
    WEBHOOK_EVENTS,
    delete_webhook_quietly,
    register_webhook,
    remove_webhooks,
    webhook_target,
)
from gateway.api.connection_guard import connected_client
from gateway.auth import Access, Audit
from gateway.deps import GatewayDeps, deps
from gateway.errors import ApiError
from gateway.models import AutomaticSyncDisabled, AutomaticSyncEnabled
from gateway.openapi import Api, respond
from gateway.webhooks.receiver import receiver_of

log = structlog.get_logger(__name__)
api = Api("Automatic Sync")

LEASE_NAME = "automatic-sync"
LEASE_SECONDS = 60.0


def _scope_error(missing: list[str]) -> ApiError:
    return ApiError(
        422,
        "AUTOMATIC_SYNC_SCOPES_MISSING",
        "Automatic Sync needs these Ironclad scopes, which the app was not granted: "
        + ", ".join(missing)
        + ". Add them to the app in Company Settings → API → Requested Resource Scopes, then reconnect.",
        {"missing_scopes": missing},
    )


def _ironclad_error(exc: Exception) -> ApiError:
    if isinstance(exc, OAuthInvalidClient):
        return ApiError(409, "NEEDS_REAUTH", "Ironclad rejected the stored credentials. Reconnect first.")
    if isinstance(exc, IroncladForbidden):
        return ApiError(
            422,
            "AUTOMATIC_SYNC_SCOPES_MISSING",
            "Ironclad refused to manage webhooks for this app; check that it has the scopes "
            + ", ".join(sorted(AUTOMATIC_SYNC_SCOPES))
            + ".",
            {"ironclad": str(exc)},
        )
    if isinstance(exc, IroncladRateLimited):
        return ApiError(
            503, "IRONCLAD_RATE_LIMITED", "Ironclad is rate limiting this company; try again shortly."
        )
    return ApiError(
        502, "IRONCLAD_ERROR", f"Ironclad refused the webhook change: {exc}", {"ironclad": str(exc)}
    )


class _TenantLease:
    """One enable/disable at a time per tenant, across gateway replicas."""

    def __init__(self, d: GatewayDeps, tenant: str) -> None:
        self._leases = Leases(d.db, f"{instance_name('gateway')}:{uuid.uuid4().hex[:8]}")
        self._tenant = tenant

    async def __aenter__(self) -> None:
        if not await self._leases.acquire(self._tenant, LEASE_NAME, LEASE_SECONDS):
            raise ApiError(409, "CHANGE_IN_PROGRESS", "Automatic Sync is being changed right now; try again.")

    async def __aexit__(self, *_: object) -> None:
        await self._leases.release(self._tenant, LEASE_NAME)


@api.post(
    "/api/v1/tenants/{tenant}/ironclad/automatic-sync",
    AutomaticSyncEnabled,
    access=Access.WRITE,
    audit=Audit(
        AuditAction.AUTOMATIC_SYNC_ENABLED, answer=("webhook_ids", "events", "target_url", "adopted")
    ),
)
async def enable(request: web.Request) -> web.Response:
    """Enable Automatic Sync: register our webhook in Ironclad.

    Needs the webhook scopes (422 AUTOMATIC_SYNC_SCOPES_MISSING names the missing ones) and an https
    PUBLIC_BASE_URL. Idempotent: a webhook of ours already there is adopted.
    """
    d = deps(request)
    tenant = request.match_info["tenant"]
    if request.can_read_body and (await request.read()).strip() not in (b"", b"{}", b"null"):
        raise ApiError(422, "VALIDATION_FAILED", "This call takes no body fields.")
    client = await connected_client(d, tenant)
    connection = await d.connections.get(tenant)
    assert connection is not None
    missing = missing_scopes(set(connection.get("granted_scopes") or []), AUTOMATIC_SYNC_SCOPES)
    if missing:
        raise _scope_error(missing)
    target = webhook_target(d.settings.public_base_url, tenant)
    parsed = urlparse(target)
    if parsed.scheme != "https" and not d.settings.allow_http_webhook_target:
        raise ApiError(
            409,
            "PUBLIC_BASE_URL_NOT_HTTPS",
            f"Ironclad accepts only https webhook targets, and PUBLIC_BASE_URL gives {target}. "
            "Set PUBLIC_BASE_URL to the gateway's public https origin.",
            {"target_url": target},
        )
    async with _TenantLease(d, tenant):
        previous = [str(i) for i in (connection.get("automatic_sync") or {}).get("webhook_ids") or []]
        try:
            registration = await register_webhook(client, target, WEBHOOK_EVENTS)
            webhook_id = str(registration.webhook["id"])
            for old in previous:
                if old != webhook_id and old not in registration.replaced:
                    # A webhook of ours at an older target (PUBLIC_BASE_URL changed): not needed any more.
                    await delete_webhook_quietly(client, old)
        except (IroncladError, OAuthError) as exc:
            log.warning("automatic_sync_enable_failed", tenant=tenant, error=str(exc))
            raise _ironclad_error(exc) from exc
        events = list(registration.webhook.get("events") or WEBHOOK_EVENTS)
        now = utcnow()
        state: dict[str, Any] = {
            "enabled": True,
            "webhook_ids": [webhook_id],
            "events": events,
            "target_url": target,
            "webhook_state": "enabled",
            "webhook_status": registration.webhook.get("status", "enabled"),
            "adopted": registration.adopted,
            "enabled_at": iso(now),
            "checked_at": now,
            "last_problem": None,
        }
        await d.connections.set_automatic_sync(tenant, state)
    log.info("automatic_sync_enabled", tenant=tenant, webhook_id=webhook_id, adopted=registration.adopted)
    return respond(
        AutomaticSyncEnabled,
        {
            "enabled": True,
            "webhook_ids": [webhook_id],
            "events": events,
            "target_url": target,
            "webhook_state": "enabled",
            "adopted": registration.adopted,
        },
    )


@api.delete(
    "/api/v1/tenants/{tenant}/ironclad/automatic-sync",
    AutomaticSyncDisabled,
    access=Access.WRITE,
    audit=Audit(
        AuditAction.AUTOMATIC_SYNC_DISABLED, answer=("removed_webhook_ids", "webhooks_left_in_ironclad")
    ),
)
async def disable(request: web.Request) -> web.Response:
    """Disable Automatic Sync, removing our webhooks from Ironclad."""
    d = deps(request)
    tenant = request.match_info["tenant"]
    receiver_of(request.app).connections.forget(tenant)
    connection = await d.connections.get(tenant)
    if connection is None or connection.get("status") == ConnectionStatus.DISCONNECTED.value:
        return respond(
            AutomaticSyncDisabled,
            {"enabled": False, "removed_webhook_ids": [], "webhooks_left_in_ironclad": []},
        )
    async with _TenantLease(d, tenant):
        connection = await d.connections.get(tenant) or connection
        stored = [str(i) for i in (connection.get("automatic_sync") or {}).get("webhook_ids") or []]
        leftover = await remove_webhooks(d.access, d.settings.public_base_url, connection)
        await d.connections.set_automatic_sync(
            tenant,
            {
                "enabled": False,
                "webhook_ids": leftover,
                "disabled_at": iso(utcnow()),
                "webhooks_left_in_ironclad": leftover,
            },
        )
    log.info("automatic_sync_disabled", tenant=tenant, leftover=leftover)
    return respond(
        AutomaticSyncDisabled,
        {
            "enabled": False,
            "removed_webhook_ids": [i for i in stored if i not in leftover],
            "webhooks_left_in_ironclad": leftover,
        },
    )
