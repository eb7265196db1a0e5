"""Enable and disable Automatic Sync: one Ironclad webhook per tenant, pointing at our receiver.

The work (lease, Ironclad calls, what is stored) is contracts_common.services.automatic_sync's.
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from contracts_common.storage.audit import AuditAction
from gateway.auth import Access, Audit
from gateway.deps import deps
from gateway.errors import ApiError
from gateway.models import AutomaticSyncDisabled, AutomaticSyncEnabled
from gateway.openapi import Api, respond
from gateway.webhooks.receiver import receiver_of

api = Api("Automatic Sync")


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
    tenant = request.match_info["tenant"]
    if request.can_read_body and (await request.read()).strip() not in (b"", b"{}", b"null"):
        raise ApiError(422, "VALIDATION_FAILED", "This call takes no body fields.")
    enabled = await deps(request).automatic_sync.enable(tenant)
    await deps(request).health.observe_quietly(tenant)
    return respond(AutomaticSyncEnabled, {"enabled": True, **asdict(enabled)})


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
    tenant = request.match_info["tenant"]
    receiver_of(request.app).connections.forget(tenant)
    disabled = await deps(request).automatic_sync.disable(tenant)
    # Off, a webhook Ironclad disabled is no longer a reason.
    await deps(request).health.observe_quietly(tenant)
    return respond(AutomaticSyncDisabled, {"enabled": False, **asdict(disabled)})
