"""`paywall arm EXPERIMENT_ID READER_OR_ACCOUNT_ID`: the arm, as the middleware assigns it;
`paywall check --against` is tested with the protection (test_experiments_protect.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paywall.cli import main
from paywall.config import load_config
from paywall.experiments import cli as experiments_cli
from paywall.identity import account_reader_id

from .conftest import CONFIG, SECRET

EXPERIMENT = """
experiments:
  - id: limit-3-vs-5
    starts: 2027-01-01
    ends: 2027-01-31
    applies_to: {audience: [anonymous]}
    arms:
      - {name: control, weight: 50}
      - {name: five, weight: 50, meter: {limit: 5}}
"""


@pytest.fixture
def config(config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(experiments_cli, "now", lambda: datetime(2027, 1, 5, 3, tzinfo=UTC))
    return config_file(CONFIG + EXPERIMENT)


def arm_of(config: Path, *args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["arm", *args, "--config", str(config)])
    return status, out.getvalue(), err.getvalue()


def test_it_prints_the_arm_the_middleware_assigns(config: Path) -> None:
    experiment = load_config(config).experiments.get("limit-3-vs-5")
    assert experiment is not None
    seen = set()
    for n in range(40):
        reader = f"reader-{n:010d}"
        status, out, err = arm_of(config, "limit-3-vs-5", reader)
        assert status == 0 and err == ""
        assert out == experiment.arm_of(reader).name + "\n"
        seen.add(out.strip())
    assert seen == {"control", "five"}


def test_an_account_is_taken_at_the_id_it_gets_without_a_cookie(config: Path) -> None:
    experiment = load_config(config).experiments.get("limit-3-vs-5")
    assert experiment is not None
    for account in ("acct-1", "acct-2", "acct-3", "acct-4"):
        status, out, _ = arm_of(config, "limit-3-vs-5", account, "--account")
        assert status == 0
        assert out.strip() == experiment.arm_of(account_reader_id([SECRET], account)).name


def test_an_account_needs_the_signing_keys(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYWALL_SECRET_KEYS")
    status, out, err = arm_of(config, "limit-3-vs-5", "acct-1", "--account")
    assert status == 1 and out == "" and "PAYWALL_SECRET_KEYS" in err


def test_an_unknown_experiment_names_the_known_ones(config: Path) -> None:
    status, out, err = arm_of(config, "limit-3-vs-4", "reader")
    assert status == 1 and out == ""
    assert "no experiment 'limit-3-vs-4' (configured: limit-3-vs-5)" in err


def test_it_says_when_the_experiment_is_not_in_force(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(experiments_cli, "now", lambda: datetime(2027, 3, 1, 3, tzinfo=UTC))
    status, out, err = arm_of(config, "limit-3-vs-5", "reader")
    assert status == 0 and out.strip() in ("control", "five")
    assert "limit-3-vs-5 is not in force on 2027-03-01" in err
