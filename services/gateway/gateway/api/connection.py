"""The Ironclad connection: connect (and reconnect), show, disconnect; and the scopes table."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import structlog
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from contracts_common.emails import normalized_email
from contracts_common.ironclad import (
    ALL_SCOPES,
    REQUIRED_SCOPES,
    SCOPES,
    IroncladClient,
    IroncladCredentials,
    IroncladError,
    IroncladRateLimited,
    IroncladServerError,
    IroncladUnreachable,
    IroncladUserRejected,
    OAuthError,
    OAuthInvalidClient,
    OAuthInvalidScope,
    OAuthUnauthorizedClient,
    TokenCache,
    missing_scopes,
)
from contracts_common.storage.audit import AuditAction
from contracts_common.storage.connections import ConnectionStatus, automatic_sync_available, public_connection
from gateway.api.schema import refresh_schema_and_suggest
from gateway.auth import Access, Audit
from gateway.deps import deps
from gateway.errors import ApiError, parse_body
from gateway.models import Connected, Connection, Disconnected, Scope
from gateway.openapi import Api, respond
from gateway.webhooks.receiver import receiver_of

log = structlog.get_logger(__name__)
api = Api("Connection")

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]


def _email(text: str) -> str:
    normalized_email(text)  # refuses what is not an address; the address is kept as the admin typed it
    return text


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: NonEmpty
    client_secret: Annotated[SecretStr, Field(min_length=1, max_length=1024)]
    # The Ironclad user the calls act as (x-as-user-email), checked by the project's one email rule.
    user_email: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=3, max_length=320),
        AfterValidator(_email),
        Field(json_schema_extra={"format": "email"}),
    ]
    region: Literal["na1", "eu1", "demo"]


# Every way Ironclad can refuse a connection, as (status, code, sentence for the admin).
CONNECT_ERRORS: dict[type[Exception], tuple[int, str, str]] = {
    OAuthInvalidClient: (
        422,
        "IRONCLAD_INVALID_CLIENT",
        "Ironclad did not accept this Client ID and Client Secret (invalid_client). Check that both were "
        "copied from the app in Company Settings → API, in the region you chose; the secret is shown once, "
        "so create a new one if in doubt.",
    ),
    OAuthUnauthorizedClient: (
        422,
        "IRONCLAD_GRANT_NOT_ENABLED",
        "The Ironclad app is not allowed the Client Credentials grant. In Company Settings → API, edit the "
        "app and enable the grant type Client Credentials.",
    ),
    OAuthInvalidScope: (
        422,
        "IRONCLAD_SCOPE_NOT_REGISTERED",
        "The Ironclad app does not have the required scopes. Add them in Company Settings → API → your "
        "app → Requested Resource Scopes, then connect again.",
    ),
    IroncladUserRejected: (
        422,
        "IRONCLAD_USER_NOT_FOUND",
        "Ironclad does not know this User Email, or the user cannot use the API. Enter the email of an "
        "active Ironclad user of this company.",
    ),
    IroncladUnreachable: (
        502,
        "IRONCLAD_UNREACHABLE",
        "Ironclad could not be reached in this region. Check the region (na1, eu1 or demo) and try again.",
    ),
    IroncladRateLimited: (
        503,
        "IRONCLAD_RATE_LIMITED",
        "Ironclad is rate limiting this company right now; try again in a minute.",
    ),
    IroncladServerError: (
        502,
        "IRONCLAD_UNAVAILABLE",
        "Ironclad answered with a server error; try again later.",
    ),
}


def connect_error(exc: Exception) -> ApiError:
    for kind, (status, code, message) in CONNECT_ERRORS.items():
        if isinstance(exc, kind):
            return ApiError(status, code, message, {"ironclad": str(exc)})
    return ApiError(502, "IRONCLAD_ERROR", f"Ironclad refused the connection: {exc}", {"ironclad": str(exc)})


@api.get("/api/v1/ironclad/scopes", list[Scope], errors=(401,), access=Access.READ)
async def list_scopes(_: web.Request) -> web.Response:
    """The Ironclad scopes we use, what each is for and whether it is required."""
    return respond(
        list[Scope], [{"scope": s.scope, "purpose": s.purpose, "required": s.required} for s in SCOPES]
    )


async def _probe(client: IroncladClient) -> set[str]:
    """Which of our scopes the app grants (only the required ones if it lacks the optional ones)."""
    try:
        token = await client.request_token(ALL_SCOPES)
    except OAuthInvalidScope:
        token = await client.request_token(sorted(REQUIRED_SCOPES, key=ALL_SCOPES.index))
    granted = set(token.scopes)
    lacking = [s for s in missing_scopes(granted) if s in REQUIRED_SCOPES]
    if lacking:
        raise ApiError(
            422,
            "IRONCLAD_SCOPE_NOT_REGISTERED",
            "Ironclad did not grant the required scopes: "
            + ", ".join(lacking)
            + ". Add them to the app in Company Settings → API, then connect again.",
            {"missing_scopes": lacking},
        )
    return granted


@api.put(
    "/api/v1/tenants/{tenant}/ironclad/connection",
    Connected,
    body=ConnectRequest,
    access=Access.WRITE,
    audit=Audit(
        AuditAction.CONNECTED,
        answer=("region", "user_email", "missing_scopes"),
        choose=lambda answer: AuditAction.RECONNECTED if answer.get("reconnected") else AuditAction.CONNECTED,
    ),
)
async def connect(request: web.Request) -> web.Response:
    """Connect (or reconnect) to Ironclad.

    Gets a client-credentials token, proves the user email, records the granted scopes. Nothing is stored when
    Ironclad refuses; a reconnect keeps mapping, runs and contracts.
    """
    d = deps(request)
    tenant = request.match_info["tenant"]
    body = await parse_body(request, ConnectRequest)
    credentials = IroncladCredentials(
        client_id=body.client_id,
        client_secret=body.client_secret,
        user_email=body.user_email,
        region=body.region,
    )
    # A private token cache: nothing learned with unproven credentials reaches the shared one.
    probe = d.access.client_for(tenant, credentials, token_cache=TokenCache())
    try:
        granted = await _probe(probe)
        # Prove the user email with a client asking only for what was granted.
        probe = d.access.client_for(tenant, credentials, token_cache=TokenCache(), scopes=sorted(granted))
        await probe.check_user()
    except (IroncladError, OAuthError) as exc:
        log.info("connect_refused", error_type=type(exc).__name__)
        raise connect_error(exc) from exc
    missing = missing_scopes(granted)
    previous = await d.connections.get(tenant)
    doc = await d.connections.save_connected(
        tenant,
        credentials,
        granted_scopes=[s for s in ALL_SCOPES if s in granted] + sorted(granted - set(ALL_SCOPES)),
        missing_scopes=missing,
    )
    await refresh_schema_and_suggest(d, tenant, probe)
    log.info("connected", tenant=tenant, region=body.region, missing_scopes=missing)
    await d.health.observe_quietly(tenant)
    return respond(
        Connected,
        {
            "status": ConnectionStatus.CONNECTED.value,
            "message": "Ironclad connected successfully!",
            "region": doc["region"],
            "user_email": doc["user_email"],
            "granted_scopes": doc["granted_scopes"],
            "missing_scopes": missing,
            "automatic_sync_available": automatic_sync_available(granted),
            "reconnected": previous is not None
            and previous.get("status") != ConnectionStatus.DISCONNECTED.value,
        },
    )


@api.get("/api/v1/tenants/{tenant}/ironclad/connection", Connection, errors=(400, 401), access=Access.READ)
async def get_connection(request: web.Request) -> web.Response:
    """The connection, never the secret."""
    doc = await deps(request).connections.get(request.match_info["tenant"])
    return respond(Connection, public_connection(doc))


@api.delete(
    "/api/v1/tenants/{tenant}/ironclad/connection",
    Disconnected,
    errors=(400, 401, 503),
    access=Access.WRITE,
    audit=Audit(AuditAction.DISCONNECTED, answer=("already", "cancelled_runs", "webhooks_left_in_ironclad")),
)
async def disconnect(request: web.Request) -> web.Response:
    """Disconnect: webhooks removed where possible, credentials erased; contracts remain."""
    tenant = request.match_info["tenant"]
    receiver_of(request.app).connections.forget(tenant)
    done = await deps(request).automatic_sync.disconnect(tenant)
    if done.already:
        return respond(Disconnected, {"status": ConnectionStatus.DISCONNECTED.value, "already": True})
    await deps(request).health.observe_quietly(tenant)
    body: dict[str, Any] = {
        "status": ConnectionStatus.DISCONNECTED.value,
        "message": "Ironclad disconnected. Imported contracts and their documents stay available.",
        "cancelled_runs": done.cancelled_runs,
        "webhooks_left_in_ironclad": done.webhooks_left_in_ironclad,
    }
    return respond(Disconnected, body)
