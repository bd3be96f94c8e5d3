"""`paywall preview-url PATH --as PROMPT`: a signed link showing an article in a prompt's
state, for editors (the dashboard's preview page makes the same links)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..names import Prompt
from ..settings import Config
from ..yamlsource import ConfigError
from .articles import NotAnArticle, gated_article
from .previews import PREVIEW_PARAMETER, MissingAdminToken, Preview, PreviewTokens, preview_keys
from .schema import MAX_PREVIEW_MINUTES

PROMPTS = tuple(prompt.value for prompt in Prompt)


def add_preview_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    preview = commands.add_parser(
        "preview-url", help="print a short-lived link showing an article in a prompt's state"
    )
    preview.add_argument("path", help="the article's path, like /articles/some-story")
    preview.add_argument("--as", dest="prompt", required=True, choices=PROMPTS, metavar="PROMPT")
    preview.add_argument(
        "--arm",
        action="append",
        default=[],
        metavar="EXPERIMENT=ARM",
        help="show an experiment arm's wording, offers and teaser (repeatable)",
    )
    preview.add_argument(
        "--minutes", type=int, help="how long the link works (default: previews.minutes, 15)"
    )
    preview.add_argument(
        "--base", default="", help="the site's origin to put first, like https://news.example"
    )
    preview.add_argument("--config", type=Path, default=Path("config/paywall.yaml"))


def preview_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from ..config import load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    arms = []
    for text in args.arm:
        experiment, sep, arm = text.partition("=")
        if not sep or not experiment or not arm:
            parser.error(f"--arm: expected EXPERIMENT=ARM, got {text!r}")
        arms.append((experiment, arm))
    minutes = args.minutes if args.minutes is not None else config.sharing.preview_minutes
    if not 1 <= minutes <= MAX_PREVIEW_MINUTES:
        parser.error(f"--minutes: expected 1 to {MAX_PREVIEW_MINUTES}, got {minutes}")
    try:
        url = preview_url(config, args.path, Prompt(args.prompt), tuple(arms), minutes)
    except (NotAnArticle, MissingAdminToken, ValueError) as exc:
        print(f"paywall preview-url: {exc}", file=sys.stderr)
        return 1
    print(args.base.rstrip("/") + url)
    return 0


def preview_url(
    config: Config,
    path: str,
    prompt: Prompt,
    arms: tuple[tuple[str, str], ...] = (),
    minutes: int | None = None,
    now: datetime | None = None,
) -> str:
    """The preview link for `path` in `prompt`'s state (raises NotAnArticle for a path that
    is not a gated article, MissingAdminToken without the admin token or cookie keys,
    ValueError for an unknown arm or a prompt the config does not use)."""
    article = gated_article(config, path)
    for experiment_id, arm_name in arms:
        experiment = config.experiments.get(experiment_id)
        if experiment is None:
            raise ValueError(f"no experiment {experiment_id!r} in the config")
        if all(arm.name != arm_name for arm in experiment.arms):
            names = ", ".join(arm.name for arm in experiment.arms)
            raise ValueError(f"experiment {experiment_id!r} has no arm {arm_name!r} ({names})")
    if prompt in (Prompt.GIFT, Prompt.GIFTED) and not config.sharing.gifts.enabled:
        raise ValueError(f"{prompt.value} is shown only with gifts: on in the config")
    if prompt is Prompt.REGISTER and not config.registration_wall:
        raise ValueError("register is shown only with meter.registration_wall: true")
    token = PreviewTokens(preview_keys(config))
    moment = now or datetime.now(UTC)
    lifetime = timedelta(minutes=minutes or config.sharing.preview_minutes)
    preview = Preview(prompt, arms, int((moment + lifetime).timestamp()), b"")
    return article.with_parameter(PREVIEW_PARAMETER, token.sign(article.key, preview))
