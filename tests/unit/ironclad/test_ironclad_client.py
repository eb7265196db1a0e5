from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from ironclad_fakes import (
    CLIENT_ID,
    SECRET,
    USER_EMAIL,
    ClientFactory,
    FakeIronclad,
    Reply,
    credentials,
    fast_retry,
)
from structlog.testing import capture_logs

from contracts_common.fairness import TenantSlots
from contracts_common.ironclad import (
    ALL_SCOPES,
    Bucket,
    IroncladAuthError,
    IroncladBadRequest,
    IroncladClient,
    IroncladForbidden,
    IroncladNotFound,
    IroncladRateLimited,
    IroncladServerError,
    IroncladUnreachable,
    IroncladUserRejected,
    NoRateLimiter,
    OAuthInvalidClient,
    OAuthInvalidScope,
    OAuthUnauthorizedClient,
    RetryPolicy,
    TokenCache,
)

API = "/public/api/v1"


def records_handler(total: int) -> Any:
    async def handler(request: web.Request) -> web.Response:
        page = int(request.query.get("page", 0))
        size = int(request.query.get("pageSize", 20))
        items = [{"id": f"r{i}", "name": f"R{i}"} for i in range(page * size, min(total, (page + 1) * size))]
        return web.json_response({"page": page, "pageSize": size, "count": total, "list": items})

    return handler


async def test_token_request_form_and_headers(fake: FakeIronclad, make_client: ClientFactory) -> None:
    client = make_client()
    fake.handle("GET", f"{API}/records/abc", const({"id": "abc"}))
    assert await client.get_record("abc") == {"id": "abc"}
    form = fake.token_requests[0]
    assert form == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "scope": " ".join(ALL_SCOPES),
    }
    api = fake.api_requests()[0]
    assert api.headers["Authorization"] == "Bearer tok-1"
    assert api.headers["x-as-user-email"] == USER_EMAIL
    assert api.headers["Accept"] == "application/json"
    token_req = fake.requests[0]
    assert "Authorization" not in token_req.headers
    assert "x-as-user-email" not in token_req.headers


def const(body: Any, status: int = 200) -> Any:
    async def handler(request: web.Request) -> web.Response:
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    return handler


async def test_request_token_scopes_and_granted(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.granted_scope = "public.records.readRecords"
    client = make_client()
    token = await client.request_token(["public.records.readRecords", "public.webhooks.readWebhooks"])
    assert fake.token_requests[0]["scope"] == "public.records.readRecords public.webhooks.readWebhooks"
    assert token.scopes == frozenset({"public.records.readRecords"})
    assert await client.granted_scopes() == frozenset({"public.records.readRecords"})
    # request_token bypasses the cache; granted_scopes used the cache (one more fetch, then cached).
    await client.granted_scopes()
    assert len(fake.token_requests) == 2


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, {"error": "invalid_client", "error_description": "invalid client"}, OAuthInvalidClient),
        (400, {"error": "invalid_scope", "error_description": "nope"}, OAuthInvalidScope),
        (403, {"error": "unauthorized_client", "error_description": "grant"}, OAuthUnauthorizedClient),
    ],
)
async def test_oauth_errors_are_typed_and_not_retried(
    fake: FakeIronclad, make_client: ClientFactory, status: int, body: Any, cls: type[Exception]
) -> None:
    fake.token_replies = [Reply(status, body)] * 5
    client = make_client()
    with pytest.raises(cls):
        await client.get_record("x")
    assert len(fake.token_requests) == 1
    assert fake.api_requests() == []


async def test_token_endpoint_5xx_retried(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.token_replies = [Reply(503, "busy"), Reply(500, "oops")]
    client = make_client()
    token = await client.request_token()
    assert token.access_token == "tok-1"
    assert len(fake.token_requests) == 3


async def test_token_single_flight_k20(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.token_delay = 0.05
    fake.handle("GET", f"{API}/records/abc", const({"id": "abc"}))
    client = make_client()
    results = await asyncio.gather(*(client.get_record("abc") for _ in range(20)))
    assert len(results) == 20
    assert len(fake.token_requests) == 1


async def test_401_refreshes_once_then_succeeds(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.handle("GET", f"{API}/records/abc", const({"id": "abc"}))
    client = make_client()
    await client.get_record("abc")
    fake.revoke_all()  # e.g. revoked or expired early
    assert await client.get_record("abc") == {"id": "abc"}
    assert len(fake.token_requests) == 2
    assert [r.headers["Authorization"] for r in fake.api_requests()] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    assert make_client.events[-1].retries == 1
    assert make_client.events[-1].status == 200


async def test_second_401_raises_auth_error(fake: FakeIronclad, make_client: ClientFactory) -> None:
    unauthorized = Reply(401, {"code": "UNAUTHORIZED", "message": "token has been revoked"})
    fake.script("GET", f"{API}/records/abc", unauthorized, unauthorized, Reply(200, {"id": "abc"}))
    client = make_client()
    with pytest.raises(IroncladAuthError) as info:
        await client.get_record("abc")
    assert info.value.message == "token has been revoked"
    assert len(fake.token_requests) == 2
    assert len(fake.api_requests()) == 2
    # The rejected token was dropped: the next call fetches a fresh one.
    assert await client.get_record("abc") == {"id": "abc"}
    assert len(fake.token_requests) == 3


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_retry_transient_then_success(
    fake: FakeIronclad, make_client: ClientFactory, status: int
) -> None:
    fake.script("GET", f"{API}/records/abc", Reply(status, {"code": "X", "message": "m"}), Reply(status, "x"))
    fake.handle("GET", f"{API}/records/abc", const({"id": "abc"}))
    backoffs: list[float] = []

    async def sleep(seconds: float) -> None:
        backoffs.append(seconds)

    client = make_client(retry=RetryPolicy(max_retries=3, base_seconds=0.001, sleep=sleep))
    assert await client.get_record("abc") == {"id": "abc"}
    assert len(fake.api_requests()) == 3
    event = make_client.events[-1]
    assert (event.endpoint, event.status, event.retries) == ("GET /records/{id}", 200, 2)
    assert len(backoffs) == 2
    assert event.backoff_seconds == pytest.approx(sum(backoffs))


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, IroncladBadRequest), (403, IroncladForbidden), (404, IroncladNotFound), (422, IroncladBadRequest)],
)
async def test_no_retry_on_4xx(
    fake: FakeIronclad, make_client: ClientFactory, status: int, cls: type[Exception]
) -> None:
    fake.script("GET", f"{API}/records/abc", Reply(status, {"code": "INVALID_PARAM", "message": "bad"}))
    fake.handle("GET", f"{API}/records/abc", const({"id": "abc"}))
    client = make_client()
    with pytest.raises(cls):
        await client.get_record("abc")
    assert len(fake.api_requests()) == 1
    assert make_client.events[-1].status == status
    assert make_client.events[-1].error == cls.__name__


async def test_retries_exhausted(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.script(
        "GET", f"{API}/records/a", *[Reply(429, {"code": "TOO_MANY_REQUESTS", "message": "slow"})] * 5
    )
    fake.script("GET", f"{API}/records/b", *[Reply(500, "boom")] * 5)
    client = make_client(retry=fast_retry(2))
    with pytest.raises(IroncladRateLimited) as rl:
        await client.get_record("a")
    assert rl.value.code == "TOO_MANY_REQUESTS"
    with pytest.raises(IroncladServerError):
        await client.get_record("b")
    assert len(fake.api_requests()) == 6


async def test_post_not_retried_on_500_but_on_429(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.script("POST", f"{API}/records", Reply(500, "boom"), Reply(429, "slow"), Reply(200, {"id": "n"}))
    client = make_client()
    with pytest.raises(IroncladServerError):
        await client.create_record({"type": "t", "name": "n", "properties": {}})
    assert await client.create_record({"type": "t", "name": "n", "properties": {}}) == {"id": "n"}
    assert len(fake.api_requests()) == 3
    assert json.loads(fake.api_requests()[0].body) == {"type": "t", "name": "n", "properties": {}}


async def test_unreachable_after_retries(session: aiohttp.ClientSession) -> None:
    # A port nobody listens on.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    events: list[Any] = []
    client = IroncladClient(
        session,
        credentials(),
        tenant="t",
        base_url_override=f"http://127.0.0.1:{port}",
        token_cache=TokenCache(),
        rate_limiter=NoRateLimiter(),
        retry=fast_retry(2),
        on_request=events.append,
    )
    with pytest.raises(IroncladUnreachable):
        await client.request_token()
    assert events[-1].status == "error"
    assert events[-1].retries == 2


async def test_timeout_is_unreachable(fake: FakeIronclad, make_client: ClientFactory) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    fake.handle("GET", f"{API}/records/slow", slow)
    client = make_client(retry=fast_retry(1), request_timeout=0.1)
    with pytest.raises(IroncladUnreachable):
        await client.get_record("slow")
    assert len(fake.api_requests()) == 2


async def test_rate_limiter_consulted_per_attempt(fake: FakeIronclad, make_client: ClientFactory) -> None:
    seen: list[tuple[str, Bucket]] = []

    class Recorder:
        async def acquire(self, tenant: str, bucket: Bucket) -> float:
            seen.append((tenant, bucket))
            return 0.25

    fake.script("PATCH", f"{API}/records/abc", Reply(503, "x"))
    fake.handle("PATCH", f"{API}/records/abc", const({"id": "abc"}))
    fake.handle("GET", f"{API}/workflows/w1", const({"id": "w1"}))
    client = make_client(limiter=Recorder(), tenant="acme")
    await client.update_record("abc", {"name": "x"})
    await client.get_workflow("w1")
    await client.request_token()  # never rate limited
    assert seen == [
        ("acme", Bucket.records_write),
        ("acme", Bucket.records_write),
        ("acme", Bucket.workflows_read),
    ]
    patch_event = next(e for e in make_client.events if e.endpoint == "PATCH /records/{id}")
    assert patch_event.rate_limit_wait_seconds == pytest.approx(0.5)


async def test_concurrency_semaphore_bounds_in_flight(fake: FakeIronclad, make_client: ClientFactory) -> None:
    in_flight = 0
    peak = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return web.json_response({"id": "x"})

    fake.handle("GET", f"{API}/records/x", handler)
    client = make_client(concurrency=TenantSlots(shared=3, per_tenant=3))
    await asyncio.gather(*(client.get_record("x") for _ in range(12)))
    assert peak == 3


class GatedLimiter:
    """Paces one tenant until released, like a tenant at its Ironclad rate limit; others pass."""

    def __init__(self, paced: str) -> None:
        self.paced = paced
        self.release = asyncio.Event()
        self.waiting = 0

    async def acquire(self, tenant: str, bucket: Bucket) -> float:
        if tenant == self.paced:
            self.waiting += 1
            await self.release.wait()
        return 0.0


# (4, 2): one tenant's backlog takes at most its own cap. (2, 2): a tenant waiting for its rate limit
# holds only its own slots, so even when its cap equals the shared pool the others still get through.
@pytest.mark.parametrize(("shared", "per_tenant"), [(4, 2), (2, 2)])
async def test_a_tenant_paced_or_busy_leaves_shared_slots_to_the_others(
    fake: FakeIronclad, make_client: ClientFactory, shared: int, per_tenant: int
) -> None:
    fake.handle("GET", f"{API}/records/x", const({"id": "x"}))
    slots = TenantSlots(shared=shared, per_tenant=per_tenant)
    limiter = GatedLimiter(paced="big")
    big = make_client(tenant="big", limiter=limiter, concurrency=slots)
    small = make_client(tenant="small", limiter=limiter, concurrency=slots)
    await small.get_record("x")  # the token for the fake, fetched before the slots are under pressure
    backlog = [asyncio.create_task(big.get_record("x")) for _ in range(20)]

    async def two_paced() -> None:
        while limiter.waiting < 2:
            await asyncio.sleep(0.001)

    await asyncio.wait_for(two_paced(), 5)
    # The paced tenant has its two slots, both waiting for its rate limit; the other 18 wait for its slots.
    assert limiter.waiting == 2
    assert await asyncio.wait_for(small.get_record("x"), 5) == {"id": "x"}
    limiter.release.set()
    assert len(await asyncio.gather(*backlog)) == 20


async def test_path_segments_are_quoted(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.handle("GET", f"{API}/records/workflow%3Aabc%2F..%2Fx", const({"id": "w"}))
    client = make_client()
    assert await client.get_record("workflow:abc/../x") == {"id": "w"}


async def test_never_follows_redirects(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.script("GET", f"{API}/records/r", Reply(302, "", {"Location": "http://evil.example/steal"}))
    client = make_client()
    with pytest.raises(Exception) as info:
        await client.get_record("r")
    assert info.value.__class__.__name__ == "IroncladError"
    assert len(fake.requests) == 2  # token + the one call, nothing followed


async def test_on_request_hook_failure_is_swallowed(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.handle("GET", f"{API}/records/a", const({"id": "a"}))

    def broken(_: Any) -> None:
        raise RuntimeError("metrics down")

    client = make_client()
    client._on_request = broken
    assert await client.get_record("a") == {"id": "a"}


# ---------------------------------------------------------------- records and pagination


async def test_list_records_params_and_page(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.handle("GET", f"{API}/records", records_handler(250))
    client = make_client()
    page = await client.list_records(
        page=2, types=["nda", "msa"], last_updated_since="2026-01-01T00:00:00.000Z", sort_direction="ASC"
    )
    assert fake.api_requests()[0].query == {
        "page": "2",
        "pageSize": "100",
        "sortField": "lastUpdated",
        "sortDirection": "ASC",
        "types": "nda,msa",
        "lastUpdated": "2026-01-01T00:00:00.000Z",
    }
    assert (page.page, page.page_size, page.count, len(page.records)) == (2, 100, 250, 50)
    with pytest.raises(ValueError):
        await client.list_records(page=0, page_size=101)


async def test_record_crud(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.handle("PATCH", f"{API}/records/r1", _echo)
    fake.handle("DELETE", f"{API}/records/r1", const(None, 204))
    fake.handle("GET", f"{API}/records/metadata", const({"properties": {}, "recordTypes": {}}))
    client = make_client()
    assert await client.update_record("r1", {"name": "m"}) == {"method": "PATCH", "body": {"name": "m"}}
    assert await client.delete_record("r1") is None
    assert await client.get_records_metadata() == {"properties": {}, "recordTypes": {}}


async def _echo(request: web.Request) -> web.Response:
    return web.json_response({"method": request.method, "body": await request.json()})


# ---------------------------------------------------------------- attachments


async def test_download_streams_in_chunks(fake: FakeIronclad, make_client: ClientFactory) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.headers["Accept"] == "*/*"
        resp = web.StreamResponse(
            headers={
                "Content-Type": "application/pdf",
                "Content-Disposition": "attachment; filename*=UTF-8''Vertrag%20%C3%BC.pdf",
                "Content-Length": str(len(payload)),
            }
        )
        await resp.prepare(request)
        await resp.write(payload[:65536])
        await release.wait()  # the rest only once the client has consumed the first chunk
        await resp.write(payload[65536:])
        await resp.write_eof()
        return resp

    fake.handle("GET", f"{API}/records/r1/attachments/signedCopy", handler)
    client = make_client()
    received = bytearray()
    async with client.download_attachment("r1", "signedCopy") as stream:
        assert stream.content_type == "application/pdf"
        assert stream.filename == "Vertrag ü.pdf"
        assert stream.content_length == len(payload)
        async for chunk in stream.iter_chunks(16384):
            assert len(chunk) <= 16384
            received += chunk
            release.set()
    assert bytes(received) == payload
    assert make_client.events[-1].endpoint == "GET /records/{id}/attachments/{key}"


async def test_download_not_found(fake: FakeIronclad, make_client: ClientFactory) -> None:
    client = make_client()
    with pytest.raises(IroncladNotFound):
        async with client.download_attachment("nope", "signedCopy"):
            pass


async def _multipart(request: web.Request) -> dict[str, Any]:
    reader = await request.multipart()
    parts: dict[str, Any] = {}
    while (part := await reader.next()) is not None:
        assert isinstance(part, aiohttp.BodyPartReader)
        parts[part.name or ""] = {
            "filename": part.filename,
            "content_type": part.headers.get("Content-Type"),
            "data": await part.read(),
        }
    return parts


async def test_upload_bytes_multipart(fake: FakeIronclad, make_client: ClientFactory) -> None:
    got: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        got.append(await _multipart(request))
        return web.json_response({})

    fake.handle("POST", f"{API}/records/r1/attachments/signedCopy", handler)
    client = make_client()
    await client.upload_attachment(
        "r1", "signedCopy", filename="NDA - Acme LLC.pdf", content_type="application/pdf", data=b"%PDF-1.7 x"
    )
    parts = got[0]
    assert parts["attachment"] == {
        "filename": "NDA - Acme LLC.pdf",
        "content_type": "application/pdf",
        "data": b"%PDF-1.7 x",
    }
    assert parts["metadata"]["content_type"] == "application/json"
    assert json.loads(parts["metadata"]["data"]) == {"filename": "NDA - Acme LLC.pdf"}


async def test_upload_stream_and_unicode_name(fake: FakeIronclad, make_client: ClientFactory) -> None:
    got: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        got.append(await _multipart(request))
        return web.json_response({})

    fake.handle("POST", f"{API}/records/r1/attachments/fileAttachment", handler)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(10):
            yield bytes([i]) * 100_000

    client = make_client()
    await client.upload_attachment(
        "r1", "fileAttachment", filename="Vertrag ü.docx", content_type="application/msword", data=chunks()
    )
    parts = got[0]
    assert parts["attachment"]["filename"] == "Vertrag ü.docx"
    assert len(parts["attachment"]["data"]) == 1_000_000
    assert json.loads(parts["metadata"]["data"]) == {"filename": "Vertrag ü.docx"}


async def test_upload_stream_not_retried(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.script("POST", f"{API}/records/r1/attachments/signedCopy", Reply(429, "slow"), Reply(200, {}))

    async def chunks() -> AsyncIterator[bytes]:
        yield b"abc"

    client = make_client()
    with pytest.raises(IroncladRateLimited):
        await client.upload_attachment(
            "r1", "signedCopy", filename="a.pdf", content_type="application/pdf", data=chunks()
        )
    # bytes are retried
    fake.script("POST", f"{API}/records/r1/attachments/signedCopy", Reply(429, "slow"), Reply(200, {}))
    fake.replies[("POST", f"{API}/records/r1/attachments/signedCopy")].pop(0)
    await client.upload_attachment(
        "r1", "signedCopy", filename="a.pdf", content_type="application/pdf", data=b"x"
    )


async def test_upload_error_message(fake: FakeIronclad, make_client: ClientFactory) -> None:
    msg = "record attachment key 'signedCopy' already exists for record"
    fake.script(
        "POST",
        f"{API}/records/r1/attachments/signedCopy",
        Reply(400, {"code": "INVALID_PARAM", "message": msg, "param": "attachmentKey"}),
    )
    client = make_client()
    with pytest.raises(IroncladBadRequest) as info:
        await client.upload_attachment(
            "r1", "signedCopy", filename="a.pdf", content_type="application/pdf", data=b"x"
        )
    assert (info.value.message, info.value.param) == (msg, "attachmentKey")


# ---------------------------------------------------------------- webhooks, workflows, user check


async def test_list_webhooks_pages_without_count(fake: FakeIronclad, make_client: ClientFactory) -> None:
    hooks = [{"id": f"w{i}"} for i in range(130)]

    async def handler(request: web.Request) -> web.Response:
        page, size = int(request.query["page"]), int(request.query["pageSize"])
        return web.json_response(
            {"page": page, "pageSize": size, "list": hooks[page * size : (page + 1) * size]}
        )

    fake.handle("GET", f"{API}/webhooks", handler)
    client = make_client()
    assert await client.list_webhooks() == hooks
    assert len(fake.api_requests()) == 2


async def test_webhook_create_accepts_201(fake: FakeIronclad, make_client: ClientFactory) -> None:
    async def create(request: web.Request) -> web.Response:
        return web.json_response({"id": "w1", **(await request.json())}, status=201)

    fake.handle("POST", f"{API}/webhooks", create)
    fake.handle("DELETE", f"{API}/webhooks/w1", const(None, 204))
    fake.handle("GET", f"{API}/webhooks/w1", const({"id": "w1"}))
    client = make_client()
    hook = await client.create_webhook(["workflow_completed"], "https://example.com/hook")
    assert hook == {"id": "w1", "events": ["workflow_completed"], "targetURL": "https://example.com/hook"}
    assert await client.get_webhook("w1") == {"id": "w1"}
    assert await client.delete_webhook("w1") is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, {"code": "FORBIDDEN", "message": "access forbidden"}),
        (400, {"code": "INVALID_PARAM", "message": "unknown user", "param": "x-as-user-email"}),
        (404, {"code": "NOT_FOUND", "message": "user not found"}),
    ],
)
async def test_check_user_rejections(
    fake: FakeIronclad, make_client: ClientFactory, status: int, body: Any
) -> None:
    fake.script("GET", f"{API}/records", Reply(status, body))
    client = make_client()
    with pytest.raises(IroncladUserRejected) as info:
        await client.check_user()
    assert info.value.status == status


async def test_check_user_ok_and_other_errors(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.handle("GET", f"{API}/records", records_handler(3))
    client = make_client()
    await client.check_user()
    assert fake.api_requests()[0].query == {"page": "0", "pageSize": "1"}
    fake.script(
        "GET", f"{API}/records", Reply(400, {"code": "INVALID_PARAM", "message": "bad page", "param": "page"})
    )
    with pytest.raises(IroncladBadRequest):
        await client.check_user()


# ---------------------------------------------------------------- secrets never logged


async def test_logs_never_contain_secret_or_token(fake: FakeIronclad, make_client: ClientFactory) -> None:
    fake.handle("GET", f"{API}/records/abc", const({"id": "abc"}))
    fake.script("GET", f"{API}/records/abc", Reply(500, "x"))
    client = make_client()
    with capture_logs() as logs:
        await client.get_record("abc")
        fake.revoke_all()
        await client.get_record("abc")
        fake.token_replies = [Reply(401, {"error": "invalid_client", "error_description": "invalid client"})]
        make_client.cache.clear()
        with pytest.raises(OAuthInvalidClient) as info:
            await client.get_record("abc")
    assert logs, "the client should log"
    dumped = repr(logs) + str(info.value) + repr(info.value) + repr(make_client.events)
    for secret in (SECRET, "tok-1", "tok-2"):
        assert secret not in dumped
    assert any(e["event"] == "ironclad.token.fetched" for e in logs)
    assert any(e["event"] == "ironclad.request.retry" for e in logs)
