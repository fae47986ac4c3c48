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
    """SDK workflows compile to their IR (``Workflow.compile()``); some objects expose ``to_ir()``."""
    for method in ("compile", "to_ir"):
        build = getattr(workflow, method, None)
        if callable(build):
            return _mapping(build(), type(workflow).__name__)
    raise ContractError(
        f"cannot get an IR from a {type(workflow).__name__}: "
        "pass a dict, a JSON/YAML file or an SDK workflow",
        code="invalid_ir",
    )


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ContractError(f"{what} does not hold a workflow IR object", code="invalid_ir")
    return value
