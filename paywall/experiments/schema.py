"""Validating the YAML's `experiments:` list (schema.py calls this with its builder, so every
problem names the file, line and key): ids, dates, audiences, sections, arms and weights,
what an arm may override, and experiments that would override the same setting for the same
readers on the same day."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..names import Audience, Prompt
from ..prompts import compile_variant
from ..yamlsource import KeyPath
from .model import LIMIT, REGISTERED_LIMIT, SIGNED_IN, Arm, Experiment

if TYPE_CHECKING:
    from ..settings import Offer

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EXPERIMENT_KEYS = {"id", "starts", "ends", "applies_to", "arms", "winner"}
_OVERRIDES = ("meter", "offers", "templates", "teaser_paragraphs")
_OVERRIDABLE = "meter.limit, meter.registered_limit, offers, templates, teaser_paragraphs"
_PROMPTS = tuple(prompt.value for prompt in Prompt)


class Builder(Protocol):
    """What this module uses of schema._Builder."""

    folder: Path

    def error(self, at: KeyPath, message: str) -> None: ...

    def line(self, at: KeyPath) -> int: ...

    def section(self, value: Any, at: KeyPath, allowed: set[str]) -> dict[str, Any]: ...

    def text(self, where: dict[str, Any], at: KeyPath, default: str | None) -> str: ...

    def integer(self, where: dict[str, Any], at: KeyPath, default: int, low: int = 0) -> int: ...

    def day(self, item: dict[str, Any], at: KeyPath) -> date | None: ...

    def text_list(self, where: dict[str, Any], at: KeyPath) -> list[str]: ...


def experiments(
    builder: Builder, value: Any, offers: Sequence[Offer], sections: frozenset[str]
) -> tuple[Experiment, ...]:
    """The valid experiments of `value`; each problem is recorded through `builder`."""
    if not isinstance(value, list):
        builder.error(("experiments",), "expected a list of experiments")
        return ()
    found: list[Experiment] = []
    for index, item in enumerate(value):
        experiment = _experiment(builder, item, ("experiments", index), offers, sections)
        if experiment is None:
            continue
        if any(other.id == experiment.id for other in found):
            builder.error(
                ("experiments", index, "id"), f"experiment id {experiment.id!r} is used twice"
            )
            continue
        for other in found:
            _overlap(builder, ("experiments", index), experiment, other)
        found.append(experiment)
    return tuple(found)


def _experiment(
    builder: Builder, item: Any, at: KeyPath, offers: Sequence[Offer], sections: frozenset[str]
) -> Experiment | None:
    entry = builder.section(item, at, _EXPERIMENT_KEYS)
    if not entry:
        return None
    name = _name(builder, entry, (*at, "id"))
    starts = builder.day(entry, (*at, "starts"))
    if starts is None and "starts" not in entry:
        builder.error((*at, "starts"), "is required (the first day readers are assigned)")
    ends = builder.day(entry, (*at, "ends"))
    if starts and ends and ends < starts:
        builder.error((*at, "ends"), "ends before it starts")
    audiences, chosen = _applies_to(builder, entry, at, sections)
    arms = _arms(builder, entry.get("arms"), (*at, "arms"), offers)
    winner = entry.get("winner")
    if winner is not None and not any(arm.name == winner for arm in arms):
        builder.error((*at, "winner"), f"{winner!r} is not one of its arms")
    if not name or starts is None or len(arms) < 2:
        return None
    experiment = Experiment(
        name, starts, ends, audiences, chosen, arms, winner, line=builder.line(at)
    )
    _limits_reach(builder, at, experiment)
    return experiment


def _name(builder: Builder, where: dict[str, Any], at: KeyPath) -> str:
    text = builder.text(where, at, None)
    if text and not _NAME.fullmatch(text):
        builder.error(at, f"{text!r}: letters, digits, . _ - only, at most 64 characters")
        return ""
    return text


def _applies_to(
    builder: Builder, entry: dict[str, Any], at: KeyPath, sections: frozenset[str]
) -> tuple[frozenset[Audience], frozenset[str] | None]:
    where = (*at, "applies_to")
    scope = builder.section(entry.get("applies_to", {}), where, {"audience", "sections"})
    audiences = set(Audience)
    if "audience" in scope:
        audiences = set()
        for n, name in enumerate(builder.text_list(scope, (*where, "audience"))):
            if name in {a.value for a in Audience}:
                audiences.add(Audience(name))
            else:
                known = ", ".join(a.value for a in Audience)
                builder.error(
                    (*where, "audience", n), f"unknown audience {name!r}; expected one of {known}"
                )
        if not audiences:
            builder.error(
                (*where, "audience"), "names no audience: the experiment would reach nobody"
            )
    chosen = None
    if "sections" in scope:
        chosen = frozenset(builder.text_list(scope, (*where, "sections")))
        for n, name in enumerate(sorted(chosen)):
            if name not in sections:
                builder.error((*where, "sections", n), f"no content rule has section {name!r}")
    return frozenset(audiences), chosen


def _arms(builder: Builder, value: Any, at: KeyPath, offers: Sequence[Offer]) -> tuple[Arm, ...]:
    if not isinstance(value, list) or len(value) < 2:
        builder.error(at, "expected a list of at least two arms")
        return ()
    arms: list[Arm] = []
    for index, item in enumerate(value):
        arm = _arm(builder, item, (*at, index), offers)
        if arm is None:
            continue
        if any(other.name == arm.name for other in arms):
            builder.error((*at, index, "name"), f"arm {arm.name!r} is named twice")
            continue
        arms.append(arm)
    return tuple(arms) if len(arms) == len(value) else ()


def _arm(builder: Builder, item: Any, at: KeyPath, offers: Sequence[Offer]) -> Arm | None:
    if not isinstance(item, dict):
        builder.error(at, "expected an arm: {name, weight, and what it overrides}")
        return None
    for key in item:
        if key not in ("name", "weight", *_OVERRIDES):
            builder.error(
                (*at, key), f"cannot be overridden by an arm (an arm may set {_OVERRIDABLE})"
            )
    name = _name(builder, item, (*at, "name"))
    weight = builder.integer(item, (*at, "weight"), 0, low=1) if "weight" in item else 0
    if "weight" not in item:
        builder.error((*at, "weight"), "is required (a whole number ≥ 1: its share of readers)")
    meter = item.get("meter", {})
    if not isinstance(meter, dict):
        builder.error((*at, "meter"), "expected a mapping: limit and/or registered_limit")
        meter = {}
    for key in meter:
        if key not in ("limit", "registered_limit"):
            builder.error(
                (*at, "meter", key),
                f"cannot be overridden by an arm (an arm may set {_OVERRIDABLE})",
            )
    templates, hashes, files = _templates(builder, item, at, offers)
    arm = Arm(
        name,
        weight,
        limit=_optional(builder, meter, (*at, "meter", "limit")),
        registered_limit=_optional(builder, meter, (*at, "meter", "registered_limit")),
        offers=_offers(builder, item, (*at, "offers"), offers),
        templates=templates,
        teaser_paragraphs=_optional(builder, item, (*at, "teaser_paragraphs")),
        fingerprint=_fingerprint(item, hashes),
        files=files,
    )
    return arm if name and weight else None


def _optional(builder: Builder, where: dict[str, Any], at: KeyPath) -> int | None:
    return builder.integer(where, at, 0) if str(at[-1]) in where else None


def _offers(
    builder: Builder, item: dict[str, Any], at: KeyPath, offers: Sequence[Offer]
) -> tuple[str, ...] | None:
    if "offers" not in item:
        return None
    ids = builder.text_list(item, at)
    known = {offer.id for offer in offers}
    for n, offer_id in enumerate(ids):
        if offer_id not in known:
            builder.error((*at, n), f"no offer has id {offer_id!r}")
    return tuple(ids)


def _templates(
    builder: Builder, item: dict[str, Any], at: KeyPath, offers: Sequence[Offer]
) -> tuple[tuple[tuple[str, Any], ...], dict[str, str], tuple[Path, ...]]:
    """(prompt, compiled template) pairs, each file's content hash (for the fingerprint),
    and the files."""
    where = (*at, "templates")
    chosen = builder.section(item.get("templates", {}), where, set(_PROMPTS))
    offer_keys = frozenset(key for offer in offers for key in offer.context)
    compiled, hashes, files = [], {}, []
    for prompt in chosen:
        if prompt not in _PROMPTS:
            continue
        file_name = builder.text(chosen, (*where, prompt), None)
        path = (builder.folder / file_name).resolve()
        errors: list[str] = []
        nodes = compile_variant(path, offer_keys, errors) if file_name else None
        for problem in errors:
            builder.error((*where, prompt), problem)
        if nodes is not None:
            compiled.append((prompt, nodes))
            hashes[prompt] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            files.append(path)
    return tuple(compiled), hashes, tuple(files)


def _fingerprint(item: dict[str, Any], hashes: dict[str, str]) -> str:
    overrides = {key: item[key] for key in _OVERRIDES if key in item}
    return json.dumps([overrides, hashes], sort_keys=True, default=str)


def _limits_reach(builder: Builder, at: KeyPath, experiment: Experiment) -> None:
    """A limit override must reach the readers it is for, and be decidable before the meter
    answers: anonymous readers are known at once, signed-in ones' audiences only after."""
    settings, audiences = experiment.settings, experiment.audiences
    where = (*at, "applies_to", "audience")
    if LIMIT in settings and Audience.ANONYMOUS not in audiences:
        builder.error(where, "an arm sets meter.limit, which only anonymous readers have")
    signed_in = audiences & SIGNED_IN
    if REGISTERED_LIMIT in settings:
        if not signed_in:
            builder.error(
                where, "an arm sets meter.registered_limit, which only signed-in readers have"
            )
        elif signed_in != SIGNED_IN:
            builder.error(
                where,
                "an arm sets meter.registered_limit: name all of registered, trial_expired and"
                " access_expired or none (which of them a reader is, the meter tells only after"
                " applying the limit)",
            )


def _overlap(builder: Builder, at: KeyPath, one: Experiment, other: Experiment) -> None:
    """Two experiments may not set the same setting for the same readers on the same day."""
    shared = one.settings & other.settings
    if not shared or not one.audiences & other.audiences:
        return
    if (
        one.sections is not None
        and other.sections is not None
        and not one.sections & other.sections
    ):
        return
    if not _windows_meet(one, other):
        return
    names = ", ".join(sorted(shared))
    builder.error(
        at,
        f"overlaps experiment {other.id!r}: both set {names} for the same readers on the same"
        " days (change the dates, audiences or sections so they do not meet)",
    )


def _windows_meet(one: Experiment, other: Experiment) -> bool:
    def last(e: Experiment) -> date:
        return date.max if e.ends is None or e.winner is not None else e.ends

    return one.starts <= last(other) and other.starts <= last(one)
