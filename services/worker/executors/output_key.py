"""A model node's ``output_schema`` used as a state key, as the SDK's strategy compiler writes it.

The SDK's reasoning strategies name where each model turn's answer goes through ``output_schema``
(``__draft_output__``, ``__critic_0_verdict__``, ``result``) and read it back in later prompts and
conditions (``state.__critic_0_verdict__.passed == true``). An ``output_schema`` that is a plain
identifier is therefore also a state key: the answer's JSON when it parses as an object or array (a
fenced ```json block included), else its text. A schema reference (``schemas.Summary``), an empty
value or a JSON schema object writes nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def output_key_patch(output_schema: Any, content: str) -> dict[str, Any]:
    if not isinstance(output_schema, str) or not _KEY.fullmatch(output_schema):
        return {}
    return {output_schema: parsed(content)}


def parsed(content: str) -> Any:
    text = content.strip()
    fenced = _FENCE.match(text)
    candidate = fenced.group(1) if fenced else text
    try:
        value = json.loads(candidate)
    except ValueError:
        return content
    return value if isinstance(value, dict | list) else content
