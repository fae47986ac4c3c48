"""Scheduler partitions: which of P partitions an execution belongs to, and where its events wait.

The EVENTS stream is sourced into ``JAMJET_SCHED_EVENTS`` (a work queue) under
``jamjet.sched.<partition>.<tenant>.<execution_id>``, the partition computed by the server's
``partition()`` subject transform over the execution id: FNV-1a (32 bit) of the id modulo P, which
:func:`partition_of` computes the same way. Each partition has one durable consumer; the scheduler
replica holding a partition's lease consumes it. P is fixed at deploy: changing it moves executions
between partitions while their events wait in the old ones.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StreamConfig, StreamSource, SubjectTransform
from nats.js.errors import APIError, NotFoundError

from jamjet_common import subjects
from jamjet_common.errors import InvalidTokenError
from jamjet_common.streams import (
    EVENTS,
    LEGACY_SCHEDULER_EVENTS_CONSUMER,
    StreamLimits,
    durable_consumer,
    ensure_kv,
    ensure_stream,
    require_streams,
    stream_config,
)

logger = logging.getLogger(__name__)
SCHED_EVENTS = "JAMJET_SCHED_EVENTS"
KV_SCHEDULER_LEASES = "jamjet_scheduler_leases"
"""``partition.<n>`` -> the owning replica's instance id; ``member.<instance>`` -> a live replica."""
SCHED_PREFIX = f"{subjects.PREFIX}.sched"
STREAM_SOURCE = "Nats-Stream-Source"
"""Set by the server on a sourced message: ``<origin stream> <origin sequence> ...``."""
STORAGE_TYPE_FIXED = 10012
"""nats-server's "storage type can not be updated": a consumer made before they were kept in memory."""
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


@functools.lru_cache(maxsize=65536)
def partition_of(execution_id: str, count: int) -> int:
    """The execution's partition, as the server's ``partition(count, <execution id>)`` computes it.

    Remembered: the scheduler asks for each of an execution's events, and the hash is a Python loop."""
    digest = _FNV_OFFSET
    for byte in execution_id.encode():
        digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return digest % count


def partition_filter(partition: int) -> str:
    return f"{SCHED_PREFIX}.{partition}.>"


def consumer_name(partition: int) -> str:
    return f"jamjet-scheduler-p{partition}"


def parse_sched_subject(subject: str) -> tuple[int, str, str]:
    """``(partition, tenant, execution_id)`` of a partitioned event's subject."""
    parts = subject.split(".")
    if len(parts) != 5 or f"{parts[0]}.{parts[1]}" != SCHED_PREFIX or not parts[2].isdigit():
        raise InvalidTokenError(f"not a partitioned event subject: {subject!r}")
    return int(parts[2]), parts[3], parts[4]


def origin_sequence(headers: dict[str, str] | None) -> int:
    """The EVENTS stream sequence of a sourced event (what conditional appends are checked against)."""
    source = (headers or {}).get(STREAM_SOURCE, "").split()
    if len(source) < 2 or source[0] != EVENTS or not source[1].isdigit():
        raise InvalidTokenError(f"a partitioned event without its {EVENTS} sequence: {source!r}")
    return int(source[1])


def partitioned_events_stream(limits: StreamLimits, count: int) -> StreamConfig:
    """The work queue the scheduler's partition consumers read; every event, sorted by partition."""
    config = stream_config(limits, SCHED_EVENTS, [], RetentionPolicy.WORK_QUEUE, limits.work_max_age_secs)
    config.subjects = None  # fed only by the source
    dest = f"{SCHED_PREFIX}.{{{{partition({count},2)}}}}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}"
    transform = SubjectTransform(src=f"{subjects.PREFIX}.events.*.*", dest=dest)
    config.sources = [StreamSource(name=EVENTS, subject_transforms=[transform])]
    return config


async def drop_legacy_consumer(js: JetStreamContext) -> None:
    """Delete the pre-partition scheduler's consumer of EVENTS, if an upgrade left it behind."""
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(EVENTS, LEGACY_SCHEDULER_EVENTS_CONSUMER)
        logger.info("deleted the pre-partition consumer %s of %s", LEGACY_SCHEDULER_EVENTS_CONSUMER, EVENTS)


async def ensure_partitioned(
    js: JetStreamContext, limits: StreamLimits, count: int, lease_secs: float, *, create: bool = True
) -> None:
    """The partitioned events stream and the lease bucket; ``create=False`` (a service without the
    JetStream admin API) only checks that ``jamjet-admin init`` made them."""
    if create:
        await ensure_stream(js, partitioned_events_stream(limits, count))
        await ensure_kv(js, KV_SCHEDULER_LEASES, limits, ttl=lease_secs)
        await drop_legacy_consumer(js)
        return
    await require_streams(js, (SCHED_EVENTS, f"KV_{KV_SCHEDULER_LEASES}"))


async def ensure_consumer(js: JetStreamContext, partition: int, count: int, ack_wait: float) -> None:
    """The partition's durable consumer, its state kept in the servers' memory (``mem_storage``).

    nats-server writes a file-backed consumer's state up to ten times a second, each time through a new
    temporary file: with a dozen partitions that was 11.7% of the server's CPU in W2 (docs/benchmarks.md,
    eleventh pass). What a restart of every server that held it loses is only which events were
    delivered and how often: the acknowledged ones are gone from the work queue already, so the consumer
    made again here (after a reconnect, or when a pull finds it missing) delivers exactly the
    unacknowledged ones again, which the scheduler folds idempotently. A consumer made on disk by an
    earlier version stays as it is: its storage cannot be changed in place.
    """
    config = durable_consumer(
        consumer_name(partition),
        [partition_filter(partition)],
        ack_wait=ack_wait,
        max_ack_pending=max(20000 // count, 256),
    )
    config.mem_storage = True
    try:
        await js.add_consumer(SCHED_EVENTS, config=config)
    except APIError as exc:
        if exc.err_code != STORAGE_TYPE_FIXED:
            raise
        logger.debug(
            "partition %d keeps its consumer on disk (made before they were kept in memory)", partition
        )
