"""`paywall arm` (which arm a reader is in) and `paywall check --against` (the protection
of running experiments, before an edit is deployed); cli.py wires them in."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..yamlsource import ConfigError
from .protect import changed_while_running


def now() -> datetime:
    """The time "today" is taken from (tests fix it)."""
    return datetime.now(UTC)


def add_arm_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    arm = commands.add_parser("arm", help="print the arm of an experiment a reader is in")
    arm.add_argument("experiment", metavar="EXPERIMENT_ID")
    arm.add_argument(
        "reader",
        metavar="READER_OR_ACCOUNT_ID",
        help="the reader id of the browser's paywall_rid cookie (with --account: an account)",
    )
    arm.add_argument(
        "--account",
        action="store_true",
        help="READER_OR_ACCOUNT_ID is an account: the arm it gets where it arrives signed in"
        " without a reader cookie (needs the signing keys in the environment)",
    )
    arm.add_argument("--config", type=Path, default=Path("config/paywall.yaml"))


def arm_command(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..identity import MissingSecretError, account_reader_id, secret_keys

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    experiment = config.experiments.get(args.experiment)
    if experiment is None:
        known = ", ".join(e.id for e in config.experiments.all) or "none"
        print(
            f"paywall arm: no experiment {args.experiment!r} (configured: {known})", file=sys.stderr
        )
        return 1
    unit = args.reader
    if args.account:
        try:
            unit = account_reader_id(secret_keys(config.startup.secret_env), args.reader)
        except MissingSecretError as exc:
            print(exc, file=sys.stderr)
            return 1
    print(experiment.arm_of(unit).name)
    today = now().astimezone(config.timezone).date()
    if not experiment.in_force(today):
        print(f"paywall arm: {experiment.id} is not in force on {today}", file=sys.stderr)
    return 0


def check_against(path: Path, before: Path) -> list[str]:
    """The running experiments `path` would change, compared with `before` (the version
    deployed now); today is in the new file's meter.timezone."""
    from ..config import load_config

    try:
        old = load_config(before)
    except ConfigError as exc:
        return [f"{before}: the config to compare with does not load:", *exc.problems]
    new = load_config(path)
    today = now().astimezone(new.timezone).date()
    return changed_while_running(old.experiments, new.experiments, today, path)
