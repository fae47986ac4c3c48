"""Execution ids in both of the original's forms: ``exec_<hex>`` and the plain UUID."""

from __future__ import annotations

import uuid

from jamjet_common import subjects

PREFIX = "exec_"


def execution_id(raw: str) -> str:
    """The runtime's id for ``raw``: a UUID (hyphenated or bare hex) becomes ``exec_<hex>``."""
    if not raw.startswith(PREFIX) and len(raw) in (32, 36):
        try:
            return PREFIX + uuid.UUID(raw).hex
        except ValueError:
            pass
    return subjects.check_token(raw, "execution_id")
