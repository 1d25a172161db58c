"""A real headless Chromium for the history page's browser tests: Debian's ``chromium`` and
``chromium-driver`` driven by Selenium, every blocking call run in a thread so the test's event
loop (which serves the RD sandbox) keeps answering.

A missing browser fails the test with what to install (``.ci/run`` installs both); it is never a
reason to skip.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without the background-networking flags Chromium keeps calling Google's hosts, which this
# machine's closed network refuses (docs of the machine: "Chromium section").
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--lang=pt-BR",
)
WAIT_SECONDS = 30.0
T = TypeVar("T")


def require_chromium() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"the browser tests need {', '.join(missing)}: apt-get install chromium "
            "chromium-driver (Debian's packages; .ci/run installs them)",
            pytrace=False,
        )


class Browser:
    """One Chromium window; every method awaits its WebDriver call in a thread."""

    def __init__(self, driver: webdriver.Chrome, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    async def open(self, path: str) -> None:
        await self._run(self.driver.get, self.base_url + path)

    @property
    def path(self) -> str:
        url: str = self.driver.current_url
        return url.removeprefix(self.base_url)

    async def find(self, css: str) -> WebElement:
        """The first element matching ``css``, waiting for it to appear."""
        wait = WebDriverWait(self.driver, WAIT_SECONDS)
        element: WebElement = await self._run(
            wait.until, lambda driver: driver.find_element(By.CSS_SELECTOR, css)
        )
        return element

    async def find_all(self, css: str) -> list[WebElement]:
        found: list[WebElement] = await self._run(self.driver.find_elements, By.CSS_SELECTOR, css)
        return found

    async def text(self, css: str = "body") -> str:
        element = await self.find(css)
        text: str = await self._run(lambda: element.text)
        return text

    async def type_into(self, css: str, text: str) -> None:
        element = await self.find(css)
        await self._run(element.clear)
        await self._run(element.send_keys, text)

    async def click(self, css: str) -> None:
        element = await self.find(css)
        await self._run(element.click)

    async def screenshot(self, path: Path, width: int = 1366) -> None:
        """A PNG of the whole page (the window is made as tall as the page first)."""
        height = await self._run(
            self.driver.execute_script, "return document.documentElement.scrollHeight"
        )
        await self._run(self.driver.set_window_size, width, min(int(height) + 40, 4000))
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = await self._run(self.driver.save_screenshot, str(path))
        assert saved, f"Chromium did not save {path}"
        await self._run(self.driver.set_window_size, width, 900)


@asynccontextmanager
async def chromium(base_url: str, profile: Path) -> AsyncIterator[Browser]:
    """Headless Chromium with a fresh profile in ``profile``, quit at the end."""
    require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1366,900"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "pt-BR,pt"})
    service = Service(executable_path=str(CHROMEDRIVER))
    driver = await asyncio.to_thread(webdriver.Chrome, options=options, service=service)
    try:
        yield Browser(driver, base_url)
    finally:
        await asyncio.to_thread(driver.quit)
        shutil.rmtree(profile, ignore_errors=True)
