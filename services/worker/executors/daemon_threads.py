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
A call made while others run leaves its thread where it last ran: moving threads at every change
between one call and several cost the worker 9% of its samples in W2 (``sched_setaffinity``, and the
move it makes). Any call still running after ``LOOSEN_AFTER_SECS``, alone or not, has its thread let
loose on every CPU by the caller (``Ticket.loosen``), so that functions releasing the GIL run beside
the loop and beside each other.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import threading
from collections.abc import Callable

ANY_CPU = -1
STAY = -2
"""Where the thread last ran: a call beside others moves nothing."""
LOOSEN_AFTER_SECS = 0.002
"""A call still running after this has its thread let loose on every CPU."""
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


class Ticket:
    """A submitted call: whether it runs alone, and a way to let its thread loose while it runs."""

    __slots__ = ("_guard", "_running_on", "alone")

    def __init__(self, alone: bool) -> None:
        self.alone = alone
        self._guard = threading.Lock()
        self._running_on: _Placement | None = None
        """The placement of the thread running the call; None before it starts and once it ended."""

    def began(self, placement: _Placement) -> None:
        with self._guard:
            self._running_on = placement

    def ended(self) -> None:
        with self._guard:
            self._running_on = None

    def loosen(self) -> None:
        """Let the call's thread run on any CPU, if the call still runs: a call beside others keeps
        its thread where it was (no ``sched_setaffinity`` per call), and one that runs for long, a
        function that may release the GIL, is let loose so that it runs beside the loop."""
        with self._guard:
            if self._running_on is not None:
                self._running_on.loosen()


class DaemonThreads:
    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Job, int, Ticket]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._started = 0

    @property
    def started(self) -> int:
        return self._started

    @property
    def idle(self) -> int:
        return self._idle

    def submit(self, job: Job) -> Ticket:
        """Run ``job`` (which must not raise) on an idle thread, or on a new one if none is idle.

        A call alone runs on the caller's CPU; one beside others where its thread last ran."""
        with self._lock:
            reuse = self._idle > 0
            if reuse:
                self._idle -= 1
            else:
                self._started += 1
            alone = self._started - self._idle == 1
        cpu = _current_cpu() if alone and _current_cpu is not None else STAY
        ticket = Ticket(alone)
        self._jobs.put((job, cpu, ticket))
        if not reuse:
            threading.Thread(target=self._serve, name=f"{self._name}:{self._started}", daemon=True).start()
        return ticket

    def _serve(self) -> None:
        placed = _Placement()
        while True:
            job, cpu, ticket = self._jobs.get()
            placed.move_to(cpu)
            ticket.began(placed)
            deliver = job()
            ticket.ended()
            with self._lock:
                self._idle += 1
            if deliver is not None:
                deliver()


class _Placement:
    """Where a daemon thread may run: one CPU, or any the process may use (``ANY_CPU``)."""

    def __init__(self) -> None:
        self._cpu = ANY_CPU
        self._thread = threading.get_native_id()

    def move_to(self, cpu: int) -> None:
        if cpu in (self._cpu, STAY) or _ALLOWED is None:
            return
        with contextlib.suppress(OSError):  # a CPU taken from the process meanwhile: stay where it is
            os.sched_setaffinity(0, _ALLOWED if cpu == ANY_CPU else {cpu})
            self._cpu = cpu

    def loosen(self) -> None:
        """From another thread, while this one runs a call."""
        if self._cpu == ANY_CPU or _ALLOWED is None:
            return
        with contextlib.suppress(OSError):  # the thread is gone, or the CPUs changed: nothing to do
            os.sched_setaffinity(self._thread, _ALLOWED)
            self._cpu = ANY_CPU
