"""Previews for editors: a signed, short-lived URL that shows one article in one prompt's
state (and, optionally, experiment arms) without touching any meter.

`paywall preview-url PATH --as PROMPT` and the dashboard make them: the article's URL with
`?paywall_preview=TOKEN`. The token names the prompt, the arms, when it expires and a digest
of the article's id, signed with the admin token (`admin.token_env`) under a salt of its
own, mixed with the cookie signing keys (a leaked link is no help in guessing the admin
token offline), so only someone holding the dashboard's key can make one, and a changed
token stops every link made with the old one. A preview view reaches no store, sets no
cookie, and is not counted by analytics; any token that does not check out is ignored (a
metered view).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import parse_qsl

from ..admin.auth import MIN_TOKEN_CHARS
from ..decision import Decision, Result, Who, context_for, gift_control
from ..experiments.assign import Variant
from ..identity import MissingSecretError, secret_keys
from ..names import Audience, Prompt
from ..settings import Access, Config
from ..signing import CookieSigner

PREVIEW_PARAMETER = "paywall_preview"
_NEEDLE = (PREVIEW_PARAMETER + "=").encode()
_MAX_TOKEN = 1024


@dataclass(frozen=True)
class Preview:
    """What a preview token asks to show."""

    prompt: Prompt
    arms: tuple[tuple[str, str], ...]
    expires: int  # unix seconds
    digest: bytes  # of the article's id


class MissingAdminToken(RuntimeError):
    """Previews are signed with the admin token and the cookie keys, and one is missing."""


def preview_keys(config: Config) -> list[str]:
    """The keys previews are signed with: the admin token mixed with each cookie signing key
    (the first signs; rotating cookie keys keeps links working as it does cookies). Raises
    MissingAdminToken, naming the variable, when either is unset."""
    env_name = config.analytics.admin_token_env
    token = os.environ.get(env_name, "").strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise MissingAdminToken(
            f"previews are signed with the admin token: set {env_name}"
            f" (at least {MIN_TOKEN_CHARS} characters)"
        )
    try:
        keys = secret_keys(config.startup.secret_env)
    except MissingSecretError as exc:
        raise MissingAdminToken(str(exc).removeprefix("paywall: ")) from exc
    mixed = b"paywall preview\0" + token.encode() + b"\0"
    return [hashlib.sha256(mixed + key.encode()).hexdigest() for key in keys]


class PreviewTokens:
    """Signs and reads preview tokens with `keys` (`preview_keys`)."""

    def __init__(self, keys: list[str]) -> None:
        self._signer = CookieSigner(keys, salt="paywall.preview")

    def sign(self, article: str, preview: Preview) -> str:
        fields = [preview.prompt.value, [list(arm) for arm in preview.arms], preview.expires]
        payload = json.dumps([*fields, _b64(_digest(article)).decode()], separators=(",", ":"))
        return self._signer.sign(_b64(payload.encode())).decode("ascii")

    def read(self, token: str) -> Preview | None:
        if len(token) > _MAX_TOKEN or not token.isascii():
            return None
        unsigned = self._signer.unsign_current(token.encode("ascii"))
        if unsigned is None:
            return None
        try:
            prompt, arms, expires, digest = json.loads(_unb64(unsigned[0]))
            return Preview(
                Prompt(prompt),
                tuple((str(e), str(a)) for e, a in arms),
                int(expires),
                _unb64(digest.encode("ascii")),
            )
        except (ValueError, TypeError, binascii.Error):
            return None


def preview_token(query_string: bytes) -> str | None:
    """The `paywall_preview` parameter of a query, if any (cheap when there is none)."""
    if _NEEDLE not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1")):
        if name == PREVIEW_PARAMETER:
            return value
    return None


def previewed(
    config: Config, token: str, article: str, article_path: str, access: Access, now: datetime
) -> Decision | None:
    """The decision a preview token shows for this article, or None when the token is not
    one the current admin token signed for it, or has expired."""
    try:
        keys = preview_keys(config)
    except MissingAdminToken:
        return None
    preview = PreviewTokens(keys).read(token)
    if preview is None or now.timestamp() >= preview.expires:
        return None
    if not hmac.compare_digest(preview.digest, _digest(article)):
        return None
    variant = config.experiments.chosen(preview.arms) if preview.arms else None
    if preview.arms and variant is None:  # an arm no longer configured: nothing to show
        return None
    return shown(config, preview.prompt, access, now, variant, article_path)


def shown(
    config: Config,
    prompt: Prompt,
    access: Access,
    now: datetime,
    arms: Variant | None = None,
    article_path: str = "",
) -> Decision:
    """The decision a reader in `prompt`'s state would get on this page (under `arms`)."""
    signed_in = prompt in _SIGNED_IN
    who = Who.ACCOUNT if signed_in else Who.ANONYMOUS
    limit = config.limit_for(signed_in)
    if arms is not None:
        limit = arms.limit_for(signed_in, limit)
    if prompt is Prompt.GIFT:
        entitled = Decision(Who.ACCOUNT, access, Result.ENTITLED)
        return replace(gift_control(entitled, config, 0, article_path), preview=True)
    audience = _AUDIENCES.get(prompt, Audience.ANONYMOUS)
    left = {Prompt.METER: max(limit - 1, 1)}.get(prompt, 0)
    used = prompt is not Prompt.GIFTED and access == "metered"
    context = context_for(config, left, limit, used, audience, now, arms)
    result = _RESULTS[prompt]
    if result is Result.WALLED_LIMIT and access == "premium":
        result = Result.WALLED_PREMIUM
    return Decision(who, access, result, prompt, audience, context, variant=arms, preview=True)


_SIGNED_IN = frozenset({Prompt.TRIAL_EXPIRED, Prompt.ACCESS_EXPIRED, Prompt.GIFT})
_AUDIENCES = {
    Prompt.TRIAL_EXPIRED: Audience.TRIAL_EXPIRED,
    Prompt.ACCESS_EXPIRED: Audience.ACCESS_EXPIRED,
}
_RESULTS = {
    Prompt.METER: Result.BANNER,
    Prompt.LAST_FREE: Result.LAST_FREE,
    Prompt.SUBSCRIBE: Result.WALLED_LIMIT,
    Prompt.REGISTER: Result.REGISTER_WALL,
    Prompt.TRIAL_EXPIRED: Result.WALLED_LIMIT,
    Prompt.ACCESS_EXPIRED: Result.WALLED_LIMIT,
    Prompt.GIFTED: Result.GIFT,
}


def _digest(article: str) -> bytes:
    data = article.encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=8, person=b"paywall-preview").digest()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
