"""30 days of simulated readers, so `paywall demo` opens on a living dashboard.

Nothing is written into the counters directly: every view is a request through a real
`PaywallMiddleware` (in front of the demo site, on the demo's store) whose clock is moved
day by day, so the analytics it counts, the meters it keeps and the refs it signs are the
ones real traffic would leave. Readers follow a fixed random plan (seeded: the same
numbers every run): regular anonymous readers of varying appetites, newcomers from search
who mostly read one article (some sent by Google or Hacker News, which the demo's
`referrals:` let read free), signed-in readers, subscribers who now and then gift an
article (the real gift endpoint) to a newcomer who opens the link, a verified crawler,
prefetches; walled readers sometimes click an offer (the real click endpoint), some of
those convert (`Entitlements.grant(..., ref=)`), some register instead. One evening the
store is unreachable for ninety minutes, so store health has something to show.
"""

from __future__ import annotations

import base64
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from redis.exceptions import ConnectionError as RedisConnectionError

from ..config import load_config
from ..entitlements import Entitlements
from ..middleware import PaywallMiddleware
from ..names import Plan
from ..settings import Config
from ..sharing.gifts import GIFT_PATH
from .articles import ARTICLES, METERED, Article
from .site import build_site
from .visitor import HOST, Visitor

DEFAULT_DAYS = 30
SEED = 20270131
CRAWLER_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CRAWLER_ADDRESS = "66.249.66.{n}"  # Googlebot's published network (config/paywall.yaml)
ORIGIN = f"http://{HOST}"  # the simulated site, for the same-origin gift post
GIFT_CHANCE = 0.1  # that a subscriber gifts the article they are reading
# Where newcomers come from: a search engine and a news aggregator (the demo's referral
# rules name both), or somewhere no rule names (social, mail, typed in).
ARRIVALS = ("https://www.google.com/", "https://news.ycombinator.com/", "")
ARRIVAL_WEIGHTS = (45, 10, 45)
# Local hours readers arrive at: a morning and an evening peak.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 5, 9, 10, 7, 5, 5, 6, 5, 4, 4, 4, 5, 7, 9, 10, 8, 5, 2)
_START = datetime(2000, 1, 1, tzinfo=UTC)  # replaced by the first simulated day
_PREMIUM = tuple(a for a in ARTICLES if a.access == "premium")
_SPONSORED = tuple(a for a in ARTICLES if a.access == "sponsored")


@dataclass
class Reader:
    """A simulated reader and their habits."""

    visitor: Visitor
    visit_chance: float  # of visiting on a given day
    appetite: float  # mean articles a visit
    clicks: float  # chance of clicking an offer when walled
    converts: float  # chance a click ends in a purchase
    arrives: str = ""  # the first visit's first page: a gift link sent to this reader
    referer: str = ""  # the first visit's first page is opened from this site


@dataclass(frozen=True)
class Simulated:
    """What the simulation did (the dashboard shows what the paywall made of it)."""

    start: date
    end: date
    requests: int
    conversions: int
    seconds: float
    gifts: int = 0  # gift links subscribers made


@dataclass
class _Run:
    """The state of one simulation."""

    paywall: PaywallMiddleware
    flaky: _Flaky
    entitlements: Entitlements
    config: Config
    rng: random.Random
    now: datetime = _START
    requests: int = 0
    conversions: int = 0
    accounts: int = 0
    readers: list[Reader] = field(default_factory=list)
    gift_links: list[str] = field(default_factory=list)  # made, not yet sent to anyone
    gifts: int = 0
    # Gifts and arrivals draw from a generator of their own (seeded too), so that the rest
    # of the month stays as it was before they were simulated.
    sharing: random.Random = field(default_factory=random.Random)


async def simulate(
    config_path: str | Path,
    client: Any,
    *,
    end: date,
    days: int = DEFAULT_DAYS,
    seed: int = SEED,
) -> Simulated:
    """Drive `days` days of readers, the last one `end` (in meter.timezone), through a
    paywall on `client`; what it counted is flushed to the store before this returns.
    Nothing, when the config's analytics are off."""
    started = time.perf_counter()
    config = load_config(config_path)
    first = end - timedelta(days=days - 1)
    if not config.analytics.enabled:  # nothing would be counted
        return Simulated(first, end, 0, 0, 0.0)
    flaky = _Flaky(client)
    paywall = PaywallMiddleware(build_site(config.publication), config_path, redis=flaky)
    run = _Run(paywall, flaky, Entitlements.for_config(client, config), config, random.Random(seed))
    run.sharing = random.Random(seed + 2)
    paywall.clock = lambda: run.now
    ids = random.Random(seed + 1)  # reader ids from the seed too: the same arms every run
    paywall.new_reader_id = lambda: base64.urlsafe_b64encode(ids.randbytes(12)).decode()
    paywall.analytics.metrics = None  # Prometheus counts what happens live, not this past
    paywall.store.breaker.clock = lambda: run.now.timestamp()  # the breaker's time is ours too
    run.now = _at(config, first, 0)
    logger = logging.getLogger("paywall")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the planned outage is not news
    try:
        await _cast(run)
        for n in range(days):
            await _day(run, first + timedelta(days=n), outage=n == days * 3 // 5)
    finally:
        logger.setLevel(level)
        await paywall.analytics.aclose()  # the last flush
    seconds = time.perf_counter() - started
    return Simulated(first, end, run.requests, run.conversions, seconds, run.gifts)


async def _cast(run: _Run) -> None:
    """The readers there from the start: regulars, registered readers, subscribers, lapsed
    trialists."""
    rng = run.rng
    for _ in range(70):
        habit = rng.choice((1.2, 1.6, 2.2, 3.5))
        run.readers.append(_reader(run, rng.uniform(0.12, 0.65), habit, 0.06, 0.3))
    for _ in range(12):
        reader = _reader(run, rng.uniform(0.2, 0.6), 2.0, 0.12, 0.35)
        reader.visitor.account = _new_account(run)
        run.readers.append(reader)
    for n in range(21):  # subscribers, and a few whose trial ended (the win-back offers)
        lapsed = n >= 15
        reader = _reader(run, rng.uniform(0.2, 0.7), 2.2, 0.15 * lapsed, 0.4 * lapsed)
        account = reader.visitor.account = _new_account(run)
        until = run.now + timedelta(days=-rng.randint(3, 40) if lapsed else 400)
        plan = Plan.TRIAL if lapsed else Plan.SUBSCRIPTION
        await run.entitlements.grant(account, plan=plan, until=until)
        run.readers.append(reader)


def _reader(run: _Run, chance: float, appetite: float, clicks: float, converts: float) -> Reader:
    n = len(run.readers)
    address = f"198.18.{n // 250}.{n % 250 + 1}"  # the benchmarking network: nobody's
    return Reader(Visitor(address), chance, appetite, clicks, converts)


def _new_account(run: _Run) -> str:
    run.accounts += 1
    return f"demo-sim-{run.accounts}"


async def _day(run: _Run, day: date, outage: bool) -> None:
    """One day: who visits when, each visit's articles in order."""
    rng = run.rng
    weekend = day.weekday() >= 5
    newcomers = rng.randint(14, 20) + (5 if weekend else 0)
    for _ in range(newcomers):  # from search and social: one article or two, then maybe back
        reader = _reader(run, 0.0, 1.3, 0.04, 0.25)
        if run.gift_links and run.sharing.random() < 0.4:  # a subscriber sent them a link
            reader.arrives = run.gift_links.pop(0)
        else:
            reader.referer = run.sharing.choices(ARRIVALS, ARRIVAL_WEIGHTS)[0]
        run.readers.append(reader)
    visits: list[tuple[datetime, Reader]] = []
    for reader in run.readers:
        chance = reader.visit_chance * (0.8 if weekend else 1.0)
        if reader.visit_chance == 0.0:  # today's newcomer: comes once, may return later
            reader.visit_chance = rng.choice((0.0, 0.0, 0.0, 0.08, 0.15))
            chance = 1.0
        if rng.random() < chance:
            visits.append((_at(run.config, day, _hour(rng), rng.randint(0, 3599)), reader))
    crawler = Reader(Visitor(CRAWLER_ADDRESS.format(n=rng.randint(1, 254)), CRAWLER_AGENT),
                     1.0, 6.0, 0.0, 0.0)  # fmt: skip
    if any(c.claims(CRAWLER_AGENT) for c in run.config.crawlers):
        visits.append((_at(run.config, day, rng.randint(0, 23)), crawler))
    visits.sort(key=lambda visit: visit[0])
    broken = _at(run.config, day, 19, 0), _at(run.config, day, 20, 1800)
    for when, reader in visits:
        run.now = when
        run.flaky.down = outage and broken[0] <= when < broken[1]
        await _visit(run, reader)
    run.flaky.down = False


async def _visit(run: _Run, reader: Reader) -> None:
    rng = run.rng
    count = 1 + min(int(rng.expovariate(1 / max(reader.appetite - 1, 0.1))), 9)
    day = run.now.astimezone(run.config.timezone).date()
    for _ in range(count):
        if run.now.astimezone(run.config.timezone).date() != day:
            return  # past midnight: the simulated days end at the last one
        url, headers = _pick(rng).path, {}
        if reader.arrives:  # the gift link they were sent, instead
            url, reader.arrives = reader.arrives, ""
        elif reader.referer:
            headers, reader.referer = {"Referer": reader.referer}, ""
        if rng.random() < 0.04:  # the browser prefetches a link first: refused, not counted
            await _get(run, reader, url, {"Sec-Purpose": "prefetch"})
        answer = await _get(run, reader, url, headers)
        if 'data-paywall="gift"' in answer.text and run.sharing.random() < GIFT_CHANCE:
            await _gift(run, reader, url)
        # A wall, or the gifted banner: both show offers, which a reader may click.
        walled = 'data-paywall="' in answer.text and "/o/" in answer.text
        if walled and await _after_wall(run, reader, answer.text):
            return
        run.now += timedelta(seconds=rng.randint(90, 420))


async def _gift(run: _Run, reader: Reader, path: str) -> None:
    """A subscriber presses "Gift this article" (the control's form post, answered in JSON
    here); the link waits for the next newcomer to be sent it."""
    prefix = run.config.analytics.prefix
    headers = {"Origin": ORIGIN, "Accept": "application/json"}
    run.requests += 1
    answer = await reader.visitor.post(run.paywall, prefix + GIFT_PATH, {"path": path}, headers)
    if answer.status == 200:
        run.gift_links.append(str(answer.json()["url"]))
        run.gifts += 1


async def _after_wall(run: _Run, reader: Reader, page: str) -> bool:
    """A walled reader clicks an offer (and may buy it), registers, or moves on; True
    when the visit ends here."""
    rng = run.rng
    prefix = re.escape(run.config.analytics.prefix)
    links = [unescape(link) for link in re.findall(f'href="({prefix}/o/[^"]+)"', page)]
    if links and rng.random() < reader.clicks:
        link = links[0] if rng.random() < 0.5 else rng.choice(links)  # the first offer draws
        answer = await _get(run, reader, link)
        ref = parse_qs(urlsplit(answer.headers.get("location", "")).query).get("paywall_ref")
        if ref and rng.random() < reader.converts:
            visitor = reader.visitor
            visitor.account = visitor.account or _new_account(run)
            offer = urlsplit(link).path.rsplit("/", 1)[-1]
            plan = Plan.TRIAL if "trial" in offer else Plan.SUBSCRIPTION
            until = run.now + timedelta(days=90 if plan is Plan.TRIAL else 365)
            await run.entitlements.grant(
                visitor.account, plan=plan, until=until, ref=ref[0], now=run.now
            )
            run.conversions += 1
            reader.clicks = 0.0
        return True
    if reader.visitor.account is None and rng.random() < 0.05:
        reader.visitor.account = _new_account(run)  # registers: more free articles
        return True
    return rng.random() < 0.6


def _pick(rng: random.Random) -> Article:
    """An article: the metered ones by popularity (the first ones most read), sometimes
    the premium or the sponsored one."""
    roll = rng.random()
    if roll < 0.08 and _PREMIUM:
        return rng.choice(_PREMIUM)
    if roll < 0.12 and _SPONSORED:
        return rng.choice(_SPONSORED)
    weights = [1 / (rank + 3) for rank in range(len(METERED))]
    return rng.choices(METERED, weights)[0]


async def _get(
    run: _Run, reader: Reader, url: str, headers: dict[str, str] | None = None
) -> Any:
    run.requests += 1
    return await reader.visitor.get(run.paywall, url, headers)


def _hour(rng: random.Random) -> int:
    return rng.choices(range(24), HOUR_WEIGHTS)[0]


def _at(config: Config, day: date, hour: int, seconds: int = 0) -> datetime:
    local = datetime(day.year, day.month, day.day, hour, tzinfo=config.timezone)
    return (local + timedelta(seconds=seconds)).astimezone(UTC)


class _Flaky:
    """The store's client, unreachable while `down` (the outage of the simulated month)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = self.client.pipeline(*args, **kwargs)
        return _DownPipeline(pipe) if self.down else pipe

    async def smembers(self, key: str) -> Any:
        if self.down:
            raise RedisConnectionError("simulated outage")
        return await self.client.smembers(key)


class _DownPipeline:
    """A pipeline that takes commands and then fails to reach Redis."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return lambda *args, **kwargs: self

    async def execute(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise RedisConnectionError("simulated outage")

