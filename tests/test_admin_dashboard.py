"""The dashboard through the middleware: off without a token, closed without it (the login
form, a 401, bad cookies, forged logins and logouts refused), open with it, never cached,
and showing the numbers the read API gives for the same traffic."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from paywall import PaywallMiddleware
from paywall.admin.auth import SESSION_COOKIE
from paywall.analytics import AnalyticsReader

from .conftest import CONFIG, article_site, client_for
from .sharing_traffic import SHARING, SharingSite

pytestmark = pytest.mark.anyio

TOKEN = "test-admin-token-0123456789"
NOW = datetime(2027, 1, 20, 3, 0, tzinfo=UTC)  # 12:00 in Asia/Tokyo
TODAY = date(2027, 1, 20)
ORIGIN = {"Origin": "https://news.test"}
ON = CONFIG + "analytics:\n  enabled: true\n"
_NONCE = re.compile(r'name="nonce" value="([^"]+)"')
_CSRF = re.compile(r"name='csrf' value='([^']+)'")
_ISLAND = re.compile(r'<script type="application/json" id="paywall-charts">(.*?)</script>', re.S)


class Dashboard:
    """The sample site behind a paywall with analytics on, at a fixed time."""

    def __init__(self, store: Any, path: Path, prefix: str) -> None:
        self.paywall = PaywallMiddleware(article_site, config=path, redis=store)
        self.paywall.clock = lambda: NOW
        self.reader = AnalyticsReader(store, prefix)

    def browser(self) -> httpx.AsyncClient:
        return client_for(self.paywall)

    async def traffic(self) -> None:
        """Three readers: 2, 4 and 5 metered views (walls for two), one premium view."""
        for views in (2, 4, 5):
            async with self.browser() as reader:
                for n in range(views):
                    await reader.get(f"/articles/{n}")
        async with self.browser() as reader:
            await reader.get("/premium/1")
        await self.paywall.analytics.flush()


async def sign_in(browser: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    form = await browser.get("/paywall/admin/login")
    nonce = _NONCE.search(form.text)
    assert nonce, form.text
    return await browser.post(
        "/paywall/admin/login",
        data={"nonce": nonce.group(1), "token": token, "next": "/paywall/admin/offers"},
        headers=ORIGIN,
    )


@pytest.fixture
async def dashboard(
    store: Any, config_file: Callable[..., Path], prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Dashboard]:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", TOKEN)
    made = Dashboard(store, config_file(ON), prefix)
    yield made
    await made.paywall.analytics.aclose()


# -- closed ---------------------------------------------------------------------------------


async def test_no_token_in_the_environment_means_no_dashboard(
    dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYWALL_ADMIN_TOKEN")
    async with dashboard.browser() as browser:
        for path in ("/paywall/admin/", "/paywall/admin", "/paywall/admin/login",
                     "/paywall/admin/static/dashboard.js"):  # fmt: skip
            response = await browser.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 404, path
            assert "The Test Gazette" not in response.text  # not the upstream's page either


async def test_a_token_too_short_to_be_safe_keeps_it_off(
    dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", "short")
    async with dashboard.browser() as browser:
        response = await browser.get("/paywall/admin/", headers={"Authorization": "Bearer short"})
    assert response.status_code == 404


async def test_a_page_without_the_token_goes_to_the_login_form(dashboard: Dashboard) -> None:
    async with dashboard.browser() as browser:
        response = await browser.get("/paywall/admin/meter?from=2027-01-01")
        assert response.status_code == 303
        assert response.headers["location"] == (
            "/paywall/admin/login?next=%2Fpaywall%2Fadmin%2Fmeter%3Ffrom%3D2027-01-01"
        )
        login = await browser.get(response.headers["location"])
    assert login.status_code == 200
    assert 'type="password"' in login.text and 'value="/paywall/admin/meter?from=2027-01-01"' in (
        login.text
    )
    assert "Views" not in login.text


async def test_static_files_and_a_wrong_bearer_get_401(dashboard: Dashboard) -> None:
    async with dashboard.browser() as browser:
        static = await browser.get("/paywall/admin/static/uPlot.iife.min.js")
        wrong = await browser.get(
            "/paywall/admin/", headers={"Authorization": f"Bearer {TOKEN[:-1]}x"}
        )
        basic = await browser.get("/paywall/admin/", headers={"Authorization": f"Basic {TOKEN}"})
    for response in (static, wrong, basic):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "uPlot" not in response.text


async def test_a_forged_or_expired_session_cookie_is_no_session(dashboard: Dashboard) -> None:
    async with dashboard.browser() as browser:
        assert (await sign_in(browser)).status_code == 303
        good = browser.cookies[SESSION_COOKIE]
        session_id, expires, mac = good.split(".")
        for forged in (
            f"{session_id}.{int(expires) + 10**6}.{mac}",  # a later expiry, same signature
            f"x{session_id}.{expires}.{mac}",
            TOKEN,  # the token itself is not a session
            "",
        ):
            browser.cookies.clear()
            browser.cookies.set(SESSION_COOKIE, forged, domain="news.test")
            response = await browser.get("/paywall/admin/")
            assert response.status_code == 303, forged
    async with dashboard.browser() as browser:
        await sign_in(browser)
        later = NOW.timestamp() + 13 * 3600
        dashboard.paywall.endpoints.admin.tokens.auth("PAYWALL_ADMIN_TOKEN").clock = (  # type: ignore[union-attr]
            lambda: later
        )
        assert (await browser.get("/paywall/admin/")).status_code == 303


async def test_a_new_token_signs_every_session_out(
    dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dashboard.browser() as browser:
        await sign_in(browser)
        assert (await browser.get("/paywall/admin/")).status_code == 200
        monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", TOKEN + "-rotated")
        assert (await browser.get("/paywall/admin/")).status_code == 303


# -- signing in and out ---------------------------------------------------------------------


async def test_signing_in_sets_a_strict_http_only_session_never_the_token(
    dashboard: Dashboard,
) -> None:
    async with dashboard.browser() as browser:
        response = await sign_in(browser)
        assert response.status_code == 303
        assert response.headers["location"] == "/paywall/admin/offers"
        [session] = [c for c in response.headers.get_list("set-cookie") if "paywall_admin=" in c]
        assert TOKEN not in session
        for attribute in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/paywall/admin/"):
            assert attribute in session
        page = await browser.get("/paywall/admin/offers")
    assert page.status_code == 200 and "<h1>Offers</h1>" in page.text


async def test_the_session_is_not_secure_only_on_plain_http(dashboard: Dashboard) -> None:
    transport = httpx.ASGITransport(app=dashboard.paywall)
    async with httpx.AsyncClient(transport=transport, base_url="http://news.test") as browser:
        form = await browser.get("/paywall/admin/login")
        nonce = _NONCE.search(form.text)
        assert nonce
        response = await browser.post(
            "/paywall/admin/login",
            data={"nonce": nonce.group(1), "token": TOKEN},
            headers={"Origin": "http://news.test"},
        )
    assert response.status_code == 303
    assert "Secure" not in response.headers["set-cookie"]


async def test_a_wrong_token_is_refused_at_the_form(dashboard: Dashboard) -> None:
    async with dashboard.browser() as browser:
        response = await sign_in(browser, token="not-the-token-at-all")
        assert response.status_code == 401
        assert "not the admin token" in response.text
        assert SESSION_COOKIE not in browser.cookies
        assert (await browser.get("/paywall/admin/")).status_code == 303


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.test"},
        {},  # neither Origin nor Referer
        {"Origin": "null"},
        {"Referer": "https://evil.test/paywall/admin/login"},
    ],
)
async def test_a_login_posted_from_another_site_is_refused(
    dashboard: Dashboard, headers: dict[str, str]
) -> None:
    async with dashboard.browser() as browser:
        form = await browser.get("/paywall/admin/login")
        nonce = _NONCE.search(form.text)
        assert nonce
        data = {"nonce": nonce.group(1), "token": TOKEN}
        response = await browser.post("/paywall/admin/login", data=data, headers=headers)
        assert response.status_code == 403
        assert SESSION_COOKIE not in browser.cookies


async def test_a_login_without_the_forms_nonce_is_refused(dashboard: Dashboard) -> None:
    async with dashboard.browser() as browser:
        await browser.get("/paywall/admin/login")
        for nonce in ("", "guessed-nonce"):
            data = {"nonce": nonce, "token": TOKEN}
            response = await browser.post("/paywall/admin/login", data=data, headers=ORIGIN)
            assert response.status_code == 403
        assert SESSION_COOKIE not in browser.cookies


async def test_after_login_only_dashboard_paths_are_followed(dashboard: Dashboard) -> None:
    for target in ("https://evil.test/", "//evil.test/paywall/admin/", "/elsewhere",
                   "/paywall/admin//evil.test"):  # fmt: skip
        async with dashboard.browser() as browser:
            form = await browser.get("/paywall/admin/login")
            nonce = _NONCE.search(form.text)
            assert nonce
            data = {"nonce": nonce.group(1), "token": TOKEN, "next": target}
            response = await browser.post("/paywall/admin/login", data=data, headers=ORIGIN)
            assert response.headers["location"] == "/paywall/admin/", target


async def test_logout_needs_the_pages_form_token_and_clears_the_session(
    dashboard: Dashboard,
) -> None:
    async with dashboard.browser() as browser:
        await sign_in(browser)
        page = await browser.get("/paywall/admin/")
        csrf = _CSRF.search(page.text)
        assert csrf
        assert (await browser.get("/paywall/admin/logout")).status_code == 405
        forged = await browser.post("/paywall/admin/logout", data={"csrf": "x"}, headers=ORIGIN)
        assert forged.status_code == 403
        cross = await browser.post(
            "/paywall/admin/logout", data={"csrf": csrf.group(1)},
            headers={"Origin": "https://evil.test"},
        )  # fmt: skip
        assert cross.status_code == 403
        assert (await browser.get("/paywall/admin/")).status_code == 200  # still signed in
        done = await browser.post(
            "/paywall/admin/logout", data={"csrf": csrf.group(1)}, headers=ORIGIN
        )
        assert done.status_code == 303 and "Max-Age=0" in done.headers["set-cookie"]
        assert (await browser.get("/paywall/admin/")).status_code == 303


# -- open -----------------------------------------------------------------------------------


async def test_every_answer_is_private_unstored_and_locked_down(dashboard: Dashboard) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with dashboard.browser() as browser:
        responses = [
            await browser.get("/paywall/admin/login"),
            await browser.get("/paywall/admin/"),
            await browser.get("/paywall/admin/", headers=bearer),
            await browser.get("/paywall/admin/static/dashboard.css", headers=bearer),
            await browser.get("/paywall/admin/nothing", headers=bearer),
        ]
    for response in responses:
        headers = response.headers
        assert headers["cache-control"] == "private, no-store"
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
    assert [r.status_code for r in responses] == [200, 303, 200, 200, 404]


async def test_pages_with_the_bearer_token(dashboard: Dashboard) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with dashboard.browser() as browser:
        for slug, heading in (("", "Funnel"), ("sections", "Sections &amp; prompts"),
                              ("offers", "Offers"), ("meter", "Meter"),
                              ("store", "Store health"), ("config", "Config history"),
                              ("experiments", "Experiments"), ("preview", "Preview")):  # fmt: skip
            page = await browser.get(f"/paywall/admin/{slug}", headers=bearer)
            assert page.status_code == 200 and f"<h1>{heading}</h1>" in page.text, slug
            assert "Sign out" not in page.text  # nothing to sign out of
        meter = await browser.get("/paywall/admin/meter?to=2027-02-03", headers=bearer)
        head = await browser.head("/paywall/admin/", headers=bearer)
        post = await browser.post("/paywall/admin/", headers=bearer)
        redirect = await browser.get("/paywall/admin", headers=bearer)
    assert "Anonymous readers, 2027-02 (2027-02-01 to 2027-02-03)" in meter.text
    assert "readers by free articles used (2027-02, limit 3)" in meter.text
    assert head.status_code == 200 and head.content == b""
    assert post.status_code == 405
    assert redirect.status_code == 303 and redirect.headers["location"] == "/paywall/admin/"


async def test_the_prefix_and_the_token_variable_come_from_the_config(
    store: Any, config_file: Callable[..., Path], prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TOKEN", TOKEN)
    monkeypatch.delenv("PAYWALL_ADMIN_TOKEN", raising=False)
    text = ON + "endpoints:\n  prefix: /_pw\nadmin:\n  token_env: OPS_TOKEN\n"
    made = Dashboard(store, config_file(text), prefix)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with made.browser() as browser:
        moved = await browser.get("/_pw/admin/", headers=bearer)
        old = await browser.get("/paywall/admin/", headers=bearer)
    assert moved.status_code == 200 and "href='/_pw/admin/offers'" in moved.text
    assert old.status_code == 200 and "Footer" in old.text  # the upstream's page now


async def test_the_numbers_shown_are_the_read_apis(dashboard: Dashboard) -> None:
    await dashboard.traffic()
    report = await dashboard.reader.report(TODAY - timedelta(days=29), TODAY)
    total = report.total
    assert (total.views, total.banners, total.last_free, total.walls) == (12, 6, 2, 4)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with dashboard.browser() as browser:
        funnel = await browser.get("/paywall/admin/", headers=bearer)
        offers = await browser.get("/paywall/admin/offers", headers=bearer)
    for label, value in (("Views", 12), ("Banners", 6), ("Last free", 2), ("Walls", 4)):
        assert f"data-card='{label}'><span class='label'>{label}</span><strong>{value}<" in (
            funnel.text
        )
    assert f"<th scope='row'>{TODAY}</th><td>12</td><td>6</td><td>2</td><td>4</td>" in funnel.text
    island = _ISLAND.search(funnel.text)
    assert island
    charts = {c["id"]: c for c in json.loads(unescape(island.group(1)))["charts"]}
    daily = charts["funnel-daily"]
    assert len(daily["labels"]) == 30 and daily["series"][0]["values"][-1] == 12
    assert charts["funnel-total"]["series"][0]["values"][:4] == [12, 6, 2, 4]
    impressions = report.offer("trial-3m").impressions
    assert impressions == 4
    assert f"<th scope='row'>trial-3m</th><td>{impressions}</td><td>0</td>" in offers.text
    assert "Gifts and referrals" not in funnel.text  # none in the config, none counted


async def test_the_funnel_shows_gifts_and_referral_reads(
    store: Any, config_file: Callable[..., Path], prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", TOKEN)
    site = SharingSite(store, config_file(SHARING), prefix)
    await site.traffic()
    async with site.browser() as browser:
        funnel = await browser.get("/paywall/admin/", headers={"Authorization": f"Bearer {TOKEN}"})
    await site.paywall.analytics.aclose()
    for label, value in (("Gift links made", 3), ("Gift reads", 4), ("Gift offer clicks", 1),
                         ("Conversions after a gift", 1), ("Referral reads", 2)):  # fmt: skip
        assert f"data-card='{label}'><span class='label'>{label}</span><strong>{value}<" in (
            funnel.text
        ), label
    island = _ISLAND.search(funnel.text)
    assert island
    charts = {c["id"]: c for c in json.loads(unescape(island.group(1)))["charts"]}
    drawn = {s["label"]: s["values"][-1] for s in charts["sharing-daily"]["series"]}
    assert drawn == {"Gift links made": 3, "Gift reads": 4, "Referral reads": 2}


async def test_the_experiments_page_shows_the_read_apis_numbers(
    store: Any, config_file: Callable[..., Path], prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", TOKEN)
    experiment = """experiments:
  - id: limits
    starts: 2027-01-10
    arms:
      - {name: control, weight: 1}
      - {name: more, weight: 1, meter: {limit: 5}}
"""
    dashboard = Dashboard(store, config_file(ON + experiment), prefix)
    await dashboard.traffic()
    config = dashboard.paywall.live.config
    [result] = (await dashboard.reader.report(TODAY, TODAY, config)).experiments
    assert sum(arm.readers for arm in result.arms) == 4 and result.start == date(2027, 1, 10)
    async with dashboard.browser() as browser:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        page = await browser.get("/paywall/admin/experiments", headers=bearer)
    assert "Each experiment counted from its first day to 2027-01-20" in page.text
    for arm in result.arms:
        cells = f"<td>1</td><td>{arm.readers}</td><td>{arm.views}</td><td>{arm.walls}</td>"
        assert f"<th scope='row'>{arm.name}</th>{cells}" in page.text
    island = _ISLAND.search(page.text)
    assert island
    [chart] = json.loads(unescape(island.group(1)))["charts"]
    assert chart["id"] == "experiment-limits" and len(chart["labels"]) == 11  # Jan 10 to 20
    async with dashboard.browser() as browser:  # drawn from the range's start, if later
        later = await browser.get("/paywall/admin/experiments?from=2027-01-15", headers=bearer)
    later_island = _ISLAND.search(later.text)
    assert later_island
    [drawn] = json.loads(unescape(later_island.group(1)))["charts"]
    assert drawn["labels"][0] == "Jan 15" and len(drawn["labels"]) == 6
    assert drawn["series"][0]["values"][-1] == chart["series"][0]["values"][-1]  # the same
    assert {s["label"] for s in chart["series"]} == {arm.name for arm in result.arms}
    await dashboard.paywall.analytics.aclose()
