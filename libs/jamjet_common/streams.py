"""JetStream streams, consumers and KV buckets of the runtime, and their idempotent provisioning."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RePublish,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    SubjectTransform,
)
from nats.js.errors import BadRequestError, NotFoundError

from jamjet_common import subjects
from jamjet_common.config import Env
from jamjet_common.errors import JamjetError

logger = logging.getLogger(__name__)

CMDS = "JAMJET_CMDS"
EVENTS = "JAMJET_EVENTS"
WORK = "JAMJET_WORK"
DLQ = "JAMJET_DLQ"
TIMERS = "JAMJET_TIMERS"
PROGRESS = "JAMJET_PROGRESS"
"""agent_tool streaming chunks on jamjet.progress.*, kept a while so that a late subscriber can replay."""
SCHEDULER_TIMERS_CONSUMER = "jamjet-scheduler-timers"
KV_WORKFLOWS = "jamjet_workflows"
KV_TENANTS = "jamjet_tenants"
KV_AGENTS = "jamjet_agents"
"""The agent registry: ``<agent id>`` -> the agent record, ``uri.<sha256 of the uri>`` -> the agent id."""
KV_REPLIES = "jamjet_replies"
"""Which replica answers which requester of a stored command (keys expire after a few minutes)."""
OBJ_ARTIFACTS = "jamjet_artifacts"
"""Large node outputs, content-addressed (``jamjet_common.artifacts``); no age limit, since the event
store resolves them for as long as it keeps the events that refer to them."""

WORKER_CONSUMER_PREFIX = "jamjet-worker-"
"""Workers share one durable pull consumer per queue type: ``jamjet-worker-<queue_type>``."""
SCHEDULER_CMDS_CONSUMER = "jamjet-scheduler-cmds"
LEGACY_SCHEDULER_EVENTS_CONSUMER = "jamjet-scheduler"
"""Before partitions, every scheduler replica read EVENTS through this one durable consumer; left
behind by an upgrade, it would pile up every event unacked (``partitions.ensure_partitioned`` deletes it)."""
EVENT_STORE_CONSUMER = "jamjet-event-store"
EVENT_STORE_WORKFLOWS_CONSUMER = "jamjet-event-store-workflows"
STREAM_EXISTS_DIFFERENT = 10058
DAY = 86400.0
REPLY_CLAIM_TTL_SECS = 300.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class StreamLimits:
    replicas: int
    events_max_age_secs: float
    events_max_bytes: int
    work_max_age_secs: float
    cmds_max_age_secs: float
    dlq_max_age_secs: float
    max_msg_bytes: int
    duplicate_window_secs: float
    progress_max_age_secs: float = DAY
    progress_max_msgs_per_subject: int = 10_000

    @classmethod
    def from_env(cls, env: Env) -> StreamLimits:
        return cls(
            replicas=env.integer("JAMJET_STREAM_REPLICAS", 1, minimum=1),
            events_max_age_secs=env.number("JAMJET_EVENTS_MAX_AGE_DAYS", 30.0) * DAY,
            events_max_bytes=env.integer("JAMJET_EVENTS_MAX_BYTES", -1, minimum=-1),
            work_max_age_secs=env.number("JAMJET_WORK_MAX_AGE_DAYS", 7.0) * DAY,
            cmds_max_age_secs=env.number("JAMJET_CMDS_MAX_AGE_DAYS", 7.0) * DAY,
            dlq_max_age_secs=env.number("JAMJET_DLQ_MAX_AGE_DAYS", 30.0) * DAY,
            max_msg_bytes=env.integer("JAMJET_STREAM_MAX_MSG_BYTES", 1024 * 1024, minimum=1024),
            duplicate_window_secs=env.number("JAMJET_DUPLICATE_WINDOW_SECS", 120.0, minimum=1.0),
            progress_max_age_secs=env.number("JAMJET_PROGRESS_MAX_AGE_HOURS", 24.0, minimum=0.001) * HOUR,
            progress_max_msgs_per_subject=env.integer(
                "JAMJET_PROGRESS_MAX_MSGS_PER_EXECUTION", 10_000, minimum=1
            ),
        )


def _stream(
    limits: StreamLimits, name: str, subject_list: list[str], retention: RetentionPolicy, max_age: float
) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=subject_list,
        retention=retention,
        max_age=max_age,
        storage=StorageType.FILE,
        num_replicas=limits.replicas,
        max_msg_size=limits.max_msg_bytes,
        duplicate_window=limits.duplicate_window_secs,
        discard=DiscardPolicy.OLD,
    )


def stream_configs(limits: StreamLimits) -> list[StreamConfig]:
    cmds = _stream(
        limits, CMDS, subjects.CMD_STREAM_SUBJECTS, RetentionPolicy.WORK_QUEUE, limits.cmds_max_age_secs
    )
    # no_ack: a command sent with NATS request/reply must get the handler's answer, not a PubAck.
    cmds.no_ack = True
    events = _stream(
        limits, EVENTS, [subjects.APPEND_ALL], RetentionPolicy.LIMITS, limits.events_max_age_secs
    )
    # Writers publish to jamjet.append.*; only what the stream accepts is stored and republished as
    # jamjet.events.*, so plain subscribers never see an append that lost a concurrency race.
    events.subject_transform = SubjectTransform(src=subjects.APPEND_ALL, dest=subjects.EVENTS_ALL)
    events.republish = RePublish(src=subjects.EVENTS_ALL, dest=subjects.EVENTS_ALL)
    events.max_bytes = limits.events_max_bytes
    events.allow_direct = True
    work = _stream(limits, WORK, [subjects.WORK_ALL], RetentionPolicy.WORK_QUEUE, limits.work_max_age_secs)
    dlq = _stream(limits, DLQ, [subjects.DLQ_ALL], RetentionPolicy.LIMITS, limits.dlq_max_age_secs)
    # Durable timers: a message is nak'ed with the time left until it is due, so it waits in the stream.
    timers = _stream(
        limits, TIMERS, [subjects.TIMERS_ALL], RetentionPolicy.WORK_QUEUE, limits.work_max_age_secs
    )
    return [cmds, events, work, dlq, timers, progress_stream(limits)]


def progress_stream(limits: StreamLimits) -> StreamConfig:
    progress = _stream(
        limits, PROGRESS, [subjects.PROGRESS_ALL], RetentionPolicy.LIMITS, limits.progress_max_age_secs
    )
    # Per execution (one subject each): a chatty agent cannot push other executions' chunks out.
    progress.max_msgs_per_subject = limits.progress_max_msgs_per_subject
    # The server refuses a duplicate window longer than max_age.
    progress.duplicate_window = min(limits.duplicate_window_secs, limits.progress_max_age_secs)
    return progress


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config=config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_EXISTS_DIFFERENT:
            raise
        logger.info("updating stream %s to the current configuration", config.name)
        await js.update_stream(config=config)


class StreamsMissingError(JamjetError):
    code = "streams_missing"


async def ensure_streams(js: JetStreamContext, limits: StreamLimits, *, create: bool = True) -> None:
    """Create or update every stream and KV bucket; safe to call from every service at start.

    ``create=False`` (a service without the JetStream admin API, see docs/security.md) only checks that
    they exist: ``jamjet-admin init`` creates and updates them with operator credentials.
    """
    if not create:
        await check_streams(js, limits)
        return
    for config in stream_configs(limits):
        await ensure_stream(js, config)
    for bucket in (KV_WORKFLOWS, KV_TENANTS, KV_AGENTS):
        await ensure_kv(js, bucket, limits)
    await ensure_kv(js, KV_REPLIES, limits, ttl=REPLY_CLAIM_TTL_SECS)
    await ensure_object_store(js, OBJ_ARTIFACTS, limits)


async def ensure_kv(
    js: JetStreamContext, bucket: str, limits: StreamLimits, *, ttl: float | None = None
) -> None:
    """The bucket, created if missing; on a single server it answers reads directly (``allow_direct``:
    229 against 493 us a read here, a start reads two), while a replicated one answers through its
    leader, so that a read right after a write (a tenant suspended, a version registered) sees it."""
    direct = limits.replicas == 1
    try:
        info = await js.stream_info(f"KV_{bucket}")
    except NotFoundError:
        config = KeyValueConfig(
            bucket=bucket,
            history=1,
            storage=StorageType.FILE,
            replicas=limits.replicas,
            ttl=ttl,
            direct=direct,
        )
        await js.create_key_value(config=config)
        return
    if bool(info.config.allow_direct) != direct:
        await js.update_stream(replace(info.config, allow_direct=direct))


async def ensure_object_store(js: JetStreamContext, bucket: str, limits: StreamLimits) -> None:
    try:
        await js.object_store(bucket)
    except (NotFoundError, BadRequestError):
        config = ObjectStoreConfig(bucket=bucket, storage=StorageType.FILE, replicas=limits.replicas)
        await js.create_object_store(bucket, config=config)


def stream_names(limits: StreamLimits) -> list[str]:
    """Every stream the runtime needs, KV buckets and the object store included."""
    buckets = [f"KV_{b}" for b in (KV_WORKFLOWS, KV_TENANTS, KV_AGENTS, KV_REPLIES)]
    return [c.name for c in stream_configs(limits) if c.name] + buckets + [f"OBJ_{OBJ_ARTIFACTS}"]


async def check_streams(js: JetStreamContext, limits: StreamLimits) -> None:
    await require_streams(js, stream_names(limits))


async def require_streams(js: JetStreamContext, names: Iterable[str]) -> None:
    """Stop with ``streams_missing`` unless every stream exists (a service without provisioning rights)."""
    missing = []
    for name in names:
        try:
            await js.stream_info(name)
        except NotFoundError:
            missing.append(name)
    if missing:
        raise StreamsMissingError(
            f"streams {', '.join(missing)} do not exist and JAMJET_PROVISION_STREAMS is off: "
            "create them with `jamjet-admin init` (operator credentials)"
        )


def durable_consumer(
    name: str,
    filters: list[str],
    *,
    ack_wait: float,
    max_ack_pending: int,
    max_deliver: int = -1,
) -> ConsumerConfig:
    return ConsumerConfig(
        name=name,
        durable_name=name,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=max_ack_pending,
        filter_subject=filters[0] if len(filters) == 1 else None,
        filter_subjects=filters if len(filters) > 1 else None,
        max_waiting=512,
    )


async def ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    await js.add_consumer(stream, config=config)


stream_config = _stream
"""A stream of the runtime's usual settings, for modules that define streams of their own."""
