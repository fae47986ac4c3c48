"""Container health check: ``python -m jamjet_common.health [FILE] [MAX_AGE_SECS]``.

Exits 0 when the service's health file (``JAMJET_HEALTH_FILE``) was touched recently, else 1.
"""

from __future__ import annotations

import os
import sys
import time


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else os.environ.get("JAMJET_HEALTH_FILE", "/tmp/jamjet-health")
    max_age = float(argv[2]) if len(argv) > 2 else 20.0
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError as exc:
        print(f"unhealthy: {exc}")
        return 1
    if age > max_age:
        print(f"unhealthy: {path} is {age:.0f}s old")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
