"""Automatic Sync on and off, and disconnecting: the Ironclad calls, the lease and what is stored.

The gateway's handlers parse, authorise and call one of these; the connection's state is written through
`Connections` (its one store), our webhooks are registered through `webhook_registration` (which the
importer's webhook check uses too). A problem an admin can act on is raised as a `Problem`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import structlog

from contracts_common.ironclad import (
    AUTOMATIC_SYNC_SCOPES,
    IroncladClient,
    IroncladError,
    IroncladForbidden,
    IroncladRateLimited,
    OAuthError,
    OAuthInvalidClient,
    missing_scopes,
)
from contracts_common.ironclad_access import IroncladAccess, NotConnected
from contracts_common.problems import Problem
from contracts_common.runtime import instance_name
from contracts_common.storage.connections import ConnectionStatus
from contracts_common.storage.database import Database
from contracts_common.storage.leases import Leases
from contracts_common.storage.runs import Runs
from contracts_common.timeutil import iso, utcnow
from contracts_common.webhook_registration import (
    WEBHOOK_EVENTS,
    delete_webhook_quietly,
    register_webhook,
    remove_webhooks,
    webhook_target,
)

log = structlog.get_logger(__name__)

LEASE_NAME = "automatic-sync"
LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class Enabled:
    webhook_ids: list[str]
    events: list[str]
    target_url: str
    adopted: bool
    webhook_state: str = "enabled"


@dataclass(frozen=True)
class Disabled:
    removed_webhook_ids: list[str] = field(default_factory=list)
    webhooks_left_in_ironclad: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Disconnected:
    already: bool
    cancelled_runs: int = 0
    webhooks_left_in_ironclad: list[str] = field(default_factory=list)


def scope_problem(missing: list[str]) -> Problem:
    return Problem(
        422,
        "AUTOMATIC_SYNC_SCOPES_MISSING",
        "Automatic Sync needs these Ironclad scopes, which the app was not granted: "
        + ", ".join(missing)
        + ". Add them to the app in Company Settings → API → Requested Resource Scopes, then reconnect.",
        {"missing_scopes": missing},
    )


def ironclad_problem(exc: Exception) -> Problem:
    if isinstance(exc, OAuthInvalidClient):
        return Problem(409, "NEEDS_REAUTH", "Ironclad rejected the stored credentials. Reconnect first.")
    if isinstance(exc, IroncladForbidden):
        return Problem(
            422,
            "AUTOMATIC_SYNC_SCOPES_MISSING",
            "Ironclad refused to manage webhooks for this app; check that it has the scopes "
            + ", ".join(sorted(AUTOMATIC_SYNC_SCOPES))
            + ".",
            {"ironclad": str(exc)},
        )
    if isinstance(exc, IroncladRateLimited):
        return Problem(
            503, "IRONCLAD_RATE_LIMITED", "Ironclad is rate limiting this company; try again shortly."
        )
    return Problem(
        502, "IRONCLAD_ERROR", f"Ironclad refused the webhook change: {exc}", {"ironclad": str(exc)}
    )


def not_connected_problem(exc: NotConnected) -> Problem:
    if exc.status == ConnectionStatus.NEEDS_REAUTH.value:
        return Problem(
            409,
            "NEEDS_REAUTH",
            "Ironclad rejected the stored credentials. Reconnect with a valid Client ID and Client Secret.",
        )
    return Problem(409, "NOT_CONNECTED", "This workspace is not connected to Ironclad. Connect first.")


class _TenantLease:
    """One change of Automatic Sync at a time per tenant, across replicas."""

    def __init__(self, db: Database, tenant: str) -> None:
        self._leases = Leases(db, f"{instance_name('automatic-sync')}:{uuid.uuid4().hex[:8]}")
        self._tenant = tenant

    async def __aenter__(self) -> None:
        if not await self._leases.acquire(self._tenant, LEASE_NAME, LEASE_SECONDS):
            raise Problem(409, "CHANGE_IN_PROGRESS", "Automatic Sync is being changed right now; try again.")

    async def __aexit__(self, *_: object) -> None:
        await self._leases.release(self._tenant, LEASE_NAME)


class AutomaticSyncService:
    def __init__(
        self, *, db: Database, access: IroncladAccess, public_base_url: str, allow_http_target: bool
    ) -> None:
        self._db = db
        self._access = access
        self._connections = access.connections
        self._public_base_url = public_base_url
        self._allow_http_target = allow_http_target

    async def _client(self, tenant: str) -> tuple[IroncladClient, dict[str, Any]]:
        try:
            return await self._access.client(tenant)
        except NotConnected as exc:
            raise not_connected_problem(exc) from exc

    async def enable(self, tenant: str) -> Enabled:
        """Register our webhook in Ironclad (adopting one already there) and turn Automatic Sync on."""
        client, connection = await self._client(tenant)
        missing = missing_scopes(set(connection.get("granted_scopes") or []), AUTOMATIC_SYNC_SCOPES)
        if missing:
            raise scope_problem(missing)
        target = webhook_target(self._public_base_url, tenant)
        if urlparse(target).scheme != "https" and not self._allow_http_target:
            raise Problem(
                409,
                "PUBLIC_BASE_URL_NOT_HTTPS",
                f"Ironclad accepts only https webhook targets, and PUBLIC_BASE_URL gives {target}. "
                "Set PUBLIC_BASE_URL to the gateway's public https origin.",
                {"target_url": target},
            )
        async with _TenantLease(self._db, tenant):
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
                raise ironclad_problem(exc) from exc
            events = list(registration.webhook.get("events") or WEBHOOK_EVENTS)
            now = utcnow()
            await self._connections.set_automatic_sync(
                tenant,
                {
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
                },
            )
        log.info("automatic_sync_enabled", tenant=tenant, webhook_id=webhook_id, adopted=registration.adopted)
        return Enabled(
            webhook_ids=[webhook_id], events=events, target_url=target, adopted=registration.adopted
        )

    async def disable(self, tenant: str) -> Disabled:
        """Remove our webhooks from Ironclad (those that cannot be removed are named) and turn it off."""
        connection = await self._connections.get(tenant)
        if connection is None or connection.get("status") == ConnectionStatus.DISCONNECTED.value:
            return Disabled()
        async with _TenantLease(self._db, tenant):
            connection = await self._connections.get(tenant) or connection
            stored = [str(i) for i in (connection.get("automatic_sync") or {}).get("webhook_ids") or []]
            leftover = await remove_webhooks(self._access, self._public_base_url, connection)
            await self._connections.set_automatic_sync(
                tenant,
                {
                    "enabled": False,
                    "webhook_ids": leftover,
                    "disabled_at": iso(utcnow()),
                    "webhooks_left_in_ironclad": leftover,
                },
            )
        log.info("automatic_sync_disabled", tenant=tenant, leftover=leftover)
        return Disabled(
            removed_webhook_ids=[i for i in stored if i not in leftover], webhooks_left_in_ironclad=leftover
        )

    async def disconnect(self, tenant: str) -> Disconnected:
        """Remove our webhooks where possible, cancel active runs, erase the credentials; contracts stay."""
        doc = await self._connections.get(tenant)
        if doc is None or doc.get("status") == ConnectionStatus.DISCONNECTED.value:
            return Disconnected(already=True)
        leftover = await remove_webhooks(self._access, self._public_base_url, doc)
        cancelled = await Runs(self._db).cancel_active(
            tenant, "cancelled: the Ironclad connection was removed"
        )
        await self._connections.disconnect(tenant, leftover_webhooks=leftover)
        log.info("disconnected", tenant=tenant, cancelled_runs=cancelled, leftover_webhooks=leftover)
        return Disconnected(already=False, cancelled_runs=cancelled, webhooks_left_in_ironclad=leftover)
