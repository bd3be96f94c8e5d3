"""A running experiment cannot change: an edit of its arms, weights, overrides or start day is
refused by the live reload (the old config keeps serving, the refusal is in the config
history) and by `paywall check --against`; ending it, rolling a winner out, removing it and
anything before it starts are fine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paywall.analytics.history import ConfigChange
from paywall.cli import main
from paywall.config import LiveConfig, load_config
from paywall.experiments import cli as experiments_cli
from paywall.experiments.protect import changed_while_running

from .conftest import CONFIG

RUNNING = """
experiments:
  - id: limit-3-vs-5
    starts: 2027-01-01
    applies_to: {audience: [anonymous]}
    arms:
      - {name: control, weight: 50}
      - {name: five, weight: 50, meter: {limit: 5}}
"""
BEFORE_START = datetime(2026, 12, 20, 3, tzinfo=UTC)
RUNNING_DAY = datetime(2027, 1, 5, 3, tzinfo=UTC)

SIX = "      - {name: six, weight: 5, meter: {limit: 6}}\n"
EDITS = {
    "weights": ("{name: control, weight: 50}", "{name: control, weight: 40}"),
    "an override": ("meter: {limit: 5}", "meter: {limit: 6}"),
    "an arm's name": ("name: five", "name: fiver"),
    "an arm added": ("meter: {limit: 5}}\n", "meter: {limit: 5}}\n" + SIX),
    "the start day": ("starts: 2027-01-01", "starts: 2027-01-03"),
}
ALLOWED = {
    "ending it": ("    applies_to", "    ends: 2027-01-06\n    applies_to"),
    "a winner": ("    applies_to", "    winner: five\n    applies_to"),
    "its audience": ("audience: [anonymous]", "audience: [anonymous], sections: [default]"),
}


@pytest.fixture
def write(config_file: Callable[..., Path]) -> Callable[[str], Path]:
    return lambda experiments: config_file(CONFIG + experiments)


@pytest.mark.parametrize("edit", EDITS)
def test_an_edit_of_a_running_experiment_is_refused(
    write: Callable[[str], Path], edit: str
) -> None:
    before = load_config(write(RUNNING)).experiments
    old, new = EDITS[edit]
    path = write(RUNNING.replace(old, new))
    after = load_config(path).experiments
    [problem] = changed_while_running(before, after, RUNNING_DAY.date(), path)
    line = next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if "- id: limit" in text
    )
    assert problem.startswith(f"{path}:{line}: experiments: 'limit-3-vs-5' has been running since")
    assert "end it (set ends) and start a new experiment with a new id" in problem
    # Before it starts, anything goes.
    assert changed_while_running(before, after, BEFORE_START.date(), path) == []


@pytest.mark.parametrize("edit", ALLOWED)
def test_ending_rolling_out_or_rescoping_is_allowed(
    write: Callable[[str], Path], edit: str
) -> None:
    before = load_config(write(RUNNING)).experiments
    old, new = ALLOWED[edit]
    after = load_config(write(RUNNING.replace(old, new))).experiments
    assert changed_while_running(before, after, RUNNING_DAY.date(), "x") == []
    assert (
        changed_while_running(after, load_config(write("")).experiments, RUNNING_DAY.date(), "x")
        == []
    )


def test_the_live_reload_keeps_the_running_experiment_and_records_the_refusal(
    write: Callable[[str], Path],
) -> None:
    path = write(RUNNING)
    live = LiveConfig(path, clock=lambda: RUNNING_DAY)
    told: list[ConfigChange] = []
    live.listeners.append(told.append)
    serving = live.config
    write(RUNNING.replace("meter: {limit: 5}", "meter: {limit: 6}"))
    live._next_check = 0
    assert live.current() is serving  # the old version keeps serving
    [change] = told
    assert change.result == "rejected" and "has been running since 2027-01-01" in change.problems[0]
    assert "limit: 6" in change.diff
    # Ending it is accepted.
    write(RUNNING.replace("    applies_to", "    ends: 2027-01-05\n    applies_to"))
    live._next_check = 0
    assert live.current() is not serving and told[-1].result == "ok"


def test_an_edit_before_the_start_is_reloaded(write: Callable[[str], Path]) -> None:
    live = LiveConfig(write(RUNNING), clock=lambda: BEFORE_START)
    write(RUNNING.replace("meter: {limit: 5}", "meter: {limit: 6}"))
    live._next_check = 0
    experiment = live.current().experiments.get("limit-3-vs-5")
    assert experiment is not None and experiment.arms[1].limit == 6


def test_an_edit_of_an_arms_template_is_an_edit_of_the_arm(
    write: Callable[[str], Path], tmp_path: Path
) -> None:
    variant = tmp_path / "subscribe.now.html"
    variant.write_text("<p>Subscribe now</p>", encoding="utf-8")
    text = RUNNING.replace("meter: {limit: 5}", "templates: {subscribe: subscribe.now.html}")
    live = LiveConfig(write(text), clock=lambda: RUNNING_DAY)
    serving = live.config
    variant.write_text("<p>Subscribe today</p>", encoding="utf-8")  # the YAML is untouched
    live._next_check = 0
    assert live.current() is serving


def test_paywall_check_against_the_deployed_version(
    write: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(experiments_cli, "now", lambda: RUNNING_DAY)
    deployed = tmp_path / "deployed.yaml"
    deployed.write_text(write(RUNNING).read_text(), encoding="utf-8")
    edited = write(RUNNING.replace("meter: {limit: 5}", "meter: {limit: 6}"))
    assert main(["check", str(edited), "--against", str(deployed)]) == 1  # started in 2027
    err = capsys.readouterr().err
    assert "'limit-3-vs-5' has been running since 2027-01-01" in err and "1 problem(s)" in err
    assert main(["check", str(deployed), "--against", str(deployed)]) == 0
    assert "1 experiments" in capsys.readouterr().out
    assert main(["check", str(edited), "--against", str(tmp_path / "missing.yaml")]) == 1
    assert "the config to compare with does not load" in capsys.readouterr().err
