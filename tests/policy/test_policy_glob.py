"""Glob patterns of policy sets."""

from __future__ import annotations

import pytest

from services.policy.glob import first_match, glob_match


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("delete_file", "delete_file"),
        ("*", ""),
        ("*", "anything at all"),
        ("delete_*", "delete_"),
        ("delete_*", "delete_file"),
        ("*_file", "delete_file"),
        ("*e*e*", "delete"),
        ("d?lete", "delete"),
        ("??", "ab"),
        ("a*b?c", "aXXbYc"),
        ("a*b?c", "abbbYc"),
        ("gpt-4*", "gpt-4o-mini"),
        ("claude-*-sonnet", "claude-3-5-sonnet"),
        ("fs/*", "fs/delete"),
        ("a.b", "a.b"),
        ("[abc]", "[abc]"),
        ("**", "x"),
    ],
)
def test_matches(pattern: str, text: str) -> None:
    assert glob_match(pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("delete_file", "delete_files"),
        ("delete_file", "xdelete_file"),
        ("", "a"),
        ("?", ""),
        ("?", "ab"),
        ("d?lete", "dlete"),
        ("d?lete", "deelete"),
        ("delete_*", "delete"),
        ("*_file", "file"),
        ("a*b?c", "aXXbc"),
        ("a.b", "aXb"),
        ("[abc]", "a"),
        ("Delete", "delete"),
        ("gpt-4*", "gpt-3.5"),
    ],
)
def test_does_not_match(pattern: str, text: str) -> None:
    assert not glob_match(pattern, text)


def test_question_mark_is_one_character_where_star_is_any_run() -> None:
    assert glob_match("tool_*", "tool_") and not glob_match("tool_?", "tool_")
    assert glob_match("tool_*", "tool_ab") and not glob_match("tool_?", "tool_ab")
    assert glob_match("tool_?", "tool_a") and glob_match("tool_*", "tool_a")


def test_first_match_takes_patterns_in_order() -> None:
    assert first_match(["fs/delete", "delete"], ["nope", "delete", "fs/*"]) == ("delete", "delete")
    assert first_match(["fs/delete", "delete"], ["fs/*", "delete"]) == ("fs/delete", "fs/*")
    assert first_match(["x"], ["y", "z"]) is None
    assert first_match([], ["*"]) is None
