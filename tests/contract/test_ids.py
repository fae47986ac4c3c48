"""Event ids from the pooled generator: valid version 4 UUIDs, never repeated, not shared with a fork."""

from __future__ import annotations

import os
import uuid

from jamjet_common.ids import BLOCK_BYTES, uuid4_str


def test_every_id_is_a_version_4_uuid_in_its_canonical_form() -> None:
    for _ in range(3 * BLOCK_BYTES // 16):  # across block refills
        text = uuid4_str()
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_ids_do_not_repeat() -> None:
    ids = [uuid4_str() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_its_own_ids() -> None:
    uuid4_str()  # the parent holds a part-used block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, uuid4_str().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != uuid4_str()
