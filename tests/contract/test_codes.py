"""The one list of error codes: every code a service answers with is in it, and the README shows it."""

from __future__ import annotations

import re
from pathlib import Path

from jamjet_common.codes import REPLY_CODES, UNDECODABLE

ROOT = Path(__file__).resolve().parents[2]
LITERAL = re.compile(r"""\bcode\s*=\s*"([a-z_]+)"|error_reply\(\s*"([a-z_]+)"|"(invalid_[a-z_]+)"\s*\)""")
NOT_REPLIES = {
    # Raised and handled inside one service, or recorded in events and dead letters, never a reply.
    "retryable",
    "fatal",
    "config_error",
    "streams_missing",
    "append_conflict",
    "not_found",
    "conflict",
    "policy_unavailable",
    "policy_refused",
    "idle_timeout",
    "timeout",
    "connection",
    "request",
    "unstorable",
    "invalid_sequence",
    "invalid_event_id",
    "execution_id_mismatch",
    "unknown_dead_letter",
    "held_by_scheduler",
    "not_answered",
    "log_behind",
    "invalid_tool_calls",
    "sandbox_refused",
    "out_of_sequence",
    "impossible_event",
    "not_an_event",
    "gave_up",
    "cancel_notice_refused",
    "work_item_refused",
}


def _codes_in_source() -> set[str]:
    found: set[str] = set()
    for folder in ("libs", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            for match in LITERAL.finditer(path.read_text()):
                found.update(group for group in match.groups() if group)
    return found


def test_every_code_in_the_source_is_listed_or_known_not_to_be_a_reply() -> None:
    missing = _codes_in_source() - set(REPLY_CODES) - NOT_REPLIES
    assert not missing, f"add these codes to jamjet_common.codes.REPLY_CODES and the README: {missing}"


def test_the_readme_table_is_the_list() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \|$", readme, flags=re.MULTILINE)
    table = {code: (who.strip(), meaning.strip()) for code, who, meaning in rows if code in REPLY_CODES}
    assert set(table) == set(REPLY_CODES)
    for code, entry in REPLY_CODES.items():
        assert table[code] == (entry.returned_by, entry.meaning), code


def test_undecodable_codes_are_reply_codes() -> None:
    assert set(UNDECODABLE) <= set(REPLY_CODES)
