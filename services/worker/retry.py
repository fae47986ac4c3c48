"""Retry arithmetic of a node's retry policy: how many attempts, and how long between them."""

from __future__ import annotations

import random
from collections.abc import Callable

from jamjet_common.ir import RetryPolicy

DEFAULT_POLICY = RetryPolicy()
"""Used when the work item names none: 3 attempts, exponential backoff from 1 s up to 30 s."""
MAX_RETRY_AFTER_SECS = 3600.0
_MAX_DOUBLINGS = 60


def max_attempts(policy: RetryPolicy | None) -> int:
    return max((policy or DEFAULT_POLICY).max_attempts, 1)


def delay_for_attempt(
    policy: RetryPolicy | None, attempt: int, *, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before ``attempt`` (1 = the first retry); 0 before the first attempt."""
    if attempt <= 0:
        return 0.0
    policy = policy or DEFAULT_POLICY
    initial = max(float(policy.initial_delay), 0.0)
    match policy.backoff:
        case "fixed":
            delay = initial
        case "linear":
            delay = initial * attempt
        case _:
            delay = initial * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS)
    delay = min(delay, max(float(policy.max_delay), 0.0))
    if policy.jitter:
        delay *= 0.5 + 0.5 * rng()
    return delay


def next_delay(policy: RetryPolicy | None, attempt: int, retry_after: float | None) -> float | None:
    """Seconds until the attempt after ``attempt`` (0-based), or None when no attempts are left."""
    if attempt + 1 >= max_attempts(policy):
        return None
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER_SECS)
    return delay_for_attempt(policy, attempt + 1)
