"""The dashboard's Preview page through the middleware: closed without the admin token; its
links, opened by anyone, show the article in the chosen state (or one link per state the
config can show) and spend nothing: no meter, no cookie, no count; what was wrong with the
form said on the page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from paywall import PaywallMiddleware
from paywall.admin.previews import shown_prompts
from paywall.config import load_config
from paywall.names import Prompt
from paywall.sharing.cli import preview_url

from .conftest import CONFIG, article_site, client_for
from .sharing_traffic import NOW, SHARING

pytestmark = pytest.mark.anyio

TOKEN = "test-admin-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
ON = CONFIG + "analytics:\n  enabled: true\n"
EVERYTHING = SHARING.replace("limit: 3", "limit: 3\n  registration_wall: true")
EXPERIMENT = """experiments:
  - id: limits
    starts: 2027-01-10
    arms:
      - {name: control, weight: 1}
      - {name: five, weight: 1, meter: {limit: 5}}
"""
_LINKS = re.compile(r"<li data-preview='([a-z-]+)'>.*?<a href='([^']+)'")
_ERROR = re.compile(r"<p class='notice bad' role='alert' data-error='preview'>(.*?)</p>")


class Site:
    """The sample site behind a paywall at a fixed time, and its store."""

    def __init__(self, store: Any, config: Path, prefix: str) -> None:
        self.paywall = PaywallMiddleware(article_site, config=config, redis=store)
        self.paywall.clock = lambda: NOW
        self.store = store
        self.prefix = prefix

    def browser(self) -> httpx.AsyncClient:
        return client_for(self.paywall)

    async def page(self, query: str) -> httpx.Response:
        async with self.browser() as browser:
            return await browser.get(f"/paywall/admin/preview?{query}", headers=BEARER)

    async def links(self, query: str) -> dict[str, str]:
        """The page's preview links by state."""
        page = await self.page(query)
        assert page.status_code == 200, page.text
        return {state: unescape(url) for state, url in _LINKS.findall(page.text)}

    async def keys(self) -> set[bytes]:
        await self.paywall.analytics.flush()  # whatever was counted, in the store
        return {key async for key in self.store.scan_iter(match=self.prefix + "*")}


@pytest.fixture
async def site(
    store: Any, config_file: Callable[..., Path], prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[str], Site]]:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", TOKEN)
    made: list[Site] = []

    def build(text: str = ON) -> Site:
        made.append(Site(store, config_file(text), prefix))
        return made[-1]

    yield build
    for one in made:
        await one.paywall.analytics.aclose()


async def test_the_page_needs_the_admin_token(site: Callable[[str], Site]) -> None:
    paywall = site(ON)
    query = "/paywall/admin/preview?path=%2Farticles%2Fx&as=subscribe"
    async with paywall.browser() as browser:
        anonymous = await browser.get(query)
        wrong = await browser.get(query, headers={"Authorization": f"Bearer {TOKEN}x"})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/paywall/admin/login?next=")
    assert wrong.status_code == 401
    for refused in (anonymous, wrong):
        assert "paywall_preview" not in refused.text


async def test_a_link_shows_the_state_and_spends_nothing(site: Callable[[str], Site]) -> None:
    paywall = site(ON)
    links = await paywall.links("path=%2Farticles%2Fbig-story&as=subscribe")
    assert list(links) == ["subscribe"]
    assert links["subscribe"].startswith("/articles/big-story?paywall_preview=")
    before = await paywall.keys()
    async with paywall.browser() as editor:  # someone with the link, no token, no cookie
        for _ in range(5):  # more than the meter's limit: still the preview, every time
            shown = await editor.get(links["subscribe"])
            assert shown.status_code == 200 and 'data-paywall="subscribe"' in shown.text
            assert "set-cookie" not in shown.headers
            assert "secret-text-3" not in shown.text  # the wall, as a walled reader sees it
    after = await paywall.keys()
    assert after == before  # no meter, no reader, no count
    assert not [key for key in after if b":m:" in key]


async def test_every_state_the_config_shows_without_a_choice(
    site: Callable[[str], Site],
) -> None:
    plain = site(ON)
    assert list(await plain.links("path=%2Farticles%2Fx")) == [
        "meter", "last-free", "subscribe", "trial-expired", "access-expired",
    ]  # fmt: skip
    everything = site(EVERYTHING)
    links = await everything.links("path=%2Fpremium%2Fp1")
    assert list(links) == [prompt.value for prompt in Prompt]  # gifts and register too
    before = await everything.keys()
    async with everything.browser() as editor:
        for state, url in links.items():
            shown = await editor.get(url)
            assert f'data-paywall="{state}"' in shown.text, state
    assert await everything.keys() == before


async def test_the_states_listed_are_those_preview_url_makes(
    config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", TOKEN)
    for text in (ON, EVERYTHING):
        config = load_config(config_file(text))
        listed = shown_prompts(config)
        for prompt in Prompt:
            if prompt in listed:
                assert preview_url(config, "/articles/x", prompt, now=NOW)
            else:
                with pytest.raises(ValueError):
                    preview_url(config, "/articles/x", prompt, now=NOW)


async def test_an_arm_shows_its_own_settings(site: Callable[[str], Site]) -> None:
    paywall = site(ON + EXPERIMENT)
    form = await paywall.page("")
    assert "<select name='arm'>" in form.text and "value='limits=five'" in form.text
    plain = await paywall.links("path=%2Farticles%2Fx&as=meter")
    five = await paywall.links("path=%2Farticles%2Fx&as=meter&arm=limits%3Dfive")
    assert plain["meter"] != five["meter"]
    async with paywall.browser() as editor:
        assert "You have 2 free articles left" in (await editor.get(plain["meter"])).text
        assert "You have 4 free articles left" in (await editor.get(five["meter"])).text


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("path=%2Fsponsored%2Fx", "/sponsored/x is free to read under the content rules"),
        ("path=https%3A%2F%2Fevil.example%2Fx", "is not a path of this site"),
        ("path=articles%2Fx", "is not a path of this site"),
        ("path=%2Farticles%2Fx&as=register", "register is shown only with meter.registration_wall"),
        ("path=%2Farticles%2Fx&as=gifted", "gifted is shown only with gifts: on"),
        ("path=%2Farticles%2Fx&as=paid", "&#x27;paid&#x27; is not a state a reader can be in"),
        ("path=%2Farticles%2Fx&arm=limits", "an arm is chosen as EXPERIMENT=ARM"),
        ("path=%2Farticles%2Fx&arm=limits%3Dten", "experiment &#x27;limits&#x27; has no arm"),
    ],
)
async def test_what_was_wrong_is_said_on_the_page(
    site: Callable[[str], Site], query: str, said: str
) -> None:
    page = await site(ON + EXPERIMENT).page(query)
    assert page.status_code == 200
    error = _ERROR.search(page.text)
    assert error and said in error.group(1), page.text
    assert "paywall_preview=" not in page.text
    assert "<form method='get' action='/paywall/admin/preview'" in page.text  # to try again


async def test_what_was_typed_is_escaped(site: Callable[[str], Site]) -> None:
    page = await site(ON).page("path=%2Farticles%2F%3Cscript%3Ex%3C%2Fscript%3E%27")
    assert "<script>x" not in page.text and "&lt;script&gt;x&lt;/script&gt;" in page.text
    assert "value='/articles/&lt;script&gt;x&lt;/script&gt;&#x27;'" in page.text


async def test_the_page_is_in_the_nav_without_a_range(site: Callable[[str], Site]) -> None:
    paywall = site(ON)
    async with paywall.browser() as browser:
        funnel = await browser.get("/paywall/admin/?from=2027-01-01", headers=BEARER)
    assert "href='/paywall/admin/preview?from=2027-01-01'>Preview</a>" in funnel.text
    page = await paywall.page("path=%2Farticles%2Fx&as=meter")
    assert "<h1>Preview</h1>" in page.text and "aria-current=page>Preview<" in page.text
    assert "class='range'" not in page.text  # no days to choose
    assert "works until 2027-01-20 12:15 (Asia/Tokyo)" in page.text  # previews.minutes: 15
    assert "https://news.test/articles/x?paywall_preview=" in page.text  # whole, to copy
    assert "unsafe-inline" not in page.headers["content-security-policy"]
