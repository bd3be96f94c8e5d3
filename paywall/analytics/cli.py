"""`paywall report` and what `paywall grant --ref` says (cli.py wires them in)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from redis.exceptions import RedisError

from ..yamlsource import ConfigError
from .formats import FORMATS, render, render_experiment
from .refs import Ref
from .report import AnalyticsReader

DEFAULT_DAYS = 30


def add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser("report", help="print the funnel: views to conversions, by day")
    report.add_argument("--config", type=Path, default=Path("config/paywall.yaml"))
    report.add_argument(
        "--from", dest="start", help="first day, YYYY-MM-DD (default: 29 days before --to)"
    )
    report.add_argument(
        "--to", dest="end", help="last day, YYYY-MM-DD (default: today in meter.timezone)"
    )
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument(
        "--experiment",
        metavar="ID",
        help="that experiment's report by arm, from its first day to --to (default: its last"
        " day, or today)",
    )


def credit_line(credited: Ref | None) -> str:
    if credited is None:
        return "conversion NOT credited: the ref is not one this paywall signed (check the keys)"
    return (
        f"conversion credited to offer {credited.offer} (prompt {credited.prompt},"
        f" section {credited.section}, shown {credited.day})"
    )


async def report_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from ..config import load_shared_store_config
    from ..connection import connect

    try:
        config = load_shared_store_config(args.config, "report", "analytics live in a shared Redis")
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    today = datetime.now(UTC).astimezone(config.timezone).date()
    experiment = None
    if args.experiment is not None:
        experiment = config.experiments.get(args.experiment)
        if experiment is None:
            known = ", ".join(e.id for e in config.experiments.all) or "none"
            print(f"paywall report: no experiment {args.experiment!r} ({known})", file=sys.stderr)
            return 1
    end = _day(parser, "--to", args.end) or (experiment.last_day(today) if experiment else today)
    start = _day(parser, "--from", args.start) or (
        min(experiment.starts, end) if experiment else end - timedelta(days=DEFAULT_DAYS - 1)
    )
    if end < start:
        parser.error(f"--to {end} is before --from {start}")
    client = connect(config.startup.store_url, timeout=5.0)
    try:
        reader = AnalyticsReader(client, config.startup.store_prefix)
        report = await reader.report(start, end, config)
    except RedisError as exc:
        print(f"paywall report: store error: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()
    if experiment is not None:
        result = next((e for e in report.experiments if e.id == experiment.id), None)
        if result is None:
            print(f"paywall report: {experiment.id} starts {experiment.starts}", file=sys.stderr)
            return 1
        print(render_experiment(result, args.format), end="" if args.format != "json" else "\n")
        return 0
    print(render(report, args.format), end="" if args.format != "json" else "\n")
    return 0


def _day(parser: argparse.ArgumentParser, option: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        parser.error(f"{option}: expected a date like 2027-03-31, got {text!r}")
