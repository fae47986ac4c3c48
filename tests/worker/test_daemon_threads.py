"""The daemon threads ``python_fn`` runs plain functions on: reused, and never held up by a stuck call."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

import pytest

from services.worker.executors import daemon_threads, python_fn
from services.worker.executors.daemon_threads import DaemonThreads
from tests.helpers import eventually

WAIT_SECS = 10.0


def void(_: object) -> None:
    return None


async def test_a_stuck_call_does_not_hold_up_the_next_one() -> None:
    threads = DaemonThreads("test")
    release, done = threading.Event(), threading.Event()
    threads.submit(lambda: void(release.wait(WAIT_SECS)))
    threads.submit(done.set)
    assert done.wait(WAIT_SECS), "the second call waited for the stuck one"
    assert threads.started == 2
    release.set()


async def test_a_finished_thread_takes_the_next_call() -> None:
    threads = DaemonThreads("test")
    names: list[str] = []

    def call(done: threading.Event) -> None:
        names.append(threading.current_thread().name)
        done.set()

    first = threading.Event()
    threads.submit(lambda: call(first))
    assert first.wait(WAIT_SECS)
    # The thread counts itself idle just after its call returns.
    await eventually(lambda: threads.idle == 1, message="the thread never became idle")
    second = threading.Event()
    threads.submit(lambda: call(second))
    assert second.wait(WAIT_SECS)
    assert threads.started == 1
    assert names[0] == names[1]
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("test:"))


@pytest.mark.skipif(daemon_threads._ALLOWED is None, reason="no sched_getcpu or sched_setaffinity here")
async def test_a_call_alone_runs_on_its_callers_cpu_and_one_beside_others_where_its_thread_was() -> None:
    threads = DaemonThreads("test")
    seen: list[tuple[str, set[int]]] = []
    release = threading.Event()

    def record(done: threading.Event, hold: bool = False) -> Callable[[], None]:
        def job() -> None:
            seen.append((threading.current_thread().name, os.sched_getaffinity(0)))
            done.set()
            if hold:
                release.wait(WAIT_SECS)

        return job

    calls = [threading.Event() for _ in range(4)]
    assert threads.submit(record(calls[0], hold=True)).alone
    assert calls[0].wait(WAIT_SECS)
    assert len(seen[0][1]) == 1  # the CPU the caller ran on when it called
    assert not threads.submit(record(calls[1])).alone  # the first still runs: a new thread, anywhere
    assert calls[1].wait(WAIT_SECS)
    assert seen[1][1] == daemon_threads._ALLOWED
    release.set()
    await eventually(lambda: threads.idle == 2, message="the threads never became idle")
    before = dict(seen)  # each thread's CPUs after its last call
    release.clear()
    threads.submit(record(calls[2], hold=True))
    assert calls[2].wait(WAIT_SECS)
    threads.submit(record(calls[3]))
    assert calls[3].wait(WAIT_SECS)
    release.set()
    name, cpus = seen[3]
    assert cpus == before[name], "a call beside another moved its thread"


@pytest.mark.skipif(daemon_threads._ALLOWED is None, reason="no sched_getcpu or sched_setaffinity here")
async def test_a_running_call_can_be_let_loose_and_an_ended_one_is_left_alone() -> None:
    threads = DaemonThreads("test")
    running, release, done = threading.Event(), threading.Event(), threading.Event()
    during: list[set[int]] = []

    def job() -> None:
        running.set()
        release.wait(WAIT_SECS)
        during.append(os.sched_getaffinity(0))
        done.set()

    ticket = threads.submit(job)
    assert running.wait(WAIT_SECS)
    ticket.loosen()
    release.set()
    assert done.wait(WAIT_SECS)
    assert during == [daemon_threads._ALLOWED], "the call's thread stayed pinned"
    ticket.loosen()  # ended: nothing to do, nothing raised


@pytest.mark.skipif(daemon_threads._ALLOWED is None, reason="no sched_getcpu or sched_setaffinity here")
async def test_a_long_call_is_let_loose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(python_fn, "LOOSEN_AFTER_SECS", 0.001)
    monkeypatch.setattr(python_fn, "THREADS", DaemonThreads("test"))

    def long_alone(_: object) -> tuple[set[int], set[int]]:
        first = os.sched_getaffinity(0)
        deadline = time.monotonic() + WAIT_SECS
        while os.sched_getaffinity(0) != daemon_threads._ALLOWED and time.monotonic() < deadline:
            time.sleep(0.001)
        return first, os.sched_getaffinity(0)

    first, last = await asyncio.wait_for(
        python_fn.run_in_daemon_thread(long_alone, None, quick_key=long_alone), WAIT_SECS
    )
    assert len(first) == 1, "a call alone did not start on its caller's CPU"
    assert last == daemon_threads._ALLOWED, "a long call stayed pinned"


async def test_a_call_that_returns_a_delivery_is_delivered_after_its_thread_is_idle() -> None:
    threads = DaemonThreads("test")
    idle_at_delivery: list[int] = []
    delivered = threading.Event()

    def deliver() -> None:
        idle_at_delivery.append(threads.idle)
        delivered.set()

    threads.submit(lambda: deliver)
    assert delivered.wait(WAIT_SECS)
    assert idle_at_delivery == [1]


@pytest.mark.skipif(daemon_threads._ALLOWED is None, reason="no sched_getcpu or sched_setaffinity here")
async def test_the_caller_is_never_pinned() -> None:
    caller = threading.get_native_id()
    during: list[set[int]] = []

    def job(_: object) -> None:
        during.append(os.sched_getaffinity(caller))

    await python_fn.run_in_daemon_thread(job, None)
    await python_fn.run_in_daemon_thread(job, None, quick_key=job)
    assert during == [daemon_threads._ALLOWED] * 2, "the event loop's thread was pinned to one CPU"
    assert os.sched_getaffinity(0) == daemon_threads._ALLOWED
