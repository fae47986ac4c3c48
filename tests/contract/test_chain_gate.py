"""When a writer sends appends as a chain: while the stream looks quiet, and less after refusals."""

from __future__ import annotations

from jamjet_common.chain_gate import MAX_SKIP, ChainGate


def tries(gate: ChainGate, n: int) -> list[bool]:
    return [gate.open(10) for _ in range(n)]


def test_the_gate_opens_only_where_it_may_and_nothing_acked_lies_past_the_tail() -> None:
    gate = ChainGate()
    assert not gate.open(10), "not on a stream that was not checked"
    gate.allowed = True
    assert gate.open(10)
    gate.acked(11)
    assert not gate.open(10) and gate.open(11) and gate.open(12)
    gate.acked(5)
    assert gate.open(11), "an older ack moves nothing back"


def test_refused_chains_shut_the_gate_for_longer_each_time_until_one_lands() -> None:
    gate = ChainGate(allowed=True)
    gate.landed(whole=False)
    assert tries(gate, 2) == [False, True]
    gate.landed(whole=False)
    assert tries(gate, 4) == [False, False, False, True]
    gate.landed(whole=False)
    assert tries(gate, 8) == [False] * 7 + [True]
    gate.landed(whole=True)
    gate.landed(whole=False)
    assert tries(gate, 2) == [False, True], "a chain that landed whole starts the backoff over"


def test_the_backoff_is_bounded() -> None:
    gate = ChainGate(allowed=True)
    for _ in range(20):
        gate.landed(whole=False)
    assert tries(gate, MAX_SKIP + 1) == [False] * MAX_SKIP + [True]


def test_a_peek_uses_up_no_try_of_the_backoff() -> None:
    gate = ChainGate(allowed=True)
    gate.landed(whole=False)
    gate.landed(whole=False)  # three tries refused
    assert [gate.open(10, peek=True) for _ in range(5)] == [False] * 5
    assert tries(gate, 4) == [False, False, False, True]
    assert gate.open(10, peek=True), "and an open gate stays open after a peek"
