"""The ``tool`` node: call the tool its ``tool_ref`` names in the IR's ``tools`` map.

Input: with an ``input_mapping``, an object of its keys, each value a ``state.a.b`` path (the value at
that path, null when missing; ``state`` alone is the whole state), a ``{{ state.a.b }}`` template
(``executors/state_mapping.py``), or any other value taken literally; without one, the whole state.
A ``tool_ref`` with no ``tools`` entry that is a dotted Python path is a ``python`` tool.

Kinds:

- ``http``: ``reference`` is an http(s) URL; the input is POSTed as JSON, and the JSON answer is the
  result. Failures are classified as for the model executor (429 retryable with its retry-after,
  5xx/timeouts/connection failures retryable, other statuses fatal).
- ``python`` (or ``python_fn``): ``reference`` is ``module:function`` or ``module.function``, called
  with the input as its one argument like a ``python_fn`` node, under the same
  ``JAMJET_PYTHON_ALLOWED_MODULES``.

Result: the tool's answer is the node's output; an object answer is also its state patch (an RFC 7396
merge patch, so null members delete state keys), any other answer patches ``{"<tool_ref>": answer}``,
and an empty answer patches nothing.

Credentials, for ``http`` tools, come from the secrets named in the tool's ``permissions``
(``tool_credentials.py``), through the operator's mapping only; the URL's host must pass the sandbox's
host guard (``sandbox/network.py``). A refusal fails the node with a ``policy_violation``.

Settings: ``JAMJET_TOOL_TIMEOUT_SECS`` (default 60) per request, ``JAMJET_TOOL_MAX_CONNECTIONS``
(default 100) for the connection pool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from jamjet_common.config import Env
from jamjet_common.errors import FatalError
from jamjet_common.ir import ToolConfig, ToolNode
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.executors.http_errors import pooled_client, post_json
from services.worker.executors.python_fn import PythonFnExecutor, call
from services.worker.executors.state_mapping import map_input
from services.worker.executors.tool_credentials import auth_headers
from services.worker.sandbox import SandboxConfig
from services.worker.sandbox.secrets import Secrets

HTTP_KINDS = frozenset({"http"})
PYTHON_KINDS = frozenset({"python", "python_fn"})


@dataclass(frozen=True, slots=True)
class ToolSettings:
    timeout_secs: float
    max_connections: int
    sandbox: SandboxConfig

    @classmethod
    def from_env(cls, env: Env) -> ToolSettings:
        return cls(
            timeout_secs=env.number("JAMJET_TOOL_TIMEOUT_SECS", 60.0, minimum=0.001),
            max_connections=env.integer("JAMJET_TOOL_MAX_CONNECTIONS", 100, minimum=1),
            sandbox=SandboxConfig.from_env(env),
        )


class ToolExecutor:
    """HTTP and Python tools; ``aclose()`` it when the worker stops."""

    def __init__(
        self, settings: ToolSettings, *, secrets: Env | None = None, client: httpx.AsyncClient | None = None
    ) -> None:
        self._settings = settings
        self._secrets = Secrets(settings.sandbox.secrets, (secrets or Env()).environ)
        self._client = client or pooled_client(settings.max_connections, settings.timeout_secs)
        self._python = PythonFnExecutor(settings.sandbox.python)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        kind = ctx.node.kind
        if not isinstance(kind, ToolNode):
            raise FatalError(f"tool executor cannot run a '{kind.tag}' node")
        config = ctx.item.resources.tool if ctx.item.resources is not None else None
        config = config or implicit_python_tool(kind.tool_ref)
        if config is None:
            raise FatalError(f"tool node '{ctx.node.id}': tool '{kind.tool_ref}' is not in the IR's tools")
        arguments = tool_input(kind.input_mapping, ctx.state)
        started = time.monotonic()
        answer = await self._call(kind.tool_ref, config, arguments, ctx.item.tenant)
        return tool_result(kind.tool_ref, answer, int((time.monotonic() - started) * 1000))

    async def _call(self, tool_ref: str, config: ToolConfig, arguments: Any, tenant: str) -> Any:
        if config.kind in HTTP_KINDS:
            return await self._http(tool_ref, config, arguments, tenant)
        if config.kind in PYTHON_KINDS:
            return await self._python_call(tool_ref, config.reference, arguments)
        raise FatalError(f"tool '{tool_ref}': kind '{config.kind}' is not supported by the tool executor")

    async def _http(self, tool_ref: str, config: ToolConfig, arguments: Any, tenant: str) -> Any:
        if not config.reference.startswith(("http://", "https://")):
            raise FatalError(f"tool '{tool_ref}': reference {config.reference!r} is not an http(s) URL")
        await self._settings.sandbox.hosts.check(config.reference, f"tool '{tool_ref}'")
        credentials = auth_headers(tool_ref, config.permissions, self._secrets, tenant)
        headers = {"Accept": "application/json", **credentials}
        response = await post_json(
            self._client,
            config.reference,
            arguments,
            what=f"tool '{tool_ref}'",
            timeout=self._settings.timeout_secs,
            headers=headers,
        )
        return response.body

    async def _python_call(self, tool_ref: str, reference: str, arguments: Any) -> Any:
        module, function_name = python_reference(tool_ref, reference)
        function = await self._python.function(module, function_name)
        value = await call(function, arguments)
        try:
            return msgspec.to_builtins(value, str_keys=True)
        except (TypeError, ValueError) as exc:
            raise FatalError(
                f"tool '{tool_ref}' returned a value that is not JSON-serializable: {exc}"
            ) from exc


def tool_input(mapping: dict[str, str], state: dict[str, Any]) -> dict[str, Any]:
    return map_input(mapping, state) if mapping else dict(state)


def tool_result(tool_ref: str, answer: Any, duration_ms: int) -> ExecutionResult:
    if answer is None:
        return ExecutionResult(output={}, state_patch={}, duration_ms=duration_ms)
    patch = answer if isinstance(answer, dict) else {tool_ref: answer}
    return ExecutionResult(output=answer, state_patch=patch, duration_ms=duration_ms)


def implicit_python_tool(tool_ref: str) -> ToolConfig | None:
    """A ``tool_ref`` with no ``tools`` entry that names a Python function (the SDK's graph builder
    and README YAML write ``tool_ref: tools.web_search`` without one) is that function, a ``python`` tool."""
    module, _, function = tool_ref.replace(":", ".").rpartition(".")
    if not module or not all(part.isidentifier() for part in (*module.split("."), function)):
        return None
    return ToolConfig(kind="python", reference=tool_ref)


def python_reference(tool_ref: str, reference: str) -> tuple[str, str]:
    """``module:function`` or ``module.function`` as (module, function)."""
    module, sep, function = reference.partition(":")
    if not sep:
        module, _, function = reference.rpartition(".")
    if not module or not function:
        raise FatalError(
            f"tool '{tool_ref}': python reference {reference!r} is not 'module:function' or 'module.function'"
        )
    return module, function
