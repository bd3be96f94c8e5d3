"""What a view's experiment arms change, decided per view without building anything: which
experiments are in force that day, for whom and in which sections, and the settings of the
arms a reader is in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paywall.config import load_config
from paywall.experiments.assign import Experiments
from paywall.names import Audience, Prompt
from paywall.prompts import PromptContext
from paywall.settings import Config

from .conftest import CONFIG

EXPERIMENTS = """
  - {id: annual, headline: Annual, url: /annual, audience: [anonymous, registered]}
experiments:
  - id: limit
    starts: 2027-01-01
    ends: 2027-01-31
    applies_to: {audience: [anonymous], sections: [news]}
    arms:
      - {name: control, weight: 1}
      - {name: five, weight: 1, meter: {limit: 5}}
  - id: wording
    starts: 2027-01-10
    applies_to: {audience: [anonymous, registered]}
    arms:
      - {name: control, weight: 1}
      - name: urgent
        weight: 1
        offers: [annual, trial-3m]
        templates: {subscribe: urgent.html}
        teaser_paragraphs: 1
  - id: signed-in
    starts: 2027-01-01
    applies_to: {audience: [registered, trial_expired, access_expired]}
    arms:
      - {name: control, weight: 1}
      - {name: eight, weight: 1, meter: {registered_limit: 8}}
"""
JAN_5 = datetime(2027, 1, 5, 3, tzinfo=UTC)  # noon in Tokyo
JAN_15 = datetime(2027, 1, 15, 3, tzinfo=UTC)
FEB_5 = datetime(2027, 2, 5, 3, tzinfo=UTC)


@pytest.fixture
def config(config_file: Callable[..., Path], tmp_path: Path) -> Config:
    (tmp_path / "urgent.html").write_text("<p>Now or never</p>", encoding="utf-8")
    text = CONFIG.replace("access: metered}", "access: metered, section: news}")
    return load_config(config_file(text.replace("store:\n", EXPERIMENTS + "store:\n", 1)))


def readers_in(experiments: Experiments, experiment: str, arm: str, count: int = 3) -> list[str]:
    found = experiments.get(experiment)
    assert found is not None
    ids = (f"reader-{n:010d}" for n in range(10_000))
    return [r for r in ids if found.arm_of(r).name == arm][:count]


def test_no_experiments_no_variant(config_file: Callable[..., Path]) -> None:
    plain = load_config(config_file()).experiments
    assert (
        not plain.configured and plain.variant("r", False, JAN_5, "/articles/x", "metered") is None
    )


def test_an_anonymous_view_gets_the_arms_of_the_experiments_in_force(config: Config) -> None:
    experiments = config.experiments
    for reader in readers_in(experiments, "limit", "five"):
        variant = experiments.variant(reader, False, JAN_5, "/articles/x", "metered")
        assert variant is not None and variant.arms == (("limit", "five"),)
        assert variant.limit_for(False, 3) == 5 and variant.limit_for(True, 3) == 3
        assert variant.ref == "limit=five"
        later = experiments.variant(reader, False, FEB_5, "/articles/x", "metered")
        assert later is None or "limit" not in dict(later.arms)  # ended
        assert experiments.variant(reader, False, JAN_5, "/premium/x", "premium") is None


def test_arms_of_several_experiments_combine(config: Config) -> None:
    experiments = config.experiments
    limit = experiments.get("limit")
    wording = experiments.get("wording")
    assert limit is not None and wording is not None
    reader = next(
        r
        for r in readers_in(experiments, "limit", "five", 50)
        if wording.arm_of(r).name == "urgent"
    )
    variant = experiments.variant(reader, False, JAN_15, "/articles/x", "metered")
    assert variant is not None
    assert variant.arms == (("limit", "five"), ("wording", "urgent"))
    assert (variant.experiment_label, variant.arm_label) == ("limit+wording", "five+urgent")
    assert variant.limit_for(False, 3) == 5 and variant.teaser_paragraphs == 1
    assert [offer.id for offer in variant.offers or ()] == ["annual", "trial-3m"]
    assert variant.prompts is not None
    context = PromptContext(1, 3, True, "P", "month", "/s", "/r", ())
    assert "Now or never" in variant.prompts.render(Prompt.SUBSCRIBE, context)
    assert "Now or never" not in config.prompts.render(Prompt.SUBSCRIBE, context)
    # The same arms give the same object: nothing is built per view.
    assert experiments.variant(reader, False, JAN_15, "/articles/x", "metered") is variant


def test_signed_in_views_get_signed_in_experiments_narrowed_after_the_meter(config: Config) -> None:
    experiments = config.experiments
    reader = readers_in(experiments, "signed-in", "eight")[0]
    variant = experiments.variant(reader, True, JAN_15, "/articles/x", "metered")
    assert variant is not None
    assert {e for e, _ in variant.arms} == {"wording", "signed-in"}  # not the anonymous one
    assert variant.limit_for(True, 5) == 8
    lapsed = experiments.narrow(variant, Audience.TRIAL_EXPIRED)
    assert lapsed is not None and [e for e, _ in lapsed.arms] == ["signed-in"]  # wording: not
    assert lapsed.limit_for(True, 5) == 8
    assert experiments.narrow(variant, Audience.REGISTERED) is variant
    assert experiments.narrow(variant, Audience.TRIAL_EXPIRED) is lapsed  # kept


def test_a_winner_applies_to_everyone_and_is_counted_for_no_one(
    config_file: Callable[..., Path],
) -> None:
    text = CONFIG.replace("store:\n", EXPERIMENTS + "store:\n", 1)
    text = text.replace("access: metered}", "access: metered, section: news}")
    text = text.replace("    ends: 2027-01-31\n", "    ends: 2027-01-31\n    winner: five\n", 1)
    (config_file().parent / "urgent.html").write_text("<p>x</p>", encoding="utf-8")
    experiments = load_config(config_file(text)).experiments
    for n in range(20):
        variant = experiments.variant(f"reader-{n}", False, FEB_5, "/articles/x", "metered")
        assert variant is not None and variant.limit_for(False, 3) == 5  # after `ends`, too
        assert "limit" not in dict(variant.arms) and "limit=" not in variant.ref


def test_the_day_is_the_configs_time_zone(config: Config) -> None:
    # 2027-01-09 23:30 in Tokyo is still 2027-01-09 14:30 UTC; the wording test starts the 10th.
    before = datetime(2027, 1, 9, 14, 30, tzinfo=UTC)
    after = datetime(2027, 1, 9, 15, 30, tzinfo=UTC)  # 00:30 on the 10th in Tokyo
    reader = readers_in(config.experiments, "wording", "urgent")[0]
    early = config.experiments.variant(reader, True, before, "/articles/x", "metered")
    late = config.experiments.variant(reader, True, after, "/articles/x", "metered")
    assert early is not None and ("wording", "urgent") not in early.arms
    assert late is not None and ("wording", "urgent") in late.arms
