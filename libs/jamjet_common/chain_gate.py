"""When a writer sends appends as a chain (``EventLog.append_chain``): only while that is likely to land.

A chain's links after the first land only if nothing else reaches the stream between them, so on a busy
stream they are mostly refused: each a publish the server checks and drops. The gate opens when nothing
acknowledged to this writer lies past the tail a chain would follow, and after refused chains it stays
shut for a while (1, 3, 7 ... up to ``MAX_SKIP`` tries), until a chain lands whole again.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SKIP = 63


@dataclass(slots=True)
class ChainGate:
    allowed: bool = False
    """The stream is served by one server alone (``EventLog.allow_chaining``)."""
    last_acked: int = 0
    """The highest stream sequence acknowledged to this writer."""
    skipping: int = 0
    """Tries still refused after the last refused chain."""
    backoff: int = 0

    def open(self, after_stream_seq: int, *, peek: bool = False) -> bool:
        """Whether a chain after ``after_stream_seq`` is worth sending now; ``peek``: asked ahead of the
        decision, which asks again (a refusal then uses up no try of the backoff)."""
        if not self.allowed or after_stream_seq < self.last_acked:
            return False
        if self.skipping > 0:
            if not peek:
                self.skipping -= 1
            return False
        return True

    def acked(self, stream_seq: int) -> None:
        self.last_acked = max(self.last_acked, stream_seq)

    def landed(self, whole: bool) -> None:
        """A chain of two links or more landed whole, or was cut short."""
        if whole:
            self.backoff = 0
            return
        self.backoff = min(self.backoff * 2 + 1, MAX_SKIP)
        self.skipping = self.backoff
