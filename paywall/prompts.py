"""The prompt fragments: a small, strict Mustache compiler and the set of templates.

Templates are compiled once when the config loads. Every placeholder is checked
against the variables `PromptContext` fills, so a reader never sees a raw `{{name}}`;
all output is HTML-escaped, and unescaped tags (`{{{x}}}`, `{{&x}}`) are refused.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Final

from .names import Prompt

PROMPT_NAMES = tuple(prompt.value for prompt in Prompt)
CLICK_URL = "click_url"  # the offer variable holding the counted link to the offer


@dataclass(frozen=True)
class PromptContext:
    """What one view's prompt is filled with: the one source of the template variables."""

    articles_left: int
    limit: int
    limit_used: bool  # walled by a used-up meter, not by a premium page
    publication: str
    period: str
    subscribe_url: str
    register_url: str
    offers: tuple[Mapping[str, Any], ...]  # each: id, headline, url, starts, ends, extra keys
    # The gift control's (gift.html): the gifts an account has left, where to ask for a link.
    gifts_left: int = 0
    gift_valid_days: int = 0
    gift_url: str = ""
    article_path: str = ""

    def variables(self) -> dict[str, Any]:
        """The variables as templates name them."""
        return {
            "numberArticlesLeft": self.articles_left,
            "numberArticlesLeft-plural": _plural(self.articles_left),
            "publication": self.publication,
            "limit": self.limit,
            "limit-plural": _plural(self.limit),
            "limitUsed": self.limit_used,
            "period": self.period,
            "subscribe_url": self.subscribe_url,
            "register_url": self.register_url,
            "offers": list(self.offers),
            "giftsLeft": self.gifts_left,
            "giftsLeft-plural": _plural(self.gifts_left),
            "giftValidDays": self.gift_valid_days,
            "giftValidDays-plural": _plural(self.gift_valid_days),
            "gift_url": self.gift_url,
            "article_path": self.article_path,
        }

    @cached_property
    def offer_ids(self) -> tuple[str, ...]:
        return tuple(str(offer["id"]) for offer in self.offers)

    @cached_property  # asked for every view that shows a prompt
    def key(self) -> tuple[Any, ...]:
        """What tells two contexts of one config apart (an offer's id and link stand for it)."""
        return (
            self.articles_left,
            self.limit,
            self.limit_used,
            self.publication,
            self.period,
            self.subscribe_url,
            self.register_url,
            tuple((str(offer["id"]), offer.get(CLICK_URL)) for offer in self.offers),
            self.gifts_left,
            self.gift_valid_days,
            self.gift_url,
            self.article_path,
        )


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


TOP_LEVEL_NAMES = frozenset(PromptContext(0, 0, False, "", "", "", "", ()).variables())
OFFER_NAMES = frozenset({"id", "headline", "url", CLICK_URL, "ends", "starts"})
STYLESHEET = "paywall.css"

_TAG = re.compile(
    r"\{\{\{\s*(?P<triple>.*?)\s*\}\}\}|\{\{(?P<sigil>[#^/!&>=]?)\s*(?P<name>.*?)\s*\}\}", re.S
)


@dataclass(frozen=True)
class Var:
    name: str
    line: int


@dataclass(frozen=True)
class Section:
    name: str
    inverted: bool
    body: tuple[Node, ...]
    line: int


Node = str | Var | Section


class TemplateSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def compile_template(text: str) -> tuple[Node, ...]:
    """Parse Mustache text into a tree; raises TemplateSyntaxError naming the line."""
    root: list[Node] = []
    stack: list[tuple[str, bool, int, list[Node]]] = []
    out = root
    pos = 0
    for match in _TAG.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match.start() > pos:
            out.append(_literal(text, pos, match.start()))
        pos = match.end()
        sigil, name = _tag(match, line)
        if sigil == "!":
            continue
        if sigil in ("#", "^"):
            stack.append((name, sigil == "^", line, out))
            out = []
        elif sigil == "/":
            out = _close_section(stack, name, line, out)
        else:
            out.append(Var(name, line))
    if stack:
        raise TemplateSyntaxError(stack[-1][2], f"section {{{{#{stack[-1][0]}}}}} is never closed")
    if pos < len(text):
        out.append(_literal(text, pos, len(text)))
    return tuple(root)


def _tag(match: re.Match[str], line: int) -> tuple[str, str]:
    """A tag's sigil ("" for a placeholder, "!" for a comment) and name; raises
    TemplateSyntaxError for what prompts may not use."""
    if match.group("triple") is not None or match.group("sigil") == "&":
        raise TemplateSyntaxError(line, "unescaped output ({{{…}}} or {{&…}}) is not allowed")
    sigil, name = match.group("sigil"), match.group("name")
    if sigil == "!":
        return sigil, name
    if sigil in (">", "="):
        raise TemplateSyntaxError(
            line, f"partials and delimiter changes are not supported: {{{{{sigil}{name}}}}}"
        )
    if not name or any(c.isspace() for c in name):
        raise TemplateSyntaxError(line, f"bad placeholder {match.group(0)!r}")
    return sigil, name


def _close_section(
    stack: list[tuple[str, bool, int, list[Node]]], name: str, line: int, body: list[Node]
) -> list[Node]:
    """`{{/name}}`: the open section becomes a node of its parent, which is returned."""
    if not stack or stack[-1][0] != name:
        raise TemplateSyntaxError(line, f"{{{{/{name}}}}} closes no open section")
    opened, inverted, open_line, parent = stack.pop()
    parent.append(Section(opened, inverted, tuple(body), open_line))
    return parent


def _literal(text: str, start: int, end: int) -> str:
    """Plain text between tags; a `{{` left in it never closes and would reach readers raw."""
    chunk = text[start:end]
    stray = chunk.find("{{")
    if stray >= 0:
        line = text.count("\n", 0, start + stray) + 1
        raise TemplateSyntaxError(line, "'{{' is never closed with '}}'")
    return chunk


def unknown_names(
    nodes: Sequence[Node], known: frozenset[str], offer_keys: frozenset[str]
) -> list[tuple[int, str]]:
    """(line, name) of each placeholder no one fills; inside {{#offers}} offer keys are known."""
    found: list[tuple[int, str]] = []
    for node in nodes:
        if isinstance(node, Var) and node.name not in known:
            found.append((node.line, node.name))
        elif isinstance(node, Section):
            if node.name not in known:
                found.append((node.line, node.name))
            inner = known | offer_keys if node.name == "offers" and not node.inverted else known
            found.extend(unknown_names(node.body, inner, offer_keys))
    return found


def render(nodes: Sequence[Node], stack: list[Mapping[str, Any]]) -> str:
    """Render a compiled template; `stack` is the context chain, innermost last."""
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
            continue
        value = _lookup(stack, node.name)
        if isinstance(node, Var):
            if value is not None and value is not False:
                parts.append(html.escape(str(value), quote=True))
        elif node.inverted:
            if not value:
                parts.append(render(node.body, stack))
        elif isinstance(value, list | tuple):
            for item in value:
                parts.append(render(node.body, [*stack, item if isinstance(item, Mapping) else {}]))
        elif value:
            pushed = [*stack, value] if isinstance(value, Mapping) else stack
            parts.append(render(node.body, pushed))
    return "".join(parts)


def _lookup(stack: list[Mapping[str, Any]], name: str) -> Any:
    for context in stack[::-1]:  # not reversed(): mypyc 2.4 crashes on it here
        if name in context:
            return context[name]
    return None


class Prompts:
    """The compiled prompt fragments of one config, each wrapped in its data-paywall element.

    Most views show one of a few fragments (a prompt, the articles left, today's offers), so
    those rendered from a `PromptContext` are kept, up to `CACHED_FRAGMENTS`."""

    CACHED_FRAGMENTS: Final = 4096  # Final: a class constant when compiled, as in Python

    def __init__(self, templates: Mapping[str, tuple[Node, ...]], stylesheet: str) -> None:
        self.templates = dict(templates)
        self._stylesheet = stylesheet
        self._style = f"<style>{stylesheet}</style>" if stylesheet.strip() else ""
        self._rendered: dict[tuple[Any, ...], str] = {}

    def with_templates(self, templates: Mapping[str, tuple[Node, ...]]) -> Prompts:
        """The same set with some prompts' templates replaced (an experiment arm's)."""
        return Prompts({**self.templates, **templates}, self._stylesheet)

    def render(self, name: str, context: Mapping[str, Any] | PromptContext) -> str:
        if not isinstance(context, PromptContext):
            return self._render(name, context)
        key = (name, context.key)
        fragment = self._rendered.get(key)
        if fragment is None:
            if len(self._rendered) >= self.CACHED_FRAGMENTS:
                self._rendered.clear()
            fragment = self._rendered[key] = self._render(name, context.variables())
        return fragment

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        body = render(self.templates[name], [context])
        return (
            f'<div class="paywall-prompt paywall-{name}" data-paywall="{name}">'
            f"{self._style}{body}</div>"
        )


def default_templates_dir() -> Path:
    return Path(str(resources.files("paywall.templates")))


def load_prompts(
    directory: Path | None, offer_keys: frozenset[str]
) -> tuple[Prompts | None, list[str]]:
    """Compile the prompt set from `directory` (missing files fall back to the shipped ones).

    Returns the prompts, or None and the error messages, each naming file and line.
    """
    default_dir = default_templates_dir()
    errors: list[str] = []
    if directory is not None:
        if not directory.is_dir():
            return None, [f"{directory}: templates folder does not exist"]
        errors.extend(_strays(directory))
    templates: dict[str, tuple[Node, ...]] = {}
    for name in PROMPT_NAMES:
        path = _pick(directory, default_dir, f"{name}.html")
        nodes = _compile_file(path, OFFER_NAMES | offer_keys, errors)
        if nodes is not None:
            templates[name] = nodes
    stylesheet = _pick(directory, default_dir, STYLESHEET).read_text(encoding="utf-8")
    if "</style" in stylesheet.lower():
        errors.append(f"{STYLESHEET}: must not contain '</style'")
    if errors:
        return None, errors
    return Prompts(templates, stylesheet), []


def _strays(directory: Path) -> list[str]:
    """An error for each .html file in `directory` that is not a prompt's (or a variant of
    one for experiments, named like `subscribe.urgent.html`)."""
    return [
        f"{stray}: not a prompt name; expected one of {', '.join(PROMPT_NAMES)}"
        for stray in sorted(directory.glob("*.html"))
        if stray.stem.split(".")[0] not in PROMPT_NAMES
    ]


def compile_variant(
    path: Path, offer_keys: frozenset[str], errors: list[str]
) -> tuple[Node, ...] | None:
    """An experiment arm's template for a prompt, checked like the prompt's own; its
    problems are added to `errors`."""
    return _compile_file(path, OFFER_NAMES | offer_keys, errors)


def _compile_file(
    path: Path, offer_keys: frozenset[str], errors: list[str]
) -> tuple[Node, ...] | None:
    """The template at `path`, with its errors added to `errors`; None if it cannot be read
    or parsed. Its placeholders must be top-level names, or offer keys inside {{#offers}}."""
    try:
        nodes = compile_template(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{path}: cannot read: {exc}")
        return None
    except TemplateSyntaxError as exc:
        errors.append(f"{path}:{exc.line}: {exc.message}")
        return None
    for line, unknown in unknown_names(nodes, TOP_LEVEL_NAMES, offer_keys):
        errors.append(f"{path}:{line}: unknown placeholder {{{{{unknown}}}}}: nothing fills it")
    return nodes


def _pick(directory: Path | None, default_dir: Path, filename: str) -> Path:
    if directory is not None and (directory / filename).is_file():
        return directory / filename
    return default_dir / filename
