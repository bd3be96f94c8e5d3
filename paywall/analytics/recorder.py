"""Counting in the worker, flushing to the store: the write side of analytics.

A view costs a few dict increments here (no Redis round trip, no string formatting: a
counter's key is the tuple of its labels, turned into a hash field only when flushed).
Every `analytics.flush_seconds` a background task writes what was counted in one pipelined
call, and the lifespan shutdown writes the rest (see endpoints.py). A worker that crashes
loses at most what it counted since its last flush. A flush Redis could not take (refused,
reset) is kept and retried with the next; one that failed half-way is dropped and logged,
since retrying it could count twice.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from array import array
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from redis.exceptions import ConnectionError as RedisConnectionError

from ..decision import Decision, Result
from ..prompts import CLICK_URL, PromptContext
from ..settings import Analytics, Config, Rule, section_of
from .history import RECORD_LUA, ConfigChange, record_args
from .keys import BUCKET_LABELS, LATENCY_BUCKETS_MS, NO_LABEL, Field, Kind, day_key, encode
from .keys import expires_at as day_expires_at
from .refs import Ref, RefSigner

logger = logging.getLogger("paywall")
Counts = defaultdict[Field, int]  # one day's counters

_COUNTED = (Result.BANNER, Result.LAST_FREE)
_LINKED_KEPT = 8192
_FOLD_AT: Final = 4096  # store calls' latencies kept before they are put in their buckets
# The view's fields as a flush writes them (`_as_written`).
_VIEW: Final = Kind.VIEW
_REACHED: Final = Kind.REACHED
# In the worker a view is one counter, its field's labels and the meter count its reader
# reached (_NOT_REACHED when not a counted view): a view then touches one key, not two, and
# a flush writes it as both fields (`_as_written`).
_SEEN: Final = "seen"
_NOT_REACHED: Final = -1
_CALL_KEYS: Final = tuple((Kind.STORE_CALL, label) for label in BUCKET_LABELS)
_ERROR_KEY: Final = (Kind.STORE_ERROR,)
_NEVER: Final = datetime.min.replace(tzinfo=UTC)
# Decision.label as the Result member itself, equal to its value as a key and written as it:
# reading `.value` (or even `._value_`) off the member costs a view another lookup in memory
# the view does not otherwise touch (a test counts every result under Decision.label).
_DEGRADED: Final = Result.DEGRADED


class Metrics(Protocol):
    """What the recorder tells Prometheus (metrics.py), when `metrics.enabled`."""

    def view(self, outcome: str, prompt: str, experiment: str = "", arm: str = "") -> None: ...

    def impression(self, offer: str) -> None: ...

    def click(self, offer: str) -> None: ...

    def gift(self) -> None: ...

    def store_call(self, seconds: float, ok: bool) -> None: ...

    def breaker(self, is_open: bool) -> None: ...


class Recorder:
    """One worker's counters, flushed to the store; long-lived (config versions come and go)."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        keys: list[str],
        clock: Callable[[], datetime],
        config: Config,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self.refs = RefSigner(keys)
        self.metrics: Metrics | None = None
        self.settings = Analytics()
        self.enabled = False
        self._config: Config | None = None
        self._pending: dict[date, Counts] = {}
        self._bucket: Counts | None = None
        self._latencies = array("d")  # answered store calls' seconds, not yet in buckets
        self._day = date.min
        # [start, end) of self._day, in UTC: the clock's datetimes (aware, UTC unless a test
        # says otherwise) compare with them without a conversion.
        self._start = self._end = _NEVER
        self._linked: dict[tuple[Any, ...], PromptContext] = {}  # today's, with offer links
        self._history: list[ConfigChange] = []
        self._task: asyncio.Task[None] | None = None
        self._unreachable = False  # logged once per outage
        self._configure(config)

    # -- the view path: cheap --

    def view(
        self,
        config: Config,
        decision: Decision,
        path: str,
        now: datetime | None = None,
        rule: Rule | None = None,
    ) -> str:
        """Count one decided view; returns its section (for the prompt's offer links).
        `now`, when the view was decided, and `rule`, the first rule the path matches
        (routing's), save reading the clock and matching the rules again."""
        if config is not self._config:
            self._configure(config)
        if not self.enabled:
            return NO_LABEL
        if now is None:
            now = self.clock()
        bucket = self._bucket
        if bucket is None or not self._start <= now < self._end:
            bucket = self._bucket_at(now)
        if rule is not None and rule.access == decision.access:  # section_of's first answer
            section = rule.section
        else:  # an upstream's X-Paywall changed the access, or no rule names the path
            section = section_of(config.rules, path, decision.access)
        label = _DEGRADED if decision.degraded else decision.result  # decision.label
        prompt = decision.prompt or NO_LABEL
        context = decision.context
        reached = _NOT_REACHED
        if context is not None and decision.result in _COUNTED and not decision.degraded:
            reached = context.limit - context.articles_left
        audience = decision.audience or NO_LABEL
        bucket[(_SEEN, label, prompt, audience, section, decision.who, reached)] += 1
        variant = decision.variant
        if variant is not None:
            _count_arms(bucket, decision, label)
        metrics = self.metrics
        if metrics is not None:
            if variant is None:
                metrics.view(label, prompt)
            else:
                metrics.view(label, prompt, variant.experiment_label, variant.arm_label)
        return section

    def prompt_context(self, decision: Decision, section: str | None) -> PromptContext:
        """The prompt's context; with analytics on, each offer shown on a counted view's wall
        (`section` not None) is an impression and its link (`click_url`) goes through the
        click endpoint. Contexts with links are kept per day, so that a fragment per prompt,
        section and offers is rendered once (prompts.py), not per view."""
        context = decision.context
        assert context is not None
        shows = decision.prompt is not None and decision.prompt.shows_offers
        if not self.enabled or section is None or not shows or not context.offers:
            return context  # the meter prompts carry offers too, but do not show them
        bucket = self._bucket if self._bucket is not None else self._today()  # the view's day
        prompt = str(decision.prompt)
        for offer_id in context.offer_ids:
            key = (Kind.IMPRESSION, offer_id, prompt, section)
            bucket[key] += 1
            if self.metrics is not None:
                self.metrics.impression(offer_id)
        arm = decision.variant.ref if decision.variant is not None else ""
        linked_key = (prompt, section, context.key, arm)
        linked = self._linked.get(linked_key)
        if linked is None:
            if len(self._linked) >= _LINKED_KEPT:
                self._linked.clear()
            offers = tuple(
                {**offer, CLICK_URL: self._link(prompt, str(offer["id"]), section, arm)}
                for offer in context.offers
            )
            linked = self._linked[linked_key] = replace(context, offers=offers)
        return linked

    def store_call(self, seconds: float, ok: bool) -> None:
        """One store call took `seconds` (store.py's observer), answered or not (`ok`);
        counted on the current day. An answered call's latency is kept as it is and put in
        its bucket with the others (`_fold_calls`): sorting a few thousand at once costs a
        view far less than a bucket lookup per call."""
        metrics = self.metrics
        if metrics is not None:
            metrics.store_call(seconds, ok)
        if not self.enabled:
            return
        if ok:
            latencies = self._latencies
            latencies.append(seconds)
            if len(latencies) >= _FOLD_AT:
                self._fold_calls()
        else:  # failures (and fail-fast refusals) are errors
            (self._bucket if self._bucket is not None else self._today())[_ERROR_KEY] += 1

    def breaker_opened(self) -> None:
        if self.enabled:
            bucket = self._bucket if self._bucket is not None else self._today()
            bucket[(Kind.BREAKER_OPENED,)] += 1

    # -- off the view path --

    def click(self, ref: Ref) -> None:
        """A click on an offer link whose ref checked out."""
        bucket = self._today()
        key = (Kind.CLICK, ref.offer, ref.prompt, ref.section)
        bucket[key] += 1
        for experiment, arm in ref.arms:
            key = (Kind.ARM_CLICK, experiment, arm, ref.offer)
            bucket[key] += 1
        if self.metrics is not None:
            self.metrics.click(ref.offer)
        self.start()

    def gift_given(self, config: Config, section: str) -> None:
        """A subscriber made a gift link for an article of `section`."""
        if config is not self._config:
            self._configure(config)
        bucket = self._today()
        key = (Kind.GIFT, section)
        bucket[key] += 1
        if self.metrics is not None:
            self.metrics.gift()
        self.start()

    def config_changed(self, change: ConfigChange) -> None:
        """Keep a config change for the history; written with the next flush."""
        self._history.append(change)

    def start(self) -> None:
        """Start the periodic flush in the running loop, if not yet."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        """Stop the periodic flush and write what is left (a clean shutdown)."""
        await self._stop()
        await self.flush()
        await self._stop()  # started again if the last flush counted on new counters

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def flush(self) -> None:
        """Write everything counted so far in one pipelined round trip, and the history."""
        self._fold_calls()
        pending, self._pending = self._pending, {}
        self._bucket = None
        if pending:
            await self._write({day: _as_written(counts) for day, counts in pending.items()})
        while self._history:
            change = self._history[0]
            keys, args = record_args(self.prefix, change)
            try:
                await self.client.eval(RECORD_LUA, len(keys), *keys, *args)
            except (RedisConnectionError, OSError):
                return  # kept for the next flush
            except Exception:
                logger.exception("paywall: could not record a config change")
            self._history.pop(0)

    async def _write(self, pending: dict[date, Counts]) -> None:
        zone, retention = self._config_zone(), self.settings.retention_days
        pipe = self.client.pipeline(transaction=False)
        for day, counts in pending.items():
            key = day_key(self.prefix, day)
            for labels, count in counts.items():
                pipe.hincrby(key, encode(labels), count)
            pipe.expireat(key, day_expires_at(day, zone, retention))
        try:
            await pipe.execute()
        except (RedisConnectionError, OSError) as exc:
            self._merge_back(pending)
            if not self._unreachable:
                logger.warning("paywall: analytics not flushed, kept for the next try: %s", exc)
            self._unreachable = True
            return
        except Exception:
            lost = sum(sum(counts.values()) for counts in pending.values())
            logger.exception("paywall: analytics flush failed; %d counts dropped", lost)
            return
        self._unreachable = False

    def _merge_back(self, pending: dict[date, Counts]) -> None:
        for day, counts in pending.items():
            into = self._pending.setdefault(day, defaultdict(int))
            for labels, count in counts.items():
                into[labels] += count
        self._bucket = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_seconds)
            try:
                await self.flush()
            except Exception:  # never let the loop die: the next flush tries again
                logger.exception("paywall: analytics flush failed")

    # -- helpers --

    def _configure(self, config: Config) -> None:
        self._config = config
        self.settings = config.analytics
        self.enabled = config.analytics.enabled
        self._linked.clear()
        self._start = self._end = _NEVER  # the time zone may have changed

    def _config_zone(self) -> ZoneInfo:
        return self._config.timezone if self._config is not None else ZoneInfo("UTC")

    def _today(self) -> Counts:
        """The counters of the current day in meter.timezone."""
        now = self.clock()
        bucket = self._bucket
        if bucket is None or not self._start <= now < self._end:
            bucket = self._bucket_at(now)
        return bucket

    def _bucket_at(self, now: datetime) -> Counts:
        """The counters of the day holding `now` (worked out again only when `now` is outside
        the current day)."""
        if not self._start <= now < self._end:
            if self._day != date.min:
                self._fold_calls()  # the calls so far, on the day they were made
            zone = self._config_zone()
            day = now.astimezone(zone).date()
            start = datetime.combine(day, time(), zone).astimezone(UTC)
            end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
            self._day, self._start, self._end = day, start, end
            self._linked.clear()
        bucket = self._bucket = self._pending.setdefault(self._day, defaultdict(int))
        self.start()  # new counters, whatever counted first: flushed in time
        return bucket

    def _fold_calls(self) -> None:
        """Count the latencies kept since the last fold in their buckets, on the current
        day (that of the last view counted: around midnight, a call made after it but
        before the next view falls on the day before), the number of calls of each bucket
        read off them sorted."""
        latencies = self._latencies
        if not latencies:
            return
        self._latencies = array("d")
        into = (
            self._today()
            if self._day == date.min
            else self._pending.setdefault(self._day, defaultdict(int))
        )
        ordered = sorted(seconds * 1000 for seconds in latencies)
        below = 0  # calls in the buckets before
        for key, bound in zip(_CALL_KEYS, LATENCY_BUCKETS_MS, strict=True):  # +Inf last
            upto = bisect.bisect_right(ordered, bound)  # the calls of `bound` or less
            if upto > below:
                into[key] += upto - below
                below = upto

    def _link(self, prompt: str, offer_id: str, section: str, arm: str) -> str:
        ref = self.refs.sign(Ref(prompt, offer_id, section, self._day, arm))
        return f"{self.settings.prefix}/o/{quote(offer_id, safe='')}?r={ref}"


def _count_arms(bucket: Counts, decision: Decision, outcome: str) -> None:
    """A view decided by experiment arms: counted for each, and, for arms this browser meets
    for the first time, as an exposure."""
    key: Field
    for experiment, arm in decision.arms:
        key = (Kind.ARM_VIEW, experiment, arm, outcome)
        bucket[key] += 1
    for experiment, arm in decision.exposed:
        key = (Kind.EXPOSED, experiment, arm)
        bucket[key] += 1


def _as_written(counts: Counts) -> Counts:
    """A day's counters as the store keeps them: each view counter (`_SEEN`) as the view's
    field and, for a counted view, the field of the meter count its reader reached."""
    written: Counts = defaultdict(int)
    for labels, count in counts.items():
        if labels[0] is _SEEN:
            _, *view, who, reached = labels
            written[(_VIEW, *view, who)] += count
            if reached != _NOT_REACHED:
                written[(_REACHED, who, reached)] += count
        else:
            written[labels] += count
    return written
