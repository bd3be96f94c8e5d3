"""One simulated reader's browser, in-process: it sends ASGI requests (GETs, and a form's
POST) straight to an app (no sockets: thousands of views take seconds), keeps the cookies
it is given, and signs in the way an authentication middleware outside the paywall would,
by setting `scope["user"]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.authentication import SimpleUser
from starlette.types import ASGIApp, Message

HOST = "demo.invalid"  # the site's name, as every simulated request gives it


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # last value of each (lower-cased) name
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Visitor:
    """A reader: an address, a cookie jar, and (once signed in) an account."""

    address: str
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) DemoReader/1.0"
    account: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    async def get(self, app: ASGIApp, url: str, headers: dict[str, str] | None = None) -> Answer:
        """GET `url` (a path with an optional query) from `app`, as this reader."""
        return await self._send(app, "GET", url, headers, b"")

    async def post(
        self, app: ASGIApp, url: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> Answer:
        """POST `form` to `url` as a browser's form would (urlencoded), as this reader."""
        kind = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self._send(
            app, "POST", url, {**kind, **(headers or {})}, urlencode(form).encode()
        )

    async def _send(
        self, app: ASGIApp, method: str, url: str, headers: dict[str, str] | None, body: bytes
    ) -> Answer:
        parts = urlsplit(url)
        raw = [(b"host", HOST.encode()), (b"user-agent", self.user_agent.encode())]
        if self.cookies:
            jar = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
            raw.append((b"cookie", jar.encode("latin-1")))
        raw.extend((k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items())
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": parts.path,
            "raw_path": parts.path.encode(),
            "query_string": parts.query.encode(),
            "root_path": "",
            "headers": raw,
            "client": (self.address, 40000),
            "server": (HOST, 80),
        }
        if self.account is not None:
            scope["user"] = SimpleUser(self.account)
        status, found, chunks = 0, {}, []

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message["headers"]:
                    key, text = name.decode("latin-1").lower(), value.decode("latin-1")
                    found[key] = text
                    if key == "set-cookie":
                        self._keep(text)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return Answer(status, found, b"".join(chunks))

    def _keep(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.partition("=")
        if "max-age=0" in attributes.lower().replace(" ", ""):
            self.cookies.pop(name.strip(), None)
        else:
            self.cookies[name.strip()] = value.strip()
