"""The upstream's response headers, read in one pass and written back in one.

A metered response reads a few headers by name (Content-Type, Content-Length, X-Paywall…)
and rewrites a few (Cache-Control, Vary, the validators, Set-Cookie). Going through
Starlette's `MutableHeaders` for each costs a scan of the whole list per access, several
per view; `ResponseHeaders` sorts the list once into the named headers and the rest, and
`raw()` builds the list that goes out.
"""

from __future__ import annotations

from .names import OVERRIDE_HEADER

RawHeaders = list[tuple[bytes, bytes]]

_OVERRIDE = OVERRIDE_HEADER.encode()
_VALIDATORS = frozenset({b"etag", b"last-modified"})
_COMBINED = frozenset({b"cache-control", b"vary"})  # repeated: one list, comma-separated
_SINGLE = frozenset({b"content-type", b"content-length", b"content-encoding", _OVERRIDE})


class ResponseHeaders:
    """The upstream's headers (names lower-cased: some frameworks send "Content-Type")."""

    __slots__ = ("_named", "cookies", "others", "personal", "validators")

    def __init__(self, raw: RawHeaders) -> None:
        self._named: dict[bytes, bytes] = {}
        self.others: RawHeaders = []  # everything not named above, in order (Set-Cookie too)
        self.validators: RawHeaders = []  # ETag, Last-Modified: dropped once personalised
        self.cookies: list[bytes] = []  # Set-Cookie values the paywall adds
        self.personal = False  # Cache-Control and Vary are the paywall's (see personalise)
        named = self._named
        for key, value in raw:
            name = key.lower()
            if name in _SINGLE:
                named.setdefault(name, value)  # the first, as MutableHeaders.get reads it
            elif name in _COMBINED:
                named[name] = named[name] + b", " + value if name in named else value
            elif name in _VALIDATORS:
                self.validators.append((name, value))
            else:
                self.others.append((name, value))

    def get(self, name: bytes) -> str | None:
        """A named header's value (the names in _SINGLE and _COMBINED), as text."""
        value = self._named.get(name)
        return None if value is None else value.decode("latin-1")

    def set(self, name: bytes, value: str | None) -> None:
        """Set (or, with None, remove) a named header."""
        if value is None:
            self._named.pop(name, None)
        else:
            self._named[name] = value.encode("latin-1")

    @property
    def override(self) -> str | None:
        """The upstream's X-Paywall value; it never goes out."""
        return self.get(_OVERRIDE)

    def personalise(self) -> None:
        """Mark the response as one reader's: never stored by a shared cache, revalidated by
        the browser, varying by cookie, and without validators (a 304 would skip the meter)."""
        cache_control = self.get(b"cache-control") or ""
        directives = "private, no-cache"
        if "no-store" in cache_control.lower():
            directives += ", no-store"
        self.set(b"cache-control", directives)
        vary = self.get(b"vary")
        if not vary:
            self.set(b"vary", "Cookie")
        elif "cookie" not in vary.lower():
            self.set(b"vary", f"{vary}, Cookie")
        self.personal = True

    def raw(self) -> RawHeaders:
        """The headers that go out: all but X-Paywall, with the paywall's changes."""
        out = list(self.others)
        out += [(name, value) for name, value in self._named.items() if name != _OVERRIDE]
        if not self.personal:
            out += self.validators
        out += [(b"set-cookie", cookie) for cookie in self.cookies]
        return out
