"""Headless Chromium for the browser tests: one way to launch it, and the `browser` fixture
(registered for the whole suite by tests/conftest.py) that every `-m browser` module uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = "/usr/bin/chromium"
"""The system's Chromium (`make chromium` installs it); Playwright's own download is never used."""
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    # Nothing but the pages under test reaches the network: no updates, no sync, no probes.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed on the way out."""
    # Imported here so that a run without browser tests never loads Playwright.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module: Playwright's sync API runs its own event loop, which
    must not stay open across the asyncio tests of other modules."""
    with chromium() as launched:
        yield launched
