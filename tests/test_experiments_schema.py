"""`experiments:` in the YAML: what is accepted, and every mistake named with its file, line
and key, as `paywall check` and the live reload print it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from paywall.config import load_config
from paywall.names import Audience
from paywall.yamlsource import ConfigError

from .conftest import CONFIG

WriteConfig = Callable[..., Path]

GOOD = """
experiments:
  - id: limit-3-vs-5
    starts: 2027-01-01
    ends: 2027-01-31
    applies_to: {audience: [anonymous], sections: [news]}
    arms:
      - {name: control, weight: 50}
      - {name: five, weight: 50, meter: {limit: 5}}
  - id: wording
    starts: 2027-01-01
    arms:
      - {name: control, weight: 1}
      - {name: urgent, weight: 1, templates: {subscribe: variants/subscribe.urgent.html},
         offers: [trial-3m], teaser_paragraphs: 1}
"""


def with_sections(text: str) -> str:
    return text.replace("access: metered}", "access: metered, section: news}")


def problems_of(config_file: WriteConfig, experiments: str) -> list[str]:
    path = config_file(with_sections(CONFIG) + experiments)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.fixture
def variant(tmp_path: Path) -> Path:
    folder = tmp_path / "variants"
    folder.mkdir()
    path = folder / "subscribe.urgent.html"
    path.write_text("<p>Last chance, {{publication}}!</p>{{#offers}}{{headline}}{{/offers}}")
    return path


def test_a_good_list_is_read(config_file: WriteConfig, variant: Path) -> None:
    config = load_config(config_file(with_sections(CONFIG) + GOOD))
    limit, wording = config.experiments.all
    assert (limit.id, limit.starts, limit.ends) == (
        "limit-3-vs-5",
        date(2027, 1, 1),
        date(2027, 1, 31),
    )
    assert limit.audiences == {Audience.ANONYMOUS} and limit.sections == frozenset({"news"})
    assert [(a.name, a.weight, a.limit) for a in limit.arms] == [
        ("control", 50, None),
        ("five", 50, 5),
    ]
    assert wording.ends is None and wording.sections is None and wording.audiences == set(Audience)
    urgent = wording.arms[1]
    assert urgent.offers == ("trial-3m",) and urgent.teaser_paragraphs == 1
    assert [prompt for prompt, _ in urgent.templates] == ["subscribe"]
    assert config.experiments.files == [variant.resolve()]


def test_no_experiments_is_the_default(config_file: WriteConfig) -> None:
    assert not load_config(config_file()).experiments.configured


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("      - {name: five, weight: 50, meter: {limit: 5}, color: red}",
         "experiments[0].arms[1].color", "cannot be overridden by an arm"),
        ("      - {name: five, weight: 50, meter: {period: week}}",
         "experiments[0].arms[1].meter.period", "cannot be overridden by an arm"),
        ("      - {name: five, weight: 0, meter: {limit: 5}}",
         "experiments[0].arms[1].weight", "expected a whole number ≥ 1"),
        ("      - {name: five, meter: {limit: 5}}",
         "experiments[0].arms[1].weight", "is required"),
        ("      - {name: five, weight: 50, meter: {limit: five}}",
         "experiments[0].arms[1].meter.limit", "expected a whole number"),
        ("      - {name: control, weight: 50, meter: {limit: 5}}",
         "experiments[0].arms[1].name", "named twice"),
        ("      - {name: 'five arms', weight: 50}",
         "experiments[0].arms[1].name", "letters, digits"),
        ("      - {name: five, weight: 50, offers: [nope]}",
         "experiments[0].arms[1].offers[0]", "no offer has id 'nope'"),
        ("      - {name: five, weight: 50, templates: {subscrib: x.html}}",
         "experiments[0].arms[1].templates.subscrib", "unknown key"),
    ],
)  # fmt: skip
def test_arm_mistakes(config_file: WriteConfig, text: str, key: str, message: str) -> None:
    experiments = GOOD.split("  - id: wording")[0].replace(
        "      - {name: five, weight: 50, meter: {limit: 5}}", text
    )
    path = config_file(with_sections(CONFIG) + experiments)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = line_of(path, text.strip())
    assert any(
        p.startswith(f"{path}:{line}: {key}: ") and message in p for p in caught.value.problems
    ), caught.value.problems


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("    starts: 2027-01-01\n    ends", "    ends", "experiments[0].starts", "is required"),
        ("ends: 2027-01-31", "ends: 2026-12-01", "experiments[0].ends", "ends before it starts"),
        ("ends: 2027-01-31", "ends: someday", "experiments[0].ends", "expected a date"),
        ("sections: [news]", "sections: [sport]", "experiments[0].applies_to.sections[0]",
         "no content rule has section 'sport'"),
        ("audience: [anonymous]", "audience: [robots]", "experiments[0].applies_to.audience[0]",
         "unknown audience 'robots'"),
        ("audience: [anonymous]", "audience: [registered]", "experiments[0].applies_to.audience",
         "meter.limit, which only anonymous readers have"),
        ("    arms:\n      - {name: control, weight: 50}\n", "    arms:\n",
         "experiments[0].arms", "at least two arms"),
        ("    starts: 2027-01-01\n    ends", "    winner: six\n    starts: 2027-01-01\n    ends",
         "experiments[0].winner", "'six' is not one of its arms"),
        ("    starts: 2027-01-01\n    ends", "    owner: me\n    starts: 2027-01-01\n    ends",
         "experiments[0].owner", "unknown key"),
        ("  - id: limit-3-vs-5", "  - id: limit 3 vs 5", "experiments[0].id", "letters, digits"),
    ],
)  # fmt: skip
def test_experiment_mistakes(
    config_file: WriteConfig, old: str, new: str, key: str, message: str
) -> None:
    problems = problems_of(config_file, GOOD.split("  - id: wording")[0].replace(old, new))
    assert any(f": {key}: " in p and message in p for p in problems), problems


def test_ids_are_never_used_twice(config_file: WriteConfig) -> None:
    first = GOOD.split("  - id: wording")[0]
    twice = first + first.replace("experiments:\n", "").replace(
        "sections: [news]", "sections: [default]"
    )
    problems = problems_of(config_file, twice)
    assert any(
        "experiments[1].id: experiment id 'limit-3-vs-5' is used twice" in p for p in problems
    )


def test_a_registered_limit_needs_every_signed_in_audience_or_none(
    config_file: WriteConfig,
) -> None:
    text = (
        GOOD.split("  - id: wording")[0]
        .replace("meter: {limit: 5}", "meter: {registered_limit: 8}")
        .replace("audience: [anonymous]", "audience: [anonymous, registered]")
    )
    problems = problems_of(config_file, text)
    assert any("name all of registered, trial_expired and access_expired" in p for p in problems)
    every = text.replace("[anonymous, registered]", "[registered, trial_expired, access_expired]")
    load_config(config_file(with_sections(CONFIG) + every))  # fine


OVERLAP = """
experiments:
  - id: first
    starts: 2027-01-01
    ends: 2027-01-31
    applies_to: {audience: [anonymous]}
    arms:
      - {name: control, weight: 1}
      - {name: five, weight: 1, meter: {limit: 5}}
  - id: second
    starts: 2027-01-20
    applies_to: {audience: [anonymous, registered], sections: [news]}
    arms:
      - {name: control, weight: 1}
      - {name: seven, weight: 1, meter: {limit: 7}}
"""


def test_experiments_setting_the_same_thing_for_the_same_readers_on_the_same_days_overlap(
    config_file: WriteConfig,
) -> None:
    path = config_file(with_sections(CONFIG) + OVERLAP)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = line_of(path, "- id: second")
    assert any(
        p.startswith(
            f"{path}:{line}: experiments[1]: overlaps experiment 'first': both set meter.limit"
        )
        for p in caught.value.problems
    ), caught.value.problems


SIGNED_IN_SECOND = """
  - id: second
    starts: 2027-01-20
    applies_to: {audience: [registered, trial_expired, access_expired]}
    arms:
      - {name: control, weight: 1}
      - {name: seven, weight: 1, meter: {registered_limit: 7}}
"""


@pytest.mark.parametrize(
    "text",
    [
        OVERLAP.replace("starts: 2027-01-20", "starts: 2027-02-01"),  # other days
        OVERLAP.split("  - id: second")[0] + SIGNED_IN_SECOND,  # other readers
        OVERLAP.replace("meter: {limit: 7}", "offers: [trial-3m]"),  # another setting
    ],
)
def test_experiments_apart_do_not_overlap(config_file: WriteConfig, text: str) -> None:
    config = load_config(config_file(with_sections(CONFIG) + text))
    assert [e.id for e in config.experiments.all] == ["first", "second"]


def test_a_winner_runs_on_and_overlaps_what_comes_after(config_file: WriteConfig) -> None:
    text = OVERLAP.replace("starts: 2027-01-20", "starts: 2027-03-01").replace(
        "    ends: 2027-01-31\n", "    ends: 2027-01-31\n    winner: five\n"
    )
    problems = problems_of(config_file, text)
    assert any("overlaps experiment 'first'" in p for p in problems)


def test_an_arms_template_is_checked_like_a_prompts(
    config_file: WriteConfig, variant: Path
) -> None:
    variant.write_text("<p>{{articlesLeft}}</p>")
    problems = problems_of(config_file, GOOD)
    assert any(
        "experiments[1].arms[1].templates.subscribe" in p
        and f"{variant.resolve()}:1: unknown placeholder {{{{articlesLeft}}}}" in p
        for p in problems
    ), problems
    variant.unlink()
    assert any("cannot read" in p for p in problems_of(config_file, GOOD))


def test_variants_may_sit_in_the_templates_folder(config_file: WriteConfig, variant: Path) -> None:
    text = with_sections(CONFIG) + "templates: variants\n" + GOOD
    config = load_config(config_file(text))  # subscribe.urgent.html is no stray
    assert config.experiments.all[1].arms[1].templates


def test_an_empty_list_key_is_an_error_as_for_offers(config_file: WriteConfig) -> None:
    problems = problems_of(config_file, "experiments:\n")
    assert any("experiments: expected a list of experiments" in p for p in problems)
