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
from .identity import Identified, ReaderCookie, account_of
from .names import Status
from .overload import Busy, InFlight
from .periods import current_period
from .rewrite import CutOptions, PageCuts
from .settings import Access, Config
from .store import MeterStore, Outcome, StoreError, StoreOverloaded, Verdict
from .summary import SummaryCookie, degraded, summarise

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
    cut_options: dict[tuple[bool, bool], CutOptions] = field(default_factory=dict)


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
    verdict, identified, fault = await _meter(tools, config, scope, identified, metered_as, now)
    if verdict is None:  # store down, on_store_error: open
        decision = Decision(who_is(signed_in), access, Result.DEGRADED, degraded=True)
        return Viewed(decision, identified)
    decision = decide(
        verdict, signed_in=signed_in, access=access, config=config, now=now, degraded=fault
    )
    return Viewed(decision, identified)


async def _meter(
    tools: Tools,
    config: Config,
    scope: Scope,
    identified: Identified,
    access: Access,
    now: datetime,
) -> tuple[Verdict | None, Identified, bool]:
    """The store's verdict on this view (None: read it open), who to set cookies for, and
    whether the store failed. A verdict from the store updates the summary cookie."""
    period = current_period(config.period, config.timezone, now)
    signed_in = identified.reader.account is not None
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
                limit=config.limit_for(signed_in),
                period=period,
                now=now,
                merge=merge,
                start_used=start_used,
            )
    except StoreError as exc:
        # The store logs each outage once; a line per request would flood the log.
        logger.debug("paywall: store unavailable (%s); on_store_error", exc)
        if identified.merge_from is not None:  # not merged: try again next time
            identified = replace(identified, cookie=None)
        decided = degraded(last, identified.reader, period, now, access == "premium")
        if decided is not None:  # walled stays walled, a paid plan keeps reading
            return decided, identified, True
        if isinstance(exc, StoreOverloaded):  # we were slow, not Redis: no open wall
            raise Busy(503, str(exc)) from exc
        if config.on_store_error == "open" and access == "metered":
            return None, identified, True
        return Verdict(Outcome.PREMIUM_WALLED, 0, Status.NONE), identified, True
    summary = summarise(verdict, identified.reader, period, config.limit_for(signed_in), last)
    if summary != last or not signed_now:
        identified = identified.with_summary(summaries.header(summary))
    return verdict, identified, False
