"""The demo newspaper: every prompt of the seed page can be seen with its accounts."""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from pathlib import Path

import fakeredis
import pytest
from starlette.testclient import TestClient

from paywall.config import load_config
from paywall.demo.accounts import DEMO_ACCOUNTS
from paywall.demo.app import DEMO_CONFIG, build_demo
from paywall.demo.articles import ARTICLES, METERED
from paywall.demo.traffic import Simulated
from paywall.names import Audience

from .conftest import REAL_REDIS_URL
from .servers import delete_keys

PROMPT = re.compile(r'data-paywall="([\w-]+)"')
PREMIUM = next(a.path for a in ARTICLES if a.access == "premium")
SPONSORED = next(a.path for a in ARTICLES if a.access == "sponsored")


@pytest.fixture
def demo() -> TestClient:
    return TestClient(build_demo(redis=fakeredis.FakeAsyncRedis()), base_url="http://127.0.0.1")


def prompt_of(client: TestClient, path: str) -> list[str]:
    return PROMPT.findall(client.get(path).text)


def test_anonymous_countdown_last_free_and_wall(demo: TestClient) -> None:
    with demo:
        assert demo.get("/").status_code == 200
        first = demo.get(METERED[0].path)
        assert "You have 2 free articles left this month" in first.text
        assert prompt_of(demo, METERED[1].path) == ["meter"]
        assert prompt_of(demo, METERED[2].path) == ["last-free"]
        walled = demo.get(METERED[3].path)
        assert PROMPT.findall(walled.text) == ["subscribe"]
        assert METERED[3].paragraphs[-1] not in walled.text
        config = load_config(DEMO_CONFIG)  # its offers as of today, dates and all
        offers = config.offers_for(Audience.ANONYMOUS, datetime.now(config.timezone).date())
        assert offers  # the demo always has an offer without an end date
        for offer in offers:
            assert offer["headline"] in walled.text
            assert not offer["ends"] or f"Offer ends {offer['ends']}" in walled.text
        assert prompt_of(demo, SPONSORED) == []
        assert prompt_of(demo, PREMIUM) == ["subscribe"]


@pytest.mark.parametrize(
    ("account", "premium_prompt", "sentence"),
    [
        ("reader", ["subscribe"], "Keep reading The Harbour Ledger"),
        ("trialist", ["gift"], "Gift this article"),  # full access, and gifts to give
        ("subscriber", ["gift"], "You have 5 gifts left this month"),
        ("trial-ended", ["trial-expired"], "Your trial period has expired"),
        ("lapsed", ["access-expired"], "Your full access to The Harbour Ledger has expired"),
    ],
)
def test_each_demo_account_sees_its_own_state(
    demo: TestClient, account: str, premium_prompt: list[str], sentence: str | None
) -> None:
    assert account in {a.id for a in DEMO_ACCOUNTS}
    with demo:
        signed_in = demo.post("/signin", data={"account": account})
        assert signed_in.status_code == 200 and f"Signed in as <strong>{account}" in signed_in.text
        premium = demo.get(PREMIUM)
        assert PROMPT.findall(premium.text) == premium_prompt
        if sentence:
            assert sentence in premium.text
        demo.post("/signin", data={"account": ""})
        assert "Not signed in" in demo.get("/signin").text


def test_what_the_sign_in_page_says_of_gifts_and_referrals_holds(demo: TestClient) -> None:
    """The accounts it names as givers are those that see the gift control, and its two
    commands give a new reader the meter's banner, then a free read (no prompt)."""
    with demo:
        page = demo.get("/signin").text
        [gifts] = re.findall(r"<p>[^<]*<strong>.*?Gift this article.*?</p>", page)
        for account in DEMO_ACCOUNTS:
            demo.post("/signin", data={"account": account.id})
            sees_control = prompt_of(demo, PREMIUM) == ["gift"]
            assert (f"<strong>{account.id}</strong>" in gifts) is sees_control, account.id
        [commands] = re.findall(r'<pre class="try">(.*?)</pre>', page, re.S)
        shown = []
        for line in html.unescape(commands).splitlines():
            found = re.fullmatch(r"curl -s (?:-H '(\w+): ([^']*)' )?(\S+) \| grep .*", line)
            assert found, line
            name, value, url = found.groups()
            demo.cookies.clear()  # curl keeps no cookie: a new reader each time
            headers = {name: value} if name else {}
            shown.append(PROMPT.findall(demo.get(url, headers=headers).text))
        assert shown == [["meter"], []]


def test_on_a_real_redis_url_the_meter_sees_the_accounts_entitlements(
    tmp_path: Path, prefix: str
) -> None:
    """A redis:// store.url gives the meter our RESP client and the demo's entitlements a
    redis-py client: both must see the same data."""
    if not REAL_REDIS_URL:
        pytest.skip("PAYWALL_TEST_REDIS_URL is not set")
    config = tmp_path / "demo.yaml"
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    text = text.replace("  url: memory://", f'  url: {REAL_REDIS_URL}\n  prefix: "{prefix}"', 1)
    config.write_text(text, encoding="utf-8")
    try:
        with TestClient(build_demo(config), base_url="http://127.0.0.1") as demo:
            demo.post("/signin", data={"account": "subscriber"})
            assert PROMPT.findall(demo.get(PREMIUM).text) == ["gift"]  # full, theirs to gift
            demo.post("/signin", data={"account": "reader"})
            assert PROMPT.findall(demo.get(PREMIUM).text) == ["subscribe"]
    finally:
        delete_keys(REAL_REDIS_URL, prefix)


def test_the_demo_can_start_with_simulated_days_on_its_dashboard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", "demo-admin-token-for-tests")
    announced: list[Simulated] = []
    end = date(2027, 1, 31)
    app = build_demo(
        redis=fakeredis.FakeAsyncRedis(),
        simulate_days=3,
        simulate_until=end,
        announce=announced.append,
    )
    bearer = {"Authorization": "Bearer demo-admin-token-for-tests"}
    with TestClient(app, base_url="http://127.0.0.1") as demo:
        [done] = announced
        assert (done.start, done.end) == (date(2027, 1, 29), end) and done.requests > 0
        page = demo.get("/paywall/admin/?from=2027-01-29&to=2027-01-31", headers=bearer)
        assert page.status_code == 200
        views = re.search(r"'Views'><span class='label'>Views</span><strong>([\d,]+)<", page.text)
        assert views and int(views.group(1).replace(",", "")) > 0
        refused = demo.get("/paywall/admin/", follow_redirects=False)
        assert refused.status_code == 303  # to the login form, without the token
        # The reader's demo is as it was: the simulated readers used their own cookies.
        assert "You have 2 free articles left this month" in demo.get(METERED[0].path).text
