"""Sharing one process's capacity between tenants: no tenant takes all of it.

`TenantSlots` bounds work in flight twice: at most `per_tenant` for any one tenant, and at most `shared`
for all tenants together. A caller takes its tenant's slot first and the shared one only when its work
is about to start (`TenantSlots.slot`), so a tenant waiting for itself (its own cap, or its own
Ironclad rate limit, see IroncladClient) never holds a slot another tenant could use.

`per_tenant < shared` is what makes it fair: however many requests one tenant queues, `shared -
per_tenant` slots stay open for the others. The importer keeps one `TenantSlots` per lane (backfill and
live changes, see ironclad_access.Lane), and every consumer of a shared queue caps each tenant's
handlers (`Broker.consume(per_tenant=...)`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class _TenantGate:
    semaphore: asyncio.Semaphore
    users: int = 0


@dataclass
class TenantCap:
    """At most `per_tenant` holders at once for each tenant; a tenant's gate lives while it is used."""

    per_tenant: int
    _gates: dict[str, _TenantGate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.per_tenant < 1:
            raise ValueError("per_tenant must be at least 1")

    @contextlib.asynccontextmanager
    async def hold(self, tenant: str) -> AsyncIterator[None]:
        gate = self._gates.get(tenant)
        if gate is None:
            gate = self._gates[tenant] = _TenantGate(asyncio.Semaphore(self.per_tenant))
        gate.users += 1
        try:
            async with gate.semaphore:
                yield
        finally:
            gate.users -= 1
            if gate.users == 0:
                # Thousands of tenants pass through a long-lived process: keep only the busy ones.
                del self._gates[tenant]

    def in_use(self, tenant: str) -> int:
        """How many of the tenant's holders are inside or waiting (for tests and metrics)."""
        gate = self._gates.get(tenant)
        return 0 if gate is None else gate.users

    @property
    def tenants(self) -> int:
        return len(self._gates)


class TenantSlots:
    """`per_tenant` slots for each tenant, `shared` for all of them together."""

    def __init__(self, *, shared: int, per_tenant: int) -> None:
        if per_tenant > shared:
            raise ValueError("per_tenant cannot exceed shared")
        self.shared = shared
        self.per_tenant = per_tenant
        self._cap = TenantCap(per_tenant)
        self._shared = asyncio.Semaphore(shared)

    def tenant(self, tenant: str) -> contextlib.AbstractAsyncContextManager[None]:
        """The tenant's own slot: take it first, then whatever the tenant waits for alone, then `shared()`."""
        return self._cap.hold(tenant)

    def shared_slot(self) -> asyncio.Semaphore:
        return self._shared

    @contextlib.asynccontextmanager
    async def slot(self, tenant: str) -> AsyncIterator[None]:
        """Both slots, for work with nothing to wait for in between."""
        async with self._cap.hold(tenant), self._shared:
            yield
