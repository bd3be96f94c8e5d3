"""Assignment: a keyed hash of the experiment id and the reader id, the same everywhere,
split by the weights; the days an experiment assigns; what may not change once started."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from paywall.experiments.model import Arm, Experiment
from paywall.identity import new_reader_id
from paywall.names import Audience

ALL = frozenset(Audience)


def experiment(*weights: int, winner: str | None = None, **changes: object) -> Experiment:
    names = ["control", "five", "seven", "nine"][: len(weights)]
    arms = tuple(Arm(name, weight) for name, weight in zip(names, weights, strict=True))
    fields: dict[str, object] = {
        "id": "limit-3-vs-5", "starts": date(2027, 1, 1), "ends": date(2027, 1, 31),
        "audiences": ALL, "sections": None, "arms": arms, "winner": winner,
    }  # fmt: skip
    fields.update(changes)
    return Experiment(**fields)  # type: ignore[arg-type]


def test_ten_thousand_random_readers_split_within_two_percent_of_fifty_fifty() -> None:
    half = experiment(50, 50)
    counts = Counter(half.arm_of(new_reader_id()).name for _ in range(10_000))
    assert set(counts) == {"control", "five"}
    for arm in ("control", "five"):
        assert abs(counts[arm] / 10_000 - 0.5) <= 0.02, counts


def test_weights_set_the_shares() -> None:
    lopsided = experiment(70, 20, 10)
    counts = Counter(lopsided.arm_of(f"reader-{n:06d}").name for n in range(20_000))
    assert counts["control"] / 20_000 == pytest.approx(0.7, abs=0.015)
    assert counts["five"] / 20_000 == pytest.approx(0.2, abs=0.015)
    assert counts["seven"] / 20_000 == pytest.approx(0.1, abs=0.015)


def test_the_arm_is_the_same_in_every_process_and_depends_on_the_experiment() -> None:
    readers = [f"r{n:015d}" for n in range(200)]
    here = [experiment(50, 50).arm_of(reader).name for reader in readers]
    code = (
        "from tests.test_experiments_model import experiment\n"
        f"print(','.join(experiment(50, 50).arm_of(r).name for r in {readers!r}))"
    )
    root = Path(__file__).resolve().parent.parent
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
        cwd=root,
    ).stdout.strip()  # fmt: skip
    assert there.split(",") == here  # no per-process salt: every worker and host agree
    other = [experiment(50, 50, id="another").arm_of(reader).name for reader in readers]
    assert other != here  # each experiment splits readers independently


def test_a_winner_takes_everyone() -> None:
    rolled = experiment(50, 50, winner="five")
    assert {rolled.arm_of(new_reader_id()).name for _ in range(200)} == {"five"}


def test_the_days_it_assigns_and_is_in_force() -> None:
    running = experiment(50, 50)
    assert not running.assigning(date(2026, 12, 31))
    assert running.assigning(date(2027, 1, 1)) and running.assigning(date(2027, 1, 31))
    assert not running.assigning(date(2027, 2, 1)) and not running.in_force(date(2027, 2, 1))
    rolled = experiment(50, 50, winner="five")
    assert not rolled.assigning(date(2027, 1, 15))  # a winner assigns nobody...
    assert rolled.in_force(date(2027, 6, 1))  # ...but applies past `ends`
    assert not rolled.in_force(date(2026, 12, 31))
    assert running.last_day(date(2027, 1, 10)) == date(2027, 1, 10)
    assert running.last_day(date(2027, 3, 1)) == date(2027, 1, 31)
    assert experiment(50, 50, ends=None).last_day(date(2030, 1, 1)) == date(2030, 1, 1)


def test_the_fingerprint_holds_arms_weights_and_overrides_only() -> None:
    base = experiment(50, 50)
    assert experiment(50, 50, ends=date(2027, 3, 1), winner="five").fingerprint == base.fingerprint
    assert experiment(60, 40).fingerprint != base.fingerprint
    changed = (Arm("control", 50), Arm("five", 50, limit=6))
    assert experiment(50, 50, arms=changed).fingerprint != base.fingerprint


def test_control_is_the_arm_named_control_else_the_first() -> None:
    assert experiment(50, 50).control.name == "control"
    arms = (Arm("a", 1), Arm("b", 1))
    assert experiment(1, 1, arms=arms).control.name == "a"


def test_settings_name_what_the_arms_override() -> None:
    arms = (Arm("control", 1), Arm("b", 1, limit=5, offers=("x",), teaser_paragraphs=1))
    assert experiment(1, 1, arms=arms).settings == {"meter.limit", "offers", "teaser_paragraphs"}


def test_tokens_are_short_and_differ() -> None:
    assert len(experiment(1, 1).token) == 6
    assert experiment(1, 1).token != experiment(1, 1, id="other").token
