"""Headless Chromium for the browser tests (the app's page, report.html): a test helper, not part of the package.

Selenium drives the system's Chromium (Debian ``chromium`` and ``chromium-driver``, installed by scripts/setup.sh)
through ``/usr/bin/chromedriver``, given explicitly, so Selenium never downloads a browser or a driver. The browser
resolves no host name but the page's own (127.0.0.1): a page that tried to load anything from elsewhere would show
it, and nothing leaves the machine. :func:`start_chromium` skips the calling test, naming what is missing, when
Selenium, Chromium or chromedriver is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Large enough for the app's whole page (labelled spectrogram, table and downloads) in one screenshot.
WINDOW = (1280, 1700)


def start_chromium(*, window=WINDOW):
    """A headless Chromium WebDriver; skips the test when Selenium, Chromium or chromedriver is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None or not CHROMEDRIVER.is_file():
        pytest.skip("Chromium or chromedriver is not installed (Debian chromium chromium-driver; scripts/setup.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-extensions",
                f"--window-size={window[0]},{window[1]}",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def external_resources(driver) -> list:
    """The URLs the page loaded from anywhere but its own host (scripts, styles, fonts, images...)."""
    return driver.execute_script(
        "const here = location.protocol === 'file:' ? 'file://' : location.origin;"
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith(here) && !n.startsWith('data:') && !n.startsWith('blob:'));"
    )


def in_viewport(driver, element) -> bool:
    """Whether ``element`` is wholly inside the browser window (so a screenshot shows it)."""
    return driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && "
        "r.bottom <= window.innerHeight && r.right <= window.innerWidth;", element)
