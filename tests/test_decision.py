"""decision.py: each verdict of the store becomes one Decision, the value that is logged,
counted and turned into the response."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paywall.config import load_config
from paywall.decision import Decision, Result, Who, decide
from paywall.names import Audience, Prompt, Status
from paywall.settings import Access, Config
from paywall.store import Outcome, Verdict

from .conftest import CONFIG

NOW = datetime(2030, 1, 15, 12, tzinfo=UTC)  # the conftest offer ends 2099-06-30


@pytest.fixture
def config(config_file: Callable[..., Path]) -> Config:
    return load_config(config_file())  # limit 3, anonymous and registered offers


def decided(
    config: Config,
    outcome: Outcome,
    views: int = 0,
    status: Status = Status.NONE,
    *,
    signed_in: bool = False,
    access: Access = "metered",
    degraded: bool = False,
) -> Decision:
    verdict = Verdict(outcome, views, status)
    return decide(
        verdict, signed_in=signed_in, access=access, config=config, now=NOW, degraded=degraded
    )


@pytest.mark.parametrize(
    ("outcome", "views", "result", "prompt", "left"),
    [
        (Outcome.COUNTED, 1, Result.BANNER, Prompt.METER, 2),
        (Outcome.COUNTED, 3, Result.LAST_FREE, Prompt.LAST_FREE, 0),
        (Outcome.LIMIT_USED, 3, Result.WALLED_LIMIT, Prompt.SUBSCRIBE, 0),
        (Outcome.PREMIUM_WALLED, 0, Result.WALLED_PREMIUM, Prompt.SUBSCRIBE, 3),
    ],
)
def test_each_verdict_gets_its_prompt(
    config: Config, outcome: Outcome, views: int, result: Result, prompt: Prompt, left: int
) -> None:
    decision = decided(config, outcome, views)
    assert (decision.who, decision.result, decision.prompt) == (Who.ANONYMOUS, result, prompt)
    assert decision.audience is Audience.ANONYMOUS
    assert decision.context is not None and decision.context.articles_left == left
    assert decision.walled == prompt.walls


@pytest.mark.parametrize(
    ("outcome", "result"),
    [(Outcome.ALREADY_READ, Result.ALREADY_READ), (Outcome.ENTITLED, Result.ENTITLED)],
)
def test_full_articles_carry_no_prompt_and_no_offers(
    config: Config, outcome: Outcome, result: Result
) -> None:
    decision = decided(config, outcome, 2, signed_in=True)
    assert decision == Decision(Who.ACCOUNT, "metered", result)
    assert not decision.walled and decision.offers == ()


@pytest.mark.parametrize(
    ("status", "prompt", "audience"),
    [
        (Status.NONE, Prompt.SUBSCRIBE, Audience.REGISTERED),
        (Status.TRIAL_EXPIRED, Prompt.TRIAL_EXPIRED, Audience.TRIAL_EXPIRED),
        (Status.ACCESS_EXPIRED, Prompt.ACCESS_EXPIRED, Audience.ACCESS_EXPIRED),
    ],
)
def test_lapsed_accounts_meet_their_own_wall(
    config: Config, status: Status, prompt: Prompt, audience: Audience
) -> None:
    decision = decided(config, Outcome.PREMIUM_WALLED, 0, status, signed_in=True, access="premium")
    assert (decision.prompt, decision.audience) == (prompt, audience)
    assert decision.result is Result.WALLED_PREMIUM


def test_offers_shown_are_the_audiences_and_named_in_the_decision(config: Config) -> None:
    walled = decided(config, Outcome.LIMIT_USED, 3)
    assert walled.offers == ("trial-3m",)
    lapsed = decided(config, Outcome.LIMIT_USED, 3, Status.ACCESS_EXPIRED, signed_in=True)
    assert lapsed.offers == ()  # the conftest offer is for anonymous and registered readers
    banner = decided(config, Outcome.COUNTED, 1)
    assert banner.offers == ()  # a meter banner shows no offers


def test_registration_wall_for_anonymous_readers_only(config_file: Callable[..., Path]) -> None:
    text = CONFIG.replace(
        "  timezone: Asia/Tokyo\n", "  timezone: Asia/Tokyo\n  registration_wall: true\n"
    )
    config = load_config(config_file(text))
    anonymous = decided(config, Outcome.LIMIT_USED, 3)
    assert (anonymous.result, anonymous.prompt) == (Result.REGISTER_WALL, Prompt.REGISTER)
    account = decided(config, Outcome.LIMIT_USED, 3, signed_in=True)
    assert account.prompt is Prompt.SUBSCRIBE


def test_a_decision_reached_without_the_store_says_so(config: Config) -> None:
    decision = decided(config, Outcome.LIMIT_USED, 3, degraded=True)
    assert decision.result is Result.WALLED_LIMIT and decision.prompt is Prompt.SUBSCRIBE
    assert decision.degraded and decision.label == "degraded"  # counted as degraded
    assert decided(config, Outcome.LIMIT_USED, 3).label == "walled_limit"


def test_the_log_line_names_no_reader(config: Config) -> None:
    line = decided(config, Outcome.LIMIT_USED, 3).describe()
    assert line == (
        "anonymous metered walled_limit prompt=subscribe audience=anonymous offers=trial-3m"
    )


def test_an_arm_decides_with_its_own_limit_and_offers(config_file: Callable[..., Path]) -> None:
    text = CONFIG.replace("store:\n", """\
  - {id: annual, headline: Annual, url: /annual}
experiments:
  - id: limits
    starts: 2030-01-01
    arms:
      - {name: control, weight: 1}
      - {name: more, weight: 1, meter: {limit: 5}, offers: [annual]}
store:
""")  # fmt: skip
    config = load_config(config_file(text))
    experiment = config.experiments.get("limits")
    assert experiment is not None
    reader = next(f"r{n}" for n in range(100) if experiment.arm_of(f"r{n}").name == "more")
    variant = config.experiments.variant(reader, False, NOW, "/articles/x", "metered")
    assert variant is not None
    common = {"signed_in": False, "access": "metered", "config": config, "now": NOW}
    fourth = decide(Verdict(Outcome.COUNTED, 4, Status.NONE), variant=variant, **common)  # type: ignore[arg-type]
    assert fourth.result is Result.BANNER and fourth.context is not None
    assert (fourth.context.limit, fourth.context.articles_left) == (5, 1)
    assert fourth.arms == (("limits", "more"),)
    walled = decide(
        Verdict(Outcome.LIMIT_USED, 5, Status.NONE),
        variant=variant,
        exposed=variant.arms,
        **common,  # type: ignore[arg-type]
    )
    assert walled.offers == ("annual",) and walled.exposed == (("limits", "more"),)
    plain = decide(Verdict(Outcome.LIMIT_USED, 3, Status.NONE), **common)  # type: ignore[arg-type]
    assert plain.offers == ("trial-3m", "annual") and plain.arms == ()
    entitled = decide(Verdict(Outcome.ENTITLED, 0, Status.NONE), variant=variant, **common)  # type: ignore[arg-type]
    assert entitled.arms == ()  # nothing of an experiment reaches a subscriber
