"""The engine's HTTP client: httpx's interface over aiohttp, keeping no cookies between checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from httpx_aiohttp import AiohttpTransport

from bot.engine.check import new_http_client
from bot.sandbox.loopback import AppServer


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    """Answers with what it received, and sets a cookie on every answer."""

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        response = web.json_response(
            {
                "path": request.raw_path,
                "cookie": request.headers.get("Cookie"),
                "accept": request.headers.getall("X-Many", []),
                "body": body.decode(),
            }
        )
        response.set_cookie("session", "from-the-last-check")
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with AppServer(app) as server:
        yield server.base_url


async def test_no_cookie_from_one_answer_is_sent_with_the_next_request(echo: str) -> None:
    async with new_http_client() as http:
        first = await http.get(f"{echo}/a")
        assert "session" in first.headers["Set-Cookie"]
        second = await http.get(f"{echo}/b")
        assert second.json()["cookie"] is None
        assert not http.cookies
        with pytest.raises(ValueError, match="no cookies"):
            http.cookies = {"session": "x"}  # type: ignore[assignment]


async def test_requests_arrive_exactly_as_through_the_stock_aiohttp_transport(echo: str) -> None:
    requests = [
        ("GET", f"{echo}/api/v3/1/products?limit=1&keyword=caf%C3%A9%20au%20lait", {}),
        ("GET", f"{echo}/p", {"params": {"limit": "1", "q": "a b&c/é"}}),
        ("GET", f"{echo}/ünïcode path/x?y=é", {}),
        ("POST", f"{echo}/post", {"content": b"payload"}),
        (
            "GET",
            f"{echo}/headers",
            {"headers": httpx.Headers([("X-Many", "one"), ("X-Many", "two")])},
        ),
    ]
    async with new_http_client() as ours, httpx.AsyncClient(transport=AiohttpTransport()) as stock:
        for method, url, options in requests:
            theirs = (await stock.request(method, url, **options)).json()
            mine = (await ours.request(method, url, **options)).json()
            theirs["cookie"] = None  # the stock client keeps the cookie; ours does not
            # The path and query go out exactly as httpx encoded them (the stock transport
            # lets yarl re-quote them, which turns %2F back into /).
            built = ours.build_request(method, url, params=options.get("params"))
            assert mine.pop("path") == built.url.raw_path.decode()
            theirs.pop("path")
            # A repeated header goes out repeated (the stock one joins the values with ", ").
            assert ", ".join(mine.pop("accept")) == ", ".join(theirs.pop("accept"))
            assert mine == theirs


async def test_a_repeated_header_goes_out_repeated(echo: str) -> None:
    headers = httpx.Headers([("X-Many", "one"), ("X-Many", "two")])
    async with new_http_client() as http:
        assert (await http.get(echo, headers=headers)).json()["accept"] == ["one", "two"]


async def test_a_streamed_answer_is_read_in_chunks(echo: str) -> None:
    async with new_http_client() as http, http.stream("GET", f"{echo}/streamed") as streamed:
        chunks = [chunk async for chunk in streamed.aiter_bytes()]
    assert b"".join(chunks).startswith(b'{"path": "/streamed"')
