"""Driving the server-rendered pages as a person would, without a browser: sign in, post a form with
its CSRF token, follow where it redirects to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from tests.web.test_pages import hidden, sign_in


@asynccontextmanager
async def signed_in_client(app: Any, email: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client on ``app`` with its own cookies, signed in as ``email``."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await sign_in(http, email)
        yield http


async def post_form(http: httpx.AsyncClient, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    """Post ``data`` to ``action`` with the CSRF token of the form on ``page``."""
    csrf = hidden((await http.get(page)).text, "csrf_token")
    return await http.post(action, data=data | {"csrf_token": csrf})


def redirected_to(response: httpx.Response, pick: Callable[[str], bool] = lambda _: True) -> str:
    """The path a form's 303 answer sends the browser to (without its query), checked by ``pick``."""
    assert response.status_code == 303, response.text
    location: str = response.headers["location"].split("?")[0]
    assert pick(location)
    return location
