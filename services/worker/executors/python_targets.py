"""What a ``python_fn`` node names, and how its function sees the state, as the ``jamjet`` SDK writes them.

- ``function`` may be a dotted path inside the module (the SDK writes ``__qualname__``, so a step
  defined in a class is ``Pipeline.extract``): resolved attribute by attribute, never through
  ``<locals>`` or private names.
- A function whose first parameter is annotated with a pydantic model is called with that model built
  from the execution state (extra keys ignored as the model says), and a returned model becomes the
  state patch (its JSON dump), as the SDK's README steps expect (``def step(state: State) -> State``).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from types import ModuleType
from typing import Any

from jamjet_common.errors import FatalError
from services.worker.tool_calls import SDK_DISPATCH


def attribute(module: ModuleType, path: str) -> Callable[..., Any]:
    """``module.<path>`` for a dotted ``path`` of public names; a FatalError names what is missing."""
    target: Any = module
    for part in path.split("."):
        if not part.isidentifier() or part.startswith("__"):
            raise FatalError(f"python_fn: '{path}' is not a dotted path of names in '{module.__name__}'")
        target = getattr(target, part, None)
    if not callable(target):
        raise FatalError(f"python_fn: module '{module.__name__}' has no function '{path}'")
    if qualified_name(target) == SDK_DISPATCH:
        # Its tool calls are policy subjects only on the agent dispatch path (agent_tool_dispatch: true).
        raise FatalError(
            f"python_fn: '{path}' is the SDK's agent tool dispatch; mark the node agent_tool_dispatch"
        )
    return typing.cast(Callable[..., Any], target)


def qualified_name(target: Any) -> str:
    return f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"


def state_model(function: Callable[..., Any]) -> type[Any] | None:
    """The pydantic model class the first parameter is annotated with, if any."""
    try:
        return _known_state_model(function)
    except TypeError:  # an unhashable callable: nothing to remember it by
        return _state_model(function)


@functools.lru_cache(maxsize=1024)
def _known_state_model(function: Callable[..., Any]) -> type[Any] | None:
    # Resolving type hints is costly, and a function's annotations do not change between calls.
    return _state_model(function)


def _state_model(function: Callable[..., Any]) -> type[Any] | None:
    try:
        parameters = list(inspect.signature(function).parameters.values())
        hints = typing.get_type_hints(function)
    except (TypeError, ValueError, NameError):
        return None
    if not parameters:
        return None
    hint = hints.get(parameters[0].name)
    return hint if isinstance(hint, type) and hasattr(hint, "model_validate") else None


def build_state(model: type[Any], state: dict[str, Any]) -> Any:
    try:
        return model.model_validate(state)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise FatalError(f"python_fn: the state does not fit {model.__name__}: {exc}") from exc


def as_patch(value: Any) -> Any:
    """A returned pydantic model as the JSON object it stands for; anything else unchanged."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) and not isinstance(value, type) else value
