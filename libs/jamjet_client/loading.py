"""A workflow's IR from what a caller has: a dict, a JSON or YAML file, or a ``jamjet`` SDK object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from jamjet_common.errors import ContractError

Workflowish = dict[str, Any] | str | Path | object


def load_ir(source: Workflowish) -> dict[str, Any]:
    """The IR dict of ``source``; a ContractError (``invalid_ir``) says why there is none."""
    if isinstance(source, dict):
        return source
    if isinstance(source, str | Path):
        return _from_file(Path(source))
    return _from_sdk(source)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContractError(f"cannot read workflow file {path}: {exc}", code="invalid_ir") from exc
    try:
        yaml = path.suffix in (".yaml", ".yml")
        value = msgspec.yaml.decode(data) if yaml else msgspec.json.decode(data)
    except ImportError as exc:
        raise ContractError(f"reading {path} needs PyYAML installed: {exc}", code="invalid_ir") from exc
    except msgspec.DecodeError as exc:
        raise ContractError(
            f"{path} is not valid {path.suffix[1:] or 'JSON'}: {exc}", code="invalid_ir"
        ) from exc
    return _mapping(value, str(path))


def _from_sdk(workflow: object) -> dict[str, Any]:
    """An SDK ``Workflow`` compiles to the canonical IR dict; other objects may offer ``to_ir()``."""
    to_ir = getattr(workflow, "to_ir", None)
    if callable(to_ir):
        return _mapping(to_ir(), type(workflow).__name__)
    if hasattr(workflow, "_steps") and hasattr(workflow, "workflow_id"):
        return _sdk_workflow_ir(workflow)
    raise ContractError(
        f"cannot get an IR from a {type(workflow).__name__}: "
        "pass a dict, a JSON/YAML file or an SDK workflow",
        code="invalid_ir",
    )


def _sdk_workflow_ir(workflow: Any) -> dict[str, Any]:
    """The IR the ``jamjet`` SDK compiles a decorator workflow to (its ``compile()`` returns a
    WorkflowSpec model, not the IR the runtime registers)."""
    try:
        from jamjet.workflow.ir_compiler import compile_to_ir
        from jamjet.workflow.types import WorkflowDef

        workflow.compile()  # the SDK's own checks: a state class and at least one step
        definition = WorkflowDef(
            workflow_id=workflow.workflow_id,
            version=workflow.version,
            state_schema=f"{workflow._state_class.__module__}.{workflow._state_class.__name__}",
            start_node=workflow._start or workflow._steps[0].name,
            steps=workflow._steps,
        )
        return _mapping(compile_to_ir(definition), workflow.workflow_id)
    except (ImportError, ValueError, AttributeError, TypeError) as exc:
        raise ContractError(f"cannot compile SDK workflow: {exc}", code="invalid_ir") from exc


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ContractError(f"{what} does not hold a workflow IR object", code="invalid_ir")
    return value
