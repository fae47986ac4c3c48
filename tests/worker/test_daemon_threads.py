"""The daemon threads ``python_fn`` runs plain functions on: reused, and never held up by a stuck call."""

from __future__ import annotations

import threading

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
