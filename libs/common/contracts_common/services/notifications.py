"""A tenant's notification endpoint: showing it and changing it.

The gateway's handlers parse, authorise and call this; the endpoint is written through
`NotificationEndpoints` (its one store). The secret is made here when an endpoint is first set or the admin
asks to rotate it, returned once to be shown once, and stored only encrypted. A target that is not https
or resolves to a non-public address is refused (contracts_common.notifications.targets) before anything
is stored.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

from contracts_common.notifications import ALL_EVENTS
from contracts_common.notifications.targets import TargetRefused, check_target
from contracts_common.problems import Problem
from contracts_common.storage.notifications import NotificationEndpoint, NotificationEndpoints
from contracts_common.timeutil import iso

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64 (what standardwebhooks reads)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@dataclass(frozen=True)
class EndpointChange:
    url: str
    events: list[str]
    enabled: bool
    rotate_secret: bool


@dataclass
class NotificationService:
    endpoints: NotificationEndpoints
    default_url: str | None
    allow_private_targets: bool

    async def show(self, tenant: str) -> dict[str, Any]:
        return self._view(await self.endpoints.get(tenant))

    async def change(self, tenant: str, change: EndpointChange) -> dict[str, Any]:
        """Set the endpoint; the answer holds `secret` when one was made (first set, or rotated)."""
        try:
            await check_target(change.url, allow_private=self.allow_private_targets)
        except TargetRefused as exc:
            raise Problem(
                422,
                "NOTIFICATION_TARGET_REFUSED",
                f"The notification URL is refused: {exc}.",
                {"field": "url", "fields": [{"field": "url", "message": str(exc), "type": "target_refused"}]},
            ) from exc
        current = await self.endpoints.get(tenant)
        secret = new_secret() if current is None or change.rotate_secret else None
        endpoint = await self.endpoints.save(
            tenant,
            url=change.url,
            events=list(dict.fromkeys(change.events)),
            enabled=change.enabled,
            new_secret=secret,
        )
        return {**self._view(endpoint), "secret": secret, "signing_key_rotated": secret is not None}

    def _view(self, endpoint: NotificationEndpoint | None) -> dict[str, Any]:
        if endpoint is None:
            return {
                "url": self.default_url,
                "events": [e.value for e in ALL_EVENTS],
                "enabled": self.default_url is not None,
                "source": "default" if self.default_url else "none",
            }
        return {
            "url": endpoint.url,
            "events": endpoint.events,
            "enabled": endpoint.enabled,
            "source": "tenant",
            "updated_at": iso(endpoint.updated_at),
            "secret_created_at": iso(endpoint.secret_created_at),
            "failing_since": iso(endpoint.failing_since),
            "last_success_at": iso(endpoint.last_success_at),
            "disabled_at": iso(endpoint.disabled_at),
            "disabled_reason": endpoint.disabled_reason,
        }
