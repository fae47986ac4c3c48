"""Debian's Chromium, as the console tests and bench/console.py launch it (Playwright downloads none)."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("JAMJET_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
