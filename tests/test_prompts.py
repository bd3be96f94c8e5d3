"""The prompt fragments: the strict Mustache compiler, template folders, and the shipped set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from paywall.config import load_config
from paywall.names import Audience
from paywall.prompts import (
    PROMPT_NAMES,
    PromptContext,
    Prompts,
    TemplateSyntaxError,
    compile_template,
    default_templates_dir,
    load_prompts,
    render,
)

WriteConfig = Callable[..., Path]


def show(text: str, **context: Any) -> str:
    return render(compile_template(text), [context])


def loaded(folder: Path | None, offer_keys: frozenset[str] = frozenset()) -> Prompts:
    prompts, problems = load_prompts(folder, offer_keys)
    assert problems == []
    assert prompts is not None
    return prompts


def load_problems(folder: Path, offer_keys: frozenset[str] = frozenset()) -> list[str]:
    prompts, problems = load_prompts(folder, offer_keys)
    assert prompts is None
    assert problems
    return problems


# -- the compiler ----------------------------------------------------------------------


def test_variables() -> None:
    assert show("Hello {{name}}, {{ count }} left", name="Ann", count=3) == "Hello Ann, 3 left"


def test_zero_renders_and_missing_or_false_renders_nothing() -> None:
    assert show("[{{n}}]", n=0) == "[0]"
    assert show("[{{n}}]") == "[]"
    assert show("[{{n}}]", n=None) == "[]"
    assert show("[{{n}}]", n=False) == "[]"


def test_section_over_a_list() -> None:
    text = "<ul>{{#offers}}<li>{{headline}} of {{publication}}</li>{{/offers}}</ul>"
    out = show(
        text,
        publication="Gazette",
        offers=[{"headline": "One"}, {"headline": "Two"}],
    )
    assert out == "<ul><li>One of Gazette</li><li>Two of Gazette</li></ul>"
    assert show(text, publication="Gazette", offers=[]) == "<ul></ul>"


def test_section_on_a_value_shows_when_truthy() -> None:
    text = "{{#ends}}Offer ends {{ends}}{{/ends}}"
    assert show(text, ends="June 30th") == "Offer ends June 30th"
    assert show(text, ends="") == ""


def test_inverted_section() -> None:
    text = "{{#offers}}{{id}} {{/offers}}{{^offers}}No offers today{{/offers}}"
    assert show(text, offers=[]) == "No offers today"
    assert show(text, offers=[{"id": "a"}, {"id": "b"}]) == "a b "


def test_comments_render_nothing() -> None:
    assert show("a{{! a note for editors }}b{{!\n  spanning lines\n}}c") == "abc"


def test_values_are_html_escaped() -> None:
    out = show(
        '<h2>{{headline}}</h2><a href="{{url}}">x</a>',
        headline="<script>alert(1)</script>",
        url='/x?a=1&b="2"',
    )
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert 'href="/x?a=1&amp;b=&quot;2&quot;"' in out


@pytest.mark.parametrize("text", ["a {{{headline}}} b", "a {{&headline}} b", "{{& headline}}"])
def test_unescaped_tags_are_rejected(text: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="unescaped"):
        compile_template(text)


@pytest.mark.parametrize("text", ["{{>footer}}", "{{=<% %>=}}"])
def test_partials_and_delimiter_changes_are_rejected(text: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="not supported"):
        compile_template(text)


def test_unclosed_section_names_its_opening_line() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template("<p>one</p>\n<p>two</p>\n{{#offers}}\n<p>{{headline}}</p>\n")
    assert caught.value.line == 3
    assert "never closed" in str(caught.value)
    assert str(caught.value).startswith("line 3:")


def test_mismatched_section_names_the_closing_line() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template("{{#offers}}\n{{#ends}}\n{{/offers}}\n{{/ends}}\n")
    assert caught.value.line == 3
    assert "closes no open section" in str(caught.value)


def test_close_without_open() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template("x\n{{/offers}}")
    assert caught.value.line == 2


@pytest.mark.parametrize("text", ["{{}}", "{{ two words }}", "{{#}}x{{/}}"])
def test_bad_placeholders(text: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        compile_template(text)


@pytest.mark.parametrize("text", ["Hello {{name", "Hello {{ name }", "a\n{{#offers}"])
def test_unterminated_tag_is_rejected_not_shown_raw(text: str) -> None:
    # A reader must never see a raw "{{name": a tag that never closes is an error.
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template(text)
    assert caught.value.line == text.count("\n") + 1


# -- loading a template folder ---------------------------------------------------------


def test_shipped_templates_load() -> None:
    prompts = loaded(None)
    assert set(prompts.templates) == set(PROMPT_NAMES)
    assert {p.stem for p in default_templates_dir().glob("*.html")} == set(PROMPT_NAMES)


def test_wrapper_element_carries_the_prompt_name() -> None:
    prompts = loaded(None)
    for name in PROMPT_NAMES:
        html = prompts.render(name, {"offers": [], "publication": "P", "period": "month"})
        assert html.startswith("<div ")
        assert f'data-paywall="{name}"' in html
        assert html.endswith("</div>")
        assert html.count("data-paywall=") == 1


def prompt_context(left: int, offers: tuple[dict[str, Any], ...] = ()) -> PromptContext:
    return PromptContext(left, 5, False, "The Gazette", "month", "/subscribe", "/register", offers)


def test_fragments_are_rendered_once_and_stay_true_to_their_context() -> None:
    prompts = loaded(None)
    trial = {
        "id": "trial",
        "headline": "Try 3 months for $9",
        "url": "/t",
        "ends": "",
        "starts": "",
    }
    three, two = (
        prompts.render("meter", prompt_context(3)),
        prompts.render("meter", prompt_context(2)),
    )
    assert "3 free articles" in three and "2 free articles" in two
    assert prompts.render("meter", prompt_context(3)) is three  # kept, not rendered again
    walled = prompts.render("subscribe", prompt_context(0, (trial,)))
    assert "Try 3 months for $9" in walled
    assert "Try 3 months" not in prompts.render("subscribe", prompt_context(0))
    assert prompts.render("meter", prompt_context(3)) == prompts.render(
        "meter", dict_of(prompt_context(3))
    )


def test_fragment_cache_is_bounded() -> None:
    prompts = loaded(None)
    for left in range(Prompts.CACHED_FRAGMENTS + 10):
        assert f"{left} free article" in prompts.render("meter", prompt_context(left))
    assert len(prompts._rendered) <= Prompts.CACHED_FRAGMENTS


def dict_of(ctx: PromptContext) -> dict[str, Any]:
    return ctx.variables()


def test_missing_files_fall_back_to_the_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "meter.html").write_text("<p>{{numberArticlesLeft}} to go</p>", encoding="utf-8")
    prompts = loaded(tmp_path)
    assert "5 to go" in prompts.render("meter", {"numberArticlesLeft": 5})
    last = prompts.render("last-free", {"period": "week"})
    assert "This is your last free article this week" in last


def test_custom_stylesheet_replaces_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "paywall.css").write_text(".paywall-prompt{color:red}", encoding="utf-8")
    html = loaded(tmp_path).render("last-free", {"period": "day"})
    assert "<style>.paywall-prompt{color:red}</style>" in html


def test_stylesheet_cannot_break_out_of_its_style_element(tmp_path: Path) -> None:
    (tmp_path / "paywall.css").write_text("a{}</style><script>x()</script>", encoding="utf-8")
    assert any("paywall.css" in p for p in load_problems(tmp_path))


def test_unknown_placeholder_names_file_and_line(tmp_path: Path) -> None:
    meter = tmp_path / "meter.html"
    meter.write_text("<p>Hello</p>\n<p>\n  {{readerName}}</p>\n", encoding="utf-8")
    problems = load_problems(tmp_path)
    assert problems == [f"{meter}:3: unknown placeholder {{{{readerName}}}}: nothing fills it"]


def test_unknown_section_name_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "subscribe.html"
    page.write_text("{{#deals}}{{headline}}{{/deals}}", encoding="utf-8")
    problems = load_problems(tmp_path)
    assert any(p.startswith(f"{page}:1: ") and "deals" in p for p in problems)


def test_syntax_error_in_a_template_names_file_and_line(tmp_path: Path) -> None:
    page = tmp_path / "trial-expired.html"
    page.write_text("<h2>Expired</h2>\n{{{publication}}}\n", encoding="utf-8")
    problems = load_problems(tmp_path)
    assert problems == [f"{page}:2: unescaped output ({{{{{{…}}}}}} or {{{{&…}}}}) is not allowed"]


def test_offer_keys_are_known_only_inside_offers(tmp_path: Path) -> None:
    page = tmp_path / "subscribe.html"
    page.write_text(
        "{{#offers}}<a href='{{url}}'>{{headline}}</a> {{price}} {{ends}}{{/offers}}",
        encoding="utf-8",
    )
    prompts = loaded(tmp_path, frozenset({"price"}))
    html = prompts.render("subscribe", {"offers": [{"url": "/s", "headline": "H", "price": "$9"}]})
    assert "<a href='/s'>H</a> $9 " in html

    page.write_text("<p>{{price}}</p>\n{{#offers}}{{price}}{{/offers}}", encoding="utf-8")
    assert load_problems(tmp_path, frozenset({"price"})) == [
        f"{page}:1: unknown placeholder {{{{price}}}}: nothing fills it"
    ]
    page.write_text("{{headline}}", encoding="utf-8")
    assert "headline" in load_problems(tmp_path)[0]
    # Inside an inverted {{^offers}} there is no offer, so offer keys are unknown there.
    page.write_text("{{^offers}}{{headline}}{{/offers}}", encoding="utf-8")
    assert "headline" in load_problems(tmp_path)[0]


def test_stray_template_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "metre.html").write_text("<p>typo</p>", encoding="utf-8")
    problems = load_problems(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'metre.html'}: ")
    assert "meter" in problems[0]


def test_every_problem_is_reported(tmp_path: Path) -> None:
    (tmp_path / "meter.html").write_text("{{a}}\n{{b}}", encoding="utf-8")
    (tmp_path / "last-free.html").write_text("{{#offers}}", encoding="utf-8")
    (tmp_path / "metre.html").write_text("", encoding="utf-8")
    problems = load_problems(tmp_path)
    assert len(problems) == 4, problems


def test_missing_folder(tmp_path: Path) -> None:
    prompts, problems = load_prompts(tmp_path / "nope", frozenset())
    assert prompts is None
    assert problems and str(tmp_path / "nope") in problems[0]


# -- the shipped templates say what the contract says ----------------------------------


@pytest.fixture
def gazette(config_file: WriteConfig) -> Any:
    return load_config(config_file())


def context(config: Any, left: int, audience: str = "anonymous") -> dict[str, Any]:
    """What the middleware passes to a prompt."""
    return {
        "numberArticlesLeft": left,
        "numberArticlesLeft-plural": "" if left == 1 else "s",
        "publication": config.publication,
        "limit": config.limit,
        "period": config.period,
        "subscribe_url": config.subscribe_url,
        "offers": config.offers_for(Audience(audience), date(2099, 6, 1)),
    }


def test_meter_sentence(gazette: Any) -> None:
    html = gazette.prompts.render("meter", context(gazette, 3))
    assert "You have 3 free articles left this month" in html
    assert 'data-paywall="meter"' in html
    assert "{{" not in html


def test_meter_sentence_singular(gazette: Any) -> None:
    html = gazette.prompts.render("meter", context(gazette, 1))
    assert "You have 1 free article left this month" in html


def test_last_free_sentence(gazette: Any) -> None:
    html = gazette.prompts.render("last-free", context(gazette, 0))
    assert "This is your last free article this month" in html
    assert 'data-paywall="last-free"' in html


def test_trial_expired_sentence(gazette: Any) -> None:
    html = gazette.prompts.render("trial-expired", context(gazette, 0, "trial_expired"))
    assert "Your trial period has expired" in html
    assert 'data-paywall="trial-expired"' in html


def test_access_expired_sentence(gazette: Any) -> None:
    html = gazette.prompts.render("access-expired", context(gazette, 0, "access_expired"))
    assert "Your full access to The Test Gazette has expired" in html
    assert 'data-paywall="access-expired"' in html


def test_subscribe_lists_the_offers(gazette: Any) -> None:
    html = gazette.prompts.render("subscribe", context(gazette, 0))
    assert 'data-paywall="subscribe"' in html
    assert 'href="/subscribe?offer=trial-3m"' in html
    assert "Try 3 months for $9" in html
    assert "Offer ends June 30th" in html
    assert "{{" not in html
    # An audience the offer is not for sees no offer.
    other = gazette.prompts.render("subscribe", context(gazette, 0, "trial_expired"))
    assert "trial-3m" not in other


def test_offer_headline_is_escaped_in_the_shipped_template(
    config_file: WriteConfig, base_text: str
) -> None:
    text = base_text.replace("Try 3 months for $9", '"<script>alert(1)</script>"')
    config = load_config(config_file(text))
    html = config.prompts.render("subscribe", context(config, 0))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_publication_name_is_escaped(config_file: WriteConfig, base_text: str) -> None:
    text = base_text.replace("The Test Gazette", '"Times & <b>Sons</b>"')
    config = load_config(config_file(text))
    html = config.prompts.render("access-expired", context(config, 0))
    assert "Your full access to Times &amp; &lt;b&gt;Sons&lt;/b&gt; has expired" in html


@pytest.fixture
def base_text(config_file: WriteConfig) -> str:
    return config_file().read_text(encoding="utf-8")


def test_an_arm_replaces_one_prompts_template_and_keeps_the_rest(tmp_path: Path) -> None:
    from paywall.prompts import compile_variant

    base, problems = load_prompts(None, frozenset())
    assert base is not None and problems == []
    variant = tmp_path / "subscribe.urgent.html"
    variant.write_text("<p>Last chance for {{publication}}</p>", encoding="utf-8")
    errors: list[str] = []
    nodes = compile_variant(variant, frozenset(), errors)
    assert nodes is not None and errors == []
    arm = base.with_templates({"subscribe": nodes})
    context = PromptContext(0, 3, True, "The Gazette", "month", "/s", "/r", ())
    assert "Last chance for The Gazette" in arm.render("subscribe", context)
    assert "Last chance" not in base.render("subscribe", context)
    assert arm.render("meter", context) == base.render("meter", context)
    assert 'data-paywall="subscribe"' in arm.render("subscribe", context)  # same wrapper
    # Variants may live in the templates folder beside the prompts; other names may not.
    assert load_prompts(tmp_path, frozenset())[1] == []
    (tmp_path / "subscrib.html").write_text("x", encoding="utf-8")
    assert "not a prompt name" in load_prompts(tmp_path, frozenset())[1][0]
