"""Entry point of a service process under the fault harness: ``python -m tests.faults.child <module> <pid>``.

Runs ``<module>`` as ``python -m <module>`` would, after asking Linux to SIGKILL it when the test
process (``<pid>``) dies, so that a test run killed from outside leaves no service behind.
"""

from __future__ import annotations

import runpy
import sys

from jamjet_common.local.processes import die_with_parent


def main() -> None:
    module, parent = sys.argv[1], int(sys.argv[2])
    if sys.platform == "linux":
        die_with_parent(parent)
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
