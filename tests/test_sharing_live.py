"""Gifts, referrals and previews through a real uvicorn and a real Redis (issue 15's "done
when"): a subscriber makes gift links up to the quota and is refused beyond it; a recipient
reads the gifted article in full without spending a view, while an expired, tampered or
moved link is an ordinary metered view; a reader from a referral site reads exactly the
capped number free; a preview link shows each state and writes nothing to the store.
Pages are judged by the tree an HTML5 parser builds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from paywall.config import load_config
from paywall.names import Prompt
from paywall.sharing.cli import preview_url

from . import leaks
from .conftest import REAL_REDIS_URL
from .sharing_site import (
    GOOGLE,
    NOW,
    Site,
    left_on,
    prompts_of,
    reads_in_full,
    running,
    subscribe,
)

pytestmark = pytest.mark.skipif(not REAL_REDIS_URL, reason="PAYWALL_TEST_REDIS_URL is not set")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with running(tmp_path, monkeypatch) as made:
        yield made

# -- gift links ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_subscriber_gifts_up_to_the_quota(site: Site) -> None:
    await subscribe(site, "sub-1")
    with site.browser("sub-1") as subscriber:
        page = subscriber.get("/articles/first")
        assert reads_in_full(page) and prompts_of(page) == ["gift"]
        assert "You have 3 gifts left this month" in page.text
        form = leaks.parse(page.content)
        [control] = leaks.prompts(form, "gift")
        fields = {e.get("name"): e.get("value") for e in control.iter() if e.tag.endswith("input")}
        assert fields == {"path": "/articles/first"}
    lefts = []
    for n in range(3):
        made = site.gift("sub-1", f"/articles/story-{n}")
        assert made.status_code == 200, made.text
        body = made.json()
        assert urlsplit(body["url"]).path == f"/articles/story-{n}"
        assert body["url"].startswith(site.url) and "?gift=" in body["url"]
        assert made.headers["cache-control"] == "private, no-store"
        lefts.append(body["left"])
    assert lefts == [2, 1, 0]
    refused = site.gift("sub-1", "/articles/story-4")
    assert refused.status_code == 429 and refused.json()["left"] == 0
    with site.browser("sub-1") as subscriber:  # the control now says so, in the same call
        page = subscriber.get("/articles/second")
        assert "You have given all your gifts this month" in page.text


@pytest.mark.anyio
async def test_only_signed_in_readers_with_an_active_plan_from_this_site_gift(site: Site) -> None:
    assert site.gift(None, "/articles/x").status_code == 401
    assert site.gift("no-plan", "/articles/x").status_code == 403
    await subscribe(site, "sub-2")
    cross = site.gift("sub-2", "/articles/x", origin="https://attacker.example")
    assert cross.status_code == 403
    assert site.gift("sub-2", "/sponsored/x").status_code == 400  # free: nothing to gift
    assert site.gift("sub-2", "https://attacker.example/articles/x").status_code == 400
    assert site.gift("sub-2", "/articles/x").status_code == 200
    assert site.keys() & {f"{site.prefix}{{a:sub-2}}:g:2027-01".encode()}


@pytest.mark.anyio
async def test_a_recipient_reads_the_gift_without_spending(site: Site) -> None:
    await subscribe(site, "sub-3")
    link = site.gift("sub-3", "/articles/gifted").json()["url"]
    with site.browser() as recipient:
        for n in range(3):  # use up the recipient's meter first
            recipient.get(f"/articles/read-{n}")
        assert left_on(recipient.get("/articles/walled")) == "walled"
        views = site.meter_keys()
        page = recipient.get(link)
        assert page.status_code == 200
        assert reads_in_full(page) and prompts_of(page) == ["gifted"]
        assert "A subscriber gifted you this article" in page.text
        assert "Try 3 months for $9" in page.text  # a subscribe prompt with the offers
        assert "private" in page.headers["cache-control"]
        assert page.headers["x-robots-tag"] == "noindex"  # the link's token: not for search,
        assert page.headers["referrer-policy"] == "same-origin"  # nor for other sites
        assert site.meter_keys() == views
        [meter] = views
        assert site.redis.scard(meter) == 3  # nothing spent, nothing added
    with site.browser() as newcomer:  # a reader with a full meter keeps it whole
        assert reads_in_full(newcomer.get(link))
        assert left_on(newcomer.get("/articles/next")) == "You have 2 free articles left"


@pytest.mark.anyio
async def test_an_expired_tampered_or_moved_link_is_a_metered_view(site: Site) -> None:
    await subscribe(site, "sub-4")
    link = site.gift("sub-4", "/articles/gifted").json()["url"]
    token = link.split("gift=", 1)[1]
    tampered = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    moved = f"{site.url}/articles/elsewhere?gift={token}"
    for url in (tampered, moved):
        with site.browser() as reader:  # a new reader each: counted, first of three
            page = reader.get(url)
            assert page.status_code == 200 and left_on(page) == "You have 2 free articles left"
            assert prompts_of(page) == ["meter"]
    site.now = NOW + timedelta(days=5, seconds=1)
    with site.browser() as reader:
        for n in range(3):
            reader.get(f"/articles/read-{n}")
        expired = reader.get(link)
        assert expired.status_code == 200 and prompts_of(expired) == ["subscribe"]
        assert not reads_in_full(expired)  # walled like any fourth article, no error page


# -- referrals -------------------------------------------------------------------------------


def test_a_referral_reader_gets_exactly_the_cap(site: Site) -> None:
    with site.browser() as reader:
        first = reader.get("/articles/r1", headers=GOOGLE)
        second = reader.get("/articles/r2", headers=GOOGLE)
        assert reads_in_full(first) and prompts_of(first) == []
        assert reads_in_full(second) and prompts_of(second) == []
        assert site.meter_keys() == []  # nothing on the meter
        third = reader.get("/articles/r3", headers=GOOGLE)  # the cap is used: metered now
        assert left_on(third) == "You have 2 free articles left"
        again = reader.get("/articles/r1")  # read through a referral: already read, free
        assert reads_in_full(again) and prompts_of(again) == []
        assert left_on(reader.get("/articles/r4")) == "You have 1 free article left"


def test_referrals_do_not_open_premium_pages_or_count_own_links(site: Site) -> None:
    with site.browser() as reader:
        premium = reader.get("/premium/p1", headers=GOOGLE)
        assert prompts_of(premium) == ["subscribe"] and not reads_in_full(premium)
        own = {"Referer": site.url + "/"}
        assert left_on(reader.get("/articles/own", headers=own)) == "You have 2 free articles left"


# -- previews --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "full"),
    [
        (Prompt.METER, True),
        (Prompt.LAST_FREE, True),
        (Prompt.SUBSCRIBE, False),
        (Prompt.TRIAL_EXPIRED, False),
        (Prompt.ACCESS_EXPIRED, False),
        (Prompt.GIFTED, True),
        (Prompt.GIFT, True),
    ],
)
def test_a_preview_shows_each_state_and_spends_nothing(
    site: Site, prompt: Prompt, full: bool
) -> None:
    config = load_config(site.config)
    url = preview_url(config, "/articles/previewed", prompt, now=site.now)
    before = site.keys()
    page = httpx.get(site.url + url, timeout=10)
    assert page.status_code == 200
    assert prompts_of(page) == [prompt.value]
    assert reads_in_full(page) is full
    assert "set-cookie" not in page.headers
    assert page.headers["x-robots-tag"] == "noindex"
    assert "private" in page.headers["cache-control"]
    assert site.keys() == before  # no meter, no reader, nothing


def test_a_preview_link_expires_into_an_ordinary_view(site: Site) -> None:
    config = load_config(site.config)
    url = preview_url(config, "/articles/previewed", Prompt.SUBSCRIBE, minutes=5, now=site.now)
    site.now = NOW + timedelta(minutes=6)
    page = httpx.get(site.url + url, timeout=10)
    assert prompts_of(page) == ["meter"] and "set-cookie" in page.headers
    site.now = NOW
