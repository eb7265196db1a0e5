"""Our webhooks in Ironclad: registering one per tenant (adopting an existing one), and removing them.

The one place that registers: the gateway's Enable Automatic Sync and the importer's webhook health
check (which registers again a webhook Ironclad disabled or deleted) both call `register_webhook`.

Ironclad allows one active registration per target URL, so the target
`PUBLIC_BASE_URL/webhooks/ironclad/{tenant}` identifies our webhook: enabling again finds it and keeps it,
a webhook with our target that someone else made is adopted, and a disabled one (or one missing events we
need) is replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from contracts_common.ironclad import (
    IroncladBadRequest,
    IroncladClient,
    IroncladError,
    IroncladNotFound,
    OAuthError,
)
from contracts_common.ironclad_access import IroncladAccess
from contracts_common.storage.database import Document

log = structlog.get_logger(__name__)

# The events after which a contract (an Ironclad record) can be new or different. Records are created when a
# workflow completes; a completed workflow's attributes and documents can still change; the record's contract
# status has its own event. Ironclad has no record created/updated/deleted events: the scheduled
# reconciliation catches the rest (R10).
WEBHOOK_EVENTS: tuple[str, ...] = (
    "workflow_completed",
    "workflow_updated",
    "workflow_attribute_updated",
    "workflow_documents_updated",
    "workflow_documents_added",
    "workflow_documents_removed",
    "workflow_signature_packet_fully_signed",
    "record_contract_status_changed",
)


def webhook_target(public_base_url: str, tenant: str) -> str:
    return f"{public_base_url.rstrip('/')}/webhooks/ironclad/{tenant}"


@dataclass
class Registration:
    webhook: dict[str, Any]
    adopted: bool
    replaced: list[str] = field(default_factory=list)


def _covers(hook: dict[str, Any], events: Sequence[str]) -> bool:
    have = set(hook.get("events") or [])
    return "*" in have or set(events) <= have


async def delete_webhook_quietly(client: IroncladClient, webhook_id: str) -> None:
    try:
        await client.delete_webhook(webhook_id)
    except IroncladNotFound:
        pass


async def register_webhook(client: IroncladClient, target: str, events: Sequence[str]) -> Registration:
    """Make sure exactly one enabled webhook with `target` covers `events`; adopt one that does."""
    for attempt in range(2):
        ours = [h for h in await client.list_webhooks() if h.get("targetURL") == target]
        keep = next((h for h in ours if h.get("status") == "enabled" and _covers(h, events)), None)
        replaced: list[str] = []
        for hook in ours:
            if hook is not keep and hook.get("id"):
                await delete_webhook_quietly(client, str(hook["id"]))
                replaced.append(str(hook["id"]))
        if keep is not None:
            return Registration(webhook=keep, adopted=True, replaced=replaced)
        try:
            created = await client.create_webhook(list(events), target)
        except IroncladBadRequest as exc:
            # Someone registered the same target between our listing and our create: adopt theirs.
            if attempt == 0 and "already exists" in str(exc):
                continue
            raise
        return Registration(webhook=created, adopted=False, replaced=replaced)
    raise RuntimeError("unreachable")


async def remove_webhooks(access: IroncladAccess, public_base_url: str, connection: Document) -> list[str]:
    """Delete the tenant's webhooks in Ironclad; returns the ids that could not be deleted.

    Besides the ids we stored, any webhook pointing at our target for this tenant is removed as well.
    Without usable stored credentials nothing can be deleted: every stored id is left over.
    """
    sync = connection.get("automatic_sync") or {}
    ids: list[str] = [str(i) for i in sync.get("webhook_ids") or []]
    if not ids and not sync.get("enabled"):
        return []
    tenant = str(connection["tenant"])
    try:
        client = access.client_for(tenant, access.connections.credentials(connection))
    except Exception:
        log.warning("webhook_cleanup_no_credentials", tenant=tenant)
        return ids
    target = webhook_target(public_base_url, tenant)
    try:
        for hook in await client.list_webhooks():
            hook_id = str(hook.get("id") or "")
            if hook.get("targetURL") == target and hook_id and hook_id not in ids:
                ids.append(hook_id)
    except (IroncladError, OAuthError) as exc:
        log.info("webhook_cleanup_list_failed", tenant=tenant, error=str(exc))
    leftover: list[str] = []
    for webhook_id in ids:
        try:
            await client.delete_webhook(webhook_id)
        except IroncladNotFound:
            continue  # already gone
        except (IroncladError, OAuthError) as exc:
            log.warning("webhook_cleanup_failed", tenant=tenant, webhook_id=webhook_id, error=str(exc))
            leftover.append(webhook_id)
    return leftover
