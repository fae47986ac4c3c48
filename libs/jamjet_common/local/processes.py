"""Child processes that do not outlive the process that started them (Linux: a parent-death signal).

Linux sends the signal when the *thread* that forked the child exits, not the process: start such
children from a thread that lives as long as the parent (the main thread, the event loop's thread).
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
Prctl = Callable[..., int]


def die_with_parent(parent: int, signum: int = signal.SIGKILL, prctl: Prctl | None = None) -> None:
    """Ask Linux to send ``signum`` to this process when its parent (pid ``parent``) dies."""
    (prctl or _prctl())(PR_SET_PDEATHSIG, int(signum))
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def parent_death_signal(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for Popen that applies :func:`die_with_parent`; None where Linux is not."""
    if sys.platform != "linux":
        return None
    # Looked up before the fork, so that the child only calls it (no dynamic loading after a fork).
    return functools.partial(die_with_parent, os.getpid(), signum, _prctl())


def _prctl() -> Prctl:
    prctl: Prctl = ctypes.CDLL(None, use_errno=True).prctl
    return prctl
