"""Daemon threads kept for reuse by plain ``python_fn`` functions.

Starting a thread per call costs more than the no-op step it runs. A thread that finishes its call
waits for the next one; a call finds an idle thread or starts a new one, so a stuck function keeps
only its own thread and never delays another call. The threads are daemons: none keeps the process
from exiting.

A call made while no other runs wakes its thread on the caller's CPU (the thread moves there before
it runs the call, so that its next wake lands there too): waking a thread on another CPU costs this
2-vCPU machine about 75 us of CPU against 11 on the same one (two threads passing a token back and
forth), and a call wakes twice, there and back. W1's steps took 7.6% less time this way. The caller
itself is left where the OS puts it: it waits for a quick result blocked on a lock (``handoff``), and
the wake from a thread on its CPU lands there; pinning it too, and letting it loose after, cost more
in ``sched_setaffinity`` calls than it saved (W1 3% and W2 3-7% faster without).
Calls made while others run let their threads loose on every CPU, so that functions releasing the
GIL still run side by side.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import threading
from collections.abc import Callable

ANY_CPU = -1
Job = Callable[[], Callable[[], None] | None]
"""A call; what it returns, if anything, delivers its result once its thread counts itself idle (so
that the next call, made when the result arrives, finds the thread free)."""


def _cpu_reader() -> Callable[[], int] | None:
    """glibc's ``sched_getcpu``: the CPU the calling thread runs on; None where there is none."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        getcpu = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (OSError, AttributeError):
        return None
    getcpu.restype = ctypes.c_int
    return getcpu


_current_cpu = _cpu_reader()
_ALLOWED = os.sched_getaffinity(0) if _current_cpu is not None else None


class DaemonThreads:
    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Job, int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._started = 0

    @property
    def started(self) -> int:
        return self._started

    @property
    def idle(self) -> int:
        return self._idle

    def submit(self, job: Job) -> bool:
        """Run ``job`` (which must not raise) on an idle thread, or on a new one if none is idle.

        True: no other call runs (the call's thread runs on the caller's CPU)."""
        with self._lock:
            reuse = self._idle > 0
            if reuse:
                self._idle -= 1
            else:
                self._started += 1
            alone = self._started - self._idle == 1
        cpu = _current_cpu() if alone and _current_cpu is not None else ANY_CPU
        self._jobs.put((job, cpu))
        if not reuse:
            threading.Thread(target=self._serve, name=f"{self._name}:{self._started}", daemon=True).start()
        return alone

    def _serve(self) -> None:
        placed = _Placement()
        while True:
            job, cpu = self._jobs.get()
            placed.move_to(cpu)
            deliver = job()
            with self._lock:
                self._idle += 1
            if deliver is not None:
                deliver()


class _Placement:
    """Where the calling thread may run: one CPU, or any the process may use (``ANY_CPU``)."""

    def __init__(self) -> None:
        self._cpu = ANY_CPU

    def move_to(self, cpu: int) -> None:
        if cpu == self._cpu or _ALLOWED is None:
            return
        with contextlib.suppress(OSError):  # a CPU taken from the process meanwhile: stay where it is
            os.sched_setaffinity(0, _ALLOWED if cpu == ANY_CPU else {cpu})
            self._cpu = cpu
