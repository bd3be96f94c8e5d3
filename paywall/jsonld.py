"""The page's JSON-LD: hide the article text from walled readers and declare the paywall.

Google asks paywalled pages to mark the gated part (`isAccessibleForFree: false` and a
`hasPart` naming it by CSS class) so that showing crawlers the full text is not cloaking.
"""

from __future__ import annotations

import json
from typing import Any

GATED_CLASS = "paywall-gated"
HIDDEN_KEYS = frozenset({"articleBody", "text"})
ARTICLE_TYPES = frozenset(
    {
        "Article",
        "NewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "ReportageNewsArticle",
        "ReviewNewsArticle",
        "BackgroundNewsArticle",
        "BlogPosting",
        "Report",
        "ScholarlyArticle",
        "TechArticle",
    }
)
GATED_PART = {
    "@type": "WebPageElement",
    "isAccessibleForFree": False,
    "cssSelector": "." + GATED_CLASS,
}


class Unreadable(ValueError):
    """A JSON-LD block that is not JSON."""


def rewrite_block(raw: str, *, hide_text: bool, mark: bool) -> tuple[Any, bool]:
    """One JSON-LD block with article objects marked as paywalled (when `mark`) and their
    text removed (when `hide_text`), or None when nothing changed; also whether it held an
    article object. Raises Unreadable for a block that is not JSON."""
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise Unreadable(str(exc)) from exc
    found = [False]
    rewritten = _rewrite(document, hide_text, mark, found)
    return (None if rewritten == document else rewritten), found[0]


def paywall_block() -> dict[str, Any]:
    """A JSON-LD object declaring the page paywalled, for pages that have none of their own."""
    return {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "isAccessibleForFree": False,
        "hasPart": dict(GATED_PART),
    }


def _rewrite(value: Any, hide_text: bool, mark: bool, found: list[bool]) -> Any:
    if isinstance(value, list):
        return [_rewrite(item, hide_text, mark, found) for item in value]
    if not isinstance(value, dict):
        return value
    result = {
        key: _rewrite(item, hide_text, mark, found)
        for key, item in value.items()
        if not (hide_text and key in HIDDEN_KEYS)
    }
    types = value.get("@type")
    listed = types if isinstance(types, list) else [types]
    names = {name for name in listed if isinstance(name, str)}
    if names & ARTICLE_TYPES:
        found[0] = True
        if mark:
            result["isAccessibleForFree"] = False
            result["hasPart"] = dict(GATED_PART)
    return result
