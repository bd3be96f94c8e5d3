"""Who is reading: a random id in an itsdangerous-signed cookie, or the signed-in account."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from .exchange import cookie_attributes, cookie_value
from .native import mypyc_attr
from .signing import CookieSigner

_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{16,64}(\|[A-Za-z0-9_-]{8})?")
_MAX_COOKIE_VALUE = 512


@mypyc_attr(native_class=False)  # mypyc compiles no subclass of this builtin
class MissingSecretError(RuntimeError):
    """No cookie signing keys in the environment."""


def secret_keys(env_name: str) -> list[str]:
    """The comma-separated keys in `env_name`, the signing key first."""
    keys = [key.strip() for key in os.environ.get(env_name, "").split(",") if key.strip()]
    if not keys:
        raise MissingSecretError(
            f"paywall: no cookie signing keys: set the environment variable {env_name}"
            " (comma-separated, the first key signs)"
        )
    return keys


@dataclass(frozen=True)
class Reader:
    """Who is reading: an account when signed in, else the cookie's random id."""

    reader_id: str
    account: str | None = None

    @property
    def tag(self) -> str:
        """The Redis Cluster hash tag shared by all of this reader's keys."""
        if self.account is not None:
            return "{a:" + self.account + "}"
        return "{r:" + self.reader_id + "}"


@dataclass(frozen=True)
class Identified:
    reader: Reader
    cookie: str | None  # a payload to (re)sign into the cookie on this response, if any
    merge_from: str | None = None  # an anonymous reader id whose views join the account's
    new: bool = False  # no valid cookie came with the request: a reader id was just minted
    summary: str | None = None  # a Set-Cookie value for the summary cookie, when it changed

    def with_summary(self, summary: str) -> Identified:
        """The same, with a summary cookie to set (dataclasses.replace costs more, per view)."""
        return Identified(self.reader, self.cookie, self.merge_from, self.new, summary)


class ReaderCookie:
    """Signs and verifies the reader cookie; every key verifies, the first one signs.

    The payload is the random reader id, plus, once that browser's anonymous views
    have been merged into an account, a short mark of the account ("id|mark"). A reader
    who arrives signed in without a cookie gets an id derived from the account instead
    (`account_reader_id`); `mint` makes the random ones.
    """

    def __init__(
        self,
        keys: list[str],
        name: str,
        *,
        secure: bool,
        max_age: int,
        mint: Callable[[], str] | None = None,
    ) -> None:
        self._signer = CookieSigner(keys, salt="paywall.reader")
        self._keys = keys
        self.mint = mint or new_reader_id
        self.name = name
        self._needle = name.encode("latin-1") + b"="
        self._attributes = cookie_attributes(max_age=max_age, secure=secure)

    def identify(self, headers: Iterable[tuple[bytes, bytes]], account: str | None) -> Identified:
        """The reader behind a request; a missing, forged or odd cookie means a new reader."""
        raw = cookie_value(headers, self._needle)
        verified = self._verify(raw) if raw is not None else None
        if verified is None:
            reader_id = self.mint() if account is None else account_reader_id(self._keys, account)
            return Identified(Reader(reader_id, account), _payload(reader_id, account), new=True)
        payload, current = verified
        reader_id, _, mark = payload.partition("|")
        wanted = _payload(reader_id, account)
        if account is not None and mark != _account_mark(account):
            return Identified(Reader(reader_id, account), wanted, merge_from=reader_id)
        fresh = wanted != payload or not current  # re-signed with the current key
        return Identified(Reader(reader_id, account), wanted if fresh else None)

    def header(self, payload: str) -> bytes:
        """A Set-Cookie header value carrying `payload`, signed with the current key."""
        value = self._signer.sign(payload.encode()).decode()
        return f"{self.name}={value}; {self._attributes}".encode("latin-1")

    def _verify(self, raw: bytes) -> tuple[str, bool] | None:
        """The cookie's payload and whether the current key signed it; None if not valid."""
        if len(raw) > _MAX_COOKIE_VALUE:
            return None
        unsigned = self._signer.unsign_current(raw)
        if unsigned is None or not unsigned[0].isascii():
            return None
        payload = unsigned[0].decode("ascii")
        return (payload, unsigned[1]) if _PAYLOAD.fullmatch(payload) else None


def _payload(reader_id: str, account: str | None) -> str:
    return reader_id if account is None else f"{reader_id}|{_account_mark(account)}"


def _account_mark(account: str) -> str:
    digest = hashlib.blake2b(account.encode("utf-8", "surrogateescape"), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode()


def article_id_key(keys: list[str]) -> bytes:
    """The secret that keys article ids, from the OLDEST signing key: prepending a new key
    leaves ids alone; dropping the old one re-keys them (re-reads in that period count)."""
    return hashlib.sha256(b"paywall article ids\0" + keys[-1].encode()).digest()


def account_reader_id(keys: list[str], account: str) -> str:
    """The reader id of a signed-in reader who came without a reader cookie: the same on
    every such view and device (a client that keeps no cookies, a new browser signed in
    already), so its experiment arms hold still. Keyed with a secret from the oldest
    signing key, as article ids are: nobody can compute another account's id."""
    key = hashlib.sha256(b"paywall account reader ids\0" + keys[-1].encode()).digest()
    digest = hashlib.blake2b(account.encode("utf-8", "surrogateescape"), digest_size=12, key=key)
    return base64.urlsafe_b64encode(digest.digest()).decode()


def new_reader_id() -> str:
    """96 random bits, 16 characters: unguessable, and short, since every meter key
    carries it (Redis memory per reader is a stated budget)."""
    return secrets.token_urlsafe(12)


def account_of(scope: MutableMapping[str, Any]) -> str | None:
    """The signed-in account from Starlette's AuthenticationMiddleware, if any."""
    user = scope.get("user")
    if user is None:
        return None
    try:
        if not user.is_authenticated:
            return None
        identity = user.identity
    except Exception:  # a user class without is_authenticated/identity: treat as anonymous
        return None
    return None if identity is None or identity == "" else str(identity)
