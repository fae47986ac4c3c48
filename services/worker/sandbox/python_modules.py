"""Which Python modules tenant IR may import and call (``python_fn``, python tools, eval scorers).

``JAMJET_PYTHON_ALLOWED_MODULES`` lists modules; an entry covers itself and its submodules on package
boundaries (``app`` allows ``app.tools``, never ``apple``). Unset, nothing is allowed unless the worker
runs in dev mode (``JAMJET_DEV_MODE=1``), where any module is. Either way the modules that reach the
host (``os``, ``subprocess``, ``builtins``, ``importlib``...) and private top-level modules (``_posix...``)
are refused unless the allowlist names that very module: a prefix never reaches into them.

The function called must itself be defined in an allowed module, so that an allowed module's imported
names (``from subprocess import run``) do not lend their reach, and its attribute path has no private or
dunder names (``__builtins__``, ``__loader__``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.worker.sandbox.refusal import DEV_MODE_VARIABLE, PYTHON_MODULE, Refused, unconfigured

ALLOWLIST_VARIABLE = "JAMJET_PYTHON_ALLOWED_MODULES"
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

DENIED = frozenset(
    {
        # the process, its interpreter and its imports
        "builtins", "os", "posix", "nt", "sys", "subprocess", "importlib", "imp", "pkgutil", "runpy",
        "zipimport", "code", "codeop", "ctypes", "cffi", "gc", "inspect", "types", "site", "sysconfig",
        "pdb", "bdb", "trace", "atexit", "faulthandler", "signal", "resource", "pty", "tty", "termios",
        "fcntl", "mmap", "pwd", "grp", "spwd", "getpass", "platform", "multiprocessing", "concurrent",
        "threading", "asyncio", "venv", "ensurepip", "pip", "setuptools", "distutils",
        # files
        "io", "shutil", "tempfile", "pathlib", "glob", "fileinput", "linecache", "shelve", "dbm",
        "sqlite3", "pickle", "marshal",
        # the network
        "socket", "ssl", "select", "selectors", "socketserver", "http", "urllib", "ftplib", "smtplib",
        "poplib", "imaplib", "telnetlib", "xmlrpc", "webbrowser",
    }
)  # fmt: skip


def denied(module: str) -> bool:
    top = module.partition(".")[0]
    return top in DENIED or top.startswith("_")


def within(module: str, entry: str) -> bool:
    """``entry`` covers itself and its submodules: ``app`` allows ``app.tools`` but not ``apple``."""
    entry = entry.rstrip(".")
    return bool(entry) and (module == entry or module.startswith(entry + "."))


@dataclass(frozen=True, slots=True)
class ModulePolicy:
    allowed: tuple[str, ...] | None = None
    """None: the allowlist variable is unset."""
    dev_mode: bool = False

    def permits(self, module: str) -> bool:
        if self.allowed is not None and module in self.allowed:
            return True  # named exactly: the operator's deliberate choice
        if denied(module):
            return False
        return self.allowed is None or any(within(module, entry) for entry in self.allowed)

    def check_module(self, module: str) -> None:
        if not _MODULE_NAME.fullmatch(module):
            raise Refused(f"python module name {module!r} is not a dotted module name", rule=PYTHON_MODULE)
        if self.allowed is None and not self.dev_mode:
            raise unconfigured(f"python module '{module}'", ALLOWLIST_VARIABLE, PYTHON_MODULE)
        if not self.permits(module):
            message = f"python module '{module}' is not allowed on this worker ({self._allowed()})"
            raise Refused(message, rule=PYTHON_MODULE)

    def runs(self, module: str) -> bool:
        """Whether ``module`` may run here: ``check_module`` would pass."""
        try:
            self.check_module(module)
        except Refused:
            return False
        return True

    def check_function_path(self, path: str) -> None:
        for name in path.split("."):
            if not name.isidentifier() or name.startswith("_"):
                raise Refused(f"python function {path!r}: '{name}' is not a public name", rule=PYTHON_MODULE)

    def check_callable(self, function: Callable[..., Any], where: str) -> None:
        """``function`` must be defined in an allowed module, not merely reachable from one."""
        module = getattr(function, "__module__", None)
        if isinstance(module, str) and self.permits(module):
            return
        name = getattr(function, "__qualname__", type(function).__name__)
        raise Refused(
            f"{where} is {module}.{name}, defined outside the allowed modules ({self._allowed()})",
            rule=PYTHON_MODULE,
        )

    def _allowed(self) -> str:
        if self.allowed is None:
            return f"{DEV_MODE_VARIABLE}: any module but the host's own"
        return f"{ALLOWLIST_VARIABLE}: {', '.join(self.allowed) or '(none)'}"
