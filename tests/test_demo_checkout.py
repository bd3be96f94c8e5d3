"""The whole story through the demo, over HTTP against a real uvicorn on real Redis: an
anonymous reader is walled, clicks an offer, pays at the demo's stand-in checkout (which
sends Stripe's signed events to the paywall's webhook), reads the next article in full, and
the dashboard counts one conversion for that offer. The demo's clock is fixed."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from html import unescape
from pathlib import Path

import httpx
import pytest

from paywall.demo.app import DEMO_CONFIG, build_demo
from paywall.demo.articles import ARTICLES, METERED
from paywall.demo.checkout import BUYER_PREFIX

from . import servers
from .conftest import REAL_REDIS_URL
from .live_server import LiveServer

pytestmark = pytest.mark.skipif(not REAL_REDIS_URL, reason="PAYWALL_TEST_REDIS_URL is not set")

NOW = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)  # 11:00 in Singapore (meter.timezone)
DAY = date(2027, 1, 5)
TOKEN = "demo-admin-token-for-checkout-tests"
PROMPT = re.compile(r'data-paywall="([\w-]+)"')
PREMIUM = next(a for a in ARTICLES if a.access == "premium")
OFFER = "digital-annual"  # no end date in demo.yaml


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("PAYWALL_DEMO_STRIPE_SECRET", "whsec_demo_checkout_test")
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    config = tmp_path / "demo.yaml"
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    text = text.replace("  url: memory://", f'  url: {REAL_REDIS_URL}\n  prefix: "{prefix}"', 1)
    config.write_text(text, encoding="utf-8")
    server = LiveServer(build_demo(config, clock=lambda: NOW))
    try:
        yield server.url
    finally:
        server.stop()
        servers.delete_keys(str(REAL_REDIS_URL), prefix)


def offers_row(client: httpx.Client, offer: str) -> list[str]:
    page = client.get(
        f"/paywall/admin/offers?from={DAY}&to={DAY}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert page.status_code == 200
    row = re.search(rf"<th scope='row'>{offer}</th>(.*?)</tr>", page.text)
    assert row, page.text
    return re.findall(r"<td>([^<]*)</td>", row.group(1))


def test_walled_reader_clicks_pays_and_reads_on(demo: str) -> None:
    with httpx.Client(base_url=demo, timeout=10) as reader:
        for article in METERED[:3]:
            assert PROMPT.findall(reader.get(article.path).text) in (["meter"], ["last-free"])
        walled = reader.get(METERED[3].path)
        assert PROMPT.findall(walled.text) == ["subscribe"]
        assert METERED[3].paragraphs[-1] not in walled.text
        link = re.search(rf'href="(/paywall/o/{OFFER}\?r=[^"]+)"', walled.text)
        assert link
        click = reader.get(unescape(link.group(1)))
        assert click.status_code == 303
        offer_page = reader.get(click.headers["location"])
        to_checkout = re.search(r'href="(/checkout\?[^"]*paywall_ref=[^"]+)"', offer_page.text)
        assert to_checkout and f"offer={OFFER}" in to_checkout.group(1)
        checkout = reader.get(unescape(to_checkout.group(1)))
        assert "not signed in" in checkout.text
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', checkout.text))
        paid = reader.post("/checkout", data={k: unescape(v) for k, v in fields.items()})
        assert paid.status_code == 303 and paid.headers["location"] == "/checkout/done"
        welcome = reader.get("/checkout/done")
        assert f"Welcome, {BUYER_PREFIX}" in welcome.text

        after = reader.get(METERED[3].path)  # the same article: now in full, theirs to gift
        assert PROMPT.findall(after.text) == ["gift"] and METERED[3].paragraphs[-1] in after.text
        premium = reader.get(PREMIUM.path)
        assert PROMPT.findall(premium.text) == ["gift"] and PREMIUM.paragraphs[-1] in premium.text

        # Conversions are written at once; clicks and impressions with the next flush (2 s).
        deadline = time.monotonic() + 10
        while offers_row(reader, OFFER)[1] == "0" and time.monotonic() < deadline:
            time.sleep(0.2)
        impressions, clicks, _, conversions, _ = offers_row(reader, OFFER)
        assert (clicks, conversions) == ("1", "1") and int(impressions) >= 1
        assert offers_row(reader, "trial-3m")[3] == "0"  # shown too, not bought


def test_every_demo_account_is_made_by_billing_events(demo: str) -> None:
    expected = {
        "reader": ["subscribe"],
        "trialist": ["gift"],  # full access: only the gift control
        "subscriber": ["gift"],
        "trial-ended": ["trial-expired"],
        "lapsed": ["access-expired"],
    }
    with httpx.Client(base_url=demo, timeout=10) as browser:
        for account, prompts in expected.items():
            browser.post("/signin", data={"account": account})
            assert PROMPT.findall(browser.get(PREMIUM.path).text) == prompts, account
