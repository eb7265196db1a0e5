"""The Ironclad client against the in-process Ironclad simulator."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from ironclad_sim import Sim

from contracts_common.ironclad import (
    Bucket,
    IroncladAuthError,
    IroncladBadRequest,
    IroncladForbidden,
    IroncladNotFound,
    IroncladRateLimited,
    IroncladUserRejected,
    MongoRateLimiter,
    OAuthInvalidClient,
    OAuthInvalidScope,
    RetryPolicy,
    TokenCache,
)

API = "/public/api/v1"


async def first_error(call: Callable[[], Awaitable[object]], times: int) -> Exception | None:
    """Make `call` up to `times` times; the first exception raised, if any."""
    for _ in range(times):
        try:
            await call()
        except Exception as exc:
            return exc
    return None


async def test_pagination_visits_every_record_once(sim: Sim) -> None:
    await sim.control.seed(sim.company_id, 250, seed=1, document_ratio=0.0)
    client = sim.client()
    pages = [await client.list_records(page=p, sort_direction="ASC") for p in range(3)]
    assert [(p.count, len(p.records)) for p in pages] == [(250, 100), (250, 100), (250, 50)]
    ids = [r["id"] for p in pages for r in p.records]
    assert len(ids) == 250 == len(set(ids))
    stats = await sim.control.company_stats(sim.company_id)
    assert stats["pages_requested"][-3:] == [0, 1, 2]


async def test_record_crud_and_metadata(sim: Sim) -> None:
    client = sim.client()
    meta = await client.get_records_metadata()
    record_type = next(iter(meta["recordTypes"]))
    created = await client.create_record({"type": record_type, "name": "Client test", "properties": {}})
    rid = created["id"]
    assert (await client.get_record(rid))["name"] == "Client test"
    assert (await client.get_record(created["ironcladId"]))["id"] == rid
    patched = await client.update_record(rid, {"name": "Renamed"})
    assert patched["name"] == "Renamed"
    # Our scopes (scopes.py) do not include public.records.deleteRecords: Ironclad refuses the delete.
    with pytest.raises(IroncladForbidden):
        await client.delete_record(rid)
    with pytest.raises(IroncladNotFound):
        await client.get_record("00000000-0000-4000-8000-000000000000")


async def test_download_streams_documents(sim: Sim) -> None:
    await sim.control.seed(
        sim.company_id, 5, seed=2, document_ratio=1.0, min_document_bytes=300_000, max_document_bytes=400_000
    )
    client = sim.client()
    page = await client.list_records(page=0)
    record = next(r for r in page.records if r["attachments"])
    key, info = next(iter(record["attachments"].items()))
    chunks: list[int] = []
    digest = hashlib.sha256()
    async with client.download_attachment(record["id"], key) as stream:
        assert stream.content_type == info["contentType"]
        assert stream.filename == info["filename"]
        async for chunk in stream.iter_chunks(64 * 1024):
            chunks.append(len(chunk))
            digest.update(chunk)
    assert len(chunks) > 1
    assert max(chunks) <= 64 * 1024
    assert sum(chunks) >= 300_000
    if stream.content_length is not None:
        assert sum(chunks) == stream.content_length


async def test_upload_then_download_round_trip(sim: Sim) -> None:
    client = sim.client()
    meta = await client.get_records_metadata()
    record_type = next(iter(meta["recordTypes"]))
    rid = (await client.create_record({"type": record_type, "name": "Upload", "properties": {}}))["id"]
    payload = b"%PDF-1.7\n" + bytes(range(256)) * 2000

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 50_000):
            yield payload[i : i + 50_000]

    await client.upload_attachment(
        rid, "signedCopy", filename="Vertrag ü - Acme.pdf", content_type="application/pdf", data=stream()
    )
    record = await client.get_record(rid)
    assert record["attachments"]["signedCopy"]["filename"] == "Vertrag ü - Acme.pdf"
    got = bytearray()
    async with client.download_attachment(rid, "signedCopy") as att:
        assert att.content_type == "application/pdf"
        async for chunk in att.iter_chunks():
            got += chunk
    assert bytes(got) == payload
    # Uploads do not overwrite: the simulator answers Ironclad's 400.
    with pytest.raises(IroncladBadRequest) as info:
        await client.upload_attachment(
            rid, "signedCopy", filename="b.pdf", content_type="application/pdf", data=b"x"
        )
    assert "already exists" in info.value.message


async def test_webhooks_lifecycle_and_verification_key(sim: Sim) -> None:
    client = sim.client()
    created = await client.create_webhook(["workflow_completed"], "https://example.com/hooks/contracts")
    hook_id = created["id"]
    assert created["events"] == ["workflow_completed"]
    assert any(h["id"] == hook_id for h in await client.list_webhooks())
    assert (await client.get_webhook(hook_id))["targetURL"] == "https://example.com/hooks/contracts"
    await client.delete_webhook(hook_id)
    with pytest.raises(IroncladNotFound):
        await client.get_webhook(hook_id)
    pem = await client.get_verification_key()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")


async def test_many_webhooks_are_paged(sim: Sim) -> None:
    client = sim.client()
    for i in range(105):
        await client.create_webhook(["workflow_launched"], f"https://example.com/h/{i}")
    hooks = await client.list_webhooks()
    assert len(hooks) == 105 == len({h["id"] for h in hooks})


async def test_one_token_for_twenty_concurrent_calls(sim: Sim) -> None:
    await sim.control.seed(sim.company_id, 3, seed=3, document_ratio=0.0)
    client = sim.client(cache=TokenCache())
    await asyncio.gather(*(client.list_records(page=0, page_size=1) for _ in range(20)))
    stats = await sim.control.stats()
    assert stats["token_requests"][sim.app["client_id"]] == 1
    assert await client.granted_scopes() == frozenset(sim.app["scopes"])


async def test_expired_token_is_refreshed_once(sim: Sim) -> None:
    client = sim.client()
    await client.list_records(page=0, page_size=1)
    await sim.control.expire_tokens(sim.app["client_id"])
    await client.list_records(page=0, page_size=1)
    stats = await sim.control.stats()
    assert stats["token_requests"][sim.app["client_id"]] == 2
    assert sim.events[-1].retries == 1


async def test_revoked_app_raises_auth_errors(sim: Sim) -> None:
    client = sim.client()
    await client.list_records(page=0, page_size=1)
    await sim.control.revoke_app(sim.app["client_id"])
    with pytest.raises((IroncladAuthError, OAuthInvalidClient)):
        await client.list_records(page=0, page_size=1)


async def test_wrong_secret_and_scope(sim: Sim) -> None:
    bad = sim.client(creds=sim.credentials(secret="wrong"))
    with pytest.raises(OAuthInvalidClient):
        await bad.request_token()
    narrow = await sim.control.add_app(sim.company_id, scopes=["public.records.readRecords"])
    sim.app = narrow
    client = sim.client()
    with pytest.raises(OAuthInvalidScope):
        await client.request_token()  # asks for ALL_SCOPES
    token = await client.request_token(["public.records.readRecords"])
    assert token.scopes == frozenset({"public.records.readRecords"})


async def test_check_user(sim: Sim) -> None:
    await sim.client().check_user()
    with pytest.raises(IroncladUserRejected):
        await sim.client(creds=sim.credentials(user="nobody@example.com")).check_user()


async def test_fault_429_and_503_are_retried(sim: Sim) -> None:
    await sim.control.seed(sim.company_id, 2, seed=4, document_ratio=0.0)
    await sim.control.add_fault(f"^{API}/records$", 429, method="GET", times=2)
    await sim.control.add_fault(f"^{API}/records$", 503, method="GET", times=1)
    backoffs: list[float] = []

    async def sleep(seconds: float) -> None:
        backoffs.append(seconds)

    client = sim.client(retry=RetryPolicy(max_retries=5, base_seconds=0.001, sleep=sleep))
    page = await client.list_records(page=0)
    assert page.count == 2
    event = sim.events[-1]
    assert (event.endpoint, event.status, event.retries) == ("GET /records", 200, 3)
    assert len(backoffs) == 3


async def test_rate_limit_429_backoff_against_the_window(sim: Sim) -> None:
    """The simulator allows 5 reads a minute; the retry sleeps move its clock, honouring Retry-After."""
    await sim.control.seed(sim.company_id, 1, seed=5, document_ratio=0.0)
    await sim.control.set_config(rate_limits={"records_read": 5}, retry_after_header=True)
    client = sim.client(
        retry=RetryPolicy(max_retries=6, base_seconds=1.0, max_seconds=30.0, sleep=sim.advance)
    )
    for _ in range(8):
        await client.list_records(page=0, page_size=1)
    stats = await sim.control.company_stats(sim.company_id)
    assert stats["rate_limited"]["records_read"] >= 1
    assert sum(e.backoff_seconds for e in sim.events) >= 30.0
    # Without enough retries the 429 surfaces typed.
    strict = sim.client(retry=RetryPolicy(max_retries=0))
    error = await first_error(lambda: strict.list_records(page=0, page_size=1), 6)  # at most 5 fit
    assert isinstance(error, IroncladRateLimited)
    assert error.code == "TOO_MANY_REQUESTS"


async def test_mongo_pacing_keeps_the_simulator_from_429(sim: Sim, mongo_db: Any) -> None:
    """Two replicas' limiters on one collection, on the simulator's (virtual) clock: 150 reads against a
    60-per-minute window see no 429 at all; without the limiter the same load is refused."""
    await sim.control.seed(sim.company_id, 1, seed=6, document_ratio=0.0)
    await sim.control.set_config(rate_limits={"records_read": 60})
    coll = mongo_db["ironclad_rate_limits"]
    limiters = [
        MongoRateLimiter(
            coll, {Bucket.records_read: 60}, clock=sim.state.clock.now, sleep=sim.advance, burst_seconds=1.0
        )
        for _ in range(2)
    ]
    clients = [sim.client(limiter=limiter, retry=RetryPolicy(max_retries=0)) for limiter in limiters]
    start = sim.state.clock.now()
    for i in range(150):
        await clients[i % 2].list_records(page=0, page_size=1)
    stats = await sim.control.company_stats(sim.company_id)
    assert stats.get("rate_limited", {}).get("records_read", 0) == 0
    elapsed = sim.state.clock.now() - start
    assert elapsed >= 149 * 60 / (60 * 0.95) - 1.0 - 1e-6  # paced at 57/min, minus the burst allowance

    unpaced = sim.client(retry=RetryPolicy(max_retries=0))
    error = await first_error(lambda: unpaced.list_records(page=0, page_size=1), 61)
    assert isinstance(error, IroncladRateLimited)


async def test_events_carry_no_secrets(sim: Sim) -> None:
    client = sim.client()
    await client.list_records(page=0, page_size=1)
    dumped = json.dumps([e.__repr__() for e in sim.events])
    assert sim.app["client_secret"] not in dumped
    assert all(e.tenant == sim.company_id for e in sim.events)
