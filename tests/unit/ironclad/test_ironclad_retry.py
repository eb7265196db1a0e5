from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts_common.ironclad import RetryPolicy
from contracts_common.ironclad.retry import parse_retry_after


@given(n=st.integers(min_value=0, max_value=200), seed=st.integers(min_value=0, max_value=2**32))
def test_backoff_within_full_jitter_bounds(n: int, seed: int) -> None:
    policy = RetryPolicy(rng=random.Random(seed))
    delay = policy.backoff(n)
    assert 0.0 <= delay <= min(30.0, 0.5 * 2**n)


def test_ceiling_grows_exponentially_then_caps() -> None:
    policy = RetryPolicy()
    assert [policy.ceiling(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_backoff_is_jittered() -> None:
    policy = RetryPolicy(rng=random.Random(7))
    delays = {policy.backoff(5) for _ in range(50)}
    assert len(delays) > 40  # not a fixed schedule
    assert max(delays) <= 16.0


def test_retry_after_raises_the_wait_but_is_capped() -> None:
    policy = RetryPolicy(rng=random.Random(1), max_seconds=10.0)
    assert policy.backoff(0, retry_after=4.0) == 4.0
    assert policy.backoff(0, retry_after=100.0) == 10.0


async def test_wait_sleeps_the_backoff_it_returns() -> None:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    policy = RetryPolicy(rng=random.Random(3), sleep=sleep)
    delay = await policy.wait(2)
    assert slept == [delay]
    assert 0 < delay <= 2.0


def test_parse_retry_after() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert parse_retry_after({}) is None


def test_negative_settings_rejected() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
