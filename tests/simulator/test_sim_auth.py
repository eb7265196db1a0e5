"""OAuth token endpoint, bearer auth, acting-user headers and scopes."""

from __future__ import annotations

import base64
import uuid

from ironclad_simulator.schema import DEFAULT_SCOPES


async def test_token_json_form_and_basic(sim, company):
    cid, secret = company.client_id, company.client_secret
    r = await sim.raw(
        "POST",
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": cid,
            "client_secret": secret,
            "scope": "public.records.readRecords",
        },
    )
    assert r.status == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "public.records.readRecords"
    assert set(body) == {"token_type", "access_token", "expires_in", "scope"}
    assert r.headers["content-type"] == "application/json; charset=utf-8"

    r = await sim.raw(
        "POST",
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cid,
            "client_secret": secret,
            "scope": "public.records.readRecords public.webhooks.readWebhooks",
        },
    )
    assert r.status == 200
    assert r.json()["scope"] == "public.records.readRecords public.webhooks.readWebhooks"

    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    r = await sim.raw(
        "POST",
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status == 200
    # Omitted scope grants every registered scope.
    assert r.json()["scope"].split() == DEFAULT_SCOPES
    stats = await sim.control.stats()
    assert stats["token_requests"][cid] == 4  # three here + the fixture's


async def test_token_errors(sim, company):
    cid, secret = company.client_id, company.client_secret
    r = await sim.raw(
        "POST",
        "/oauth/token",
        json={"grant_type": "client_credentials", "client_id": cid, "client_secret": "wrong"},
    )
    assert (r.status, r.json()) == (401, {"error": "invalid_client", "error_description": "invalid client"})
    r = await sim.raw(
        "POST",
        "/oauth/token",
        json={"grant_type": "client_credentials", "client_id": str(uuid.uuid4()), "client_secret": "x"},
    )
    assert r.status == 401
    assert r.json()["error"] == "invalid_client"
    r = await sim.raw(
        "POST",
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": cid,
            "client_secret": secret,
            "scope": "public.scim.nope",
        },
    )
    assert r.status == 400
    assert r.json()["error"] == "invalid_scope"
    assert "error_description" in r.json()
    r = await sim.raw("POST", "/oauth/token", json={"client_id": cid, "client_secret": secret})
    assert r.status == 400
    assert r.json()["error"] == "invalid_request"

    app = await sim.control.add_app(company.company_id, grant_types=["authorization_code"])
    r = await sim.raw(
        "POST",
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert r.status == 403
    assert r.json()["error"] == "unauthorized_client"


async def test_401_variants(sim, company):
    unauthorized = b'{ "code": "UNAUTHORIZED", "message": "invalid authentication token" }'
    r = await sim.raw("GET", "/public/api/v1/records")
    assert r.status == 401
    assert r.body == unauthorized
    r = await sim.raw("GET", "/public/api/v1/records", headers={"Authorization": "Bearer nope"})
    assert r.status == 401
    assert r.body == unauthorized
    # Auth before routing: unknown paths answer 401 too.
    r = await sim.raw("GET", "/public/api/v1/no/such/thing")
    assert r.status == 401
    assert r.body == unauthorized
    assert r.headers["x-ironclad-requestid"]

    # Expired: through the clock, then through the control shortcut.
    await sim.control.advance_clock(3601)
    r = await company.api.get("/records")
    assert r.status == 401
    assert r.json()["message"] == "token has expired"
    await sim.control.reset_clock()
    r = await company.api.get("/records")
    assert r.status == 200
    assert await sim.control.expire_tokens(company.client_id) >= 1
    r = await company.api.get("/records")
    assert r.json() == {"code": "UNAUTHORIZED", "message": "token has expired"}

    # Revoked app: tokens revoked and the secret no longer works.
    token = await sim.token(company.client_id, company.client_secret)
    company.api.token = token
    await sim.control.revoke_app(company.client_id)
    r = await company.api.get("/records")
    assert r.status == 401
    assert r.json()["message"] == "token has been revoked"
    r = await sim.raw(
        "POST",
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": company.client_id,
            "client_secret": company.client_secret,
        },
    )
    assert r.status == 401


async def test_secret_rotation_and_ttl(sim, company):
    await sim.control.update_app(company.client_id, client_secret="new-secret")
    r = await sim.raw(
        "POST",
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": company.client_id,
            "client_secret": company.client_secret,
        },
    )
    assert r.status == 401
    await sim.control.set_config(token_ttl_seconds=5)
    r = await sim.raw(
        "POST",
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": company.client_id,
            "client_secret": "new-secret",
        },
    )
    assert r.status == 200
    assert r.json()["expires_in"] == 5


async def test_acting_user_headers(sim, company):
    r = await company.api.get("/records", user="")
    assert r.status == 400
    assert r.json() == {
        "code": "MISSING_PARAM",
        "message": "x-as-user-email or x-as-user-id header is required",
        "param": "x-as-user-email",
    }
    r = await company.api.get("/records", user="ghost@example.com")
    assert r.status == 403
    assert r.json() == {
        "code": "FORBIDDEN",
        "message": "user not found for x-as-user-email ghost@example.com",
        "param": "x-as-user-email",
    }
    r = await company.api.get("/records", user="", headers={"x-as-user-id": company.user_id})
    assert r.status == 200
    r = await company.api.get("/records", user="OPS@example.com")
    assert r.status == 200
    await sim.control.add_user(company.company_id, "second@example.com")
    r = await company.api.get("/records", user="second@example.com")
    assert r.status == 200


async def test_scope_enforcement(sim):
    c = await sim.company(scopes=["public.records.readRecords"])
    assert (await c.api.get("/records")).status == 200
    r = await c.api.get("/webhooks")
    assert (r.status, r.json()) == (403, {"code": "FORBIDDEN", "message": "access forbidden"})
    r = await c.api.post("/records", json={"type": "everyFieldType", "name": "x", "properties": {}})
    assert r.status == 403
    assert (await c.api.get("/records/metadata")).status == 403
    # Verification key has no scope.
    assert (await c.api.get("/webhooks/verification-key")).status == 200
    # Add webhook scopes later: a new token gets them.
    await sim.control.update_app(
        c.client_id, scopes=["public.records.readRecords", "public.webhooks.readWebhooks"]
    )
    c.api.token = await sim.token(c.client_id, c.client_secret)
    assert (await c.api.get("/webhooks")).status == 200
    # A narrower token request limits the token.
    c.api.token = await sim.token(c.client_id, c.client_secret, scope="public.webhooks.readWebhooks")
    assert (await c.api.get("/records")).status == 403


async def test_companies_are_isolated(sim):
    a = await sim.company(users=["a@example.com"])
    b = await sim.company(users=["b@example.com"])
    await sim.control.seed(a.company_id, 5, seed=1)
    assert (await a.api.get("/records")).json()["count"] == 5
    assert (await b.api.get("/records")).json()["count"] == 0
    rid = (await a.api.get("/records")).json()["list"][0]["id"]
    assert (await b.api.get(f"/records/{rid}")).status == 404
    # A's user does not exist in B.
    assert (await b.api.get("/records", user=a.user_email)).status == 403
