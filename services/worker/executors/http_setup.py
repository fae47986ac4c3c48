"""The executors that call out over HTTP (``model``, ``tool``), built from the environment together.

They hold pooled HTTP clients, so whoever registers them closes them when the worker stops::

    http = register_http_executors(registry, env)
    ...
    await http.aclose()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from jamjet_common.config import Env
from services.worker.executors.base import Executor
from services.worker.executors.model import ModelExecutor
from services.worker.executors.model_settings import ModelSettings
from services.worker.executors.tool import ToolExecutor, ToolSettings
from services.worker.progress import ProgressSink


class Registrar(Protocol):
    def register(self, tag: str, executor: Executor) -> None: ...


@dataclass(frozen=True, slots=True)
class HttpExecutors:
    model: ModelExecutor
    tool: ToolExecutor

    @classmethod
    def from_env(cls, env: Env, progress: ProgressSink | None = None) -> HttpExecutors:
        """Settings are read (and checked) here; credentials of tools at each call.

        With ``progress``, model calls are streamed and their content published as it arrives.
        """
        model_settings, tool_settings = ModelSettings.from_env(env), ToolSettings.from_env(env)
        model = ModelExecutor(model_settings, progress=progress)
        return cls(model, ToolExecutor(tool_settings, secrets=env))

    def register(self, registry: Registrar) -> None:
        registry.register("model", self.model)
        registry.register("tool", self.tool)

    async def aclose(self) -> None:
        await self.model.aclose()
        await self.tool.aclose()


def register_http_executors(registry: Registrar, env: Env) -> HttpExecutors:
    executors = HttpExecutors.from_env(env)
    executors.register(registry)
    return executors
