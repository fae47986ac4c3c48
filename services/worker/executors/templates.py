"""Prompt templates: ``{{ state.a.b }}`` placeholders filled from the execution state.

Paths are resolved as in ``input_mapping`` (:mod:`services.worker.executors.state_mapping`: object
keys, array indexes when numeric, ``state`` alone for the whole state). A placeholder whose path is missing
(or null) renders as the empty string, a string renders as itself, anything else as compact JSON.
Placeholders that do not start with ``state`` are left as written, so literal braces in a prompt
survive.
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.worker.executors.state_mapping import resolve

_PLACEHOLDER = re.compile(r"\{\{\s*(state(?:\.[^\s.{}]+)*)\s*\}\}")


def fill(value: Any, state: dict[str, Any]) -> Any:
    """An ``input_mapping`` value: a lone placeholder is the value it names, other text is rendered."""
    if not isinstance(value, str):
        return value
    lone = _PLACEHOLDER.fullmatch(value.strip())
    if lone is not None:
        return resolve(lone.group(1), state)
    return render(value, state) if "{{" in value else resolve(value, state)


def render(template: str, state: dict[str, Any]) -> str:
    """``template`` with every ``{{ state.path }}`` replaced by that value of ``state``."""
    return _PLACEHOLDER.sub(lambda match: _text(resolve(match.group(1), state)), template)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
