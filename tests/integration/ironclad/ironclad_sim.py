"""The in-process Ironclad simulator as the client's integration tests use it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from contracts_common.ironclad import (
    IroncladClient,
    IroncladCredentials,
    NoRateLimiter,
    RateLimiter,
    RequestEvent,
    RetryPolicy,
    TokenCache,
)

SIM_USER = "svc@example.com"


@dataclass
class Sim:
    """A running simulator: state (for its clock), control client, one company and a client factory."""

    state: Any
    control: Any
    server: TestServer
    session: aiohttp.ClientSession
    company_id: str
    app: dict[str, Any]
    events: list[RequestEvent] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def credentials(self, *, secret: str | None = None, user: str = SIM_USER) -> IroncladCredentials:
        return IroncladCredentials(
            client_id=self.app["client_id"],
            client_secret=SecretStr(secret if secret is not None else self.app["client_secret"]),
            user_email=user,
            region="na1",
        )

    def client(
        self,
        *,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        cache: TokenCache | None = None,
        creds: IroncladCredentials | None = None,
        **kwargs: Any,
    ) -> IroncladClient:
        return IroncladClient(
            self.session,
            creds or self.credentials(),
            tenant=self.company_id,
            base_url_override=self.origin,
            token_cache=cache or TokenCache(),
            rate_limiter=limiter or NoRateLimiter(),
            retry=retry or RetryPolicy(max_retries=3, base_seconds=0.001, max_seconds=0.01),
            on_request=self.events.append,
            **kwargs,
        )

    async def advance(self, seconds: float) -> None:
        """A `sleep` for RetryPolicy/MongoRateLimiter that moves the simulator's clock instead of waiting."""
        self.state.clock.advance(seconds)
