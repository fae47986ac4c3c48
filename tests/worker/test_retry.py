"""Retry arithmetic: attempts allowed and the delay before each retry."""

from __future__ import annotations

from typing import Any

import pytest

from jamjet_common.ir import RetryPolicy
from services.worker.failures import Failure
from services.worker.retry import (
    MAX_RETRY_AFTER_SECS,
    delay_for_attempt,
    lease_expiry_delay,
    max_attempts,
    next_delay,
    retries,
)


def policy(**fields: object) -> RetryPolicy:
    return RetryPolicy(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        ("fixed", [0.0, 2.0, 2.0, 2.0, 2.0]),
        ("linear", [0.0, 2.0, 4.0, 6.0, 8.0]),
        ("exponential", [0.0, 2.0, 4.0, 8.0, 16.0]),
    ],
)
def test_backoff_strategies(backoff: str, delays: list[float]) -> None:
    p = policy(backoff=backoff, initial_delay=2, max_delay=100)
    assert [delay_for_attempt(p, n) for n in range(5)] == delays


def test_delay_is_capped_at_max_delay() -> None:
    p = policy(backoff="exponential", initial_delay=1, max_delay=10)
    assert [delay_for_attempt(p, n) for n in (4, 5, 6, 500, 5000)] == [8.0, 10.0, 10.0, 10.0, 10.0]


def test_jitter_scales_the_delay_between_half_and_all_of_it() -> None:
    p = policy(backoff="fixed", initial_delay=4, max_delay=10, jitter=True)
    assert delay_for_attempt(p, 1, rng=lambda: 0.0) == 2.0
    assert delay_for_attempt(p, 1, rng=lambda: 1.0) == 4.0
    assert all(2.0 <= delay_for_attempt(p, 1) <= 4.0 for _ in range(200))


def test_no_policy_means_three_attempts_exponential_from_one_second() -> None:
    assert max_attempts(None) == 3
    assert [delay_for_attempt(None, n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]


def test_max_attempts_is_at_least_one() -> None:
    assert max_attempts(policy(max_attempts=0)) == 1


def test_next_delay_until_attempts_run_out() -> None:
    p = policy(max_attempts=3, backoff="linear", initial_delay=1, max_delay=30)
    assert [next_delay(p, attempt, None) for attempt in range(4)] == [1.0, 2.0, None, None]


def test_retry_after_wins_but_is_bounded() -> None:
    p = policy(max_attempts=3, backoff="fixed", initial_delay=1)
    assert next_delay(p, 0, 7.5) == 7.5
    assert next_delay(p, 0, -3) == 0.0
    assert next_delay(p, 0, 1e12) == MAX_RETRY_AFTER_SECS
    assert next_delay(p, 2, 7.5) is None


@pytest.mark.parametrize(
    ("retryable_on", "error_class", "retried"),
    [
        ([], None, True),
        ([], "io_error", True),
        (["timeout"], "timeout", True),
        (["timeout"], "io_error", False),
        (["timeout"], None, False),
        ([{"custom": "quota"}], "quota", True),
        ([{"custom": "quota"}], "custom", False),
        (["rate_limit", {"custom": "quota"}], "rate_limit", True),
    ],
)
def test_retryable_on_filters_by_error_class(
    retryable_on: list[Any], error_class: str | None, retried: bool
) -> None:
    failure = Failure("x", retryable=True, error_class=error_class)
    assert retries(policy(retryable_on=retryable_on), failure) is retried


def test_fatal_failures_are_never_retried() -> None:
    assert not retries(None, Failure("x", retryable=False))
    assert not retries(
        policy(retryable_on=["io_error"]), Failure("x", retryable=False, error_class="io_error")
    )


def test_lease_expiry_delay_doubles_up_to_64_seconds() -> None:
    assert [lease_expiry_delay(n) for n in (1, 2, 3, 6, 7, 100)] == [2.0, 4.0, 8.0, 64.0, 64.0, 64.0]
