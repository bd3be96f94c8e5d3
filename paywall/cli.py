"""The `paywall` command: demo, check (and the entitlement commands)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from .yamlsource import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paywall", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the sample news site behind the paywall")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--config", type=Path, help="config file (default: the demo's own)")

    check = commands.add_parser("check", help="validate a config file and its templates")
    check.add_argument("config", type=Path)

    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args.config)
    return _demo(args.host, args.port, args.config)


def _check(path: Path) -> int:
    from .config import load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    templates = config.templates_dir or "the shipped defaults"
    print(
        f"{path}: OK ({len(config.rules)} content rules, {len(config.offers)} offers,"
        f" limit {config.limit} a {config.period}, templates: {templates})"
    )
    return 0


def _demo(host: str, port: int, config_path: Path | None) -> int:
    import uvicorn

    from .config import load_config
    from .demo.app import DEMO_CONFIG, build_demo

    path = config_path or DEMO_CONFIG
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not os.environ.get(config.secret_env, "").strip():
        os.environ[config.secret_env] = secrets.token_urlsafe(32)
        print(
            f"paywall demo: {config.secret_env} is not set; using a throwaway signing key"
            " (reader cookies stop being valid when the demo restarts)",
            file=sys.stderr,
        )
    print(f"paywall demo: http://{host}:{port}/  (config: {path})", file=sys.stderr)
    uvicorn.run(build_demo(path), host=host, port=port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
