"""A signed summary of the reader's last verdict, kept in a second cookie, for outages.

When the store is really down (the breaker is open, the connection refused, Redis silent
for its budget), the paywall cannot ask who is walled or who has paid. The summary cookie,
`<cookie.name>_s`, carries what the store said last time:

    binding . period . views . used-up . entitled-until [. seen]

signed with the same keys as the reader cookie and another salt (`paywall.summary`), so
it cannot be edited or passed off as a reader cookie. `binding` is a hash of who it is
about (the cookie's reader id, or the account when signed in): a summary shown by another
reader, or by the same browser signed in as someone else, is ignored.

The rule (`degraded`), used only in an outage; outside one the store decides and the
summary is ignored:

- entitled until a time still in the future → the full article, nothing counted;
- the meter of this very period used up (views ≥ the limit when it was signed) → walled,
  on metered pages too (premium pages are walled anyway);
- anything else, or no valid summary for this reader → `on_store_error`.

So a forged, moved or replayed summary gains nothing: a bad signature or another
reader's summary is no summary; an old one can only say "used up" (a wall) or carry an
entitlement that was real when it was signed and has not run out yet (that one survives a
revocation during an outage; it runs out at its own `until`). Dropping the summary cookie
makes an outage treat the reader like one without a summary: `on_store_error`.

It is set (Set-Cookie) only when what it says changes, or when it was signed with an old key.

`seen` marks the experiments this browser was already counted as exposed to (a short token
each, the latest `MAX_SEEN` kept): experiments count each browser once without the store
keeping anything per reader (docs/analytics.md). It belongs to the browser, so it is kept
across sign-in, periods and bindings; outages ignore it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from .exchange import cookie_attributes, cookie_value
from .experiments.model import TOKEN_CHARS
from .identity import Reader
from .names import Status
from .periods import Period
from .signing import CookieSigner
from .store import Outcome, Verdict

MAX_SEEN = 12  # experiment tokens kept in `seen`
_PAYLOAD = re.compile(
    r"([A-Za-z0-9_-]{12})\.([0-9A-Za-z-]{1,16})\.(\d{1,6})\.([01])\.(\d{1,12})"
    rf"(?:\.((?:[A-Za-z0-9_-]{{{TOKEN_CHARS}}}){{1,{MAX_SEEN}}}))?"
)
_MAX_COOKIE_VALUE = 256
_SUFFIX = "_s"


@dataclass(frozen=True)
class Summary:
    binding: str  # binding_of(reader)
    period: str  # Period.id
    views: int  # articles counted this period when it was signed
    used_up: bool  # views ≥ the limit: the next new article would be walled
    entitled_until: int  # unix seconds; 0 when the reader had no active plan
    seen: str = ""  # experiment tokens this browser was counted in, TOKEN_CHARS each

    def payload(self) -> str:
        used = "1" if self.used_up else "0"
        views = min(self.views, 999_999)
        seen = f".{self.seen}" if self.seen else ""
        return f"{self.binding}.{self.period}.{views}.{used}.{self.entitled_until}{seen}"


def was_seen(seen: str, token: str) -> bool:
    """Whether `token` is one of the tokens in `seen` (a match across two is none)."""
    found = seen.find(token)
    while found > 0 and found % TOKEN_CHARS:
        found = seen.find(token, found + 1)
    return found >= 0


def mark_seen(seen: str, tokens: Iterable[str]) -> str:
    """`seen` with `tokens` added, the oldest dropped past MAX_SEEN."""
    return (seen + "".join(tokens))[-MAX_SEEN * TOKEN_CHARS :]


def binding_of(reader: Reader) -> str:
    """Who a summary is about: the account when signed in, else the cookie's reader id."""
    digest = hashlib.blake2b(reader.tag.encode("utf-8", "surrogateescape"), digest_size=9)
    return base64.urlsafe_b64encode(digest.digest()).decode()


def summarise(
    verdict: Verdict,
    reader: Reader,
    period: Period,
    limit: int,
    last: Summary | None,
    seen: str | None = None,
) -> Summary:
    """The summary of a verdict the store just gave. An entitled reader's or a premium
    page's verdict says nothing about the meter (the script does not read it): the meter
    part of `last` (this reader's, this period's) is kept then. `seen` replaces the
    browser's experiment tokens (None: those of `last` are kept)."""
    binding = binding_of(reader)
    outcome = verdict.outcome
    until = verdict.until if outcome == Outcome.ENTITLED else 0
    if seen is None:
        seen = last.seen if last is not None else ""
    if outcome in (Outcome.ENTITLED, Outcome.PREMIUM_WALLED):
        if last is not None and last.binding == binding and last.period == period.id:
            return replace(last, entitled_until=until, seen=seen)
        return Summary(binding, period.id, 0, False, until, seen)
    used_up = outcome == Outcome.LIMIT_USED or verdict.views >= limit
    return Summary(binding, period.id, verdict.views, used_up, 0, seen)


def degraded(
    summary: Summary | None, reader: Reader, period: Period, now: datetime, premium: bool
) -> Verdict | None:
    """What this reader's summary decides while the store is down, or None (on_store_error)."""
    if summary is None or summary.binding != binding_of(reader):
        return None
    if summary.entitled_until > now.timestamp():
        return Verdict(Outcome.ENTITLED, 0, Status.NONE, summary.entitled_until)
    if summary.used_up and summary.period == period.id and not premium:
        return Verdict(Outcome.LIMIT_USED, summary.views, Status.NONE)
    return None


class SummaryCookie:
    """Reads and writes `<name>_s`: every key verifies, the first signs."""

    def __init__(self, keys: list[str], name: str, *, secure: bool, max_age: int) -> None:
        self._signer = CookieSigner(keys, salt="paywall.summary")
        self.name = name + _SUFFIX
        self._needle = self.name.encode("latin-1") + b"="
        self._attributes = cookie_attributes(max_age=max_age, secure=secure)

    def read(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[Summary | None, bool]:
        """The summary the request carries, if valid, and whether it is signed with the
        current key (else it is worth re-signing)."""
        raw = cookie_value(headers, self._needle)
        if raw is None or len(raw) > _MAX_COOKIE_VALUE:
            return None, False
        unsigned = self._signer.unsign_current(raw)
        if unsigned is None or not unsigned[0].isascii():
            return None, False
        payload, current = unsigned[0].decode("ascii"), unsigned[1]
        match = _PAYLOAD.fullmatch(payload)
        if match is None:
            return None, False
        binding, period, views, used, until, seen = match.groups()
        summary = Summary(binding, period, int(views), used == "1", int(until), seen or "")
        return summary, current

    def header(self, summary: Summary) -> str:
        """A Set-Cookie header value carrying `summary`, signed with the current key."""
        value = self._signer.sign(summary.payload().encode()).decode()
        return f"{self.name}={value}; {self._attributes}"
