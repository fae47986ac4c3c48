"""What each user of the service account may publish and subscribe to (least privilege).

Found by running the services against the generated configuration (tests/security): a subject a
service needs and lacks shows up as a permissions violation in the server's log and a failing test.
Nobody but ``operator`` may create, update, delete or purge streams, delete consumers or messages: the
JetStream API is allowed per verb below, never as ``$JS.API.>``.
"""

from __future__ import annotations

from typing import Any

from jamjet_common import partitions, streams, subjects


def inbox_prefix(user: str) -> str:
    """The user's reply subjects (``NATS_INBOX_PREFIX``): only it may subscribe to them."""
    return f"_INBOX_{user}"


JS_READ = [
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.MSG.GET.*",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.CONSUMER.INFO.>",
    "$JS.FC.>",
]
"""Reading streams and KV buckets; ordered consumers' flow control."""


def _consume(*stream_names: str) -> list[str]:
    """Create (or update) and pull from consumers on these streams, and acknowledge their messages."""
    found = []
    for s in stream_names:
        found += [f"$JS.API.CONSUMER.CREATE.{s}", f"$JS.API.CONSUMER.CREATE.{s}.>"]
        found += [
            f"$JS.API.CONSUMER.DURABLE.CREATE.{s}.>",
            f"$JS.API.CONSUMER.MSG.NEXT.{s}.>",
            f"$JS.ACK.{s}.>",
        ]
    return found


def _kv(*buckets: str) -> list[str]:
    """Put and create keys (a KV write is a publish on ``$KV.<bucket>.<key>``)."""
    return [f"$KV.{b}.>" for b in buckets]


KV_READERS = _consume(f"KV_{streams.KV_TENANTS}", f"KV_{streams.KV_AGENTS}", f"KV_{streams.KV_WORKFLOWS}")
"""Watching a bucket is an ordered consumer on its stream."""
ARTIFACTS = [f"$O.{streams.OBJ_ARTIFACTS}.>", *_consume(f"OBJ_{streams.OBJ_ARTIFACTS}")]


def _user(name: str, publish: list[str], subscribe: list[str], *, responds: bool = False) -> dict[str, Any]:
    perms: dict[str, Any] = {
        "publish": {"allow": sorted(set(publish + JS_READ))},
        "subscribe": {"allow": sorted({*subscribe, f"{inbox_prefix(name)}.>"})},
    }
    if responds:
        # Answers go to the asker's reply subject (an _INBOX or a service import's _R_), within the
        # import's response threshold: a stored command is answered when its turn comes.
        perms["allow_responses"] = {"max": 1, "expires": "2m"}
    return perms


SCHEDULER = _user(
    "scheduler",
    [
        subjects.APPEND_ALL,
        subjects.WORK_ALL,
        subjects.TIMERS_ALL,
        subjects.CANCEL_ALL,
        subjects.store("tenant_usage"),
        subjects.DLQ_ALL,  # with JAMJET_SCHEDULER_INLINE_KINDS it dead-letters exhausted dispatches too
        *_consume(streams.CMDS, streams.EVENTS, streams.TIMERS, partitions.SCHED_EVENTS),
        *_consume(f"KV_{partitions.KV_SCHEDULER_LEASES}"),
        *KV_READERS,
        *_kv(streams.KV_WORKFLOWS, streams.KV_REPLIES, partitions.KV_SCHEDULER_LEASES),
        *ARTIFACTS,
    ],
    # Cancel notices: for the nodes it runs itself (``JAMJET_SCHEDULER_INLINE_KINDS``).
    [subjects.CMD_ALL, f"{subjects.TENANT_SCOPE}.*.cmd.>", subjects.CANCEL_ALL],
    responds=True,
)
WORKER = _user(
    "worker",
    [
        subjects.APPEND_ALL,
        subjects.PROGRESS_ALL,
        subjects.POLICY_EVALUATE,
        subjects.DLQ_ALL,
        subjects.store("artifact"),
        *_consume(streams.WORK, streams.EVENTS),
        *KV_READERS,
        *ARTIFACTS,
    ],
    [subjects.CANCEL_ALL],
)
POLICY = _user(
    "policy",
    [
        subjects.DLQ_DECODE,
        *_consume(streams.CMDS),
        *KV_READERS,
        *_kv(streams.KV_TENANTS, streams.KV_AGENTS, streams.KV_REPLIES),
    ],
    [subjects.POLICY_EVALUATE, *subjects.TENANT_CMD_FILTERS, *subjects.AGENT_CMD_FILTERS],
    responds=True,
)
EVENT_STORE = _user(
    "event-store",
    [
        subjects.DLQ_ALL,
        *_consume(streams.EVENTS, streams.DLQ, f"KV_{streams.KV_WORKFLOWS}"),
        *KV_READERS,
        *ARTIFACTS,
    ],
    subjects.STORE_QUERY_SUBJECTS,
    responds=True,
)
GATEWAY = _user(
    "gateway",
    [
        subjects.CMD_ALL,
        f"{subjects.STORE_PREFIX}.>",
        *_consume(streams.PROGRESS),
        *KV_READERS,
        *ARTIFACTS,
        f"$JS.API.CONSUMER.LIST.{streams.WORK}",
        # SSE followers replay an execution's events through an ordered consumer (no acks).
        f"$JS.API.CONSUMER.CREATE.{streams.EVENTS}",
        f"$JS.API.CONSUMER.CREATE.{streams.EVENTS}.>",
    ],
    [subjects.EVENTS_ALL, subjects.PROGRESS_ALL],
)
"""A trusted client in the service account (the HTTP gateway): it names the tenant in the body, replays
progress and events (SSE followers) through ordered consumers, stores and reads artifacts (``POST``/``GET
/artifacts``), reads the workflow catalog, and lists the work queue's consumers (every route is run against
this configuration for two tenants in tests/security/test_gateway.py)."""
OPERATOR: dict[str, Any] = {}
"""No permissions block: everything, the JetStream admin API included."""

SERVICE_USERS: dict[str, dict[str, Any]] = {
    "operator": OPERATOR,
    "scheduler": SCHEDULER,
    "worker": WORKER,
    "policy": POLICY,
    "event-store": EVENT_STORE,
    "gateway": GATEWAY,
}
