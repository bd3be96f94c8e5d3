"""End to end in a real browser: `paywall demo` in a subprocess, driven by headless Chromium.

An anonymous reader clicks through articles from the home page until the wall, then signs
in as the demo accounts; the subscriber gifts an article, and another browser reads it
through the link without spending its meter. Each state is checked on what the browser
shows (the prompt's visible text) and on what it received (the walled article's hidden
paragraphs must not be anywhere in the DOM), and saved as a screenshot in a temporary
folder, or in PAYWALL_SCREENSHOT_DIR when set (`PAYWALL_SCREENSHOT_DIR=docs/screenshots`
refreshes the README's pictures).

Chromium is the system one (Debian's /usr/bin/chromium, or PAYWALL_CHROMIUM); Playwright
never downloads a browser here. Without a Chromium binary the test is skipped.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from paywall.config import load_config
from paywall.demo.app import DEMO_CONFIG
from paywall.demo.articles import ARTICLES, Article
from paywall.names import Audience

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(
    os.environ.get("PAYWALL_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="paywall-screenshots-")
)
VIEWPORT: ViewportSize = {"width": 1100, "height": 1400}
BY_PATH = {a.path: a for a in ARTICLES}
PREMIUM = next(a for a in ARTICLES if a.access == "premium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    explicit = os.environ.get("PAYWALL_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`paywall demo` on a free port (embedded store, fresh each run); its base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("demo") / "demo.log"
    env = {**os.environ, "PAYWALL_SECRET_KEYS": "browser-test-signing-key"}
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "paywall", "demo", "--port", str(port)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if server.poll() is not None:
                pytest.fail(f"paywall demo exited ({server.returncode}):\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"paywall demo did not answer on {url}:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium binary found (install Debian's chromium or set PAYWALL_CHROMIUM)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


# --- helpers: what the page shows, what it holds ---------------------------------------


def follow(page: Page, selector: str) -> None:
    """Click the first element matching `selector` and wait for the page it leads to."""
    with page.expect_navigation(wait_until="load"):
        page.locator(selector).first.click()


def visible_text(page: Page) -> str:
    return str(page.evaluate("document.body.innerText"))


def source(page: Page) -> str:
    return str(page.evaluate("document.documentElement.outerHTML"))


def prompts(page: Page) -> list[tuple[str, str]]:
    """(name, visible text) of every paywall prompt on the page."""
    found = page.evaluate(
        """() => [...document.querySelectorAll('[data-paywall]')]
                 .map(el => [el.dataset.paywall, el.innerText])"""
    )
    return [(str(name), str(text)) for name, text in found]


def current_article(page: Page) -> Article:
    path = page.evaluate("location.pathname")
    assert path in BY_PATH, f"not an article page: {path}"
    return BY_PATH[path]


def assert_whole(page: Page, article: Article) -> None:
    text = visible_text(page)
    for paragraph in article.paragraphs:
        assert paragraph in text


def assert_walled(page: Page, article: Article, teaser: int = 2) -> None:
    """The teaser is shown; the rest of the article is nowhere in the DOM, not even hidden."""
    text, markup = visible_text(page), source(page)
    for paragraph in article.paragraphs[:teaser]:
        assert paragraph in text
    for paragraph in article.paragraphs[teaser:]:
        for form in (paragraph, html.escape(paragraph, quote=False), paragraph[:60]):
            assert form not in text
            assert form not in markup, f"hidden text in the walled page: {paragraph[:60]!r}"


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), type="png")


def sign_in(page: Page, account: str) -> None:
    follow(page, 'header a[href="/signin"]')
    follow(page, f'button[name="account"][value="{account}"]')
    assert f"Signed in as {account}." in visible_text(page)


def open_premium(page: Page) -> None:
    """Home page, then the premium box's headline link."""
    follow(page, 'header a[href="/"]')
    follow(page, "#premium h3 a")
    assert current_article(page) is PREMIUM


# --- the walk ----------------------------------------------------------------------------


def test_demo_in_a_browser(browser: Browser, demo_url: str) -> None:
    context = browser.new_context(viewport=VIEWPORT, base_url=demo_url)
    page = context.new_page()
    try:
        page.goto("/")
        links = page.evaluate(
            """() => [...document.querySelectorAll('main a[href^="/articles/"]')]
                     .map(a => a.getAttribute('href'))"""
        )
        reading = list(dict.fromkeys(links))[:4]
        assert len(reading) == 4

        expected = [
            ("meter", "You have 2 free articles left this month", "meter.png"),
            ("meter", "You have 1 free article left this month", None),
            ("last-free", "This is your last free article this month", "last-free.png"),
        ]
        for href, (name, sentence, screenshot) in zip(reading[:3], expected, strict=True):
            follow(page, 'header a[href="/"]')
            follow(page, f'main a[href="{href}"]')
            article = current_article(page)
            assert [n for n, _ in prompts(page)] == [name], href
            assert sentence in prompts(page)[0][1]
            assert_whole(page, article)
            if screenshot:
                shoot(page, screenshot)

        follow(page, 'header a[href="/"]')
        follow(page, f'main a[href="{reading[3]}"]')
        walled = current_article(page)
        [(name, text)] = prompts(page)
        assert name == "subscribe"
        assert "Keep reading The Harbour Ledger" in text
        # The offers the demo's config shows anonymous readers today (they come and go
        # with their dates, so the test follows the calendar rather than a fixed day).
        demo = load_config(DEMO_CONFIG)
        offers = demo.offers_for(Audience.ANONYMOUS, datetime.now(demo.timezone).date())
        assert offers, "the demo config should always show anonymous readers an offer"
        for offer in offers:
            assert offer["headline"] in text
            assert not offer["ends"] or f"Offer ends {offer['ends']}" in text
        assert_walled(page, walled)
        assert '"articleBody"' not in source(page)
        shoot(page, "subscribe.png")

        open_premium(page)
        assert [n for n, _ in prompts(page)] == ["subscribe"]
        assert_walled(page, PREMIUM)
        shoot(page, "premium.png")

        for account, name, sentence, screenshot in (
            ("trial-ended", "trial-expired", "Your trial period has expired", "trial-expired.png"),
            (
                "lapsed",
                "access-expired",
                "Your full access to The Harbour Ledger has expired",
                "access-expired.png",
            ),
        ):
            sign_in(page, account)
            open_premium(page)
            [(shown, text)] = prompts(page)
            assert shown == name and sentence in text
            assert "Come back for $1 a week" in text
            assert_walled(page, PREMIUM)
            shoot(page, screenshot)

        sign_in(page, "subscriber")
        open_premium(page)
        assert [n for n, _ in prompts(page)] == ["gift"]  # all of it, and theirs to gift
        assert_whole(page, PREMIUM)
        shoot(page, "subscriber.png")
    finally:
        with contextlib.suppress(Exception):
            context.close()


# --- gift links ----------------------------------------------------------------------------

GIFTED = BY_PATH["/articles/monetary-authority-holds-rates"]  # Markets: outside the limit test
AFTERWARDS = BY_PATH["/articles/harbour-ferries-go-electric"]  # City: the demo's 3 free articles
PHONE: ViewportSize = {"width": 390, "height": 844}
GIFTS_LEFT = re.compile(r"You have (\d+) gifts? left this month")


def gifts(count: int) -> str:
    return f"{count} gift{'' if count == 1 else 's'}"


def assert_fits(page: Page) -> None:
    """Nothing on the page is wider than the screen (no sideways scrolling)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page.url} is wider than the screen by {overflow}px"


def assert_on_top(page: Page, name: str) -> None:
    """The prompt `name` opens the article's body, in the first screenful."""
    first = page.evaluate(
        "document.querySelector('.article-body').firstElementChild.dataset.paywall"
    )
    assert first == name
    box = page.locator(f'[data-paywall="{name}"]').bounding_box()
    assert box is not None and box["y"] < page.viewport_size["height"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("viewport", "javascript"),
    [(VIEWPORT, True), (PHONE, False)],
    ids=["laptop", "phone-without-javascript"],
)
def test_a_subscriber_gifts_an_article_another_reader_reads_it_free(
    browser: Browser, demo_url: str, viewport: ViewportSize, javascript: bool
) -> None:
    """The gift control is a plain form: it works without JavaScript (the link page's "Copy
    link" button needs it, and only shows with it)."""
    giver = browser.new_context(
        viewport=viewport, base_url=demo_url, java_script_enabled=javascript
    )
    recipient = browser.new_context(viewport=viewport, base_url=demo_url)
    laptop = viewport is VIEWPORT
    try:
        if javascript:
            giver.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo_url)
        page = giver.new_page()
        page.goto("/")
        sign_in(page, "subscriber")
        follow(page, 'header a[href="/"]')
        follow(page, f'main a[href="{GIFTED.path}"]')
        [(name, text)] = prompts(page)
        assert name == "gift" and "Gift this article" in text
        found = GIFTS_LEFT.search(text)
        assert found, text
        left = int(found[1])
        assert left >= 1
        assert_on_top(page, "gift")
        assert_whole(page, GIFTED)
        assert_fits(page)
        if laptop:
            shoot(page, "gift.png")

        follow(page, '[data-paywall="gift"] button')  # a form post: the link page
        link = page.input_value("#gift-link")
        assert link.startswith(f"{demo_url}{GIFTED.path}?gift=")
        text = visible_text(page)
        assert "Anyone with this link can read the article in full" in text
        assert f"You have {gifts(left - 1)} left." in text
        assert page.locator("#gift-link").is_visible()
        assert page.locator("#gift-copy").is_visible() is javascript
        assert_fits(page)
        if laptop:
            shoot(page, "gift-link.png")
        if javascript:
            page.click("#gift-copy")
            expect(page.locator("#gift-copy")).to_have_text("Copied")  # once it is on the clipboard
            assert page.evaluate("navigator.clipboard.readText()") == link
        follow(page, "text=Back to the article")
        assert page.url == demo_url + GIFTED.path
        assert f"You have {gifts(left - 1)} left this month" in prompts(page)[0][1]

        reader = recipient.new_page()  # someone else: no cookie, no account
        reader.goto(link)
        [(name, text)] = prompts(reader)
        assert name == "gifted" and "A subscriber gifted you this article" in text
        demo = load_config(DEMO_CONFIG)
        offers = demo.offers_for(Audience.ANONYMOUS, datetime.now(demo.timezone).date())
        assert offers
        for offer in offers:
            assert offer["headline"] in text
        assert_on_top(reader, "gifted")
        assert_whole(reader, GIFTED)  # to its last paragraph: no wall
        assert_fits(reader)
        if laptop:
            shoot(reader, "gifted.png")

        # The gift cost this reader nothing: their next article is the first the meter counts.
        follow(reader, 'header a[href="/"]')
        follow(reader, f'main a[href="{AFTERWARDS.path}"]')
        [(name, text)] = prompts(reader)
        assert name == "meter"
        assert f"You have {demo.limit - 1} free articles left this month" in text
    finally:
        for context in (giver, recipient):
            with contextlib.suppress(Exception):
                context.close()
