"""Our webhooks in Ironclad: removing them (disconnect, disable)."""

from __future__ import annotations

import structlog
from contracts_common.ironclad import IroncladError, IroncladNotFound, OAuthError
from contracts_common.storage.database import Document

from gateway.deps import GatewayDeps

log = structlog.get_logger(__name__)


async def remove_webhooks(d: GatewayDeps, tenant: str, connection: Document) -> list[str]:
    """Delete the tenant's webhooks in Ironclad; returns the ids that could not be deleted."""
    ids: list[str] = list((connection.get("automatic_sync") or {}).get("webhook_ids") or [])
    if not ids:
        return []
    try:
        client = d.access.client_for(
            tenant, d.connections.credentials(connection), scopes=connection.get("granted_scopes")
        )
    except Exception:
        log.warning("webhook_cleanup_no_credentials", tenant=tenant)
        return ids
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
