"""The read API: what the counters in the store say about a range of days, typed.

`AnalyticsReader(client, prefix)` reads; `build_report` (pure) turns the per-day counters
into a `Report`: the daily funnel, by section, by prompt, by offer, store health. The
dashboard, `paywall report` and the tests all go through here, so they agree.

Definitions used throughout: a *view* is any decided view (every outcome label counts);
*walls* are `walled_limit`, `walled_premium` and `register_wall`; a view the store could
not decide counts as `degraded` whatever the reader got. Click rate is clicks per
impression; conversion rate is conversions per wall (sections, prompts) or per
impression (offers). *Gift views* are views read through a gift link (outcome `gift`),
*gift clicks* and *gift conversions* those through the offers of the `gifted` banner;
*referral views* are views a referral rule let through (outcome `referral`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from ..periods import PeriodName
from ..settings import DEFAULT_PREFIX, Config
from .experiments import ExperimentResult, experiment_results
from .history import ConfigChange, read_history
from .keys import LATENCY_BUCKETS_MS, Field, Kind, day_key, days, decode
from .usage import MeterUsage, period_days

WALL_OUTCOMES = frozenset({"walled_limit", "walled_premium", "register_wall"})
GIFT_OUTCOME, REFERRAL_OUTCOME, GIFTED_PROMPT = "gift", "referral", "gifted"
LIMIT_WALLS = frozenset({"walled_limit", "register_wall"})  # walls of a used-up meter
Counters = Mapping[Field, int]


def prices_of(config: Config | None) -> dict[str, float]:
    """Each offer's `price` (an extra offer key, a number), for revenue per thousand views."""
    found = {}
    for offer in config.offers if config is not None else ():
        price = offer.context.get("price")
        if isinstance(price, int | float) and not isinstance(price, bool) and price > 0:
            found[offer.id] = float(price)
    return found


def rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class Funnel:
    """Views down to conversions, over one day or a whole range."""

    views: int = 0
    banners: int = 0
    last_free: int = 0
    walls: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    outcomes: Mapping[str, int] = field(default_factory=dict)  # views by outcome label
    gifts_created: int = 0  # gift links subscribers made
    gift_clicks: int = 0  # offer clicks from the gifted banner
    gift_conversions: int = 0  # conversions credited to the gifted banner's offers

    @property
    def gift_views(self) -> int:
        return self.outcomes.get(GIFT_OUTCOME, 0)

    @property
    def referral_views(self) -> int:
        return self.outcomes.get(REFERRAL_OUTCOME, 0)


@dataclass(frozen=True)
class DayFunnel(Funnel):
    day: date = date.min


@dataclass(frozen=True)
class Slice:
    """One section or one prompt."""

    name: str
    views: int = 0
    walls: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0

    @property
    def wall_rate(self) -> float:
        return rate(self.walls, self.views)

    @property
    def click_rate(self) -> float:
        return rate(self.clicks, self.impressions)

    @property
    def conversion_rate(self) -> float:
        return rate(self.conversions, self.walls)


@dataclass(frozen=True)
class OfferStats:
    offer: str
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0

    @property
    def click_rate(self) -> float:
        return rate(self.clicks, self.impressions)

    @property
    def conversion_rate(self) -> float:
        return rate(self.conversions, self.impressions)


@dataclass(frozen=True)
class StoreDay:
    """The store's health on one day, over every worker: calls, failures, latency."""

    day: date
    calls: int
    errors: int
    breaker_openings: int
    buckets: tuple[int, ...]  # calls per LATENCY_BUCKETS_MS bucket

    def percentile(self, share: float) -> float | None:
        """The upper bound (ms) of the bucket holding that share of calls; None when there
        were no calls, inf past the last finite bucket."""
        total = sum(self.buckets)
        if not total:
            return None
        running = 0
        for bound, count in zip(LATENCY_BUCKETS_MS, self.buckets, strict=True):
            running += count
            if running >= share * total:
                return bound
        return LATENCY_BUCKETS_MS[-1]

    @property
    def p50_ms(self) -> float | None:
        return self.percentile(0.5)

    @property
    def p99_ms(self) -> float | None:
        return self.percentile(0.99)


@dataclass(frozen=True)
class Report:
    start: date
    end: date
    days: tuple[DayFunnel, ...]
    total: Funnel
    sections: tuple[Slice, ...]  # most views first
    prompts: tuple[Slice, ...]
    offers: tuple[OfferStats, ...]
    store: tuple[StoreDay, ...]
    experiments: tuple[ExperimentResult, ...] = ()  # each as of `end`, from its own start

    def offer(self, offer_id: str) -> OfferStats:
        return next((o for o in self.offers if o.offer == offer_id), OfferStats(offer_id))

    def to_json(self) -> dict[str, Any]:
        """The shape `paywall report --format json` prints (contract section 8) with the
        range's `gifts` and `referrals`, plus `experiment_checks` (each experiment's days,
        control, sample-ratio check) when the config has experiments."""
        found = {
            "days": [
                {
                    "date": day.day.isoformat(),
                    "views": day.views,
                    "banners": day.banners,
                    "last_free": day.last_free,
                    "walls": day.walls,
                    "clicks": day.clicks,
                    "conversions": day.conversions,
                }
                for day in self.days
            ],
            "offers": {
                offer.offer: {
                    "impressions": offer.impressions,
                    "clicks": offer.clicks,
                    "conversions": offer.conversions,
                }
                for offer in self.offers
            },
            "experiments": {
                e.id: {arm.name: arm.to_json() for arm in e.arms} for e in self.experiments
            },
            "gifts": {
                "created": self.total.gifts_created,
                "views": self.total.gift_views,
                "clicks": self.total.gift_clicks,
                "conversions": self.total.gift_conversions,
            },
            "referrals": {"views": self.total.referral_views},
        }
        if self.experiments:
            found["experiment_checks"] = {e.id: e.checks() for e in self.experiments}
        return found


class _Tally:
    """Running sums for one funnel, one slice or one offer."""

    def __init__(self) -> None:
        self.outcomes: dict[str, int] = defaultdict(int)
        self.impressions = self.clicks = self.conversions = 0
        self.gifts_created = self.gift_clicks = self.gift_conversions = 0

    @property
    def views(self) -> int:
        return sum(self.outcomes.values())

    @property
    def walls(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome in WALL_OUTCOMES)

    def funnel(self) -> dict[str, Any]:
        return {
            "views": self.views,
            "banners": self.outcomes.get("banner", 0),
            "last_free": self.outcomes.get("last_free", 0),
            "walls": self.walls,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "conversions": self.conversions,
            "outcomes": dict(self.outcomes),
            "gifts_created": self.gifts_created,
            "gift_clicks": self.gift_clicks,
            "gift_conversions": self.gift_conversions,
        }

    def slice(self, name: str) -> Slice:
        return Slice(name, self.views, self.walls, self.impressions, self.clicks, self.conversions)


class _StoreTally:
    def __init__(self) -> None:
        self.buckets = [0] * len(LATENCY_BUCKETS_MS)
        self.errors = self.opened = 0


def build_report(start: date, end: date, counters: Mapping[date, Counters]) -> Report:
    """The report for `start`..`end` from each day's counters (days without any count zero)."""
    day_funnels, store_days = [], []
    total = _Tally()
    sections: dict[str, _Tally] = defaultdict(_Tally)
    prompts: dict[str, _Tally] = defaultdict(_Tally)
    offers: dict[str, _Tally] = defaultdict(_Tally)
    for day in days(start, end):
        tally, store = _Tally(), _StoreTally()
        for labels, count in counters.get(day, {}).items():
            _add(labels, count, (tally, total), sections, prompts, offers, store)
        day_funnels.append(DayFunnel(day=day, **tally.funnel()))
        calls = tuple(store.buckets)
        store_days.append(StoreDay(day, sum(calls), store.errors, store.opened, calls))
    by_views = lambda item: (-item.views, item.name)  # noqa: E731
    return Report(
        start,
        end,
        tuple(day_funnels),
        Funnel(**total.funnel()),
        tuple(sorted((t.slice(name) for name, t in sections.items()), key=by_views)),
        tuple(sorted((t.slice(name) for name, t in prompts.items()), key=by_views)),
        tuple(
            OfferStats(name, t.impressions, t.clicks, t.conversions)
            for name, t in sorted(offers.items())
        ),
        tuple(store_days),
    )


def _add(
    labels: Field,
    count: int,
    funnels: tuple[_Tally, _Tally],
    sections: dict[str, _Tally],
    prompts: dict[str, _Tally],
    offers: dict[str, _Tally],
    store: _StoreTally,
) -> None:
    """Add one stored counter to every tally it belongs to."""
    kind, rest = labels[0], labels[1:]
    if kind == Kind.VIEW and len(rest) == 5:
        outcome, prompt, _audience, section, _who = (str(label) for label in rest)
        for tally in (*funnels, sections[section], *((prompts[prompt],) if prompt else ())):
            tally.outcomes[outcome] += count
    elif kind in (Kind.IMPRESSION, Kind.CLICK, Kind.CONVERSION) and len(rest) == 3:
        offer, prompt, section = (str(label) for label in rest)
        attribute = _OFFER_COUNTS[str(kind)]
        _increase((*funnels, sections[section], prompts[prompt], offers[offer]), attribute, count)
        if prompt == GIFTED_PROMPT and attribute in _GIFT_COUNTS:  # through a gift's banner
            _increase(funnels, _GIFT_COUNTS[attribute], count)
    elif kind == Kind.GIFT and len(rest) == 1:
        _increase(funnels, "gifts_created", count)
    elif kind == Kind.STORE_CALL and len(rest) == 1:
        bound = float(rest[0])
        index = next((i for i, b in enumerate(LATENCY_BUCKETS_MS) if b >= bound), -1)
        store.buckets[index] += count
    elif kind == Kind.STORE_ERROR:
        store.errors += count
    elif kind == Kind.BREAKER_OPENED:
        store.opened += count


_OFFER_COUNTS = {"i": "impressions", "c": "clicks", "x": "conversions"}
_GIFT_COUNTS = {"clicks": "gift_clicks", "conversions": "gift_conversions"}


def _increase(tallies: Iterable[_Tally], attribute: str, count: int) -> None:
    for tally in tallies:
        setattr(tally, attribute, getattr(tally, attribute) + count)


def reached_counts(counters: Iterable[Counters], who: str) -> tuple[tuple[int, ...], int]:
    """`reached[k - 1]` (readers reaching k counted views) and walled attempts of a used-up
    meter, for readers of kind `who`, summed over the given days."""
    reached: dict[int, int] = defaultdict(int)
    walled = 0
    for day in counters:
        for labels, count in day.items():
            if labels[0] == Kind.REACHED and len(labels) == 3 and labels[1] == who:
                reached[int(labels[2])] += count
            elif labels[0] == Kind.VIEW and len(labels) == 6 and labels[5] == who:
                walled += count if labels[1] in LIMIT_WALLS else 0
    top = max(reached, default=0)
    return tuple(reached.get(k, 0) for k in range(1, top + 1)), walled


class AnalyticsReader:
    """Reads the counters every worker flushed (`client`: any redis.asyncio client)."""

    def __init__(self, client: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def for_config(cls, client: Any, config: Config) -> AnalyticsReader:
        """A reader of the store `config` names (`client` must be connected to it)."""
        return cls(client, config.startup.store_prefix)

    async def counters(self, start: date, end: date) -> dict[date, dict[Field, int]]:
        """Every counter of every day from `start` to `end`, in one pipelined round trip."""
        wanted = days(start, end)
        pipe = self.client.pipeline(transaction=False)
        for day in wanted:
            pipe.hgetall(day_key(self.prefix, day))
        found: dict[date, dict[Field, int]] = {}
        for day, raw in zip(wanted, await pipe.execute(), strict=True):
            counts: dict[Field, int] = {}
            for name, value in (raw or {}).items():
                labels = decode(name)
                if labels is not None:
                    counts[labels] = counts.get(labels, 0) + int(value)
            found[day] = counts
        return found

    async def report(self, start: date, end: date, config: Config | None = None) -> Report:
        """The funnel and its breakdowns from `start` to `end`, both included; with
        `config`, its experiments as of `end` too (each from its own first day, so the
        counts may reach back before `start`)."""
        if end < start:
            raise ValueError(f"the range ends ({end}) before it starts ({start})")
        tested = config.experiments.all if config is not None else ()
        first = min([start, *(e.starts for e in tested)])
        counters = await self.counters(first, end)
        report = build_report(start, end, {day: counters[day] for day in days(start, end)})
        if not tested:
            return report
        results = experiment_results(counters, end, tested, prices_of(config))
        return replace(report, experiments=results)

    async def meter_usage(
        self, *, period: PeriodName, today: date, limit: int, who: str = "anonymous"
    ) -> MeterUsage:
        """How readers of kind `who` (`anonymous` or `account`) used the meter in the period
        of `period` holding `today`, up to `today`; `limit` is the one in force."""
        period_id, first, last = period_days(period, today)
        last = min(last, today)
        reached, walled = reached_counts((await self.counters(first, last)).values(), who)
        return MeterUsage(period_id, first, last, who, limit, reached, walled)

    async def meter_usage_for(
        self, config: Config, today: date, who: str = "anonymous"
    ) -> MeterUsage:
        """`meter_usage` with the period and the limit (`registered_limit` for `account`)
        of `config`."""
        limit = config.limit_for(who == "account")
        return await self.meter_usage(period=config.period, today=today, limit=limit, who=who)

    async def config_history(self, count: int = 50) -> tuple[ConfigChange, ...]:
        """The latest config changes (start, accepted or rejected reloads), newest first."""
        return await read_history(self.client, self.prefix, count)
