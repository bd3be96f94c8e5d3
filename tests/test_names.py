"""names.py: the strings shared with ops, templates, Redis and HTTP, each typed once."""

from __future__ import annotations

import re
from importlib import resources

from paywall.names import Audience, Plan, Prompt, Status
from paywall.prompts import default_templates_dir
from paywall.settings import AUDIENCES


def test_every_prompt_has_a_shipped_template() -> None:
    shipped = {path.stem for path in default_templates_dir().glob("*.html")}
    assert shipped == {prompt.value for prompt in Prompt}


def test_walls_are_every_prompt_but_the_banners_above_an_article() -> None:
    above = {Prompt.METER, Prompt.LAST_FREE, Prompt.GIFT, Prompt.GIFTED}
    assert {p for p in Prompt if not p.walls} == above


def test_offers_are_shown_on_walls_and_the_gifted_banner_only() -> None:
    walls = {p for p in Prompt if p.walls}
    assert {p for p in Prompt if p.shows_offers} == walls | {Prompt.GIFTED}


def test_lapsed_accounts_get_a_win_back_wall_and_audience() -> None:
    assert Prompt.wall_for(Status.TRIAL_EXPIRED) is Prompt.TRIAL_EXPIRED
    assert Prompt.wall_for(Status.ACCESS_EXPIRED) is Prompt.ACCESS_EXPIRED
    assert Prompt.wall_for(Status.NONE) is Prompt.SUBSCRIBE
    assert Audience.of(False, Status.ACCESS_EXPIRED) is Audience.ANONYMOUS
    assert Audience.of(True, Status.TRIAL_EXPIRED) is Audience.TRIAL_EXPIRED
    assert Audience.of(True, Status.NONE) is Audience.REGISTERED


def test_the_audiences_ops_write_in_the_yaml_keep_their_names() -> None:
    # The YAML's offers[].audience values are a public contract: renaming an enum value
    # would break every config that names it.
    names = [audience.value for audience in Audience]
    assert names == ["anonymous", "registered", "trial_expired", "access_expired"]
    assert tuple(names) == AUDIENCES


def test_statuses_meter_lua_returns_are_the_enum() -> None:
    script = resources.files("paywall.lua").joinpath("meter.lua").read_text(encoding="utf-8")
    assigned = set(re.findall(r"status = '(\w+)'", script))  # every status the script sets
    assert assigned == {"none", "trial_expired", "access_expired"}
    assert all(Status(name) for name in assigned)
    # An entitled reader's status is its plan, read from the entitlement: a Plan value.
    assert {plan.value for plan in Plan} == {Status.TRIAL.value, Status.SUBSCRIPTION.value}
