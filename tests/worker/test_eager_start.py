"""A short node's first delivery runs while its ``NodeStarted`` is appended (``pipeline.py``).

The worker's publisher here holds each ``NodeStarted`` back for a while and notes whether the node's
function ran meanwhile: a real publish to a real nats-server, only later.
"""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common.config import ConfigError, Env
from jamjet_common.events import NodeCancelled
from jamjet_common.ir import NodeDef
from jamjet_common.messages import WorkItem
from jamjet_common.publisher import MSG_ID, Ack, JsPublisher
from services.policy.service import PolicyService
from services.worker.config import EAGER_BY_DEFAULT, WorkerConfig
from services.worker.history import Attempt
from services.worker.settle import DONE
from tests.helpers import eventually
from tests.worker import fns
from tests.worker.builders import cond_node, fn_node
from tests.worker.conftest import Dispatcher
from tests.worker.support import key, pipeline, tags

HELD_SECS = 0.5
"""How long a start is held back when the function does not run meanwhile (the negative cases)."""


class HeldStarts(JsPublisher):
    """Holds each ``NodeStarted`` append until the function counted under ``key`` ran, or HELD_SECS."""

    def __init__(self, nc: NATS, key: str) -> None:
        super().__init__(nc)
        self._key = key
        self.ran_while_held: list[bool] = []

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None, **kw: Any
    ) -> Ack:
        if ":started:" in (headers or {}).get(MSG_ID, ""):
            self.ran_while_held.append(await _within(HELD_SECS, lambda: fns.calls[self._key] > 0))
        return await super().publish(subject, payload, headers, **kw)


async def _within(secs: float, condition: Any) -> bool:
    try:
        await eventually(condition, timeout=secs)
    except AssertionError:
        return False
    return True


EAGER_FUNCTIONS = frozenset({"python_fn"})


async def handled(
    nc: NATS,
    js: JetStreamContext,
    item: WorkItem,
    k: str,
    *,
    eager: frozenset[str] = EAGER_FUNCTIONS,
    redelivered: bool = False,
) -> tuple[object, list[bool]]:
    held = HeldStarts(nc, k)
    runner = await pipeline(nc, js, publisher=held, eager_kinds=eager)
    verdict = await runner.handle(item, Attempt(), redelivered=redelivered)
    return verdict, held.ran_while_held


async def scheduled(dispatcher: Dispatcher, node: NodeDef, k: str) -> WorkItem:
    return await dispatcher.schedule(node, {"name": "x", "key": k})


async def test_a_first_delivery_runs_while_its_start_is_appended(
    policy: PolicyService, nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    k = key()
    item = await scheduled(dispatcher, fn_node("greet"), k)
    assert await handled(nc, js, item, k) == (DONE, [True])
    assert tags(await dispatcher.node_events(item)) == ["node_started", "node_completed"]
    assert fns.calls[k] == 1


async def test_by_default_a_function_runs_only_once_its_start_is_stored(
    policy: PolicyService, nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    k = key()
    item = await scheduled(dispatcher, fn_node("greet"), k)
    assert await handled(nc, js, item, k, eager=EAGER_BY_DEFAULT) == (DONE, [False])
    assert tags(await dispatcher.node_events(item)) == ["node_started", "node_completed"]
    assert fns.calls[k] == 1


async def test_a_redelivery_stores_its_start_before_the_node_runs(
    policy: PolicyService, nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    # A node that kills its worker before the start lands is redelivered: attempts must count again.
    k = key()
    item = await scheduled(dispatcher, fn_node("greet"), k)
    assert await handled(nc, js, item, k, redelivered=True) == (DONE, [False])
    assert tags(await dispatcher.node_events(item)) == ["node_started", "node_completed"]


async def test_a_withdrawn_dispatch_records_nothing_more_though_its_node_may_have_run(
    policy: PolicyService, nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    k = key()
    item = await scheduled(dispatcher, fn_node("greet"), k)
    await dispatcher.log.append(item.tenant, item.execution_id, NodeCancelled(node_id=item.node_id))
    verdict, _ = await handled(nc, js, item, k)
    assert verdict == DONE
    assert tags(await dispatcher.node_events(item)) == ["node_cancelled"]


async def test_a_condition_starts_eagerly_by_default_and_its_outcome_follows_its_start(
    policy: PolicyService, nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    item = await dispatcher.schedule(cond_node([(None, "a")]), {})
    assert await (await pipeline(nc, js)).handle(item, Attempt()) == DONE
    assert tags(await dispatcher.node_events(item)) == ["node_started", "node_completed"]


@pytest.mark.parametrize(
    ("value", "kinds"),
    [("", EAGER_BY_DEFAULT), ("none", frozenset()), ("python_fn, condition", {"python_fn", "condition"})],
)
def test_the_eager_kinds_come_from_the_environment(value: str, kinds: frozenset[str]) -> None:
    config = WorkerConfig.from_env(Env({"JAMJET_WORKER_EAGER_KINDS": value}))
    assert config.eager_kinds == kinds


def test_a_kind_that_calls_out_cannot_start_eagerly() -> None:
    with pytest.raises(ConfigError, match="JAMJET_WORKER_EAGER_KINDS: model cannot start eagerly"):
        WorkerConfig.from_env(Env({"JAMJET_WORKER_EAGER_KINDS": "python_fn,model"}))
