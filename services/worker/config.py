"""Worker settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from jamjet_common import telemetry
from jamjet_common.config import ConfigError, Env
from jamjet_common.errors import InvalidTokenError
from jamjet_common.subjects import check_token
from services.worker.artifacts import DEFAULT_THRESHOLD_BYTES
from services.worker.sandbox import SandboxConfig

DEFAULT_QUEUES = ("general", "model", "tool", "python_tool", "retrieval", "privileged")


EAGER_BY_DEFAULT = frozenset({"condition", "parallel", "join"})
"""Kinds that compute from the state alone: running one whose dispatch turns out withdrawn changes
nothing. ``python_fn`` may be added: its functions then run at least once even when withdrawn."""
EAGER_ALLOWED = EAGER_BY_DEFAULT | {"python_fn"}
"""Kinds that run inside the worker and call nothing outside it; the others never start eagerly."""


DEFAULT_CONCURRENCY = 200
"""Slots a worker process runs nodes in. A fan-out's items of one execution take a slot each and then
append their events one at a time, so slots spent waiting on a sibling's round trip are common: W2 ran
4.5-5% faster at 200 than at 100 and 9% slower at 400 (docs/benchmarks.md, fourteenth pass)."""

@dataclass(frozen=True, slots=True)
class WorkerConfig:
    queues: tuple[str, ...]
    """Queue types served; one durable pull consumer each."""
    concurrency: int
    """Nodes run at once by this process, across all its queues."""
    lease_secs: float
    """The WORK consumers' ack_wait; heartbeats renew it every third of it."""
    max_ack_pending: int
    policy_timeout_secs: float
    policy_retry_secs: float
    """How long an item waits for redelivery when the policy service did not answer."""
    sandbox: SandboxConfig
    """What tenant IR may make this worker do: Python modules, MCP commands, secrets, hosts."""
    capture_prompts: bool = False
    """Model prompts and completions as span attributes (``JAMJET_CAPTURE_PROMPTS``), truncated."""
    artifact_threshold_bytes: int = DEFAULT_THRESHOLD_BYTES
    """Outputs larger than this (canonical JSON) go to the artifacts bucket (``artifacts.py``)."""
    eager_kinds: frozenset[str] = EAGER_BY_DEFAULT
    """``JAMJET_WORKER_EAGER_KINDS``: node kinds whose first delivery runs while its ``NodeStarted`` is
    appended, instead of after (``pipeline.py``)."""

    @property
    def heartbeat_secs(self) -> float:
        return self.lease_secs / 3

    @classmethod
    def from_env(cls, env: Env) -> WorkerConfig:
        return cls(
            queues=_queues(env.items("JAMJET_WORKER_QUEUES", DEFAULT_QUEUES)),
            concurrency=env.integer("JAMJET_WORKER_CONCURRENCY", DEFAULT_CONCURRENCY, minimum=1),
            lease_secs=env.number("JAMJET_LEASE_SECS", 30.0, minimum=1.0),
            max_ack_pending=env.integer("JAMJET_WORKER_MAX_ACK_PENDING", 10000, minimum=1),
            policy_timeout_secs=env.number("JAMJET_POLICY_TIMEOUT_SECS", 5.0, minimum=0.1),
            policy_retry_secs=env.number("JAMJET_POLICY_RETRY_SECS", 5.0, minimum=0.1),
            sandbox=SandboxConfig.from_env(env),
            capture_prompts=telemetry.capture_prompts(env.environ),
            artifact_threshold_bytes=env.integer(
                "JAMJET_ARTIFACT_THRESHOLD_BYTES", DEFAULT_THRESHOLD_BYTES, minimum=1
            ),
            eager_kinds=eager_kinds(env),
        )


def eager_kinds(env: Env) -> frozenset[str]:
    return env.subset("JAMJET_WORKER_EAGER_KINDS", EAGER_BY_DEFAULT, EAGER_ALLOWED, "cannot start eagerly")


def _queues(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise ConfigError("JAMJET_WORKER_QUEUES names no queue")
    for name in names:
        try:
            check_token(name, "queue type")
        except InvalidTokenError as exc:
            raise ConfigError(f"JAMJET_WORKER_QUEUES: {exc}") from None
    return tuple(dict.fromkeys(names))
