"""Who is reading: a random id in an itsdangerous-signed cookie, or the signed-in account."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, Signer

from .store import Reader

_READER_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_MAX_COOKIE_VALUE = 512


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
class Identified:
    reader: Reader
    set_cookie: bool  # the reader needs a (new or re-signed) cookie on this response


class ReaderCookie:
    """Signs and verifies the reader cookie; every key verifies, the first one signs."""

    def __init__(self, keys: list[str], name: str, *, secure: bool, max_age: int) -> None:
        # itsdangerous signs with the LAST key of the list; ours signs with the first.
        self._signer = Signer(list(reversed(keys)), salt="paywall.reader")
        self.name = name
        self._needle = name.encode("latin-1") + b"="
        attributes = f"Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
        self._attributes = attributes + ("; Secure" if secure else "")

    def identify(self, headers: Iterable[tuple[bytes, bytes]], account: str | None) -> Identified:
        """The reader behind a request; a missing, forged or odd cookie means a new reader."""
        raw = self._cookie_value(headers)
        reader_id = self._verify(raw) if raw is not None else None
        if reader_id is None:
            return Identified(Reader(new_reader_id(), account), set_cookie=True)
        resign = raw != self._signer.sign(reader_id.encode())
        return Identified(Reader(reader_id, account), set_cookie=resign)

    def header(self, reader_id: str) -> bytes:
        """A Set-Cookie header value carrying `reader_id`, signed with the current key."""
        value = self._signer.sign(reader_id.encode()).decode()
        return f"{self.name}={value}; {self._attributes}".encode("latin-1")

    def _cookie_value(self, headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
        for key, value in headers:
            if key != b"cookie" or self._needle not in value:
                continue
            for pair in value.split(b";"):
                pair = pair.strip()
                if pair.startswith(self._needle):
                    return pair[len(self._needle) :].strip(b'"')
        return None

    def _verify(self, raw: bytes) -> str | None:
        if len(raw) > _MAX_COOKIE_VALUE:
            return None
        try:
            reader_id = self._signer.unsign(raw).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None
        return reader_id if _READER_ID.fullmatch(reader_id) else None


def new_reader_id() -> str:
    return secrets.token_urlsafe(16)


def account_of(scope: MutableMapping[str, Any]) -> str | None:
    """The signed-in account from Starlette's AuthenticationMiddleware, if any."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    identity = getattr(user, "identity", None)
    if identity is None or identity == "":
        return None
    return str(identity)
