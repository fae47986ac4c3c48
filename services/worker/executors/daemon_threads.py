"""Daemon threads kept for reuse by plain ``python_fn`` functions.

Starting a thread per call costs more than the no-op step it runs. A thread that finishes its call
waits for the next one; a call finds an idle thread or starts a new one, so a stuck function keeps
only its own thread and never delays another call. The threads are daemons: none keeps the process
from exiting.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class DaemonThreads:
    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._started = 0

    @property
    def started(self) -> int:
        return self._started

    @property
    def idle(self) -> int:
        return self._idle

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` (which must not raise) on an idle thread, or on a new one if none is idle."""
        with self._lock:
            reuse = self._idle > 0
            if reuse:
                self._idle -= 1
            else:
                self._started += 1
        self._jobs.put(job)
        if not reuse:
            threading.Thread(target=self._serve, name=f"{self._name}:{self._started}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1
