"""The daemon threads ``python_fn`` runs plain functions on: reused, and never held up by a stuck call."""

from __future__ import annotations

import os
import threading
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
async def test_a_call_alone_runs_on_its_callers_cpu_and_calls_side_by_side_on_any() -> None:
    threads = DaemonThreads("test")
    seen: dict[str, set[int]] = {}
    release = threading.Event()

    def record(name: str, done: threading.Event, hold: bool = False) -> Callable[[], None]:
        def job() -> None:
            seen[name] = os.sched_getaffinity(0)
            done.set()
            if hold:
                release.wait(WAIT_SECS)

        return job

    alone = threading.Event()
    threads.submit(record("alone", alone, hold=True))
    assert alone.wait(WAIT_SECS)
    assert len(seen["alone"]) == 1  # the CPU the caller ran on when it called
    beside = threading.Event()
    threads.submit(record("beside", beside))  # the first still runs
    assert beside.wait(WAIT_SECS)
    release.set()
    assert seen["beside"] == daemon_threads._ALLOWED


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
