"""A plain function's result: taken at once when it comes within the moment, through the loop when not."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.worker.executors import handoff as handoff_module
from services.worker.executors import python_fn
from services.worker.executors.daemon_threads import DaemonThreads
from services.worker.executors.handoff import SLOW_SKIPS, Handoff, QuickFunctions, unwrap

WAIT_SECS = 10.0


async def test_a_result_within_the_moment_is_taken_without_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Generous, so that a loaded machine still delivers within it; the point is which way it came.
    monkeypatch.setattr(handoff_module, "BRIEF_WAIT_SECS", WAIT_SECS)
    handoff = Handoff(asyncio.get_running_loop())
    ready = threading.Event()

    def deliver() -> None:
        ready.wait(WAIT_SECS)
        handoff.deliver("value", None)

    threading.Thread(target=deliver).start()
    ready.set()
    outcome = handoff.wait_briefly()
    assert outcome == ("value", None)
    await asyncio.sleep(0)
    assert not handoff.future.done(), "a result taken at once was also sent through the loop"


async def test_a_result_after_the_moment_settles_the_future() -> None:
    handoff = Handoff(asyncio.get_running_loop())
    assert handoff.wait_briefly() is None
    threading.Thread(target=handoff.deliver, args=(None, ValueError("late"))).start()
    with pytest.raises(ValueError, match="late"):
        await asyncio.wait_for(handoff.future, WAIT_SECS)


async def test_a_result_already_there_is_taken_and_its_way_through_the_loop_does_nothing() -> None:
    handoff = Handoff(asyncio.get_running_loop())
    handoff.deliver(None, RuntimeError("raised in the function"))  # on its way to the loop
    outcome = handoff.wait_briefly()
    assert outcome is not None
    with pytest.raises(RuntimeError):
        unwrap(outcome)
    for _ in range(3):
        await asyncio.sleep(0)
    assert not handoff.future.done(), "the error would be reported twice (and never retrieved once)"


def test_a_function_that_missed_the_moment_goes_through_the_loop_for_a_while() -> None:
    quick = QuickFunctions()
    assert quick.worth_waiting("f")
    quick.missed("f")
    assert [quick.worth_waiting("f") for _ in range(SLOW_SKIPS)] == [False] * SLOW_SKIPS
    assert quick.worth_waiting("f"), "a function that was slow once is never tried again"
    assert quick.worth_waiting("g")


async def test_a_slow_function_still_returns_and_is_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(python_fn, "QUICK", QuickFunctions())
    monkeypatch.setattr(python_fn, "THREADS", DaemonThreads("test"))  # alone: nothing else runs on it
    release = threading.Event()

    def slow(_: object) -> str:
        release.wait(WAIT_SECS)
        return "done"

    call = asyncio.ensure_future(python_fn.run_in_daemon_thread(slow, None, quick_key=slow))
    await asyncio.sleep(handoff_module.BRIEF_WAIT_SECS * 4)
    assert not call.done()
    release.set()
    assert await asyncio.wait_for(call, WAIT_SECS) == "done"
    assert not python_fn.QUICK.worth_waiting(slow)


async def test_a_quick_functions_error_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(python_fn, "QUICK", QuickFunctions())
    monkeypatch.setattr(python_fn, "THREADS", DaemonThreads("test"))  # alone: nothing else runs on it

    def fails(_: object) -> None:
        raise KeyError("missing")

    for _ in range(3):
        with pytest.raises(KeyError):
            await python_fn.run_in_daemon_thread(fails, None, quick_key=fails)
