"""An article named by its path in a form or on the command line (a gift, a preview):
checked to be a path of this site that the rules gate, with the id the meter counts it by."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .. import routing
from ..settings import Access, Config

MAX_PATH_CHARS = 2048


class NotAnArticle(ValueError):
    """A path that names no gated article of this site; the message says why."""


@dataclass(frozen=True)
class Article:
    """A gated article: its path as given (with its `content.article_query` parameters), the
    id the meter counts it by, its access under the rules and its analytics section."""

    path: str
    key: str
    access: Access
    section: str

    def with_parameter(self, name: str, value: str) -> str:
        """The article's path with `name=value` added to its query."""
        joiner = "&" if "?" in self.path else "?"
        return f"{self.path}{joiner}{name}={value}"


def gated_article(config: Config, text: str) -> Article:
    """The article `text` names (a path, its query optional); raises NotAnArticle."""
    text = text.strip()
    if not text:
        raise NotAnArticle("no path given: name the article, like /articles/some-story")
    try:
        parts = urlsplit(text)
    except ValueError:  # "//[" (a bracket host unclosed), "//a\uff0fb" (NFKC makes a "/")
        raise NotAnArticle(
            f"{text[:80]!r} is not a path of this site, like /articles/some-story"
        ) from None
    if (
        len(text) > MAX_PATH_CHARS
        or parts.scheme
        or parts.netloc
        or not parts.path.startswith("/")
        or text.startswith("//")
        or any(ord(c) < 0x21 or c in "\x7f\\" for c in text)  # "/\\h" is "//h" to browsers
    ):
        raise NotAnArticle(f"{text[:80]!r} is not a path of this site, like /articles/some-story")
    decoded, query_string = unquote(parts.path), parts.query.encode("utf-8")
    request: dict[str, object] = {
        "path": decoded,
        "raw_path": parts.path.encode("utf-8"),
        "query_string": query_string,
    }
    access = routing.access_of(config, request)
    if access == "free":
        raise NotAnArticle(f"{parts.path} is free to read under the content rules")
    query = routing.article_query(query_string, config.article_query)
    path = f"{parts.path}?{query}" if config.article_query and query else parts.path
    key = routing.article_key(request, config.article_query)
    return Article(path, key, access, config.section_for(decoded, access))
