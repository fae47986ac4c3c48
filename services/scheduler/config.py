"""Scheduler settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from jamjet_common.config import Env
from services.scheduler.executions import MAX_DELIVERIES
from services.scheduler.inline import INLINE_ALLOWED
from services.scheduler.planner import Limits
from services.worker.config import EAGER_BY_DEFAULT, eager_kinds

DEFAULT_PARTITIONS = 12
INLINE_KINDS_ENV = "JAMJET_SCHEDULER_INLINE_KINDS"


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    limits: Limits
    events_batch: int
    command_concurrency: int
    ack_wait_secs: float
    max_deliveries: int
    partitions: int = DEFAULT_PARTITIONS
    """P: executions are spread over this many partitions, each planned by one replica at a time."""
    lease_secs: float = 10.0
    """How long a partition stays with a replica that stopped renewing (crashed, cut off)."""
    event_lanes_under_commands: int = 4
    """While commands wait, new events go only to this many busy lanes at most (see ``priority``)."""
    inline_kinds: frozenset[str] = frozenset()
    """``JAMJET_SCHEDULER_INLINE_KINDS``: node kinds this scheduler runs itself, without a work item
    (``inline``); none by default."""
    inline_concurrency: int = 64
    """Inline nodes run at once; beyond it they go to workers."""
    inline_eager_kinds: frozenset[str] = EAGER_BY_DEFAULT
    """``JAMJET_WORKER_EAGER_KINDS``, as a worker reads it: inline nodes start as a worker's would."""

    @classmethod
    def from_env(cls, env: Env) -> SchedulerConfig:
        return cls(
            limits=Limits(
                max_concurrent_nodes=env.integer("JAMJET_MAX_CONCURRENT_NODES", 16, minimum=1),
                max_dispatch_per_pass=env.integer("JAMJET_MAX_DISPATCH_PER_PASS", 8, minimum=1),
            ),
            events_batch=env.integer("JAMJET_SCHEDULER_BATCH", 256, minimum=1),
            command_concurrency=env.integer("JAMJET_SCHEDULER_COMMAND_CONCURRENCY", 256, minimum=1),
            ack_wait_secs=env.number("JAMJET_SCHEDULER_ACK_WAIT_SECS", 30.0, minimum=1.0),
            max_deliveries=env.integer("JAMJET_SCHEDULER_MAX_DELIVERIES", MAX_DELIVERIES, minimum=1),
            partitions=env.integer("JAMJET_SCHEDULER_PARTITIONS", DEFAULT_PARTITIONS, minimum=1),
            lease_secs=env.number("JAMJET_SCHEDULER_LEASE_SECS", 10.0, minimum=1.0),
            event_lanes_under_commands=env.integer(
                "JAMJET_SCHEDULER_EVENT_LANES_UNDER_COMMANDS", 4, minimum=1
            ),
            inline_kinds=env.subset(INLINE_KINDS_ENV, frozenset(), INLINE_ALLOWED, "cannot run inline"),
            inline_concurrency=env.integer("JAMJET_SCHEDULER_INLINE_CONCURRENCY", 64, minimum=1),
            inline_eager_kinds=eager_kinds(env),
        )
