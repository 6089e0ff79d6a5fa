"""A real browser on Open WebUI: Debian's Chromium driven by Playwright (from PyPI, the version whose
protocol matches Debian 12's chromium 156: playwright 1.64.1 bundles 156.0.8078.4; `playwright
install` and its CDN are never used). Signs in through the login form, sends a message, waits for
the answer to appear and stop changing, and keeps a screenshot."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# as root in a container: no sandbox; Docker's 64 MiB /dev/shm is too small for Chromium
ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]


def available() -> str | None:
    """Why no browser test can run here (None: it can)."""
    if not shutil.which(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def chat(url: str, email: str, password: str, message: str, screenshot: Path, done, timeout: float = 120) -> dict:
    """Sign in at ``url``, send ``message`` in a new chat and wait for the answer: its text on the
    page, until ``done(chat_id)`` says the answer is complete (Open WebUI's own record of it). Returns
    the answer's text as the page shows it then, the chat's id and the seconds each step took."""
    from playwright.sync_api import sync_playwright

    timings = {}
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{url}/auth")
            page.fill("input[type=email]", email)
            page.fill("input[type=password]", password)
            page.locator("button[type=submit]").click()
            page.wait_for_selector("#chat-input", timeout=timeout * 1000)
            timings["signed in"] = round(time.monotonic() - started, 1)
            # the release notes open over the chat once per account and version: a user closes them
            notes = page.get_by_role("button", name="Okay, Let's Go!")
            if notes.count():
                notes.click()
            page.locator("#chat-input").click()
            page.keyboard.type(message)
            page.keyboard.press("Enter")
            answer = page.locator(".chat-assistant #response-content-container").last
            answer.wait_for(timeout=timeout * 1000)
            timings["answer appeared"] = round(time.monotonic() - started, 1)
            page.wait_for_url("**/c/*", timeout=timeout * 1000)  # the chat is recorded: its page
            chat_id = page.url.rsplit("/c/", 1)[-1]
            deadline = time.monotonic() + timeout
            while not done(chat_id) and time.monotonic() < deadline:
                time.sleep(0.5)
            page.wait_for_timeout(1000)  # the last streamed words rendered
            text = answer.inner_text().strip()
            timings["answered"] = round(time.monotonic() - started, 1)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
            return {"answer": text, "chat": chat_id, "timings": timings}
        finally:
            browser.close()
