"""The Ironclad CLM HTTP client (records, attachments, webhooks, workflows).

One `IroncladClient` serves one tenant (one connected Ironclad account). The aiohttp session, the
token cache, the rate limiter and the concurrency slots (`TenantSlots`) are passed in, so a service
shares them across its tenants and, for the limiter, across processes.

One file on purpose: the one Ironclad client, every endpoint over the request machinery they share
(token and its refresh, pacing, retries, error mapping); the endpoints are a few lines each.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import structlog
from yarl import URL

from contracts_common.fairness import TenantSlots

from .errors import (
    IroncladAuthError,
    IroncladBadRequest,
    IroncladError,
    IroncladForbidden,
    IroncladNotFound,
    IroncladRateLimited,
    IroncladServerError,
    IroncladUnreachable,
    IroncladUserRejected,
    api_error_from_response,
    oauth_error_from_response,
)
from .ratelimit import Bucket, RateLimiter, bucket_for
from .regions import API_PREFIX, TOKEN_PATH, ironclad_origin
from .retry import RetryPolicy, parse_retry_after
from .scopes import ALL_SCOPES
from .tokens import IroncladCredentials, Token, TokenCache

log = structlog.get_logger(__name__)

DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_PAGE_SIZE = 100
_MAX_ERROR_BODY = 64 * 1024
_MAX_PAGES = 100_000
_JSON = "application/json"
# Failures of the connection itself: the request never reached Ironclad, so even a POST may be repeated.
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError,)
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One logical call (all its attempts), for metrics and logs. Never carries secrets."""

    tenant: str
    endpoint: str  # method + path template, e.g. "GET /records/{id}"
    status: int | Literal["error"]
    duration_seconds: float
    retries: int
    backoff_seconds: float
    rate_limit_wait_seconds: float = 0.0
    error: str | None = None  # class name of the raised error, if any
    # Of the call's attempts, how many Ironclad answered 429 (retried ones included).
    rate_limited: int = 0

    @property
    def attempts(self) -> int:
        """HTTP requests the call sent: the first, and one per retry."""
        return self.retries + 1


@dataclass(frozen=True, slots=True)
class RecordPage:
    page: int
    page_size: int
    count: int
    records: list[dict[str, Any]]

    @classmethod
    def from_response(cls, body: Any, *, page: int, page_size: int) -> RecordPage:
        if not isinstance(body, dict):
            raise IroncladError("records list response is not a JSON object")
        raw = body.get("list", [])
        records = [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
        got_page = body.get("page", page)
        got_size = body.get("pageSize", page_size)
        page = got_page if isinstance(got_page, int) else page
        size = got_size if isinstance(got_size, int) and got_size > 0 else page_size
        count = body.get("count")
        if not isinstance(count, int):
            # No total: one more than we have while pages come full, so a short page ends the listing.
            count = page * size + len(records) + (1 if len(records) >= size else 0)
        return cls(page=page, page_size=size, count=count, records=records)


class AttachmentStream:
    """A downloaded attachment, streamed from the open response; valid inside its `async with`."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.content_type: str = response.content_type or "application/octet-stream"
        self.filename: str | None = (
            response.content_disposition.filename if response.content_disposition else None
        )
        self.content_length: int | None = response.content_length
        self.request_id: str | None = response.headers.get("x-ironclad-requestid")

    async def iter_chunks(self, size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(size):
                yield chunk
        except _NETWORK_ERRORS as exc:
            raise IroncladUnreachable(
                f"attachment download interrupted: {type(exc).__name__}", request_id=self.request_id
            ) from exc


@dataclass
class _Call:
    method: str
    template: str  # "/records/{id}" (API) or "/oauth/token"
    url: str  # fully encoded
    bucket: Bucket | None
    params: Mapping[str, str] | None = None
    json_body: Any = None
    data_factory: Callable[[], Any] | None = None
    accept: str = _JSON
    oauth: bool = False
    idempotent: bool = True
    replayable: bool = True
    timeout: aiohttp.ClientTimeout | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.template}"


@dataclass
class _Progress:
    retries: int = 0
    backoffs: int = 0
    backoff_seconds: float = 0.0
    limiter_wait: float = 0.0
    refreshed: bool = False
    rate_limited: int = 0
    status: int | Literal["error"] = "error"
    started: float = field(default_factory=time.monotonic)


class IroncladClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        credentials: IroncladCredentials,
        *,
        tenant: str,
        base_url_override: str | None = None,
        token_cache: TokenCache,
        rate_limiter: RateLimiter,
        retry: RetryPolicy,
        scopes: Sequence[str] = ALL_SCOPES,
        concurrency: TenantSlots | None = None,
        on_request: Callable[[RequestEvent], None] | None = None,
        request_timeout: float | None = 30.0,
    ) -> None:
        self._session = session
        self._credentials = credentials
        self._tenant = tenant
        self._origin = ironclad_origin(credentials.region, base_url_override)
        self._api = self._origin + API_PREFIX
        self._token_cache = token_cache
        self._rate_limiter = rate_limiter
        self._retry = retry
        self._scopes = tuple(scopes)
        self._concurrency = concurrency
        self._on_request = on_request
        if request_timeout is None:
            self._timeout: aiohttp.ClientTimeout | None = None
            self._stream_timeout: aiohttp.ClientTimeout | None = None
        else:
            self._timeout = aiohttp.ClientTimeout(total=request_timeout)
            self._stream_timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=request_timeout, sock_read=request_timeout
            )

    # ---------------------------------------------------------------- identity

    @property
    def tenant(self) -> str:
        return self._tenant

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def token_cache_key(self) -> str:
        """Key of this client's token in the `TokenCache`: tenant and OAuth app together, so a
        reconnect with another app never reuses the old app's token."""
        return f"{self._tenant}|{self._credentials.client_id}"

    # ---------------------------------------------------------------- tokens

    async def request_token(self, scopes: Sequence[str] | None = None) -> Token:
        """POST /oauth/token (client credentials), bypassing the cache."""
        wanted = tuple(self._scopes if scopes is None else scopes)
        form = {
            "grant_type": "client_credentials",
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret.get_secret_value(),
            "scope": " ".join(wanted),
        }
        call = _Call(
            method="POST",
            template=TOKEN_PATH,
            url=self._origin + TOKEN_PATH,
            bucket=None,
            data_factory=lambda: dict(form),
            oauth=True,
            timeout=self._timeout,
        )
        body = await self._request_json(call)
        clock = self._token_cache.clock
        try:
            token = Token.from_response(
                body if isinstance(body, dict) else {}, now=clock(), requested_scopes=frozenset(wanted)
            )
        except ValueError as exc:
            raise IroncladError("token response without access_token", status=200) from exc
        log.info(
            "ironclad.token.fetched",
            tenant=self._tenant,
            client_id=self._credentials.client_id,
            scopes_granted=len(token.scopes),
            expires_in=token.lifetime,
        )
        return token

    async def _fetch_token(self) -> Token:
        return await self.request_token()

    async def _current_token(self) -> Token:
        return await self._token_cache.get(self.token_cache_key, self._fetch_token)

    async def granted_scopes(self) -> frozenset[str]:
        return (await self._current_token()).scopes

    # ---------------------------------------------------------------- records

    async def list_records(
        self,
        *,
        page: int,
        page_size: int = MAX_PAGE_SIZE,
        sort_field: str = "lastUpdated",
        sort_direction: str = "DESC",
        types: Sequence[str] | None = None,
        last_updated_since: str | None = None,
    ) -> RecordPage:
        if page < 0 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError("page must be >= 0 and page_size in 1..100")
        params = {
            "page": str(page),
            "pageSize": str(page_size),
            "sortField": sort_field,
            "sortDirection": sort_direction,
        }
        if types:
            params["types"] = ",".join(t.strip() for t in types)
        if last_updated_since:
            params["lastUpdated"] = last_updated_since
        body = await self._request_json(self._api_call("GET", "/records", params=params))
        return RecordPage.from_response(body, page=page, page_size=page_size)

    async def get_record(self, record_id: str) -> dict[str, Any]:
        return _object(await self._request_json(self._api_call("GET", "/records/{id}", id=record_id)))

    async def create_record(self, body: Mapping[str, Any]) -> dict[str, Any]:
        call = self._api_call("POST", "/records", json_body=dict(body), idempotent=False)
        return _object(await self._request_json(call))

    async def update_record(self, record_id: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        call = self._api_call("PATCH", "/records/{id}", id=record_id, json_body=dict(patch))
        return _object(await self._request_json(call))

    async def delete_record(self, record_id: str) -> None:
        await self._request_json(self._api_call("DELETE", "/records/{id}", id=record_id))

    async def get_records_metadata(self) -> dict[str, Any]:
        return _object(await self._request_json(self._api_call("GET", "/records/metadata")))

    # ---------------------------------------------------------------- attachments

    @contextlib.asynccontextmanager
    async def download_attachment(self, record_id: str, key: str) -> AsyncIterator[AttachmentStream]:
        """Stream `GET /records/{id}/attachments/{key}`; the body is never read whole.

        The concurrency slot (if any) stays taken until the `async with` block ends.
        """
        call = self._api_call(
            "GET",
            "/records/{id}/attachments/{key}",
            id=record_id,
            key=key,
            accept="*/*",
            timeout=self._stream_timeout,
        )
        async with self._exchange(call, preload=False) as response:
            yield AttachmentStream(response)

    async def upload_attachment(
        self,
        record_id: str,
        key: str,
        *,
        filename: str,
        content_type: str,
        data: bytes | AsyncIterable[bytes],
    ) -> None:
        """Multipart upload: an `attachment` file part plus a `metadata` JSON part `{"filename"}`.

        Bytes can be re-sent, so they get the retries; a stream is sent once (no retry, no 401 refresh).
        """
        replayable = isinstance(data, (bytes, bytearray, memoryview))
        disposition = _file_disposition("attachment", filename)

        def build() -> aiohttp.MultipartWriter:
            writer = aiohttp.MultipartWriter("form-data")
            writer.append(data, {"Content-Type": content_type, "Content-Disposition": disposition})
            meta = writer.append_json({"filename": filename})
            meta.set_content_disposition("form-data", name="metadata")
            return writer

        call = self._api_call(
            "POST",
            "/records/{id}/attachments/{key}",
            id=record_id,
            key=key,
            data_factory=build,
            idempotent=False,
            replayable=replayable,
            timeout=self._stream_timeout,
        )
        await self._request_json(call)

    # ---------------------------------------------------------------- webhooks and workflows

    async def list_webhooks(self) -> list[dict[str, Any]]:
        webhooks: list[dict[str, Any]] = []
        for page in range(_MAX_PAGES):
            params = {"page": str(page), "pageSize": str(MAX_PAGE_SIZE)}
            body = _object(await self._request_json(self._api_call("GET", "/webhooks", params=params)))
            raw = body.get("list", [])
            items = [w for w in raw if isinstance(w, dict)] if isinstance(raw, list) else []
            webhooks.extend(items)
            size = body.get("pageSize", MAX_PAGE_SIZE)
            if len(items) < (size if isinstance(size, int) and size > 0 else MAX_PAGE_SIZE):
                break
        return webhooks

    async def create_webhook(self, events: Sequence[str], target_url: str) -> dict[str, Any]:
        body = {"events": list(events), "targetURL": target_url}
        call = self._api_call("POST", "/webhooks", json_body=body, idempotent=False)
        return _object(await self._request_json(call))

    async def get_webhook(self, webhook_id: str) -> dict[str, Any]:
        return _object(await self._request_json(self._api_call("GET", "/webhooks/{id}", id=webhook_id)))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._request_json(self._api_call("DELETE", "/webhooks/{id}", id=webhook_id))

    async def get_verification_key(self) -> str:
        call = self._api_call(
            "GET", "/webhooks/verification-key", accept="application/x-pem-file, text/plain, */*"
        )
        async with self._exchange(call, preload=True) as response:
            raw = await response.read()
        text = raw.decode("utf-8", "replace")
        if text.lstrip().startswith('"'):
            # Tolerate a JSON-encoded string.
            with contextlib.suppress(ValueError):
                decoded = json.loads(text)
                if isinstance(decoded, str):
                    text = decoded
        return text

    async def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        return _object(await self._request_json(self._api_call("GET", "/workflows/{id}", id=workflow_id)))

    # ---------------------------------------------------------------- connect checks

    async def check_user(self) -> None:
        """Prove that the token works as `user_email`: `GET /records?page=0&pageSize=1`."""
        call = self._api_call("GET", "/records", params={"page": "0", "pageSize": "1"})
        try:
            await self._request_json(call)
        except IroncladForbidden as exc:
            raise _user_rejected(exc) from exc
        except (IroncladBadRequest, IroncladNotFound) as exc:
            text = f"{exc.message} {exc.param or ''}".lower()
            if "user" in text:
                raise _user_rejected(exc) from exc
            raise

    # ---------------------------------------------------------------- plumbing

    def _api_call(
        self,
        method: str,
        template: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        data_factory: Callable[[], Any] | None = None,
        accept: str = _JSON,
        idempotent: bool = True,
        replayable: bool = True,
        timeout: aiohttp.ClientTimeout | None = None,
        **segments: str,
    ) -> _Call:
        path = template.format(**{k: quote(str(v), safe="") for k, v in segments.items()})
        return _Call(
            method=method,
            template=template,
            url=self._api + path,
            bucket=bucket_for(method, template),
            params=params,
            json_body=json_body,
            data_factory=data_factory,
            accept=accept,
            idempotent=idempotent,
            replayable=replayable,
            timeout=timeout if timeout is not None else self._timeout,
        )

    async def _request_json(self, call: _Call) -> Any:
        async with self._exchange(call, preload=True) as response:
            raw = await response.read()
            status = response.status
            request_id = response.headers.get("x-ironclad-requestid")
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise IroncladError(
                "Ironclad answered a body that is not JSON", status=status, request_id=request_id
            ) from exc

    @staticmethod
    def _kwargs(call: _Call, headers: dict[str, str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
        if call.params:
            kwargs["params"] = dict(call.params)
        if call.json_body is not None:
            kwargs["json"] = call.json_body
        if call.data_factory is not None:
            kwargs["data"] = call.data_factory()
        if call.timeout is not None:
            kwargs["timeout"] = call.timeout
        return kwargs

    def _may_retry(self, call: _Call, failure: IroncladError, connect_failed: bool) -> bool:
        if not call.replayable:
            return False
        if isinstance(failure, IroncladRateLimited):
            return True  # rejected before any processing
        if isinstance(failure, IroncladServerError):
            return call.idempotent or failure.status == 503
        if isinstance(failure, IroncladUnreachable):
            return call.idempotent or connect_failed
        return False

    @contextlib.asynccontextmanager
    async def _exchange(self, call: _Call, *, preload: bool) -> AsyncIterator[aiohttp.ClientResponse]:
        """Run `call` with auth, pacing, retries and the 401 refresh; yield the 2xx response."""
        progress = _Progress()
        error_name: str | None = None
        try:
            while True:
                token: Token | None = None
                headers = {"Accept": call.accept}
                if not call.oauth:
                    token = await self._current_token()
                    headers["Authorization"] = f"Bearer {token.access_token}"
                    headers["x-as-user-email"] = self._credentials.user_email
                failure: IroncladError
                connect_failed = False
                retry_after: float | None = None
                async with contextlib.AsyncExitStack() as stack:
                    # The tenant's own slot, then its rate-limit token, then a shared slot: a tenant
                    # paced by its own Ironclad limit waits holding only its own slot, never one another
                    # tenant could use. The shared slot is free at once unless every other tenant is busy,
                    # so the token is still spent right before the request goes out.
                    if self._concurrency is not None:
                        await stack.enter_async_context(self._concurrency.tenant(self._tenant))
                    if call.bucket is not None:
                        progress.limiter_wait += await self._rate_limiter.acquire(self._tenant, call.bucket)
                    if self._concurrency is not None:
                        await stack.enter_async_context(self._concurrency.shared_slot())
                    try:
                        response = await stack.enter_async_context(
                            self._session.request(
                                call.method, URL(call.url, encoded=True), **self._kwargs(call, headers)
                            )
                        )
                        ok = 200 <= response.status < 300
                        body = await response.read() if preload or not ok else b""
                    except _NETWORK_ERRORS as exc:
                        connect_failed = isinstance(exc, _CONNECT_ERRORS)
                        progress.status = "error"
                        failure = IroncladUnreachable(f"{call.endpoint}: {type(exc).__name__}: {exc}")
                        failure.__cause__ = exc
                    else:
                        progress.status = response.status
                        if ok:
                            yield response
                            return
                        request_id = response.headers.get("x-ironclad-requestid")
                        body = body[:_MAX_ERROR_BODY]
                        if call.oauth:
                            failure = oauth_error_from_response(response.status, body, request_id)
                        else:
                            failure = api_error_from_response(response.status, body, request_id)
                        retry_after = parse_retry_after(response.headers)
                        if isinstance(failure, IroncladRateLimited):
                            progress.rate_limited += 1

                if (
                    isinstance(failure, IroncladAuthError)
                    and not call.oauth
                    and not progress.refreshed
                    and call.replayable
                ):
                    progress.refreshed = True
                    progress.retries += 1
                    self._token_cache.invalidate(self.token_cache_key, token)
                    log.info("ironclad.token.rejected", tenant=self._tenant, endpoint=call.endpoint)
                    continue
                if isinstance(failure, IroncladAuthError) and not call.oauth:
                    self._token_cache.invalidate(self.token_cache_key, token)
                if progress.backoffs < self._retry.max_retries and self._may_retry(
                    call, failure, connect_failed
                ):
                    delay = await self._retry.wait(progress.backoffs, retry_after)
                    progress.backoffs += 1
                    progress.retries += 1
                    progress.backoff_seconds += delay
                    log.warning(
                        "ironclad.request.retry",
                        tenant=self._tenant,
                        endpoint=call.endpoint,
                        status=failure.status if failure.status is not None else "error",
                        retry=progress.backoffs,
                        delay_seconds=round(delay, 3),
                    )
                    continue
                raise failure
        except BaseException as exc:
            error_name = type(exc).__name__
            raise
        finally:
            self._emit(call, progress, error_name)

    def _emit(self, call: _Call, progress: _Progress, error_name: str | None) -> None:
        event = RequestEvent(
            tenant=self._tenant,
            endpoint=call.endpoint,
            status=progress.status,
            duration_seconds=time.monotonic() - progress.started,
            retries=progress.retries,
            backoff_seconds=progress.backoff_seconds,
            rate_limit_wait_seconds=progress.limiter_wait,
            error=error_name,
            rate_limited=progress.rate_limited,
        )
        log.debug(
            "ironclad.request",
            tenant=event.tenant,
            endpoint=event.endpoint,
            status=event.status,
            duration_seconds=round(event.duration_seconds, 4),
            retries=event.retries,
            backoff_seconds=round(event.backoff_seconds, 3),
            error=error_name,
        )
        if self._on_request is not None:
            try:
                self._on_request(event)
            except Exception:
                log.exception("ironclad.on_request_hook_failed", endpoint=event.endpoint)


def _object(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    raise IroncladError("expected a JSON object from Ironclad")


def _file_disposition(name: str, filename: str) -> str:
    """RFC 7578/6266 form-data disposition: a plain `filename` (ASCII fallback) plus `filename*`
    (UTF-8, percent-encoded) when the name is not plain ASCII."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    header = f'form-data; name="{name}"; filename="{fallback}"'
    if fallback != filename:
        header += "; filename*=UTF-8''" + quote(filename, safe="")
    return header


def _user_rejected(exc: IroncladError) -> IroncladUserRejected:
    return IroncladUserRejected(
        exc.message, status=exc.status, code=exc.code, param=exc.param, request_id=exc.request_id
    )
