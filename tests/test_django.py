"""Django behind the paywall: its signed-in users are metered by account."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        SECRET_KEY="django-test-key",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
    )
    django.setup()

from django.contrib.auth import SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.signed_cookies import SessionStore  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from paywall import PaywallMiddleware  # noqa: E402
from paywall.django import DjangoAccounts  # noqa: E402

from .conftest import article_page, client_for  # noqa: E402
from .test_middleware import prompts  # noqa: E402

pytestmark = pytest.mark.anyio


def article(request: HttpRequest, slug: str) -> HttpResponse:
    return HttpResponse(article_page(), content_type="text/html; charset=utf-8")


urlpatterns = [path("articles/<slug:slug>", article)]


def session_cookie(user_id: str) -> str:
    session = SessionStore()
    session[SESSION_KEY] = user_id
    session.save()
    key: str | None = session.session_key
    assert key is not None
    return key


async def test_django_users_are_metered_by_account(
    store: Any, config_file: Callable[..., Path]
) -> None:
    app = DjangoAccounts(
        PaywallMiddleware(get_asgi_application(), config=config_file(), redis=store)
    )
    cookie = {"cookie": f"{settings.SESSION_COOKIE_NAME}={session_cookie('42')}"}
    async with client_for(app) as phone, client_for(app) as laptop:
        first = await phone.get("/articles/one", headers=cookie)
        assert first.status_code == 200 and prompts(first) == ["meter"]
        assert "You have 2 free articles left" in first.text
        second = await laptop.get("/articles/two", headers=cookie)
        assert "You have 1 free article left" in second.text
        anonymous = await laptop.get("/articles/three")
        assert "You have 2 free articles left" in anonymous.text
        forged = {"cookie": f"{settings.SESSION_COOKIE_NAME}=forged-session"}
        stranger = await phone.get("/articles/four", headers=forged)
        assert stranger.status_code == 200 and prompts(stranger) == ["meter"]
