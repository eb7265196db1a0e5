"""The unauthenticated control API under `/_sim/` used by tests and the dev harness.

One file on purpose: the whole `/_sim` control API, one small route per control.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from typing import Any

from aiohttp import web

from ironclad_simulator.churn import Churn
from ironclad_simulator.clock import iso_ms
from ironclad_simulator.generator import SeedOptions, seed_company, workflow_record
from ironclad_simulator.http import json_response, origin_of
from ironclad_simulator.public_api import STATE_KEY, render_workflow
from ironclad_simulator.records import render_record, sim_edit_record
from ironclad_simulator.state import App, Company, Fault, SimulatorState, Workflow, object_id
from ironclad_simulator.webhooks import WebhookDispatcher, disable_by_system

DISPATCHER_KEY = web.AppKey("dispatcher", WebhookDispatcher)


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _state(request: web.Request) -> SimulatorState:
    return request.app[STATE_KEY]


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ControlError(400, "body must be JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "body must be a JSON object")
    return data


def _company(request: web.Request) -> Company:
    cid = request.match_info["company_id"]
    company = _state(request).companies.get(cid)
    if company is None:
        raise ControlError(404, f"unknown company {cid}")
    return company


def _app(request: web.Request) -> App:
    client_id = request.match_info["client_id"]
    app = _state(request).apps.get(client_id)
    if app is None:
        raise ControlError(404, f"unknown client {client_id}")
    return app


def _app_json(app: App) -> dict[str, Any]:
    return app.to_json()


def _add_app(state: SimulatorState, company: Company, spec: dict[str, Any]) -> App:
    scopes = spec.get("scopes")
    grants = spec.get("grant_types")
    if scopes is not None and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
        raise ControlError(400, "scopes must be a list of strings")
    if grants is not None and not (isinstance(grants, list) and all(isinstance(s, str) for s in grants)):
        raise ControlError(400, "grant_types must be a list of strings")
    return state.add_app(company, spec.get("client_id"), spec.get("client_secret"), scopes, grants)


# --------------------------------------------------------------------------------------------------
async def reset(request: web.Request) -> web.Response:
    state = _state(request)
    dispatcher = request.app.get(DISPATCHER_KEY)
    if dispatcher is not None:
        for task in list(dispatcher.tasks):
            task.cancel()
    state.reset()
    return json_response({"ok": True})


async def create_company(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _body(request)
    users = body.get("users")
    if users is not None and not (isinstance(users, list) and all(isinstance(u, str) for u in users)):
        raise ControlError(400, "users must be a list of emails")
    company = state.create_company(body.get("company_id"), users)
    app_specs = body.get("apps", [{}])
    if not isinstance(app_specs, list):
        raise ControlError(400, "apps must be a list")
    apps = [_add_app(state, company, spec or {}) for spec in app_specs]
    return json_response(
        {
            "company_id": company.id,
            "users": [u.to_json() for u in company.users.values()],
            "apps": [_app_json(a) for a in apps],
        },
        status=201,
    )


async def list_companies(request: web.Request) -> web.Response:
    return json_response({"companies": [c.summary() for c in _state(request).companies.values()]})


async def get_company(request: web.Request) -> web.Response:
    return json_response(_company(request).summary())


async def add_app(request: web.Request) -> web.Response:
    app = _add_app(_state(request), _company(request), await _body(request))
    return json_response(_app_json(app), status=201)


async def patch_app(request: web.Request) -> web.Response:
    app = _app(request)
    body = await _body(request)
    if "scopes" in body:
        if not isinstance(body["scopes"], list):
            raise ControlError(400, "scopes must be a list")
        app.scopes = [str(s) for s in body["scopes"]]
    if "grant_types" in body:
        app.grant_types = [str(s) for s in body["grant_types"]]
    if body.get("client_secret"):
        app.client_secret = str(body["client_secret"])
    return json_response(_app_json(app))


async def revoke_app(request: web.Request) -> web.Response:
    app = _app(request)
    _state(request).revoke_app(app)
    return json_response(_app_json(app))


async def expire_app_tokens(request: web.Request) -> web.Response:
    state, app = _state(request), _app(request)
    n = 0
    for tok in state.tokens.values():
        if tok.client_id == app.client_id:
            tok.expires_at = min(tok.expires_at, state.clock.now() - 1)
            n += 1
    return json_response({"expired": n})


async def add_user(request: web.Request) -> web.Response:
    body = await _body(request)
    email = body.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise ControlError(400, "email is required")
    user = _state(request).add_user(_company(request), email, body.get("id"))
    return json_response(user.to_json(), status=201)


async def seed(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        opts = SeedOptions(
            count=int(body.get("count", 0)),
            seed=int(body.get("seed", 0)),
            document_ratio=float(body.get("document_ratio", 0.3)),
            min_document_bytes=int(body.get("min_document_bytes", 2_000)),
            max_document_bytes=int(body.get("max_document_bytes", 50_000)),
            amendment_ratio=float(body.get("amendment_ratio", 0.08)),
            age_seconds=float(body.get("age_seconds", 0.0)),
        )
    except (TypeError, ValueError):
        raise ControlError(400, "invalid seed options") from None
    created = seed_company(_state(request), _company(request), opts)
    return json_response({"created": created, "total": len(_company(request).records)})


async def list_records_raw(request: web.Request) -> web.Response:
    state, company = _state(request), _company(request)
    origin = origin_of(request)
    items = [render_record(r, state.schema, origin, True) for r in company.records.records.values()]
    return json_response({"count": len(items), "list": items})


def _record(company: Company, rid: str) -> Any:
    rec = company.records.get(rid)
    if rec is None:
        raise ControlError(404, f"unknown record {rid}")
    return rec


async def edit_record(request: web.Request) -> web.Response:
    state, company = _state(request), _company(request)
    rec = _record(company, request.match_info["record_id"])
    rec = sim_edit_record(state, company, rec, await _body(request))
    return json_response(render_record(rec, state.schema, origin_of(request)))


async def delete_record(request: web.Request) -> web.Response:
    from ironclad_simulator.records import delete_record as _delete

    state, company = _state(request), _company(request)
    rec = _record(company, request.match_info["record_id"])
    _delete(state, company, rec)
    return json_response({"deleted": rec.id})


async def set_churn(request: web.Request) -> web.Response:
    try:
        churn = Churn.from_body(await _body(request))
    except (TypeError, ValueError) as exc:
        raise ControlError(400, f"invalid churn: {exc}") from None
    _company(request).churn = churn
    return json_response(churn.to_json())


async def get_churn(request: web.Request) -> web.Response:
    churn = _company(request).churn
    return json_response(churn.to_json() if churn is not None else None)


async def stop_churn(request: web.Request) -> web.Response:
    company = _company(request)
    churn, company.churn = company.churn, None
    return json_response(churn.to_json() if churn is not None else None)


async def record_status(request: web.Request) -> web.Response:
    state, company = _state(request), _company(request)
    rec = _record(company, request.match_info["record_id"])
    body = await _body(request)
    status = body.get("status")
    if not isinstance(status, str) or not status:
        raise ControlError(400, "status is required")
    rec.contract_status = {"status": status}
    rec.last_updated, rec.last_updated_ts = state.next_timestamp()
    company.records.put(rec)
    event_ids = state.fire_event(
        company,
        "record_contract_status_changed",
        {"recordID": rec.id, "ironcladId": rec.ironclad_id, "status": status},
    )
    return json_response(
        {"record": render_record(rec, state.schema, origin_of(request)), "event_ids": event_ids}
    )


async def create_workflow(request: web.Request) -> web.Response:
    state, company = _state(request), _company(request)
    body = await _body(request)
    count = int(body.get("records", 1))
    if count < 0 or count > 100:
        raise ControlError(400, "records must be between 0 and 100")
    wf_id = object_id(state.clock)
    template_id = str(body.get("template_id") or object_id(state.clock))
    rng = random.Random(body.get("seed", uuid.uuid4().int))
    user = company.default_user
    created_at = state.now_iso()
    if body.get("fire_launched"):
        state.fire_event(company, "workflow_launched", {"templateID": template_id, "workflowID": wf_id})
    records = [workflow_record(state, company, rng, wf_id) for _ in range(count)]
    title = str(body.get("title") or (records[0].name if records else f"Workflow {wf_id}"))
    ic = records[0].ironclad_id if records else f"IC-{company.records.allocate_ic()[0]}"
    wf = Workflow(
        id=wf_id,
        template_id=template_id,
        title=title,
        record_ids=[r.id for r in records],
        ironclad_id=ic,
        created=created_at,
        last_updated=iso_ms(state.clock.now()),
        creator=user,
    )
    company.workflows[wf.id] = wf
    event_ids = state.fire_event(
        company, "workflow_completed", {"templateID": template_id, "workflowID": wf_id}
    )
    return json_response(
        {
            "workflow_id": wf.id,
            "template_id": template_id,
            "record_ids": wf.record_ids,
            "event_ids": event_ids,
            "workflow": render_workflow(wf, company, origin_of(request)),
        },
        status=201,
    )


async def fire_event(request: web.Request) -> web.Response:
    state, company = _state(request), _company(request)
    body = await _body(request)
    event = body.get("event")
    payload = body.get("payload") or {}
    if not isinstance(event, str) or not event:
        raise ControlError(400, "event is required")
    if not isinstance(payload, dict):
        raise ControlError(400, "payload must be an object")
    return json_response({"event_ids": state.fire_event(company, event, payload)})


async def rotate_key(request: web.Request) -> web.Response:
    company = _company(request)
    company.rotate_key()
    return json_response({"public_key": company.public_pem})


async def deliveries(request: web.Request) -> web.Response:
    company = _company(request)
    items = company.deliveries
    hook = request.query.get("webhook_id")
    if hook:
        items = [d for d in items if d["webhook_id"] == hook]
    return json_response({"deliveries": items})


async def wait_deliveries(request: web.Request) -> web.Response:
    body = await _body(request)
    dispatcher = request.app.get(DISPATCHER_KEY)
    if dispatcher is not None:
        await dispatcher.drain(float(body.get("timeout", 10.0)))
    pending = len(dispatcher.tasks) if dispatcher is not None else 0
    return json_response({"pending": pending})


async def webhook_disable_by_system(request: web.Request) -> web.Response:
    state = _state(request)
    hid = request.match_info["webhook_id"]
    for company in state.companies.values():
        hook = company.webhooks.get(hid)
        if hook is not None:
            disable_by_system(state, hook)
            return json_response(hook.to_json())
    raise ControlError(404, f"unknown webhook {hid}")


async def get_config(request: web.Request) -> web.Response:
    return json_response(_state(request).config.to_json())


async def put_config(request: web.Request) -> web.Response:
    state = _state(request)
    state.config.update(await _body(request))
    return json_response(state.config.to_json())


async def add_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body.get("path_regex"), str):
        raise ControlError(400, "path_regex is required")
    try:
        pattern = re.compile(body["path_regex"])
    except re.error as exc:
        raise ControlError(400, f"invalid path_regex: {exc}") from None
    query = body.get("query")
    if query is not None and not isinstance(query, dict):
        raise ControlError(400, "query must be an object")
    status = body.get("status")
    if status is None and not body.get("delay_ms"):
        raise ControlError(400, "status or delay_ms is required")
    fault = Fault(
        id=uuid.uuid4().hex,
        path_regex=pattern,
        method=body.get("method"),
        query={str(k): str(v) for k, v in query.items()} if query else None,
        status=int(status) if status is not None else None,
        body=body.get("body"),
        times=int(body.get("times", 1)),
        delay_ms=float(body.get("delay_ms", 0) or 0),
        company_id=body.get("company_id"),
    )
    _state(request).faults.append(fault)
    return json_response({"fault_id": fault.id}, status=201)


async def list_faults(request: web.Request) -> web.Response:
    return json_response({"faults": [f.to_json() for f in _state(request).faults]})


async def clear_faults(request: web.Request) -> web.Response:
    state = _state(request)
    n = len(state.faults)
    state.faults.clear()
    return json_response({"cleared": n})


async def delete_fault(request: web.Request) -> web.Response:
    state = _state(request)
    fid = request.match_info["fault_id"]
    state.faults = [f for f in state.faults if f.id != fid]
    return json_response({"cleared": fid})


def _stats(state: SimulatorState) -> dict[str, Any]:
    return {
        "token_requests": dict(state.token_requests),
        "companies": {cid: c.stats.to_json() for cid, c in state.companies.items()},
    }


async def get_stats(request: web.Request) -> web.Response:
    return json_response(_stats(_state(request)))


async def company_stats(request: web.Request) -> web.Response:
    state, company = _state(request), _company(request)
    out = company.stats.to_json()
    out["token_requests"] = {
        cid: state.token_requests[cid] for cid in company.app_ids if cid in state.token_requests
    }
    return json_response(out)


async def reset_stats(request: web.Request) -> web.Response:
    state = _state(request)
    state.token_requests.clear()
    for company in state.companies.values():
        company.stats.requests.clear()
        company.stats.pages_requested.clear()
        company.stats.listings.clear()
        company.stats.rate_limited.clear()
    return json_response({"ok": True})


async def get_clock(request: web.Request) -> web.Response:
    clock = _state(request).clock
    return json_response({"now": iso_ms(clock.now()), "epoch": clock.now(), "frozen": clock.frozen})


async def post_clock(request: web.Request) -> web.Response:
    clock = _state(request).clock
    body = await _body(request)
    if body.get("reset"):
        clock.reset()
    if body.get("freeze") is True:
        clock.freeze()
    if body.get("freeze") is False:
        clock.unfreeze()
    if body.get("advance_seconds"):
        clock.advance(float(body["advance_seconds"]))
    return json_response({"now": iso_ms(clock.now()), "epoch": clock.now(), "frozen": clock.frozen})


def add_control_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/_sim/reset", reset)
    r.add_get("/_sim/companies", list_companies)
    r.add_post("/_sim/companies", create_company)
    r.add_get("/_sim/companies/{company_id}", get_company)
    r.add_post("/_sim/companies/{company_id}/apps", add_app)
    r.add_post("/_sim/companies/{company_id}/users", add_user)
    r.add_post("/_sim/companies/{company_id}/seed", seed)
    r.add_get("/_sim/companies/{company_id}/records", list_records_raw)
    r.add_patch("/_sim/companies/{company_id}/records/{record_id}", edit_record)
    r.add_delete("/_sim/companies/{company_id}/records/{record_id}", delete_record)
    r.add_put("/_sim/companies/{company_id}/churn", set_churn)
    r.add_get("/_sim/companies/{company_id}/churn", get_churn)
    r.add_delete("/_sim/companies/{company_id}/churn", stop_churn)
    r.add_post("/_sim/companies/{company_id}/records/{record_id}/status", record_status)
    r.add_post("/_sim/companies/{company_id}/workflows", create_workflow)
    r.add_post("/_sim/companies/{company_id}/events", fire_event)
    r.add_post("/_sim/companies/{company_id}/verification-key/rotate", rotate_key)
    r.add_get("/_sim/companies/{company_id}/deliveries", deliveries)
    r.add_get("/_sim/companies/{company_id}/stats", company_stats)
    r.add_patch("/_sim/apps/{client_id}", patch_app)
    r.add_post("/_sim/apps/{client_id}/revoke", revoke_app)
    r.add_post("/_sim/apps/{client_id}/expire-tokens", expire_app_tokens)
    r.add_post("/_sim/webhooks/{webhook_id}/disable-by-system", webhook_disable_by_system)
    r.add_post("/_sim/deliveries/wait", wait_deliveries)
    r.add_get("/_sim/config", get_config)
    r.add_put("/_sim/config", put_config)
    r.add_get("/_sim/faults", list_faults)
    r.add_post("/_sim/faults", add_fault)
    r.add_delete("/_sim/faults", clear_faults)
    r.add_delete("/_sim/faults/{fault_id}", delete_fault)
    r.add_get("/_sim/stats", get_stats)
    r.add_post("/_sim/stats/reset", reset_stats)
    r.add_get("/_sim/clock", get_clock)
    r.add_post("/_sim/clock", post_clock)
