"""The experiments of one config version at work: which arms a view gets, cheaply.

Built once per config version, like everything the view path reads. Per view, with no
experiment in force that day, `variant()` is a clock comparison and returns None. Otherwise
it hashes the reader id once per experiment that applies and returns a `Variant`: the
settings the view's arms override, kept per combination of arms (a few per config), so no
view builds one. Nothing here touches the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..names import Audience
from ..prompts import Prompts
from .model import SIGNED_IN, Arm, Experiment

if TYPE_CHECKING:
    from ..settings import Offer

_ANONYMOUS = frozenset({Audience.ANONYMOUS})
_SECTIONS_KEPT = 8192


class Variant:
    """What a view's arms change (None: the config's own value), and which arms they are.

    `arms` are the (experiment, arm) pairs of experiments still assigning, the ones reports
    count; a rolled-out winner changes settings but is no longer counted.
    """

    __slots__ = (
        "_narrowed",
        "_parts",
        "arm_label",
        "arms",
        "experiment_label",
        "limit",
        "offer_ids",
        "offers",
        "prompts",
        "ref",
        "registered_limit",
        "teaser_paragraphs",
        "tokens",
    )

    def __init__(
        self, parts: Sequence[tuple[Experiment, Arm]], offers: dict[str, Offer], prompts: Prompts
    ) -> None:
        self._parts = tuple(parts)
        counted = [(e, arm) for e, arm in parts if e.winner is None]
        self.arms = tuple((e.id, arm.name) for e, arm in counted)
        self.tokens = tuple(e.token for e, _ in counted)
        # Prometheus: one series per view, so several experiments share one label value.
        self.experiment_label = "+".join(e for e, _ in self.arms)
        self.arm_label = "+".join(a for _, a in self.arms)
        self.ref = ",".join(f"{e}={a}" for e, a in self.arms)  # carried by offer refs
        arms = [arm for _, arm in parts]
        self.limit = _first(arm.limit for arm in arms)
        self.registered_limit = _first(arm.registered_limit for arm in arms)
        self.teaser_paragraphs = _first(arm.teaser_paragraphs for arm in arms)
        chosen = self.offer_ids = _first(arm.offers for arm in arms)
        self.offers = None if chosen is None else tuple(offers[o] for o in chosen if o in offers)
        templates = dict(pair for arm in arms for pair in arm.templates)
        self.prompts = prompts.with_templates(templates) if templates else None
        self._narrowed: dict[Audience, Variant | None] = {}

    def limit_for(self, signed_in: bool, default: int) -> int:
        found = self.registered_limit if signed_in else self.limit
        return default if found is None else found

    def for_audience(
        self, audience: Audience, offers: dict[str, Offer], prompts: Prompts
    ) -> Variant | None:
        """The part of this variant whose experiments apply to `audience` (signed-in
        audiences are known only from the meter's answer), None if none does."""
        if audience in self._narrowed:
            return self._narrowed[audience]
        kept = [(e, arm) for e, arm in self._parts if audience in e.audiences]
        if len(kept) == len(self._parts):
            found: Variant | None = self
        else:
            found = Variant(kept, offers, prompts) if kept else None
        self._narrowed[audience] = found
        return found


def _first(values: Any) -> Any:
    """The first override given (experiments in force together override different
    settings: `paywall check` refuses overlaps)."""
    return next((value for value in values if value is not None), None)


class Experiments:
    """The config's experiments, with what views need of them precomputed."""

    def __init__(
        self,
        experiments: Sequence[Experiment] = (),
        offers: Sequence[Offer] = (),
        prompts: Prompts | None = None,
        zone: ZoneInfo | None = None,
        section_of: Callable[[str, str], str] | None = None,
    ) -> None:
        self.all = tuple(experiments)
        self.configured = bool(self.all)  # checked on every view: nothing else when False
        self._offers = {offer.id: offer for offer in offers}
        self._prompts = prompts or Prompts({}, "")
        self._zone = zone or ZoneInfo("UTC")
        self._span = (0.0, 0.0)  # unix seconds: [start, end) of the day `_live` is for
        self._live: tuple[tuple[tuple[int, Experiment], ...], ...] = ((), ())
        self._variants: dict[tuple[int, ...], Variant] = {}
        self._section_of = section_of or (lambda path, access: "")
        self._sections: dict[tuple[str, str], str] = {}

    @property
    def files(self) -> list[Path]:
        """The arms' template files."""
        return [path for e in self.all for arm in e.arms for path in arm.files]

    def get(self, experiment_id: str) -> Experiment | None:
        return next((e for e in self.all if e.id == experiment_id), None)

    def variant(
        self, unit: str, signed_in: bool, now: datetime, path: str, access: str
    ) -> Variant | None:
        """The arms of reader id `unit` for a view of `path` under `access` at `now`
        (anonymous, or signed in with any status: audiences are narrowed after the meter
        answers)."""
        stamp = now.timestamp()
        if not self._span[0] <= stamp < self._span[1]:
            self._roll(now)
        live = self._live[signed_in]
        if not live:
            return None
        key: tuple[int, ...] = ()
        named: str | None = None
        for index, experiment in live:
            if experiment.sections is not None:
                named = self._section(path, access) if named is None else named
                if named not in experiment.sections:
                    continue
            key += (index, experiment.arm_index(unit))
        if not key:
            return None
        found = self._variants.get(key)
        if found is None:
            found = self._variants[key] = self._build(key)
        return found

    def _section(self, path: str, access: str) -> str:
        found = self._sections.get((path, access))
        if found is None:
            if len(self._sections) >= _SECTIONS_KEPT:
                self._sections.clear()
            found = self._sections[(path, access)] = self._section_of(path, access)
        return found

    def chosen(self, arms: Sequence[tuple[str, str]]) -> Variant | None:
        """The variant of these (experiment id, arm name) pairs, whatever the day (previews
        show an arm before or after it runs); None when one names nothing configured."""
        key: tuple[int, ...] = ()
        for experiment_id, arm_name in arms:
            index = next((n for n, e in enumerate(self.all) if e.id == experiment_id), None)
            if index is None:
                return None
            arm = next((n for n, a in enumerate(self.all[index].arms) if a.name == arm_name), None)
            if arm is None:
                return None
            key += (index, arm)
        return self._build(key) if key else None

    def narrow(self, variant: Variant, audience: Audience) -> Variant | None:
        return variant.for_audience(audience, self._offers, self._prompts)

    def assigning(self, day: date) -> tuple[Experiment, ...]:
        return tuple(e for e in self.all if e.assigning(day))

    def _build(self, key: tuple[int, ...]) -> Variant:
        parts = []
        for n in range(0, len(key), 2):
            experiment = self.all[key[n]]
            parts.append((experiment, experiment.arms[key[n + 1]]))
        return Variant(parts, self._offers, self._prompts)

    def _roll(self, now: datetime) -> None:
        """Which experiments are in force on `now`'s day, for anonymous and signed-in views."""
        day = now.astimezone(self._zone).date()
        start = datetime.combine(day, time(), self._zone).timestamp()
        end = datetime.combine(day + timedelta(days=1), time(), self._zone).timestamp()
        live = [(n, e) for n, e in enumerate(self.all) if e.in_force(day)]
        self._live = (
            tuple((n, e) for n, e in live if e.audiences & _ANONYMOUS),
            tuple((n, e) for n, e in live if e.audiences & SIGNED_IN),
        )
        self._span = (start, end)


NO_EXPERIMENTS = Experiments()
