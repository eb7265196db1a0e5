"""The tenant's Ironclad client, or a clear error when the tenant cannot use Ironclad now."""

from __future__ import annotations

from contracts_common.ironclad import IroncladClient
from contracts_common.ironclad_access import NotConnected
from gateway.deps import GatewayDeps
from gateway.errors import ApiError


async def connected_client(d: GatewayDeps, tenant: str) -> IroncladClient:
    try:
        client, _ = await d.access.client(tenant)
    except NotConnected as exc:
        if exc.status == "needs_reauth":
            raise ApiError(
                409,
                "NEEDS_REAUTH",
                "Ironclad rejected the stored credentials. "
                "Reconnect with a valid Client ID and Client Secret.",
            ) from exc
        raise ApiError(
            409, "NOT_CONNECTED", "This workspace is not connected to Ironclad. Connect first."
        ) from exc
    return client


async def require_connected(d: GatewayDeps, tenant: str) -> None:
    await connected_client(d, tenant)
