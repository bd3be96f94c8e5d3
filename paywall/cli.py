"""The `paywall` command: the demo, config checks, and entitlements from a shell."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from redis.exceptions import RedisError

from .analytics.cli import add_report_command, credit_line, report_command
from .entitlements import PLANS, Entitlements, status_of
from .experiments.cli import add_arm_command, arm_command, check_against
from .sharing.cli import add_preview_command, preview_command
from .yamlsource import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paywall", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the sample news site behind the paywall")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--config", type=Path, help="config file (default: the demo's own)")
    demo.add_argument(
        "--simulate",
        type=int,
        metavar="DAYS",
        help="days of simulated readers to fill the dashboard with at start"
        " (default: 30 on the embedded store, 0 on a real Redis)",
    )

    check = commands.add_parser("check", help="validate a config file and its templates")
    check.add_argument("config", type=Path)
    check.add_argument(
        "--against",
        type=Path,
        metavar="OLD",
        help="the version deployed now: refuse changes to its running experiments",
    )
    add_arm_command(commands)

    for name, summary in (
        ("grant", "give an account a trial or subscription until a date"),
        ("revoke", "remove an account's trial or subscription"),
        ("status", "show an account's entitlement status"),
    ):
        command = commands.add_parser(name, help=summary)
        command.add_argument("account")
        command.add_argument("--config", type=Path, default=Path("config/paywall.yaml"))
        if name == "grant":
            command.add_argument("--plan", choices=PLANS, required=True)
            command.add_argument(
                "--until",
                required=True,
                help="last day of access, YYYY-MM-DD, inclusive, in meter.timezone"
                " (a past date records a lapsed trial or subscription)",
            )
            command.add_argument(
                "--ref",
                help="the paywall_ref the reader arrived with: counts a conversion for its offer",
            )
    add_report_command(commands)
    add_preview_command(commands)

    args = parser.parse_args(argv)
    if args.command == "report":
        return asyncio.run(report_command(parser, args))
    if args.command == "check":
        return _check(args.config, args.against)
    if args.command == "arm":
        return arm_command(args)
    if args.command == "preview-url":
        return preview_command(parser, args)
    if args.command == "demo":
        return _demo(args.host, args.port, args.config, args.simulate)
    return asyncio.run(_entitlement_command(parser, args))


async def _entitlement_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .config import load_shared_store_config
    from .connection import connect

    needs = "entitlements need a shared Redis (the embedded store lives inside one process)"
    try:
        config = load_shared_store_config(args.config, args.command, needs)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    client = connect(config.startup.store_url, timeout=5.0)
    entitlements = Entitlements.for_config(client, config)
    try:
        if args.command == "grant":
            try:
                last_day = date.fromisoformat(args.until)
            except ValueError:
                parser.error(f"--until: expected a date like 2027-03-31, got {args.until!r}")
            start = datetime.combine(last_day + timedelta(days=1), time(), config.timezone)
            ref = args.ref
            credited = await entitlements.grant(args.account, plan=args.plan, until=start, ref=ref)
            if ref is not None:
                print(credit_line(credited), file=sys.stderr)
        elif args.command == "revoke":
            await entitlements.revoke(args.account)
        plan, until = await entitlements.lookup(args.account)
        status = status_of(plan, until, datetime.now(UTC))
    except RedisError as exc:
        print(f"paywall {args.command}: store error: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()
    if until is None:
        print(f"{args.account}: {status}")
    else:
        ends = until.astimezone(config.timezone) - timedelta(microseconds=1)
        if not status.lapsed:
            print(f"{args.account}: {status} until {ends:%Y-%m-%d} ({config.timezone})")
        else:
            print(f"{args.account}: {status} ({plan} ended {ends:%Y-%m-%d}, {config.timezone})")
    return 0


def _check(path: Path, against: Path | None) -> int:
    from .config import load_config

    try:
        config = load_config(path)
        if against is not None:
            running = check_against(path, against)
            if running:
                raise ConfigError(running)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    templates = config.templates_dir or "the shipped defaults"
    tested = f", {len(config.experiments.all)} experiments" if config.experiments.all else ""
    print(
        f"{path}: OK ({len(config.rules)} content rules, {len(config.offers)} offers{tested},"
        f" limit {config.limit} a {config.period}, templates: {templates})"
    )
    return 0


def _demo(host: str, port: int, config_path: Path | None, simulate: int | None) -> int:
    import uvicorn

    from .admin.auth import MIN_TOKEN_CHARS
    from .config import load_config
    from .demo.app import DEMO_CONFIG, build_demo
    from .demo.traffic import DEFAULT_DAYS, Simulated

    path = config_path or DEMO_CONFIG
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not os.environ.get(config.startup.secret_env, "").strip():
        os.environ[config.startup.secret_env] = secrets.token_urlsafe(32)
        print(
            f"paywall demo: {config.startup.secret_env} is not set; using a throwaway signing key"
            " (reader cookies stop being valid when the demo restarts)",
            file=sys.stderr,
        )
    token_env = config.analytics.admin_token_env
    token = os.environ.get(token_env, "").strip()
    if not token:
        token = os.environ[token_env] = secrets.token_urlsafe(24)
        print(
            f"paywall demo: {token_env} is not set; generated an admin token for this run: {token}",
            file=sys.stderr,
        )
    elif len(token) < MIN_TOKEN_CHARS:
        print(
            f"paywall demo: {token_env} is shorter than {MIN_TOKEN_CHARS} characters;"
            " the dashboard stays off",
            file=sys.stderr,
        )
    embedded = not config.startup.store_url or config.startup.store_url.startswith("memory:")
    days = simulate if simulate is not None else (DEFAULT_DAYS if embedded else 0)

    def announce(done: Simulated) -> None:
        print(
            f"paywall demo: {done.requests} simulated requests from {done.start} to {done.end}"
            f" ({done.conversions} conversions) in {done.seconds:.1f} s",
            file=sys.stderr,
        )

    print(f"paywall demo: http://{host}:{port}/  (config: {path})", file=sys.stderr)
    if config.analytics.enabled:
        print(
            f"paywall demo: dashboard at http://{host}:{port}{config.analytics.prefix}/admin/"
            f" (admin token: the value of {token_env})",
            file=sys.stderr,
        )
    app = build_demo(path, simulate_days=days, announce=announce)
    # No X-Forwarded-For from anyone: uvicorn would otherwise believe it from loopback, and a
    # "Googlebot" with a forged X-Forwarded-For would pass as a verified crawler.
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
