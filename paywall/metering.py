"""The way down for one view: who is reading, the meter in Redis, the decision.

`decide_view` is everything between the rule (routing.py) and the response: a verified
crawler reads in full; anyone else is identified by cookie or account and metered by one
EVALSHA (after SMEMBERS on a first sign-in, or the new-reader count when that cap is on),
within the bounds on views in flight; when the store cannot answer, the
reader's signed summary or `on_store_error` decides. What comes out is one `Decision`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from starlette.types import Scope

from . import routing
from .crawlers import CrawlerVerifier
from .deadline import hard_cap
from .decision import Decision, Result, Who, decide, who_is
from .exchange import client_network_of, header
from .experiments.assign import Variant
from .identity import Identified, ReaderCookie, account_of
from .names import Audience, Status
from .overload import Busy, InFlight
from .periods import Period, current_period
from .rewrite import CutOptions, PageCuts
from .settings import Access, Config
from .store import MeterStore, Outcome, StoreError, StoreOverloaded, Verdict
from .summary import Summary, SummaryCookie, degraded, mark_seen, summarise, was_seen

logger = logging.getLogger("paywall")


@dataclass(frozen=True)
class Tools:
    """What a request uses beyond its config: built once per config version."""

    store: MeterStore
    cookies: ReaderCookie
    summaries: SummaryCookie
    crawlers: CrawlerVerifier
    in_flight: InFlight
    pages: PageCuts
    clock: Callable[[], datetime]
    cut_options: dict[tuple[bool, bool, int], CutOptions] = field(default_factory=dict)


@dataclass(frozen=True)
class Viewed:
    """A decided view, and whose cookies to set on the response (none for a crawler)."""

    decision: Decision
    identified: Identified | None


async def decide_view(
    tools: Tools, config: Config, scope: Scope, access: Access, *, count: bool = True
) -> Viewed:
    """Decide one view of a metered or premium article (`count=False`: never counted, as
    for a method other than GET: walled like a premium page). Raises Busy (429/503) when
    the reader or the process has too many views in flight, or we were too slow to hear
    Redis."""
    client = scope.get("client")
    crawler = await tools.crawlers.verify(
        config.crawlers, header(scope, b"user-agent"), client[0] if client else None
    )
    if crawler is not None:  # the full article, not counted, no cookie
        return Viewed(Decision(Who.CRAWLER, access, Result.CRAWLER), None)
    identified = tools.cookies.identify(scope["headers"], account_of(scope))
    signed_in = identified.reader.account is not None
    now = tools.clock()
    metered_as: Access = access if count else "premium"
    arms = None  # an experiment's arms: assigned by the browser's reader id, signed in or not
    if config.experiments.configured:
        unit = identified.reader.reader_id
        arms = config.experiments.variant(unit, signed_in, now, scope["path"], access)
    view = await _meter(tools, config, scope, identified, metered_as, now, arms)
    if view.verdict is None:  # store down, on_store_error: open
        decision = Decision(who_is(signed_in), access, Result.DEGRADED, degraded=True)
        return Viewed(decision, view.identified)
    decision = decide(
        view.verdict,
        signed_in=signed_in,
        access=access,
        config=config,
        now=now,
        degraded=view.fault,
        variant=view.variant,
        exposed=view.exposed,
    )
    return Viewed(decision, view.identified)


@dataclass(frozen=True)
class _Metered:
    """What the store said of a view (None: read it open), who to set cookies for, whether
    the store failed; the view's experiment arms, and those this browser meets first."""

    verdict: Verdict | None
    identified: Identified
    fault: bool
    variant: Variant | None = None
    exposed: tuple[tuple[str, str], ...] = ()


async def _meter(
    tools: Tools,
    config: Config,
    scope: Scope,
    identified: Identified,
    access: Access,
    now: datetime,
    arms: Variant | None,
) -> _Metered:
    """The store's verdict on this view (the limit of its arms, if any). A verdict from the
    store updates the summary cookie."""
    period = current_period(config.period, config.timezone, now)
    signed_in = identified.reader.account is not None
    limit = config.limit_for(signed_in)
    limit = arms.limit_for(signed_in, limit) if arms is not None else limit
    store = tools.store
    summaries = tools.summaries
    last, signed_now = summaries.read(scope["headers"])
    try:
        async with tools.in_flight.slot(
            identified.reader.tag,
            per_reader=config.reader_in_flight,
            per_process=config.process_in_flight,
            wait=hard_cap(store.timeout),
        ):
            merge = []
            if identified.merge_from is not None:
                merge = await store.anonymous_views(identified.merge_from, period)
            start_used = False
            cap = config.new_readers_per_network
            if identified.new and not signed_in and cap > 0:
                network = client_network_of(scope)
                if network is not None:
                    start_used = await store.new_reader_from(network, period, now) > cap
            verdict = await store.view(
                identified.reader,
                routing.article_key(scope, config.article_query),
                premium=access == "premium",
                limit=limit,
                period=period,
                now=now,
                merge=merge,
                start_used=start_used,
            )
    except StoreError as exc:
        # The store logs each outage once; a line per request would flood the log.
        logger.debug("paywall: store unavailable (%s); on_store_error", exc)
        return _without_store(exc, config, identified, last, period, now, access)
    variant: Variant | None = None
    exposed: tuple[tuple[str, str], ...] = ()
    seen: str | None = None
    if arms is not None:
        variant, exposed, seen = _exposure(config, arms, verdict, signed_in, last)
    summary = summarise(verdict, identified.reader, period, limit, last, seen)
    if summary != last or not signed_now:
        identified = identified.with_summary(summaries.header(summary))
    return _Metered(verdict, identified, False, variant, exposed)


def _without_store(
    exc: StoreError,
    config: Config,
    identified: Identified,
    last: Summary | None,
    period: Period,
    now: datetime,
    access: Access,
) -> _Metered:
    """The view when the store failed: the reader's summary, else on_store_error (no arms:
    an experiment counts what the store decided)."""
    if identified.merge_from is not None:  # not merged: try again next time
        identified = replace(identified, cookie=None)
    decided = degraded(last, identified.reader, period, now, access == "premium")
    if decided is not None:  # walled stays walled, a paid plan keeps reading
        return _Metered(decided, identified, True)
    if isinstance(exc, StoreOverloaded):  # we were slow, not Redis: no open wall
        raise Busy(503, str(exc)) from exc
    if config.on_store_error == "open" and access == "metered":
        return _Metered(None, identified, True)
    return _Metered(Verdict(Outcome.PREMIUM_WALLED, 0, Status.NONE), identified, True)


def _exposure(
    config: Config, arms: Variant, verdict: Verdict, signed_in: bool, last: Summary | None
) -> tuple[Variant | None, tuple[tuple[str, str], ...], str | None]:
    """The view's arms once the meter answered (none for an entitled reader, whom nothing
    of an experiment reaches; signed-in audiences told apart), those this browser's summary
    has not yet marked as counted (its exposures: docs/analytics.md), and the marks."""
    if verdict.outcome is Outcome.ENTITLED:
        return None, (), None
    variant: Variant | None = arms  # anonymous: the arms were chosen for that audience
    if signed_in:
        variant = config.experiments.narrow(arms, Audience.of(signed_in, verdict.status))
    if variant is None:
        return None, (), None
    seen = last.seen if last is not None else ""
    new = [n for n, token in enumerate(variant.tokens) if not was_seen(seen, token)]
    if not new:
        return variant, (), None
    exposed: tuple[tuple[str, str], ...] = tuple(variant.arms[n] for n in new)
    return variant, exposed, mark_seen(seen, (variant.tokens[n] for n in new))
