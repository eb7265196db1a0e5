"""Rate limits, faults, latency, request ids and stats."""

from __future__ import annotations

import time
import uuid


async def test_rate_limit_at_limit_plus_one(sim, company):
    await sim.control.set_config(rate_limits={"records_read": 5, "webhooks": 3})
    for _ in range(5):
        assert (await company.api.get("/records")).status == 200
    r = await company.api.get("/records")
    assert r.status == 429
    assert r.json() == {"code": "TOO_MANY_REQUESTS", "message": "too many requests"}
    assert "Retry-After" not in r.headers
    # Buckets are independent: webhooks still fine, records writes too.
    assert (await company.api.get("/webhooks")).status == 200
    rec = await company.api.post("/records", json={"type": "everyFieldType", "name": "x", "properties": {}})
    assert rec.status == 200
    # Per company: another company is unaffected.
    other = await sim.company()
    assert (await other.api.get("/records")).status == 200
    # The window slides: 60 s later the bucket is open again.
    await sim.control.advance_clock(61)
    company.api.token = await sim.token(company.client_id, company.client_secret)
    assert (await company.api.get("/records")).status == 200
    stats = await sim.control.company_stats(company.company_id)
    assert stats["rate_limited"] == {"records_read": 1}


async def test_retry_after_and_switch_off(sim, company):
    await sim.control.set_config(rate_limits={"records_read": 1}, retry_after_header=True)
    assert (await company.api.get("/records")).status == 200
    r = await company.api.get("/records")
    assert r.status == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    await sim.control.set_config(rate_limits_enabled=False)
    for _ in range(5):
        assert (await company.api.get("/records")).status == 200


async def test_default_limits(sim):
    cfg = await sim.control.get_config()
    assert cfg["rate_limits"] == {
        "records_read": 600,
        "records_write": 200,
        "workflows_read": 400,
        "workflows_write": 40,
        "webhooks": 600,
        "other": 800,
    }
    assert cfg["retry_after_header"] is False
    assert cfg["token_ttl_seconds"] == 3600


async def test_fault_burst_and_page_failure(sim, company):
    await sim.control.seed(company.company_id, 60, seed=2)
    await sim.control.add_fault(r"/records$", 429, method="GET", times=2)
    assert (await company.api.get("/records")).status == 429
    assert (await company.api.get("/records")).status == 429
    assert (await company.api.get("/records")).status == 200

    await sim.control.add_fault(r"/records$", 500, query={"page": "2"}, times=1)
    assert (await company.api.get("/records", params={"page": "1"})).status == 200
    r = await company.api.get("/records", params={"page": "2"})
    assert r.status == 500
    assert r.json()["code"] == "INTERNAL_ERROR"
    assert (await company.api.get("/records", params={"page": "2"})).status == 200
    stats = await sim.control.company_stats(company.company_id)
    assert stats["pages_requested"] == [0, 0, 0, 1, 2, 2]

    fid = await sim.control.add_fault(r"/records/metadata", 503, times=-1, body={"oops": True})
    for _ in range(3):
        r = await company.api.get("/records/metadata")
        assert (r.status, r.json()) == (503, {"oops": True})
    faults = await sim.control.list_faults()
    assert any(f["fault_id"] == fid and f["hits"] == 3 for f in faults)
    assert await sim.control.clear_faults() >= 1
    assert (await company.api.get("/records/metadata")).status == 200


async def test_fault_after_auth_and_slow_endpoint(sim, company):
    await sim.control.add_fault(r"/records$", 500, times=-1)
    r = await sim.raw("GET", "/public/api/v1/records")
    assert r.status == 401  # auth first
    await sim.control.clear_faults()
    await sim.control.add_fault(r"/records$", delay_ms=150)
    started = time.monotonic()
    r = await company.api.get("/records")
    assert r.status == 200
    assert time.monotonic() - started >= 0.14
    # A fault on the token endpoint.
    await sim.control.add_fault(r"^/oauth/token$", 503)
    r = await sim.raw("POST", "/oauth/token", json={"grant_type": "client_credentials"})
    assert r.status == 503


async def test_latency_and_request_ids(sim, company):
    await sim.control.set_config(latency_ms=80, latency_jitter_ms=20)
    started = time.monotonic()
    r = await company.api.get("/records")
    elapsed = time.monotonic() - started
    assert 0.075 <= elapsed < 2
    ids = set()
    for _ in range(3):
        r = await company.api.get("/records")
        ids.add(str(uuid.UUID(r.headers["x-ironclad-requestid"])))
    assert len(ids) == 3
    r = await company.api.get("/records/IC-1")
    assert r.status == 404
    assert r.headers["x-ironclad-requestid"]


async def test_stats(sim, company):
    await sim.control.reset_stats()
    await sim.control.seed(company.company_id, 3, seed=1)
    rec = (await company.api.get("/records")).json()["list"][0]
    await company.api.get(f"/records/{rec['id']}")
    await company.api.get(f"/records/{rec['ironcladId']}")
    await company.api.get("/nope")
    stats = await sim.control.stats()
    mine = stats["companies"][company.company_id]
    assert mine["requests"] == {"GET /records": 1, "GET /records/{id}": 2, "GET /nope": 1}
    assert mine["pages_requested"] == [0]
    assert (await company.api.get("/nope")).status == 404
    await sim.control.reset_stats()
    stats = await sim.control.stats()
    assert stats["companies"][company.company_id]["requests"] == {}
    assert stats["token_requests"] == {}


async def test_reset_restores_initial_state(sim, company):
    await sim.control.set_config(latency_ms=5, allow_http_targets=False)
    await sim.control.add_fault("/records", 500, times=-1)
    await sim.control.reset()
    assert await sim.control.list_companies() == []
    assert await sim.control.list_faults() == []
    cfg = await sim.control.get_config()
    assert cfg["latency_ms"] == 0
    assert cfg["allow_http_targets"] is True  # the state's initial config, not library defaults
    r = await company.api.get("/records")
    assert r.status == 401


async def test_listings_are_timestamped_and_one_company_can_hang(sim, company):
    """bench/tenants times each company's passes by `listings[].at` and hangs one company with a fault."""
    from ironclad_simulator.clock import parse_iso

    other = await sim.company()
    await sim.control.reset_stats()
    before = await sim.control.clock()
    since = "2026-01-01T00:00:00.000Z"
    assert (await company.api.get("/records", params={"lastUpdated": since})).status == 200
    listing = (await sim.control.company_stats(company.company_id))["listings"][0]
    assert listing["lastUpdated"] == since
    assert before["epoch"] - 0.01 <= parse_iso(str(listing["at"])) <= (await sim.control.clock())["epoch"]
    fault = await sim.control.add_fault(
        r"^/public/api/v1/", delay_ms=400, times=-1, company_id=company.company_id
    )
    started = time.monotonic()
    assert (await other.api.get("/records")).status == 200
    assert time.monotonic() - started < 0.3  # the other company answers at once
    started = time.monotonic()
    assert (await company.api.get("/records")).status == 200
    assert time.monotonic() - started >= 0.39  # this one hangs, then answers
    await sim.control.delete_fault(fault)
    started = time.monotonic()
    assert (await company.api.get("/records")).status == 200
    assert time.monotonic() - started < 0.3
