"""What an Ironclad failure means for a run: end it, stop the tenant, or try the message again."""

from __future__ import annotations

import structlog

from contracts_common.health_status import HealthMonitor
from contracts_common.ironclad import (
    IroncladAuthError,
    IroncladError,
    IroncladForbidden,
    IroncladRateLimited,
    IroncladServerError,
    IroncladUnreachable,
    OAuthError,
    OAuthInvalidClient,
)
from contracts_common.ironclad_access import NotConnected
from contracts_common.messaging import Delivery
from contracts_common.notifications import EventType, Notifier
from contracts_common.settings import SharedSettings
from contracts_common.storage.connections import Connections
from contracts_common.storage.runs import Runs

log = structlog.get_logger(__name__)

TRANSIENT: tuple[type[Exception], ...] = (IroncladRateLimited, IroncladServerError, IroncladUnreachable)


class RunFailurePolicy:
    def __init__(
        self,
        runs: Runs,
        connections: Connections,
        settings: SharedSettings,
        *,
        notifier: Notifier | None = None,
        monitor: HealthMonitor | None = None,
    ) -> None:
        self._runs = runs
        self._notifier = notifier
        self._connections = connections
        self._monitor = monitor
        self._delivery_limit = settings.delivery_limit

    async def handle(
        self,
        exc: Exception,
        *,
        tenant: str,
        run_id: str | None,
        delivery: Delivery,
        generation: int | None = None,
    ) -> None:
        """Settle the run for `exc`, or re-raise it so the message is delivered again."""
        if isinstance(exc, OAuthInvalidClient | IroncladAuthError):
            reason = (
                "Ironclad rejected the stored client credentials (invalid_client): "
                "the secret was rotated or the app deleted. Reconnect in the Ironclad panel."
            )
            marked = await self._connections.mark_needs_reauth(tenant, reason, generation)
            if marked:
                log.warning("connection_needs_reauth", reason=str(exc))
                # Only the write that turned the connection announces it: once per credentials failing.
                if self._notifier is not None:
                    await self._notifier.announce(
                        tenant, EventType.CONNECTION_NEEDS_REAUTH, {"reason": reason}
                    )
            await self._end(tenant, run_id, reason)
            if marked and self._monitor is not None and run_id is None:
                # With a run, its end already judged health again (Runs on_terminal).
                await self._monitor.observe_quietly(tenant)
            return
        if isinstance(exc, NotConnected):
            await self._end(tenant, run_id, f"the Ironclad connection is {exc.status}; the run was stopped")
            return
        if isinstance(exc, IroncladForbidden):
            await self._end(tenant, run_id, f"Ironclad refused the call ({exc}); check the app's scopes")
            return
        if isinstance(exc, TRANSIENT) and delivery.delivery_count + 1 < self._delivery_limit:
            raise exc
        if isinstance(exc, IroncladError | OAuthError):
            await self._end(tenant, run_id, f"Ironclad call failed: {type(exc).__name__}: {exc}")
            return
        raise exc

    async def _end(self, tenant: str, run_id: str | None, reason: str) -> None:
        if run_id is not None:
            await self._runs.fail(tenant, run_id, reason)


FAILURES: tuple[type[Exception], ...] = (IroncladError, OAuthError, NotConnected)
