"""Subject names and token validation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jamjet_common import subjects
from jamjet_common.errors import InvalidTokenError

GOOD_TOKENS = ["a", "default", "exec_0123abcd", "A-b_C-9", "x" * 128, "-", "_"]
BAD_TOKENS = [
    "",
    "a.b",
    "*",
    ">",
    "a*",
    "a>",
    "a b",
    " a",
    "a\t",
    "a\n",
    "x" * 129,
    "é",
    "tenant€",
    "a/b",
    "a:b",
]


@pytest.mark.parametrize("token", GOOD_TOKENS)
def test_check_token_accepts(token: str) -> None:
    assert subjects.check_token(token, "tenant") == token


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_check_token_refuses_naming_what(token: str) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        subjects.check_token(token, "execution_id")
    assert caught.value.code == "invalid_token"
    assert str(caught.value).startswith("execution_id ")
    assert "1-128 characters" in str(caught.value)


def test_check_token_refuses_a_non_string() -> None:
    with pytest.raises(InvalidTokenError, match="tenant None"):
        subjects.check_token(None, "tenant")  # type: ignore[arg-type]


def test_a_long_bad_token_is_shown_shortened() -> None:
    with pytest.raises(InvalidTokenError) as caught:
        subjects.check_token("." * 1000, "tenant")
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("jamjet.events.t.e", "jamjet.events.t.e", True),
        ("jamjet.events.t.e", "jamjet.events.t.f", False),
        ("jamjet.events.t", "jamjet.events.t.e", False),
        ("jamjet.events.t.e", "jamjet.events.t", False),
        ("jamjet.*.t.e", "jamjet.events.t.e", True),
        ("jamjet.events.*", "jamjet.events.t.e", False),
        ("jamjet.events.*.*", "jamjet.events.t.e", True),
        ("*", "jamjet", True),
        ("*", "jamjet.events", False),
        ("jamjet.events.>", "jamjet.events.t.e", True),
        ("jamjet.events.>", "jamjet.events.t", True),
        ("jamjet.events.>", "jamjet.events", False),
        ("jamjet.>", "jamjet.cmd.approvals", True),
        ("jamjet.*.>", "jamjet.cmd", False),
        ("jamjet.*.>", "jamjet.cmd.x", True),
        ("jamjet.events.>", "jamjet.append.t.e", False),
    ],
)
def test_matches(pattern: str, subject: str, expected: bool) -> None:
    assert subjects.matches(pattern, subject) is expected


@pytest.mark.parametrize(
    ("subject", "stored"),
    [
        (subjects.CMD_REGISTER, True),
        (subjects.CMD_START, True),
        (subjects.CMD_CANCEL, True),
        (subjects.CMD_APPROVALS, True),
        (subjects.tenant_cmd("create"), True),
        ("jamjet.cmd.workflows.anything", True),
        ("jamjet.cmd.bogus", False),
        ("jamjet.cmd.approvals.extra", False),
        ("jamjet.cmd.tenants", False),
        ("jamjet.cmd", False),
        ("jamjet.events.t.e", False),
    ],
)
def test_is_stored_command(subject: str, stored: bool) -> None:
    assert subjects.is_stored_command(subject) is stored


def test_command_subjects_are_the_documented_names() -> None:
    assert subjects.CMD_REGISTER == "jamjet.cmd.workflows.register"
    assert subjects.CMD_START == "jamjet.cmd.executions.start"
    assert subjects.CMD_CANCEL == "jamjet.cmd.executions.cancel"
    assert subjects.CMD_APPROVALS == "jamjet.cmd.approvals"


def test_builders() -> None:
    assert subjects.events("acme", "exec_1") == "jamjet.events.acme.exec_1"
    assert subjects.append("acme", "exec_1") == "jamjet.append.acme.exec_1"
    assert subjects.progress("acme", "exec_1") == "jamjet.progress.acme.exec_1"
    assert subjects.work("python_tool") == "jamjet.work.python_tool"
    assert subjects.store("events") == "jamjet.store.events"
    assert subjects.tenant_cmd("create") == "jamjet.cmd.tenants.create"


@pytest.mark.parametrize("builder", [subjects.events, subjects.append, subjects.progress])
def test_builders_check_both_tokens(builder: Callable[[str, str], str]) -> None:
    with pytest.raises(InvalidTokenError, match=r"^tenant "):
        builder("a.b", "e")
    with pytest.raises(InvalidTokenError, match=r"^execution_id "):
        builder("t", "e.>")


def test_work_checks_the_queue_type() -> None:
    with pytest.raises(InvalidTokenError, match=r"^queue_type "):
        subjects.work("model.*")


def test_parse_events_subject_inverts_events() -> None:
    assert subjects.parse_events_subject(subjects.events("acme", "exec_9")) == ("acme", "exec_9")


@pytest.mark.parametrize(
    "subject", ["jamjet.events.t", "jamjet.events.t.e.x", "jamjet.append.t.e", "other.events.t.e", ""]
)
def test_parse_events_subject_refuses_other_subjects(subject: str) -> None:
    with pytest.raises(InvalidTokenError, match="not an events subject"):
        subjects.parse_events_subject(subject)


def test_new_execution_ids_are_distinct_valid_tokens() -> None:
    ids = {subjects.new_execution_id() for _ in range(100)}
    assert len(ids) == 100
    for execution_id in ids:
        assert execution_id.startswith("exec_")
        assert subjects.check_token(execution_id, "execution_id") == execution_id
