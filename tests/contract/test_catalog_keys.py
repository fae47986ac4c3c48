"""Catalog keys: any workflow id and version encodes reversibly; token-safe ones stay readable."""

from __future__ import annotations

import re

import pytest

from jamjet_common import catalog

KV_KEY = re.compile(r"[-/_=.A-Za-z0-9]+")
IDS = ["wf", "support_bot", "support bot", "acme.support", "*", ">", "=abc", "flöw", "a/b", "x" * 256, "日本"]
VERSIONS = ["1.0.0", "0.1.0+51f95b7910a8", "1.0.0-rc.1+b.5", "1.0", "latest", "v 2", "=1", "1..0", ".1", "ü"]


@pytest.mark.parametrize("workflow_id", IDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_record_keys_are_valid_kv_keys_and_reversible(workflow_id: str, version: str) -> None:
    key = catalog.record_key("acme", workflow_id, version)
    assert KV_KEY.fullmatch(key) and ".." not in key and not key.endswith(".")
    assert catalog.parse_record_key(key) == ("acme", workflow_id, version)
    assert KV_KEY.fullmatch(catalog.latest_key("acme", workflow_id))


def test_token_safe_ids_and_semver_versions_keep_their_readable_keys() -> None:
    assert catalog.record_key("acme", "support_bot", "0.1.0+abc") == "acme.support_bot.v.0.1.0=abc"
    assert catalog.latest_key("acme", "support_bot") == "acme.support_bot.latest"


def test_an_encoded_id_never_equals_a_token_id() -> None:
    encoded = {catalog.id_key(i) for i in IDS}
    assert len(encoded) == len(IDS)
    assert all(k.startswith("=") for i, k in zip(IDS, map(catalog.id_key, IDS), strict=True) if k != i)


def test_latest_follows_semver_where_both_parse_else_registration_order() -> None:
    assert catalog.latest(["1.0.0", "1.2.0", "1.10.0", "1.10.0-rc.1"]) == "1.10.0"
    assert catalog.latest(["1.0", "2.0", "1.5.0", "1.2.0"]) == "1.5.0"
    assert catalog.latest(["2.0.0", "latest"]) == "latest"
