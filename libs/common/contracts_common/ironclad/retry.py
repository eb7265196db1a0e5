"""Retry policy: full-jitter exponential backoff on 429, 5xx and network failures."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """`max_retries` retries after the first attempt; the n-th retry (n from 0) waits a uniformly random
    time in `[0, min(max_seconds, base_seconds * 2**n)]` ("full jitter"). A `Retry-After` header (not
    documented for Ironclad CLM, honoured if it shows up) raises the wait to at least its value,
    capped at `max_seconds`.
    """

    max_retries: int = 6
    base_seconds: float = 0.5
    max_seconds: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_seconds < 0 or self.max_seconds < 0:
            raise ValueError("retry settings must be >= 0")

    def ceiling(self, retry_number: int) -> float:
        """Upper bound of the wait before retry `retry_number` (0-based)."""
        return min(self.max_seconds, self.base_seconds * (2.0 ** min(retry_number, 62)))

    def backoff(self, retry_number: int, retry_after: float | None = None) -> float:
        delay = self.rng.uniform(0.0, self.ceiling(retry_number))
        if retry_after is not None and retry_after > delay:
            delay = min(self.max_seconds, retry_after)
        return delay

    async def wait(self, retry_number: int, retry_after: float | None = None) -> float:
        delay = self.backoff(retry_number, retry_after)
        if delay > 0:
            await self.sleep(delay)
        return delay


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # HTTP-date form: ignore, the jittered backoff applies
    return seconds if seconds >= 0 else None
