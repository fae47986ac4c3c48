"""Random (version 4) UUIDs drawn from the OS's generator a block at a time.

``uuid.uuid4`` makes one ``getrandom`` system call per id: every event appended costs one, about 1% of
the scheduler's and the worker's CPU under load (strace: 2,000 calls a second each). The same source,
read 4 KiB at a time, gives ids just as unpredictable (message ids must stay so) for a call per 256.
"""

from __future__ import annotations

import os
import threading

BLOCK_BYTES = 4096
_VERSION_4 = 0x4000_8000_0000_0000_0000  # version 4 and the RFC 4122 variant, placed by _MASK
_MASK = ~(0xF000_C000_0000_0000_0000) & ((1 << 128) - 1)


class _Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.block = b""
        self.offset = 0

    def take(self) -> int:
        with self.lock:
            if self.offset + 16 > len(self.block):
                self.block, self.offset = os.urandom(BLOCK_BYTES), 0
            start, self.offset = self.offset, self.offset + 16
            return int.from_bytes(self.block[start : start + 16])


_pool = _Pool()


def _forget_block() -> None:
    """A forked child must not hand out its parent's remaining bytes again."""
    global _pool
    _pool = _Pool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_block)


def uuid4_str() -> str:
    """``str(uuid.uuid4())``, from the pool."""
    value = (_pool.take() & _MASK) | _VERSION_4
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
