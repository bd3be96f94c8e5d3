"""The dashboard in a real browser: `paywall demo` (real uvicorn, real Redis) over a month
the demo's simulation drove through the middleware, opened in headless Chromium on a laptop
and a phone. Every chart must be drawn (a canvas, data in it), the page must fit the
screen, nothing may break the Content-Security-Policy, and the numbers must be those
`paywall report` prints for the same days.

Screenshots go to a temporary folder, or PAYWALL_SCREENSHOT_DIR (`docs/screenshots`
refreshes the README's). Needs PAYWALL_TEST_REDIS_URL (`paywall report` reads a shared
store) and a Chromium (see test_browser.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, ViewportSize

from paywall.demo.app import DEMO_CONFIG
from paywall.demo.traffic import simulate

from . import servers
from .redis_server import free_port
from .test_browser import SCREENSHOTS, browser  # noqa: F401 (the fixture)

REDIS = os.environ.get("PAYWALL_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS, reason="PAYWALL_TEST_REDIS_URL is not set")

TOKEN = "browser-admin-token-0123456789"
SECRET = "browser-dashboard-signing-key"
END = date(2027, 1, 31)
START = END - timedelta(days=29)
RANGE = f"?from={START}&to={END}"
PAGES = ("", "sections", "offers", "meter", "store", "config", "experiments")
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
DRAWN = "[...document.querySelectorAll('figure.chart')].every(f => f.dataset.drawn === 'true')"


@dataclass(frozen=True)
class Site:
    url: str
    config: Path


def write_config(path: Path, prefix: str, teaser: int = 2, limit: str = "3") -> None:
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    text = text.replace("url: memory://", f'url: "{REDIS}"\n  prefix: "{prefix}"')
    text = text.replace("teaser_paragraphs: 2", f"teaser_paragraphs: {teaser}")
    text = text.replace("limit: 3 ", f"limit: {limit} ")
    path.write_text(text, encoding="utf-8")


def reload(site_url: str, config: Path, prefix: str, **changes: Any) -> None:
    """Edit the config the demo serves and let it notice (it looks at most once a second,
    when a request comes; a view starts the flush that writes the history)."""
    write_config(config, prefix, **changes)
    time.sleep(1.2)
    httpx.get(site_url + "/articles/harbour-ferries-go-electric", timeout=5)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A month simulated into real Redis, then `paywall demo` on it; two config edits (one
    accepted, one rejected) for the history."""
    assert REDIS
    folder = tmp_path_factory.mktemp("dashboard")
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    config = folder / "paywall.yaml"
    write_config(config, prefix)
    saved = os.environ.get("PAYWALL_SECRET_KEYS")
    os.environ["PAYWALL_SECRET_KEYS"] = SECRET  # the refs' keys, as the server has them

    async def fill() -> None:
        client = aioredis.from_url(REDIS)
        try:
            await simulate(config, client, end=END)
        finally:
            await client.aclose()

    try:  # in a thread of its own: Playwright's loop may be running in this one
        filler = threading.Thread(target=asyncio.run, args=(fill(),))
        filler.start()
        filler.join()
    finally:
        if saved is None:
            os.environ.pop("PAYWALL_SECRET_KEYS", None)
        else:
            os.environ["PAYWALL_SECRET_KEYS"] = saved
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PAYWALL_SECRET_KEYS": SECRET, "PAYWALL_ADMIN_TOKEN": TOKEN}
    command = [sys.executable, "-m", "paywall", "demo", "--config", str(config), "--port",
               str(port)]  # fmt: skip
    answers = lambda: httpx.get(url + "/", timeout=1.0).status_code == 200  # noqa: E731
    proc = servers.serve(command, env, folder / "demo.log", answers)
    try:
        reload(url, config, prefix, teaser=3)
        reload(url, config, prefix, teaser=3, limit="three")
        reload(url, config, prefix)
        time.sleep(2.5)  # the history is written with the next flush (analytics.flush_seconds)
        yield Site(url, config)
    finally:
        servers.stop(proc)
        servers.delete_keys(REDIS, prefix)


def sign_in(chromium: Browser, site: Site, viewport: ViewportSize) -> tuple[Page, list[str]]:
    """A new browser context signed in through the login form; its console's complaints."""
    context = chromium.new_context(viewport=viewport, base_url=site.url, device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # A resource that failed is told by its response below (the site's favicon is not ours).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def response(answer: Response) -> None:
        if "/paywall/admin/" in answer.url and answer.status >= 400:
            problems.append(f"{answer.status} {answer.url}")

    page.on("console", console)
    page.on("response", response)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto("/paywall/admin/" + RANGE)
    assert page.url.startswith(site.url + "/paywall/admin/login?next=")
    page.fill("#token", TOKEN)
    with page.expect_navigation(wait_until="load"):
        page.click("button[type=submit]")
    assert page.url == site.url + "/paywall/admin/" + RANGE
    return page, problems


def charts_on(page: Page) -> list[dict[str, Any]]:
    page.wait_for_function(DRAWN, timeout=10_000)
    found = page.evaluate(
        """() => [...document.querySelectorAll('figure.chart')].map(f => {
             const canvas = f.querySelector('canvas');
             return {id: f.dataset.chart, points: Number(f.dataset.points),
                     width: canvas ? canvas.getBoundingClientRect().width : 0,
                     height: canvas ? canvas.getBoundingClientRect().height : 0};
           })"""
    )
    return list(found)


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), type="png")


@pytest.mark.parametrize(("viewport", "device"), [(LAPTOP, "laptop"), (PHONE, "phone")])
def test_every_chart_is_drawn_and_fits_the_screen(
    browser: Browser,  # noqa: F811
    site: Site,
    viewport: ViewportSize,
    device: str,
) -> None:
    page, problems = sign_in(browser, site, viewport)
    try:
        for slug in PAGES:
            page.goto(f"/paywall/admin/{slug}" + ("" if slug == "config" else RANGE))
            drawn = charts_on(page)
            assert drawn, slug
            for chart in drawn:
                assert chart["points"] > 0, chart
                assert 200 <= chart["width"] <= viewport["width"] and chart["height"] > 100, chart
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{slug} is wider than the {device} screen"
            if device == "laptop":
                shoot(page, f"dashboard-{slug or 'funnel'}.png")
            elif slug in ("", "meter"):
                shoot(page, f"dashboard-{slug or 'funnel'}-phone.png")
        assert problems == []  # no script error, no Content-Security-Policy violation
    finally:
        page.context.close()


def test_the_dashboard_shows_what_paywall_report_prints(
    browser: Browser,  # noqa: F811
    site: Site,
) -> None:
    command = [sys.executable, "-m", "paywall", "report", "--config", str(site.config),
               "--from", str(START), "--to", str(END), "--format", "json"]  # fmt: skip
    printed = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    report = json.loads(printed.stdout)
    page, _ = sign_in(browser, site, LAPTOP)
    try:
        rows = page.evaluate(
            """() => Object.fromEntries(
                 [...document.querySelectorAll('div.table')[0].querySelectorAll('tbody tr')]
                   .map(tr => [tr.cells[0].innerText,
                               [...tr.cells].slice(1).map(td => td.innerText)]))"""
        )
        for day in report["days"]:
            shown = [int(cell.replace(",", "")) for cell in rows[day["date"]]]
            expected = [day[name] for name in ("views", "banners", "last_free", "walls",
                                               "clicks", "conversions")]  # fmt: skip
            assert shown == expected, day["date"]
        total_views = sum(day["views"] for day in report["days"])
        card = page.inner_text("[data-card='Views'] strong")
        assert int(card.replace(",", "")) == total_views > 2000
        page.goto("/paywall/admin/offers" + RANGE)
        for offer, counts in report["offers"].items():
            row = page.locator("div.table tbody tr", has_text=offer).first
            cells = row.locator("td").all_inner_texts()
            shown = [int(cells[n].replace(",", "")) for n in (0, 1, 3)]
            assert shown == [counts["impressions"], counts["clicks"], counts["conversions"]]
        assert sum(c["conversions"] for c in report["offers"].values()) > 0
    finally:
        page.context.close()


def test_the_experiments_page_shows_what_paywall_report_prints(
    browser: Browser,  # noqa: F811
    site: Site,
) -> None:
    page, _ = sign_in(browser, site, LAPTOP)
    try:
        page.goto("/paywall/admin/experiments" + RANGE)
        charts_on(page)
        for experiment in ("annual-first", "limit-3-vs-5"):
            command = [sys.executable, "-m", "paywall", "report", "--config",
                       str(site.config), "--experiment", experiment, "--to", str(END),
                       "--format", "json"]  # fmt: skip
            printed = subprocess.run(
                command, capture_output=True, text=True, check=True, timeout=60
            )
            arms = json.loads(printed.stdout)["experiments"][experiment]
            table = page.locator(
                "div.table", has=page.locator(f"caption:text-is('Arms of {experiment}')")
            )
            for arm, numbers in arms.items():
                cells = table.locator("tbody tr", has=page.locator(f"th:text-is('{arm}')")).locator(
                    "td"
                )
                shown = [int(text.replace(",", "")) for text in cells.all_inner_texts()[1:6]]
                expected = [numbers[name] for name in ("readers", "views", "walls", "clicks",
                                                       "conversions")]  # fmt: skip
                assert shown == expected, (experiment, arm)
                assert sum(expected) > 0
            figure = page.locator(f"figure[data-chart='experiment-{experiment}']")
            assert figure.get_attribute("data-drawn") == "true"
    finally:
        page.context.close()


def test_sign_out_and_the_config_history(browser: Browser, site: Site) -> None:  # noqa: F811
    page, _ = sign_in(browser, site, LAPTOP)
    try:
        page.goto("/paywall/admin/config")
        results = page.locator("span.result").all_inner_texts()
        assert results[:3] == ["ok", "rejected", "ok"] and results[-1] == "start"
        assert "meter.limit" in page.inner_text("ul.problems")
        with page.expect_navigation(wait_until="load"):
            page.click("form.logout button")
        assert "Signed out." in page.inner_text("main")
        page.goto("/paywall/admin/")
        assert "/paywall/admin/login" in page.url
        page.fill("#token", "not-the-admin-token")
        with page.expect_navigation(wait_until="load"):
            page.click("button[type=submit]")
        assert "That is not the admin token." in page.inner_text("main")
    finally:
        page.context.close()


def test_static_files_need_the_token_too(site: Site) -> None:
    plain = httpx.get(site.url + "/paywall/admin/static/dashboard.js", timeout=5)
    assert plain.status_code == 401
