"""JSON-LD: article text hidden from walled readers, the paywall declared to crawlers."""

from __future__ import annotations

import pytest

from paywall.jsonld import GATED_PART, Unreadable, paywall_block, rewrite_block


def test_article_objects_are_marked_and_their_text_hidden() -> None:
    raw = '{"@type": "NewsArticle", "headline": "H", "articleBody": "secret", "text": "secret"}'
    value, found = rewrite_block(raw, hide_text=True, mark=True)
    assert found
    assert value == {
        "@type": "NewsArticle",
        "headline": "H",
        "isAccessibleForFree": False,
        "hasPart": GATED_PART,
    }


def test_graphs_and_type_lists_are_understood() -> None:
    raw = (
        '{"@graph": [{"@type": "WebSite", "name": "S"},'
        ' {"@type": ["Article", "Thing"], "articleBody": "secret"}]}'
    )
    value, found = rewrite_block(raw, hide_text=False, mark=True)
    assert found
    website, article = value["@graph"]
    assert "isAccessibleForFree" not in website
    assert article["articleBody"] == "secret" and article["hasPart"] == GATED_PART


def test_nothing_to_change_returns_none() -> None:
    assert rewrite_block('{"@type": "Organization"}', hide_text=True, mark=True) == (None, False)


def test_not_json() -> None:
    with pytest.raises(Unreadable):
        rewrite_block("{not json", hide_text=True, mark=True)


def test_the_block_for_pages_without_json_ld() -> None:
    block = paywall_block()
    assert block["isAccessibleForFree"] is False
    assert block["hasPart"]["cssSelector"] == ".paywall-gated"


def test_odd_types_are_not_an_error() -> None:
    raw = '{"@type": [{"@id": "x"}, "NewsArticle"], "articleBody": "secret"}'
    value, found = rewrite_block(raw, hide_text=True, mark=True)
    assert found and "articleBody" not in value
