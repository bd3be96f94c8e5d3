"""One experiment as the config holds it, and which arm a reader is in.

Assignment is a keyed hash: BLAKE2b of the reader id, keyed with the experiment id, read
as a number in [0, 1) and placed among the arms' cumulative weights. Nothing is stored per
reader, every worker and host agrees, and anyone with the two ids can check the arm
(`paywall arm`). The key is the experiment id alone, not a secret: an arm is no secret
(a reader can learn theirs by reading), and audits need no keys.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from ..names import Audience

CONTROL = "control"  # the arm the others are compared with (else the first arm)
TOKEN_CHARS = 6  # an experiment's mark in the summary cookie (summary.py)
SIGNED_IN = frozenset(a for a in Audience if a is not Audience.ANONYMOUS)

# The settings an arm may override, as `paywall check` names them.
LIMIT, REGISTERED_LIMIT, OFFERS, TEASER = (
    "meter.limit",
    "meter.registered_limit",
    "offers",
    "teaser_paragraphs",
)


@dataclass(frozen=True)
class Arm:
    """One arm: its share of readers and what it changes for them (None: the config's)."""

    name: str
    weight: int
    limit: int | None = None
    registered_limit: int | None = None
    offers: tuple[str, ...] | None = None  # offer ids shown, in this order
    templates: tuple[tuple[str, Any], ...] = ()  # (prompt, compiled template) pairs
    teaser_paragraphs: int | None = None
    fingerprint: str = ""  # the overrides as written, template files by content hash
    files: tuple[Path, ...] = ()  # the template files (live reload watches them)

    @property
    def settings(self) -> frozenset[str]:
        """The settings this arm overrides (`templates.<prompt>` per template)."""
        found = {f"templates.{prompt}" for prompt, _ in self.templates}
        for name, value in (
            (LIMIT, self.limit),
            (REGISTERED_LIMIT, self.registered_limit),
            (OFFERS, self.offers),
            (TEASER, self.teaser_paragraphs),
        ):
            if value is not None:
                found.add(name)
        return frozenset(found)


@dataclass(frozen=True)
class Experiment:
    """An experiment of the YAML's `experiments:` list."""

    id: str
    starts: date
    ends: date | None  # the last day readers are assigned (None: open-ended)
    audiences: frozenset[Audience]
    sections: frozenset[str] | None  # None: every section
    arms: tuple[Arm, ...]
    winner: str | None = None  # rolled out to everyone the experiment applies to
    line: int = field(default=1, compare=False)  # where it is written, for messages

    @cached_property
    def key(self) -> bytes:
        return hashlib.blake2b(self.id.encode(), digest_size=32, person=b"paywall-exp").digest()

    @cached_property
    def _keyed(self) -> Any:
        """The keyed hash before any reader: copied per view (cheaper than keying anew)."""
        return hashlib.blake2b(digest_size=8, key=self.key)

    @cached_property
    def bounds(self) -> tuple[int, ...]:
        """Each arm's upper bound among the cumulative weights."""
        total, bounds = 0, []
        for arm in self.arms:
            total += arm.weight
            bounds.append(total)
        return tuple(bounds)

    @cached_property
    def token(self) -> str:
        """A short mark of the id: which experiments a browser was counted in."""
        digest = hashlib.blake2b(self.id.encode(), digest_size=6, person=b"paywall-seen").digest()
        return base64.urlsafe_b64encode(digest).decode()[:TOKEN_CHARS]

    @cached_property
    def fingerprint(self) -> str:
        """What may not change once it has started: the arms, their weights and overrides."""
        arms = [
            [arm.name, arm.weight, arm.limit, arm.registered_limit, arm.offers,
             arm.teaser_paragraphs, arm.fingerprint]
            for arm in self.arms
        ]  # fmt: skip
        return hashlib.sha256(json.dumps(arms).encode()).hexdigest()[:16]

    @cached_property
    def settings(self) -> frozenset[str]:
        return frozenset().union(*(arm.settings for arm in self.arms))

    @property
    def control(self) -> Arm:
        return next((arm for arm in self.arms if arm.name == CONTROL), self.arms[0])

    def arm_index(self, unit: str) -> int:
        """The arm (its index) of the reader id `unit`; the winner's once there is one."""
        if self.winner is not None:
            return next(n for n, arm in enumerate(self.arms) if arm.name == self.winner)
        bounds = self.bounds
        keyed = self._keyed.copy()
        keyed.update(unit.encode("utf-8", "surrogateescape"))
        point = (int.from_bytes(keyed.digest(), "big") * bounds[-1]) >> 64  # in [0, total)
        return bisect.bisect_right(bounds, point)

    def arm_of(self, unit: str) -> Arm:
        return self.arms[self.arm_index(unit)]

    def assigning(self, day: date) -> bool:
        """Whether readers are assigned on `day` (started, not ended, no winner)."""
        return (
            self.winner is None and self.starts <= day and (self.ends is None or day <= self.ends)
        )

    def in_force(self, day: date) -> bool:
        """Whether its arms change anything on `day`: assigning, or rolled out (a winner
        applies from `starts` on, whatever `ends` says)."""
        return self.assigning(day) or (self.winner is not None and self.starts <= day)

    def last_day(self, today: date) -> date:
        """The last day with counts: `ends`, or today if it is still running."""
        return min(self.ends, today) if self.ends is not None else today

    def weights(self) -> dict[str, int]:
        return {arm.name: arm.weight for arm in self.arms}
