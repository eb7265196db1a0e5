"""Outbound notifications to Contracts AI: the tenant's endpoint, and every delivery attempt.

The work (target check, secret, what is stored) is contracts_common.services.notifications'; deliveries
are the importer's (importer/notifications.py).
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts_common.notifications import ALL_EVENTS, EventType
from contracts_common.services.notifications import EndpointChange
from contracts_common.storage.audit import AuditAction
from contracts_common.storage.notifications import CURSOR_PATTERN
from contracts_common.timeutil import iso
from gateway.auth import Access, Audit
from gateway.deps import deps
from gateway.errors import parse_body, parse_query
from gateway.models import NotificationDeliveriesPage, NotificationSettingsBody, NotificationSettingsChanged
from gateway.openapi import Api, respond

api = Api("Notifications")


class NotificationSettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2048)] = Field(
        description="an https URL whose host resolves to public addresses only",
        json_schema_extra={"format": "uri", "pattern": "^https?://"},
    )
    events: list[EventType] = Field(
        default_factory=lambda: list(ALL_EVENTS),
        min_length=1,
        max_length=len(ALL_EVENTS),
        description="the event types to deliver; all of them when left out",
    )
    enabled: bool = True
    rotate_secret: bool = Field(
        default=False, description="make a new secret (answered once); the old one stops signing at once"
    )


class DeliveriesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: int = Field(default=50, ge=1, le=200, description="newest first, at most this many")
    cursor: Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)] | None = Field(
        default=None, description="next_cursor of the previous page"
    )


@api.get(
    "/api/v1/tenants/{tenant}/notifications",
    NotificationSettingsBody,
    errors=(400, 401),
    access=Access.READ,
)
async def show_notifications(request: web.Request) -> web.Response:
    """Where this workspace's notifications go, which events, and whether deliveries were switched off.

    Never the secret. `disabled_at` and `disabled_reason` say when and why deliveries stopped because the
    endpoint kept failing; a PUT with `enabled: true` turns them on again.
    """
    view = await deps(request).notifications.show(request.match_info["tenant"])
    return respond(NotificationSettingsBody, view)


@api.put(
    "/api/v1/tenants/{tenant}/notifications",
    NotificationSettingsChanged,
    body=NotificationSettingsRequest,
    errors=(400, 401, 413, 415, 422),
    access=Access.WRITE,
    audit=Audit(
        AuditAction.NOTIFICATIONS_CHANGED, answer=("url", "events", "enabled", "signing_key_rotated")
    ),
)
async def change_notifications(request: web.Request) -> web.Response:
    """Set where this workspace's notifications go, and which events.

    The first call, and any with `rotate_secret: true`, answers the Standard Webhooks `secret` (whsec_...)
    once: keep it, it is never shown again. A URL that is not https, or whose host resolves to a
    loopback, private or link-local address, is refused 422 (NOTIFICATION_TARGET_REFUSED) and nothing is
    stored, unless the operator set NOTIFICATIONS_ALLOW_PRIVATE_TARGETS.
    """
    body = await parse_body(request, NotificationSettingsRequest)
    change = EndpointChange(
        url=body.url,
        events=[event.value for event in body.events],
        enabled=body.enabled,
        rotate_secret=body.rotate_secret,
    )
    view = await deps(request).notifications.change(request.match_info["tenant"], change)
    return respond(NotificationSettingsChanged, view)


@api.get(
    "/api/v1/tenants/{tenant}/notifications/deliveries",
    NotificationDeliveriesPage,
    query=DeliveriesQuery,
    errors=(400, 401),
    access=Access.READ,
)
async def list_deliveries(request: web.Request) -> web.Response:
    """Every delivery attempt of this workspace's notifications, newest first.

    Each attempt with its status code or error; a failed attempt says when the next one is due
    (`pending`), or that the notification was given up (`failed`) after NOTIFICATION_GIVE_UP_SECONDS.
    """
    query = parse_query(request, DeliveriesQuery)
    rows, next_cursor = await deps(request).notification_deliveries.page(
        request.match_info["tenant"], limit=query.limit, cursor=query.cursor
    )
    items = [
        {
            "id": row_id,
            "notification_id": attempt.notification_id,
            "type": attempt.type,
            "attempt": attempt.attempt,
            "at": iso(attempt.at),
            "status": attempt.status,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "next_retry_at": iso(attempt.next_retry_at),
            "duration_ms": attempt.duration_ms,
        }
        for row_id, attempt in rows
    ]
    return respond(NotificationDeliveriesPage, {"items": items, "next_cursor": next_cursor})
