"""Recognising copies of an article's hidden text anywhere else in a page.

A copy is any run of `SHINGLE_WORDS` consecutive words of the hidden text, compared
after the text is reduced to lower-case words: entities, JSON and JavaScript string
escapes, percent-encoding and long base64 runs are decoded first, so a paragraph matches
its copy in markup, a JSON data blob, an inline script or a share link alike. Runs that
short are rare by chance, so an unrelated script that merely shares a word with the
article ("subscription") is never taken for a copy; the price is that a hidden passage
shorter than that is not recognised elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

SHINGLE_WORDS = 8

# Scripts written without spaces between words (Chinese, Japanese, Korean, Thai, Lao,
# Khmer, Burmese) count one character as one word.
_CJK = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
)
_TOKEN = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")
# For the teaser's cap: a run of other characters longer than this counts as several
# words (words joined by dashes or emoji must not make a paragraph one "word").
_LONGEST_WORD = 12
_TEASER_WORD = re.compile(f"[{_CJK}]|[^\\s{_CJK}]{{1,{_LONGEST_WORD}}}")
_REST_OF_WORD = re.compile(f"[^\\s{_CJK}]*(?=\\s|$)")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")  # soft hyphen, zero widths
_STRING_ESCAPE = re.compile(r"\\+(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|.)")
_PERCENT_U = re.compile(r"%u([0-9a-fA-F]{4})")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{60,}={0,2}")
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,500}>")


def strip_markup(text: str) -> str:
    """`text` with anything that looks like a tag replaced by a space (raw text of a
    noscript, a srcdoc): markup's URLs and names are not words of an article."""
    return _TAG.sub(" ", text) if "<" in text else text


def _unescape_string(match: re.Match[str]) -> str:
    code = match.group(1) or match.group(2) or match.group(3)
    if code is not None:
        value = int(code, 16)
        return chr(value) if value < 0x110000 and not 0xD800 <= value < 0xE000 else " "
    return " "  # \n, \t, \", \/ and the like: a separator, never glued to the next word


def normalise(text: str) -> list[str]:
    """The words of `text`, lower-case, with markup-level encodings undone (each up to
    three times over: JSON in a JavaScript string, a share link through a redirector)."""
    for _ in range(3):
        before = text
        if "&" in text:
            text = html.unescape(text)
        if "\\" in text:
            text = _STRING_ESCAPE.sub(_unescape_string, text)
        if "%" in text:
            text = unquote(_PERCENT_U.sub(lambda m: chr(int(m.group(1), 16)), text))
        if text == before:
            break
    text = _INVISIBLE.sub("", text)
    if not text.isascii():  # one spelling of é, of fullwidth letters (NFKC)
        text = unicodedata.normalize("NFKC", text)
    return _TOKEN.findall(text.lower())


def word_count(text: str) -> int:
    """Words as the teaser's cap counts them (a CJK character is one word)."""
    return len(_TEASER_WORD.findall(text))


def cut_after_words(text: str, words: int) -> tuple[str, str]:
    """`text` split after its first `words` words, at a word boundary."""
    if words <= 0:
        return "", text
    for count, match in enumerate(_TEASER_WORD.finditer(text), start=1):
        if count == words:
            end = match.end()
            if len(match.group()) == _LONGEST_WORD:  # finish an ordinary long word
                rest = _REST_OF_WORD.match(text, end)
                end = rest.end() if rest is not None and rest.end() - end <= 40 else end
            return text[:end], text[end:]
    return text, ""


# Base64 decoding is bounded: a page (or a reader's comment on it) full of compressed runs
# must not cost seconds of CPU per walled view.
MAX_RUNS_PER_TEXT = 16
MAX_INFLATED = 64 * 1024


def _decoded_runs(text: str) -> Iterable[str]:
    """Text hidden in long base64 runs (data URIs, serialised state), where it decodes."""
    for run in _BASE64_RUN.findall(text)[:MAX_RUNS_PER_TEXT]:
        padded = run + "=" * (-len(run) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(padded)
            except (binascii.Error, ValueError):
                continue
            if raw[:2] in (b"\x78\x9c", b"\x78\x01", b"\x78\xda", b"\x1f\x8b"):
                raw = _inflate(raw)  # compressed state (zlib, gzip)
            for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                try:
                    yield raw.decode(encoding)
                except UnicodeDecodeError:
                    continue
                break
            break


def _inflate(raw: bytes) -> bytes:
    try:
        return zlib.decompressobj(wbits=47).decompress(raw, MAX_INFLATED)
    except zlib.error:
        return raw


def _shingles(words: list[str]) -> Iterable[int]:
    for start in range(len(words) - SHINGLE_WORDS + 1):
        yield hash(tuple(words[start : start + SHINGLE_WORDS]))


class HiddenText:
    """The hidden text of one walled page, as a set of hashed word runs."""

    def __init__(self, hidden: Iterable[str], visible: Iterable[str] = ()) -> None:
        """`hidden` are the pieces of text the reader must not get; runs that also occur in
        `visible` (the teaser, which the reader gets anyway) are not counted as hidden."""
        # Runs within each piece: a run across two pieces (a tracking pixel's markup, then
        # the next paragraph) is not article text, and would match page furniture.
        runs = {run for piece in hidden for run in _shingles(normalise(piece))}
        runs.difference_update(_shingles(normalise(" ".join(visible))))
        self._runs = frozenset(runs)

    def __bool__(self) -> bool:
        return bool(self._runs)

    def pieces_holding(self, pieces: Sequence[str]) -> set[int]:
        """Which of `pieces` (the texts of a page in document order) hold hidden text, a run
        split over several pieces included: a copy cut up by markup (a <span> per word)
        is still a copy, and every piece it runs through goes."""
        if not self._runs:
            return set()
        words: list[str] = []
        owners: list[int] = []
        for index, piece in enumerate(pieces):
            found = normalise(piece)
            words.extend(found)
            owners.extend([index] * len(found))
        covered = [False] * len(words)
        for start, run in enumerate(_shingles(words)):
            if run in self._runs:
                covered[start : start + SHINGLE_WORDS] = [True] * SHINGLE_WORDS
        # A piece goes when the copy runs through three or more of its words, or covers it
        # whole with the copy going on at both sides (a word in a <span>): a paragraph that
        # merely starts with the word the copy next to it would go on with stays.
        spans: dict[int, list[int]] = {}
        for position, owner in enumerate(owners):
            spans.setdefault(owner, []).append(position)
        holding = set()
        for owner, positions in spans.items():
            hits = sum(covered[p] for p in positions)
            first, last = positions[0], positions[-1]
            inside = (
                hits == len(positions)
                and first > 0
                and covered[first - 1]
                and last + 1 < len(covered)
                and covered[last + 1]
            )
            if hits >= 3 or inside:
                holding.add(owner)
        holding.update(
            index
            for index, piece in enumerate(pieces)
            if index not in holding and self._found_encoded(piece)
        )
        return holding

    def found_in(self, text: str) -> bool:
        """Does `text` (any text-bearing part of a page) hold a copy of the hidden text?"""
        if not self._runs or len(text) < SHINGLE_WORDS:
            return False
        if any(run in self._runs for run in _shingles(normalise(text))):
            return True
        return self._found_encoded(text)

    def _found_encoded(self, text: str) -> bool:
        """Copies a plain reading misses: split by markup in a string, or in base64."""
        if len(text) < SHINGLE_WORDS:
            return False
        # Markup inside a string or attribute (document.write, srcdoc) can split a copy.
        if "<" in text and any(
            run in self._runs for run in _shingles(normalise(_TAG.sub(" ", text)))
        ):
            return True
        return any(
            run in self._runs
            for decoded in _decoded_runs(text)
            for run in _shingles(normalise(decoded))
        )
