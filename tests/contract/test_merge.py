"""RFC 7396 JSON merge patch: every example of the RFC (section 3 and appendix A)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jamjet_common.merge import merge_into, merge_patch

APPENDIX_A: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]

SECTION_3_TARGET = {
    "title": "Goodbye!",
    "author": {"givenName": "John", "familyName": "Doe"},
    "tags": ["example", "sample"],
    "content": "This will be unchanged",
}
SECTION_3_PATCH = {
    "title": "Hello!",
    "phoneNumber": "+01-123-456-7890",
    "author": {"familyName": None},
    "tags": ["example"],
}
SECTION_3_RESULT = {
    "title": "Hello!",
    "author": {"givenName": "John"},
    "tags": ["example"],
    "content": "This will be unchanged",
    "phoneNumber": "+01-123-456-7890",
}


@pytest.mark.parametrize(("target", "patch", "result"), APPENDIX_A)
def test_rfc_7396_appendix_a(target: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == result
    assert target == before, "the target is not modified"


def test_rfc_7396_section_3_example() -> None:
    before = copy.deepcopy(SECTION_3_TARGET)
    assert merge_patch(SECTION_3_TARGET, SECTION_3_PATCH) == SECTION_3_RESULT
    assert before == SECTION_3_TARGET


def test_merge_patch_does_not_share_nested_objects_it_changed() -> None:
    target = {"a": {"b": 1}}
    result = merge_patch(target, {"a": {"c": 2}})
    result["a"]["d"] = 3
    assert target == {"a": {"b": 1}}


@pytest.mark.parametrize(("target", "patch", "result"), [t for t in APPENDIX_A if isinstance(t[0], dict)])
def test_merge_into_gives_the_same_result_for_object_patches(target: Any, patch: Any, result: Any) -> None:
    state = copy.deepcopy(target)
    returned = merge_into(state, patch)
    assert returned is state
    if isinstance(patch, dict):
        assert state == result
    else:
        assert state == target, "a non-object patch cannot replace the state object in place"


def test_merge_into_section_3_example() -> None:
    state = copy.deepcopy(SECTION_3_TARGET)
    merge_into(state, SECTION_3_PATCH)
    assert state == SECTION_3_RESULT
