"""Handlers of the public surface: `/oauth/token` and `/public/api/v1/...`.

One file on purpose: the simulated public API, one route per Ironclad endpoint in the order of
ironclad-api.md, so the two can be read side by side.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from ironclad_simulator.clock import parse_iso
from ironclad_simulator.documents import generate_pdf
from ironclad_simulator.errors import ApiError, invalid, missing, not_found
from ironclad_simulator.filters import FilterError, parse_filter
from ironclad_simulator.http import json_response, oauth_error, origin_of
from ironclad_simulator.records import (
    API_PREFIX,
    create_record,
    delete_record,
    get_record_or_404,
    patch_record,
    render_record,
    replace_record,
)
from ironclad_simulator.schema import (
    ALLOWED_EXTENSIONS,
    ALLOWED_EXTENSIONS_MESSAGE,
    CONTENT_TYPES,
    workflow_template,
)
from ironclad_simulator.state import (
    Attachment,
    Company,
    Record,
    SimulatorState,
    Token,
    User,
    Webhook,
    Workflow,
    object_id,
)
from ironclad_simulator.webhooks import check_duplicate, validate_events, validate_target

STATE_KEY = web.AppKey("state", SimulatorState)
SORT_FIELDS = ("agreementDate", "name", "lastUpdated")

# Scope required per (method, route template); templates are relative to /public/api/v1.
ROUTE_SCOPES: dict[tuple[str, str], str | None] = {
    ("GET", "/records"): "public.records.readRecords",
    ("POST", "/records"): "public.records.createRecords",
    ("GET", "/records/metadata"): "public.records.readSchemas",
    ("GET", "/records/{id}"): "public.records.readRecords",
    ("PUT", "/records/{id}"): "public.records.updateRecords",
    ("PATCH", "/records/{id}"): "public.records.updateRecords",
    ("DELETE", "/records/{id}"): "public.records.deleteRecords",
    ("GET", "/records/{id}/attachments/{key}"): "public.records.readAttachments",
    ("POST", "/records/{id}/attachments/{key}"): "public.records.createAttachments",
    ("DELETE", "/records/{id}/attachments/{key}"): "public.records.deleteAttachments",
    ("GET", "/workflows"): "public.workflows.readWorkflows",
    ("GET", "/workflows/{id}"): "public.workflows.readWorkflows",
    ("POST", "/webhooks"): "public.webhooks.createWebhooks",
    ("GET", "/webhooks"): "public.webhooks.readWebhooks",
    ("GET", "/webhooks/verification-key"): None,
    ("GET", "/webhooks/{id}"): "public.webhooks.readWebhooks",
    ("PATCH", "/webhooks/{id}"): "public.webhooks.updateWebhooks",
    ("DELETE", "/webhooks/{id}"): "public.webhooks.deleteWebhooks",
}


@dataclass
class RequestContext:
    token: Token
    company: Company
    user: User


CTX_KEY = web.RequestKey("ironclad_ctx", RequestContext)


def ctx_of(request: web.Request) -> RequestContext:
    return request[CTX_KEY]


def state_of(request: web.Request) -> SimulatorState:
    return request.app[STATE_KEY]


# --------------------------------------------------------------------------------------------------
# OAuth
# --------------------------------------------------------------------------------------------------
async def _token_params(request: web.Request) -> dict[str, str] | None:
    raw = await request.read()
    if not raw.strip():
        return {}
    ctype = request.content_type
    if ctype == "application/x-www-form-urlencoded" or ctype == "multipart/form-data":
        form = await request.post()
        return {k: str(v) for k, v in form.items()}
    try:
        data = json.loads(raw)
    except ValueError:
        if ctype == "application/json":
            return None
        from urllib.parse import parse_qsl

        return dict(parse_qsl(raw.decode("utf-8", "replace")))
    if not isinstance(data, dict):
        return None
    return {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in data.items() if v is not None}


async def oauth_token(request: web.Request) -> web.Response:
    state = state_of(request)
    params = await _token_params(request)
    if params is None:
        return oauth_error(400, "invalid_request", "request body must be JSON or form encoded")
    client_id = params.get("client_id")
    client_secret = params.get("client_secret")
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            basic_id, _, basic_secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return oauth_error(401, "invalid_client", "invalid client")
        client_id = client_id or basic_id
        client_secret = client_secret or basic_secret
    if client_id:
        state.token_requests[client_id] += 1
    grant_type = params.get("grant_type")
    if not grant_type:
        return oauth_error(400, "invalid_request", "missing required parameter grant_type")
    app = state.apps.get(client_id or "")
    if app is None or app.revoked or not client_secret or client_secret != app.client_secret:
        return oauth_error(401, "invalid_client", "invalid client")
    if grant_type not in app.grant_types:
        return oauth_error(403, "unauthorized_client", "client not authorized to use this oauth grant type")
    if grant_type != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "the simulator only implements client_credentials")
    requested = params.get("scope")
    if requested is None or not requested.strip():
        scopes = list(app.scopes)
    else:
        scopes = list(dict.fromkeys(requested.split()))
        extra = [s for s in scopes if s not in app.scopes]
        if extra:
            return oauth_error(400, "invalid_scope", f"requested scope is not allowed: {' '.join(extra)}")
    token = state.issue_token(app, scopes)
    return json_response(
        {
            "token_type": "Bearer",
            "access_token": token.value,
            "expires_in": state.config.token_ttl_seconds,
            "scope": " ".join(scopes),
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def authenticate(state: SimulatorState, request: web.Request) -> RequestContext:
    """Token, then acting user. Raises ApiError (401 / 400 / 403)."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "UNAUTHORIZED", "invalid authentication token")
    token = state.tokens.get(value.strip())
    if token is None:
        raise ApiError(401, "UNAUTHORIZED", "invalid authentication token")
    if token.revoked:
        raise ApiError(401, "UNAUTHORIZED", "token has been revoked")
    if state.clock.now() >= token.expires_at:
        raise ApiError(401, "UNAUTHORIZED", "token has expired")
    company = state.companies.get(token.company_id)
    if company is None:
        raise ApiError(401, "UNAUTHORIZED", "invalid authentication token")
    email = request.headers.get("x-as-user-email", "").strip()
    user_id = request.headers.get("x-as-user-id", "").strip()
    if email:
        user = company.find_user_by_email(email)
        if user is None:
            raise ApiError(403, "FORBIDDEN", f"user not found for x-as-user-email {email}", "x-as-user-email")
    elif user_id:
        found = company.users.get(user_id)
        if found is None:
            raise ApiError(403, "FORBIDDEN", f"user not found for x-as-user-id {user_id}", "x-as-user-id")
        user = found
    else:
        raise ApiError(
            400, "MISSING_PARAM", "x-as-user-email or x-as-user-id header is required", "x-as-user-email"
        )
    return RequestContext(token=token, company=company, user=user)


# --------------------------------------------------------------------------------------------------
# Query helpers
# --------------------------------------------------------------------------------------------------
def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name} must be an integer", name) from None
    if not lo <= value <= hi:
        raise invalid(f"{name} must be between {lo} and {hi}", name)
    return value


def bool_param(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").strip().lower() in ("true", "1", "yes")


async def json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise invalid("request body must be a JSON object")
    try:
        return json.loads(raw)
    except ValueError:
        raise invalid("request body must be valid JSON") from None


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------
async def list_records(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    page = int_param(request, "page", 0, 0, 100_000_000)
    page_size = int_param(request, "pageSize", 20, 1, 100)
    sort_field = request.query.get("sortField") or "agreementDate"
    if sort_field not in SORT_FIELDS:
        raise invalid(f"sortField must be one of {', '.join(SORT_FIELDS)}", "sortField")
    direction = (request.query.get("sortDirection") or "DESC").upper()
    if direction not in ("ASC", "DESC"):
        raise invalid("sortDirection must be one of ASC, DESC", "sortDirection")
    types_raw = request.query.get("types")
    types = frozenset(t for t in types_raw.split(",") if t) if types_raw else None
    last_updated = None
    if request.query.get("lastUpdated"):
        try:
            last_updated = parse_iso(request.query["lastUpdated"])
        except ValueError:
            raise invalid("lastUpdated must be an ISO 8601 date-time", "lastUpdated") from None
    filter_text = request.query.get("filter") or None
    predicate = None
    if filter_text:
        try:
            predicate = parse_filter(filter_text)
        except FilterError as exc:
            raise invalid(str(exc), "filter") from None
    if ctx.company.churn is not None:
        ctx.company.churn.apply(state, ctx.company)
    rows = ctx.company.records.query(sort_field, direction, types, last_updated, filter_text, predicate)
    start = page * page_size
    origin = origin_of(request)
    address_obj = bool_param(request, "addressAsObject")
    items = [render_record(r, state.schema, origin, address_obj) for r in rows[start : start + page_size]]
    return json_response({"page": page, "pageSize": page_size, "count": len(rows), "list": items})


async def records_metadata(request: web.Request) -> web.Response:
    state = state_of(request)
    return web.Response(body=state.schema.body_bytes(), content_type="application/json", charset="utf-8")


async def get_record(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    rec = get_record_or_404(ctx.company, request.match_info["id"])
    return json_response(
        render_record(rec, state.schema, origin_of(request), bool_param(request, "addressAsObject"))
    )


async def post_record(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    rec = create_record(state, ctx.company, await json_body(request))
    return json_response(render_record(rec, state.schema, origin_of(request)))


async def put_record(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    rec = get_record_or_404(ctx.company, request.match_info["id"])
    rec = replace_record(state, ctx.company, rec, await json_body(request))
    return json_response(render_record(rec, state.schema, origin_of(request)))


async def patch_record_handler(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    rec = ctx.company.records.get(request.match_info["id"])
    if rec is None:
        raise not_found("not found", "id")
    rec = patch_record(state, ctx.company, rec, await json_body(request))
    return json_response(render_record(rec, state.schema, origin_of(request)))


async def delete_record_handler(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    rec = get_record_or_404(ctx.company, request.match_info["id"])
    delete_record(state, ctx.company, rec)
    return web.Response(status=204)


# --------------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------------
def attachment_bytes(rec: Record, att: Attachment) -> bytes:
    if att.data is not None:
        return att.data
    lines = [
        att.title or rec.name,
        "",
        f"Ironclad record {rec.ironclad_id}",
        "This agreement is entered into by and between the parties named above.",
        "1. Term. This agreement starts on the effective date and continues for the initial term.",
        "2. Fees. Fees are payable as set out in the order form.",
        "3. Confidentiality. Each party keeps the other party's information confidential.",
        "IN WITNESS WHEREOF the parties have executed this agreement.",
    ]
    return generate_pdf(att.gen_key or rec.id, att.size, lines)


def content_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace('"', "'").replace("\\", "_")
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        header += f"; filename*=UTF-8''{quote(filename)}"
    return header


def _attachment_target(request: web.Request, status_if_missing: int) -> tuple[Record, str]:
    state, ctx = state_of(request), ctx_of(request)
    rid, key = request.match_info["id"], request.match_info["key"]
    rec = ctx.company.records.get(rid)
    if rec is None:
        raise not_found(f"couldn't find a record matching the id {rid}", status=status_if_missing)
    if key not in state.schema.attachment_keys:
        raise invalid(f"unknown record attachment key '{key}'", "attachmentKey")
    return rec, key


async def get_attachment(request: web.Request) -> web.Response:
    rec, key = _attachment_target(request, 404)
    att = rec.attachments.get(key)
    if att is None:
        raise not_found(f"couldn't find an attachment matching the key {key} for record with id {rec.id}")
    body = attachment_bytes(rec, att)
    return web.Response(
        body=body,
        content_type=att.content_type,
        headers={"Content-Disposition": content_disposition(att.filename)},
    )


async def post_attachment(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    rec, key = _attachment_target(request, 400)
    data: bytes | None = None
    part_filename: str | None = None
    metadata_raw: str | None = None
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "attachment":
                data = bytes(await part.read())
                part_filename = part.filename
            elif part.name == "metadata":
                metadata_raw = (await part.read()).decode("utf-8", "replace")
            else:
                await part.read()
    if metadata_raw is None:
        raise invalid("missing required form-data part 'metadata'", "metadata")
    if data is None:
        raise invalid("missing required form-data part 'attachment'", "attachment")
    try:
        metadata = json.loads(metadata_raw)
    except ValueError:
        raise invalid("metadata must be valid JSON", "metadata") from None
    filename = metadata.get("filename") if isinstance(metadata, dict) else None
    if not isinstance(filename, str) or not filename.strip():
        filename = part_filename
    if not isinstance(filename, str) or not filename.strip():
        raise invalid("missing required parameter metadata.filename", "metadata.filename")
    ext = os.path.splitext(filename)[1].lower()
    if ext not in ALLOWED_EXTENSIONS:
        raise invalid(
            f'filename "{filename}" does not have an accepted extension. '
            f"Only the following extensions are allowed: {ALLOWED_EXTENSIONS_MESSAGE}",
            "metadata.filename",
        )
    content_type = CONTENT_TYPES.get(ext)
    if content_type is None:
        raise invalid(f"unknown content type '{filename}'", "metadata.filename")
    if key in rec.attachments:
        raise invalid(f"record attachment key '{key}' already exists for record", "attachmentKey")
    rec.attachments[key] = Attachment(filename=filename, content_type=content_type, data=data, size=len(data))
    rec.last_updated, rec.last_updated_ts = state.next_timestamp()
    ctx.company.records.put(rec)
    return json_response({})


async def delete_attachment(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    rec, key = _attachment_target(request, 404)
    if key not in rec.attachments:
        raise not_found(f"couldn't find an attachment matching the key {key} for record with id {rec.id}")
    del rec.attachments[key]
    rec.last_updated, rec.last_updated_ts = state.next_timestamp()
    ctx.company.records.put(rec)
    return web.Response(status=204)


# --------------------------------------------------------------------------------------------------
# Workflows
# --------------------------------------------------------------------------------------------------
def render_workflow(wf: Workflow, company: Company, origin: str) -> dict[str, Any]:
    out = copy.deepcopy(workflow_template())
    first = company.records.get(wf.record_ids[0]) if wf.record_ids else None
    counterparty = (first.properties.get("counterpartyName") if first else None) or "Counterparty"
    display = wf.creator.email.split("@")[0].replace(".", " ").title()
    out.update(
        id=wf.id,
        title=wf.title,
        template=wf.template_id,
        step="Archive" if wf.status == "completed" else "Sign",
        isCancelled=wf.status == "cancelled",
        isComplete=wf.status == "completed",
        status=wf.status,
        created=wf.created,
        lastUpdated=wf.last_updated,
        ironcladId=wf.ironclad_id,
        recordIds=list(wf.record_ids),
        isRevertibleToReview=False,
    )
    attrs = out["attributes"]
    attrs["readableId"] = wf.ironclad_id
    attrs["counterpartyName"] = counterparty
    for doc_key in ("draft", "sentSignaturePacket"):
        for doc in attrs.get(doc_key, []):
            doc["download"] = f"{API_PREFIX}/workflows/{wf.id}/document/{doc['key']}/download"
    creator = out["creator"]
    creator.update(displayName=display, email=wf.creator.email, id=wf.creator.id, username=wf.creator.email)
    for role in out["roles"]:
        role["assignees"] = [{"userName": display, "userId": wf.creator.id, "email": wf.creator.email}]
    out["approvals"] = {"state": "completed"}
    out["signatures"] = {"state": "completed", "url": f"{origin}{API_PREFIX}/workflows/{wf.id}/signatures"}
    return out


async def get_workflow(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    wf = ctx.company.workflows.get(request.match_info["id"])
    if wf is None:
        raise not_found("workflow does not exist", "workflowId")
    return json_response(render_workflow(wf, ctx.company, origin_of(request)))


async def list_workflows(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    page = int_param(request, "page", 0, 0, 100_000_000)
    page_size = int_param(request, "pageSize", 20, 1, 100)
    wfs = list(reversed(ctx.company.workflows.values()))
    origin = origin_of(request)
    items = [render_workflow(w, ctx.company, origin) for w in wfs[page * page_size : (page + 1) * page_size]]
    return json_response({"page": page, "pageSize": page_size, "count": len(wfs), "list": items})


# --------------------------------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------------------------------
def _get_hook(request: web.Request) -> Webhook:
    hook = ctx_of(request).company.webhooks.get(request.match_info["id"])
    if hook is None:
        raise not_found("not found", "id")
    return hook


async def create_webhook(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    for key in body:
        if key not in ("events", "targetURL", "status"):
            raise invalid(f"unknown parameter {key}", key)
    if "events" not in body:
        raise missing("events")
    if "targetURL" not in body:
        raise missing("targetURL")
    events = validate_events(body["events"])
    target = validate_target(state, body["targetURL"])
    status = body.get("status", "enabled")
    if status not in ("enabled", "disabled"):
        raise invalid("status must be one of enabled, disabled", "status")
    check_duplicate(ctx.company, target, events)
    hook = Webhook(
        id=object_id(state.clock),
        company_id=ctx.company.id,
        events=events,
        target_url=target,
        status=status,
        status_last_updated_at=state.now_iso(),
        status_last_updated_by=ctx.user.id,
        tags=["oauth", "clientCredentials"],
    )
    ctx.company.webhooks[hook.id] = hook
    return json_response(hook.to_json(), status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    page = int_param(request, "page", 0, 0, 100_000_000)
    page_size = int_param(request, "pageSize", 20, 1, 100)
    hooks = list(reversed(ctx.company.webhooks.values()))
    items = [h.to_json() for h in hooks[page * page_size : (page + 1) * page_size]]
    return json_response({"page": page, "pageSize": page_size, "list": items})


async def get_webhook(request: web.Request) -> web.Response:
    return json_response(_get_hook(request).to_json())


async def patch_webhook(request: web.Request) -> web.Response:
    state, ctx = state_of(request), ctx_of(request)
    hook = _get_hook(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    for key in body:
        if key not in ("events", "targetURL", "status"):
            raise invalid(f"unknown parameter {key}", key)
    events = validate_events(body["events"]) if "events" in body else hook.events
    target = validate_target(state, body["targetURL"]) if "targetURL" in body else hook.target_url
    status = body.get("status", hook.status)
    if status not in ("enabled", "disabled") and status != hook.status:
        raise invalid("status must be one of enabled, disabled", "status")
    if status == "enabled":
        check_duplicate(ctx.company, target, events, exclude=hook.id)
    hook.events, hook.target_url = events, target
    if status != hook.status:
        if status == "enabled":
            hook.consecutive_failure_count = 0
            hook.first_consecutive_failure = None
            hook.first_failure_ts = None
        hook.status = status
        hook.status_last_updated_at = state.now_iso()
        hook.status_last_updated_by = ctx.user.id
    return json_response(hook.to_json())


async def delete_webhook(request: web.Request) -> web.Response:
    hook = _get_hook(request)
    del ctx_of(request).company.webhooks[hook.id]
    return web.Response(status=204)


async def verification_key(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return web.Response(text=ctx.company.public_pem, content_type="application/x-pem-file", charset="utf-8")


def add_public_routes(app: web.Application) -> None:
    p = API_PREFIX
    r = app.router
    r.add_post("/oauth/token", oauth_token)
    r.add_get(f"{p}/records", list_records)
    r.add_post(f"{p}/records", post_record)
    r.add_get(f"{p}/records/metadata", records_metadata)
    r.add_get(f"{p}/records/{{id}}", get_record)
    r.add_put(f"{p}/records/{{id}}", put_record)
    r.add_patch(f"{p}/records/{{id}}", patch_record_handler)
    r.add_delete(f"{p}/records/{{id}}", delete_record_handler)
    r.add_get(f"{p}/records/{{id}}/attachments/{{key}}", get_attachment)
    r.add_post(f"{p}/records/{{id}}/attachments/{{key}}", post_attachment)
    r.add_delete(f"{p}/records/{{id}}/attachments/{{key}}", delete_attachment)
    r.add_get(f"{p}/workflows", list_workflows)
    r.add_get(f"{p}/workflows/{{id}}", get_workflow)
    r.add_post(f"{p}/webhooks", create_webhook)
    r.add_get(f"{p}/webhooks", list_webhooks)
    r.add_get(f"{p}/webhooks/verification-key", verification_key)
    r.add_get(f"{p}/webhooks/{{id}}", get_webhook)
    r.add_patch(f"{p}/webhooks/{{id}}", patch_webhook)
    r.add_delete(f"{p}/webhooks/{{id}}", delete_webhook)
