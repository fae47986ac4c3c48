"""The four services with an ``eval`` executor on the worker (wired here, whatever the default
registry holds), for the end-to-end eval tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from jamjet_common.config import CommonConfig
from jamjet_common.service import Service
from jamjet_common.streams import StreamLimits
from services.event_store.service import EventStoreService
from services.policy.service import PolicyService
from services.scheduler.service import SchedulerService
from services.worker.config import WorkerConfig
from services.worker.executors import builtin_registry
from services.worker.executors.eval import EvalExecutor
from services.worker.service import WorkerService
from tests.e2e.stack import Stack
from tests.harness import running

FAST_RETRY = {"max_attempts": 5, "backoff": "fixed", "initial_delay": 0, "max_delay": 0}


def eval_worker(stack: Stack, **extra: str) -> WorkerService:
    env = stack.env(JAMJET_INSTANCE_ID="worker-eval", **extra)
    config = WorkerConfig.from_env(env)
    registry = builtin_registry(config.sandbox.python)
    registry.register("eval", EvalExecutor(registry, ("tests.evals",)))
    common, limits = CommonConfig.from_env(env, "worker"), StreamLimits.from_env(env)
    return WorkerService(common, limits, config, registry=registry, env=env)


@contextlib.asynccontextmanager
async def eval_services(stack: Stack, **extra: str) -> AsyncIterator[None]:
    env = stack.env(**extra)
    built: list[Service] = [EventStoreService.from_env(env), PolicyService.from_env(env)]
    built += [SchedulerService.from_env(env), eval_worker(stack, **extra)]
    async with contextlib.AsyncExitStack() as services:
        for service in built:
            await services.enter_async_context(running(service))
        yield


def eval_workflow(wf: str, scorers: list[dict[str, Any]], **kind: Any) -> dict[str, Any]:
    """draft (python_fn) -> check (eval of the draft's output in the state) -> after (python_fn)."""
    nodes = {
        "draft": {
            "id": "draft",
            "kind": {"type": "python_fn", "module": "tests.evals.fns", "function": "answer"},
        },
        "check": {
            "id": "check",
            "kind": {"type": "eval", "scorers": scorers, **kind},
            "retry_policy": "fast",
        },
        "after": {
            "id": "after",
            "kind": {"type": "python_fn", "module": "tests.evals.fns", "function": "after"},
        },
    }
    return {
        "workflow_id": wf,
        "version": "1.0.0",
        "state_schema": "{}",
        "start_node": "draft",
        "nodes": nodes,
        "edges": [
            {"from": "draft", "to": "check"},
            {"from": "check", "to": "after"},
            {"from": "after", "to": "end"},
        ],
        "retry_policies": {"fast": FAST_RETRY},
        "models": {},
        "tools": {},
        "mcp_servers": {},
        "remote_agents": {},
    }
