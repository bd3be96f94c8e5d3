"""Signed-in readers: metered by account, entitlements, sign-in merge, registration wall."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

from paywall import Entitlements, PaywallMiddleware

from .conftest import ARTICLE_PARAGRAPHS, CONFIG, article_site, client_for
from .test_middleware import hidden_text_in, prompts

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)

ACCOUNT_CONFIG = CONFIG.replace("  limit: 3\n", "  limit: 3\n  registered_limit: 5\n").replace(
    "store:\n",
    """\
  - id: welcome-back
    headline: Come back for $1 a week
    url: /subscribe?offer=welcome-back
    audience: [trial_expired, access_expired]
store:
""",
)


class SignedInByHeader(AuthenticationBackend):
    """Stands in for a site's login: the test says who is signed in."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        account = conn.headers.get("x-test-account")
        return (AuthCredentials(["authenticated"]), SimpleUser(account)) if account else None


class Site:
    def __init__(self, store: Any, path: Path, prefix: str) -> None:
        self.paywall = PaywallMiddleware(article_site, config=path, redis=store)
        self.paywall.clock = lambda: NOW
        self.app = AuthenticationMiddleware(self.paywall, backend=SignedInByHeader())
        self.entitlements = Entitlements(store, prefix=prefix)

    def browser(self, account: str | None = None) -> httpx.AsyncClient:
        client = client_for(self.app)
        if account:
            client.headers["x-test-account"] = account
        return client


@pytest.fixture
def site(store: Any, config_file: Callable[..., Path], prefix: str) -> Site:
    return Site(store, config_file(ACCOUNT_CONFIG), prefix)


async def test_signed_in_readers_are_metered_by_account_across_devices(site: Site) -> None:
    async with site.browser("acct-1") as phone, site.browser("acct-1") as laptop:
        assert "You have 4 free articles left" in (await phone.get("/articles/a")).text
        assert "You have 3 free articles left" in (await laptop.get("/articles/b")).text
        assert prompts(await laptop.get("/articles/a")) == []  # read on the phone already
    async with site.browser("acct-2") as other:
        assert "You have 4 free articles left" in (await other.get("/articles/a")).text


async def test_registered_limit_applies_to_signed_in_readers_only(site: Site) -> None:
    async with site.browser("acct-1") as reader:
        for n in range(4):
            await reader.get(f"/articles/{n}")
        last = await reader.get("/articles/4")
        assert prompts(last) == ["last-free"]
        walled = await reader.get("/articles/5")
        assert prompts(walled) == ["subscribe"] and hidden_text_in(walled) == []
        assert "You have read your 5 free articles" in walled.text


async def test_signing_in_keeps_anonymous_views_without_double_counting(site: Site) -> None:
    async with site.browser() as browser:
        await browser.get("/articles/a")
        await browser.get("/articles/b")
        browser.headers["x-test-account"] = "acct-1"
        again = await browser.get("/articles/a")  # read anonymously: free, not counted
        assert prompts(again) == []
        assert "You have 2 free articles left" in (await browser.get("/articles/c")).text
        del browser.headers["x-test-account"]  # signed out: the cookie meter goes on
        assert "You have 2 free articles left" not in (await browser.get("/articles/d")).text
        browser.headers["x-test-account"] = "acct-1"
        # d was read anonymously after the first merge: merged on signing in again.
        assert prompts(await browser.get("/articles/d")) == []
        assert "This is your last free article" in (await browser.get("/articles/e")).text


async def test_signing_in_does_not_reset_a_used_meter(site: Site) -> None:
    async with site.browser() as browser:
        for name in "abc":
            await browser.get(f"/articles/{name}")
        assert prompts(await browser.get("/articles/d")) == ["subscribe"]
        browser.headers["x-test-account"] = "acct-1"
        assert "You have 1 free article left" in (await browser.get("/articles/d")).text
        await browser.get("/articles/e")
        assert prompts(await browser.get("/articles/f")) == ["subscribe"]


@pytest.mark.parametrize("plan", ["trial", "subscription"])
async def test_active_plans_get_full_pages_uncounted(site: Site, plan: Any) -> None:
    await site.entitlements.grant("acct-1", plan=plan, until=NOW + timedelta(days=3))
    async with site.browser("acct-1") as reader:
        for n in range(8):
            page = await reader.get(f"/articles/{n}")
            assert prompts(page) == [] and ARTICLE_PARAGRAPHS[-1] in page.text
            assert "private" in page.headers["cache-control"]
        premium = await reader.get("/premium/deep")
        assert prompts(premium) == [] and ARTICLE_PARAGRAPHS[-1] in premium.text
    await site.entitlements.revoke("acct-1")
    async with site.browser("acct-1") as reader:
        assert "You have 4 free articles left" in (await reader.get("/articles/x")).text


@pytest.mark.parametrize(
    ("plan", "prompt", "sentence"),
    [
        ("trial", "trial-expired", "Your trial period has expired"),
        ("subscription", "access-expired", "Your full access to The Test Gazette has expired"),
    ],
)
async def test_lapsed_readers_are_metered_and_see_their_own_wall(
    site: Site, plan: Any, prompt: str, sentence: str
) -> None:
    await site.entitlements.grant("acct-1", plan=plan, until=NOW - timedelta(days=1))
    async with site.browser("acct-1") as reader:
        premium = await reader.get("/premium/deep")
        assert prompts(premium) == [prompt] and sentence in premium.text
        assert hidden_text_in(premium) == []
        assert "Come back for $1 a week" in premium.text
        assert "Try 3 months for $9" not in premium.text
        assert prompts(await reader.get("/articles/0")) == ["meter"]
        for n in range(1, 5):
            await reader.get(f"/articles/{n}")
        walled = await reader.get("/articles/5")
        assert prompts(walled) == [prompt] and hidden_text_in(walled) == []


async def test_registration_wall_for_anonymous_readers(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    text = ACCOUNT_CONFIG.replace("  limit: 3\n", "  limit: 3\n  registration_wall: true\n")
    text += "register_url: /join\n"
    site = Site(store, config_file(text), prefix)
    async with site.browser() as anonymous:
        for name in "abc":
            await anonymous.get(f"/articles/{name}")
        walled = await anonymous.get("/articles/d")
        assert prompts(walled) == ["register"] and hidden_text_in(walled) == []
        assert 'href="/join"' in walled.text
        assert prompts(await anonymous.get("/premium/deep")) == ["subscribe"]
        anonymous.headers["x-test-account"] = "acct-1"
        assert prompts(await anonymous.get("/articles/d")) == ["meter"]


async def test_offer_windows_follow_the_meter_time_zone(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    text = CONFIG.replace("ends: 2099-06-30", "starts: 2026-12-01\n    ends: 2026-12-31")
    site = Site(store, config_file(text), prefix)

    async def offer_shown(at: datetime) -> bool:
        site.paywall.clock = lambda: at
        async with site.browser() as reader:
            page = await reader.get("/premium/deep")
        return "Try 3 months for $9" in page.text

    # Tokyo is UTC+9: the window opens at 15:00 UTC on November 30th.
    assert not await offer_shown(datetime(2026, 11, 30, 14, 59, tzinfo=UTC))
    assert await offer_shown(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    assert await offer_shown(datetime(2026, 12, 31, 14, 59, tzinfo=UTC))
    assert not await offer_shown(datetime(2026, 12, 31, 15, 0, tzinfo=UTC))


async def test_offer_markup_is_shown_as_text(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    text = CONFIG.replace("Try 3 months for $9", "'<script>alert(1)</script> & more'")
    site = Site(store, config_file(text), prefix)
    async with site.browser() as reader:
        page = await reader.get("/premium/deep")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page.text


class CountingClient:
    """Wraps a redis client and records what the store sends through it, the way the store
    sends it: commands by name (EVALSHA goes through `pipeline().execute_command`, its
    NOSCRIPT fallback through `script_load`), and round trips, a command sent on its own or
    a pipeline's execute. `pipelines` holds the commands of each pipeline executed."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.commands: list[str] = []
        self.round_trips = 0
        self.pipelines: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name == "pipeline":
            return lambda *args, **kwargs: CountingPipeline(self, attribute(*args, **kwargs))
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.commands.append(command_name(name, args))
            self.round_trips += 1
            return attribute(*args, **kwargs)

        return call


def command_name(method: str, args: tuple[Any, ...]) -> str:
    """The command a call sends: `execute_command("EVALSHA", ...)` is "evalsha", `incr` "incr"."""
    return str(args[0]).lower() if method == "execute_command" and args else method


class CountingPipeline:
    def __init__(self, counter: CountingClient, pipeline: Any) -> None:
        self._counter = counter
        self._pipeline = pipeline
        self._queued: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._pipeline, name)
        if name == "execute":

            async def execute(*args: Any, **kwargs: Any) -> Any:
                self._counter.round_trips += 1
                self._counter.pipelines.append(self._queued)
                self._queued = []
                return await attribute(*args, **kwargs)

            return execute

        def queue(*args: Any, **kwargs: Any) -> Any:
            command = command_name(name, args)
            self._counter.commands.append(command)
            self._queued.append(command)
            return attribute(*args, **kwargs)

        return queue


async def test_one_round_trip_per_view_entitlement_included(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    counting = CountingClient(store)
    await Entitlements(store, prefix).grant("acct-1", plan="trial", until=NOW - timedelta(1))
    site = Site(counting, config_file(ACCOUNT_CONFIG), prefix)
    async with site.browser() as anonymous, site.browser("acct-1") as signed_in:
        await anonymous.get("/articles/warm-up")  # loads the script once
        await signed_in.get("/articles/warm-up")  # first sign-in: reads the cookie's meter
        counting.commands.clear()
        counting.round_trips = 0
        for n in range(6):
            await anonymous.get(f"/articles/{n}")
            await signed_in.get(f"/premium/{n}")
            await signed_in.get(f"/articles/{n}")
        await anonymous.get("/sponsored/free")
    assert counting.commands == ["evalsha"] * 18
    assert counting.round_trips == 18
