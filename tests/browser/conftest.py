"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright, for the pages
mammokit writes. Never ``playwright install``: the system browser is used."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MAMMOKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH = 1280

#: Where screenshots for docs/ go when MAMMOKIT_SCREENSHOTS is set (e.g. to ``docs/img``).
SCREENSHOTS = os.environ.get("MAMMOKIT_SCREENSHOTS", "")


class Opened:
    """A page opened from a file, with the console errors and page errors seen so far."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda err: self.errors.append(str(err)))
        page.on("requestfailed", lambda req: self.errors.append(f"failed: {req.url}"))

    def overflow(self) -> int:
        """Pixels the document is wider than the viewport (0: no horizontal scrolling)."""
        return int(self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))

    def broken_images(self) -> list[str]:
        """The ``src`` (shortened) of every <img> that did not load. The page is scrolled to
        its end first, so that lazily loaded images are requested too."""
        self.page.evaluate(
            """async () => {
                for (let y = 0; y < document.body.scrollHeight; y += window.innerHeight / 2) {
                    window.scrollTo(0, y);
                    await new Promise(r => setTimeout(r, 20));
                }
                window.scrollTo(0, 0);
            }"""
        )
        self.page.wait_for_function(
            "Array.from(document.images).every(img => img.complete)", timeout=30_000
        )
        return list(
            self.page.evaluate(
                """() => Array.from(document.images)
                    .filter(img => !(img.complete && img.naturalWidth > 0))
                    .map(img => img.src.slice(0, 80))"""
            )
        )

    def screenshot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


@pytest.fixture(scope="session")
def _browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": WIDTH, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def open_page(_browser_context: Any) -> Iterator[Callable[[Path], Opened]]:
    """``open_page(path) -> Opened``: the file loaded (every image waited for)."""
    pages: list[Any] = []

    def open_(path: Path) -> Opened:
        page = _browser_context.new_page()
        pages.append(page)
        opened = Opened(page)
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_function(
            "Array.from(document.images).every(img => img.complete)", timeout=30_000
        )
        return opened

    yield open_
    for page in pages:
        page.close()
