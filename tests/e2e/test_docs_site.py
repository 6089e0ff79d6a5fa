"""The docs site read as a reader reads it: built (`mkdocs build --strict`), served on loopback by
`python -m http.server`, and opened in a real headless Chromium (Debian's, driven by Playwright, as
the web UI's fleet test does). The home page and the 8xA800 host page are kept as screenshots,
build/docs-site/home.png and build/docs-site/hosts-a800.png (the test's artifacts), after their
text is checked: the navigation, the seed's generated plan transcript, the included inventory.
~15 s."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.fleet import browser
from tests.helpers import REPO, build_docs, record_timing, require

pytestmark = pytest.mark.e2e
SHOTS = REPO / "build" / "docs-site"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    require(browser.available() is None, str(browser.available()))
    site = tmp_path_factory.mktemp("site")
    started = time.monotonic()
    build_docs(site)
    record_timing("docs site: mkdocs build --strict", time.monotonic() - started)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(50):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=10)


def shot(url: str, path: str, name: str) -> str:
    """The page's visible text, after a full-page screenshot into build/docs-site/<name>.png."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser.CHROMIUM, headless=True, args=browser.ARGS)
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 900})
            response = page.goto(f"{url}/{path}")
            assert response and response.status == 200, (path, response and response.status)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
            return page.locator("body").inner_text()
        finally:
            chromium.close()


def test_the_home_page_in_a_browser(served):
    started = time.monotonic()
    text = shot(served, "", "home")
    record_timing("docs site: the home page in Chromium (build/docs-site/home.png)", time.monotonic() - started)
    assert "verified" in text and "LLM-serving state" in text
    for entry in ("Getting started", "Hosts", "Guides", "Reference", "Project", "中文"):
        assert entry in text, entry
    assert (SHOTS / "home.png").stat().st_size > 20_000


def test_a_host_page_in_a_browser_shows_its_plan_and_its_files(served):
    text = shot(served, "hosts/a800/", "hosts-a800")
    assert "$ llmhost plan inventories/a800.py --hardware tests/fixtures/hardware/a800.yaml" in text
    assert "service qwen72" in text  # the generated transcript
    assert '"ssh_hostname": "192.0.2.10"' in text  # inventories/a800.py, included as it is
    assert (SHOTS / "hosts-a800.png").stat().st_size > 20_000
