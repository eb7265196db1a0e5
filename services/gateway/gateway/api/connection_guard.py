"""The tenant's Ironclad client, or a clear error when the tenant cannot use Ironclad now."""

from __future__ import annotations

from contracts_common.ironclad import IroncladClient
from contracts_common.ironclad_access import NotConnected
from contracts_common.services.automatic_sync import not_connected_problem
from gateway.deps import GatewayDeps


async def connected_client(d: GatewayDeps, tenant: str) -> IroncladClient:
    try:
        client, _ = await d.access.client(tenant)
    except NotConnected as exc:
        raise not_connected_problem(exc) from exc
    return client


async def require_connected(d: GatewayDeps, tenant: str) -> None:
    await connected_client(d, tenant)
