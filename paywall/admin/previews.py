"""The dashboard's Preview page: a form (an article's path, a state, experiment arms) that
makes the signed links `paywall preview-url` prints, through the same function
(`paywall.sharing.cli.preview_url`, the same checks), so an editor can see an article as a
reader in that state would, without touching any meter. No state chosen: one link per
state the config can show. Making a link changes nothing in the store, so the form is a GET.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from ..names import Prompt
from ..settings import Config
from ..sharing.articles import NotAnArticle, gated_article
from ..sharing.cli import preview_url
from ..sharing.previews import MissingAdminToken
from .pages import Page

# What a reader in each state sees, in the form's words (a prompt added later shows its name).
STATES: dict[Prompt, str] = {
    Prompt.METER: "Meter banner: free articles left",
    Prompt.LAST_FREE: "Last free article",
    Prompt.SUBSCRIBE: "Subscribe wall: the meter used up",
    Prompt.REGISTER: "Registration wall",
    Prompt.TRIAL_EXPIRED: "Trial expired: win-back wall",
    Prompt.ACCESS_EXPIRED: "Subscription lapsed: win-back wall",
    Prompt.GIFT: "Subscriber, with the gift control",
    Prompt.GIFTED: "Opened through a gift link",
}


def shown_prompts(config: Config) -> tuple[Prompt, ...]:
    """Every prompt `config` can show: gift and gifted only with gifts on, register only with
    `meter.registration_wall` (what `preview_url` refuses otherwise)."""
    gifts = config.sharing.gifts.enabled
    return tuple(
        prompt
        for prompt in Prompt
        if (gifts or prompt not in (Prompt.GIFT, Prompt.GIFTED))
        and (config.registration_wall or prompt is not Prompt.REGISTER)
    )


def preview_page(
    config: Config, action: str, query: Sequence[tuple[str, str]], now: datetime, origin: str = ""
) -> Page:
    """The form (sent to `action`), filled in from `query` (`path`, `as`, `arm` as
    EXPERIMENT=ARM, repeatable), and its links or what was wrong; `origin` (`https://host`)
    makes the links shown whole, to copy."""
    path = next((value for name, value in query if name == "path"), "").strip()
    state = next((value for name, value in query if name == "as"), "")
    arms = [value for name, value in query if name == "arm" and value]
    main = _form(config, action, path, state, arms)
    if not path:
        lede = (
            "<p class='lede'>Name an article to see it as a reader in a given state would:"
            " each link is signed with the admin token and works for"
            f" {config.sharing.preview_minutes} minutes, for anyone who has it. Opening one"
            " touches no meter, sets no cookie and counts nothing.</p>"
        )
        return Page("Preview", main + lede)
    try:
        links = _links(config, path, state, arms, now)
    except (NotAnArticle, MissingAdminToken, ValueError) as exc:
        message = f"<p class='notice bad' role='alert' data-error='preview'>{escape(str(exc))}</p>"
        return Page("Preview", main + message)
    article = gated_article(config, path)
    until = (now + timedelta(minutes=config.sharing.preview_minutes)).astimezone(config.timezone)
    lede = (
        f"<p class='lede'>{escape(article.path)} ({article.access}, section"
        f" {escape(article.section)}): each link works until {until:%Y-%m-%d %H:%M}"
        f" ({escape(str(config.timezone))}), for anyone who has it.</p>"
    )
    items = "".join(
        f"<li data-preview='{escape(prompt.value)}'><span class='state'>"
        f"{escape(STATES.get(prompt, prompt.value))} <code>{escape(prompt.value)}</code></span>"
        f"<a href='{escape(url)}' target='_blank' rel='noopener'>Open</a>"
        f"<code class='link'>{escape(origin + url)}</code></li>"
        for prompt, url in links
    )
    return Page("Preview", main + lede + f"<ul class='previews'>{items}</ul>")


def _links(
    config: Config, path: str, state: str, arms: Sequence[str], now: datetime
) -> list[tuple[Prompt, str]]:
    """(prompt, link) for the chosen state, or for every state shown; raises what
    preview_url raises, and ValueError for a state or an arm that is not one."""
    chosen: list[tuple[str, str]] = []
    for text in arms:
        experiment, sep, arm = text.partition("=")
        if not sep or not experiment or not arm:
            raise ValueError(f"an arm is chosen as EXPERIMENT=ARM, not {text!r}")
        chosen.append((experiment, arm))
    if state:
        try:
            prompts: Sequence[Prompt] = (Prompt(state),)
        except ValueError:
            raise ValueError(f"{state!r} is not a state a reader can be in") from None
    else:
        prompts = shown_prompts(config)
    return [
        (prompt, preview_url(config, path, prompt, tuple(chosen), now=now)) for prompt in prompts
    ]


def _form(config: Config, action: str, path: str, state: str, arms: Sequence[str]) -> str:
    every = "<option value=''>Every state</option>"
    options = every + "".join(
        f"<option value='{escape(p.value)}'{' selected' if p.value == state else ''}>"
        f"{escape(STATES.get(p, p.value))}</option>"
        for p in shown_prompts(config)
    )
    selects = ""
    for experiment in config.experiments.all:
        choices = "<option value=''>No arm: the config's own settings</option>" + "".join(
            f"<option value='{escape(value)}'{' selected' if value in arms else ''}>"
            f"{escape(arm.name)}</option>"
            for arm in experiment.arms
            for value in [f"{experiment.id}={arm.name}"]
        )
        selects += (
            f"<label>Experiment {escape(experiment.id)}"
            f" <select name='arm'>{choices}</select></label>"
        )
    return (
        f"<form method='get' action='{escape(action)}' class='preview'>"
        "<label>Article path <input name='path' required placeholder='/articles/some-story'"
        f" value='{escape(path)}'></label>"
        f"<label>State <select name='as'>{options}</select></label>"
        f"{selects}<button type='submit'>Make preview links</button></form>"
    )
