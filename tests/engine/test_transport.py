"""The engine's HTTP client: httpx's interface over aiohttp, keeping no cookies between checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from httpx_aiohttp import AiohttpTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.http_client import new_http_client
from bot.engine.transport import get_request, join_url
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


# --- join_url: httpx's parsed URL reused, pinned to what httpx.URL(str) gives ------------------

_BASES = [
    "https://app.ecwid.com/api/v3",
    "https://app.ecwid.com/api/v3/",
    "https://APP.Ecwid.com:443/api/v3",
    "http://127.0.0.1:8080/api/v3",
    "http://[::1]:8080/api/v3",
    "https://host.example",
    "https://host.example/",
    "https://münchen.example/a%7Eb/c",
    "https://host.example/api/v3?lang=en#top",
]
_PATHS = st.sampled_from(["/1003/profile", "/1/products", "/1003/customers", "/a.b/~c-d_e"]) | (
    st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=3).map(
        lambda segments: "".join("/" + segment for segment in segments)
    )
)
_QUERIES = (
    st.none()
    | st.sampled_from(["limit=1", "limit=1&hidden_categories=true", "showExtendedInfo=true", ""])
    | st.text(max_size=12)
)


@given(base=st.sampled_from(_BASES), path=_PATHS, query=_QUERIES)
@settings(max_examples=400, deadline=None)
def test_join_url_is_httpx_url_of_the_joined_text(base: str, path: str, query: str | None) -> None:
    parsed = httpx.URL(base)
    plain = str(parsed.copy_with(query=None, fragment=None)).rstrip("/") + path
    try:
        expected = httpx.URL(plain if query is None else f"{plain}?{query}")
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            join_url(parsed, path, query)
        return

    joined = join_url(parsed, path, query)

    assert joined == expected
    assert str(joined) == str(expected)
    assert joined.raw_path == expected.raw_path
    assert (joined.scheme, joined.host, joined.port, joined.netloc) == (
        expected.scheme,
        expected.host,
        expected.port,
        expected.netloc,
    )
    assert (joined.path, joined.query, joined.fragment) == (
        expected.path,
        expected.query,
        expected.fragment,
    )
    assert joined.params == expected.params


def test_join_url_takes_the_shortcut_for_ecwids_paths() -> None:
    """The shortcut must not silently fall back for what the engine sends (it is the point)."""
    base = httpx.URL("https://app.ecwid.com/api/v3")
    calls: list[object] = []
    original = httpx._urlparse.urlparse

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx._urls, "urlparse", counting)
        url = join_url(base, "/1003/categories", "limit=1&hidden_categories=true")

    assert str(url) == "https://app.ecwid.com/api/v3/1003/categories?limit=1&hidden_categories=true"
    assert calls == []


# --- get_request: the GET build_request builds, built once ---------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://app.ecwid.com/api/v3/1003/profile?showExtendedInfo=true", "http://127.0.0.1:8080/x"],
)
@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"accept-encoding", b"gzip")],
        [(b"authorization", b"Bearer secret_x"), (b"user-agent", b"other"), (b"x-many", b"1")],
    ],
)
@pytest.mark.parametrize("cookies", [None, {"session": "s"}])
def test_get_request_builds_what_build_request_builds(
    url: str, headers: list[tuple[bytes, bytes]], cookies: dict[str, str] | None
) -> None:
    extensions = {"timeout": httpx.Timeout(3.0, connect=1.0).as_dict()}
    clients = [new_http_client(), httpx.AsyncClient(headers={"X-Default": "d"}, cookies=cookies)]
    for client in clients:
        ours = get_request(client, httpx.URL(url), headers, extensions)
        theirs = client.build_request("GET", url, headers=headers, extensions=extensions)

        assert (ours.method, ours.url, ours.content) == (theirs.method, theirs.url, theirs.content)
        assert sorted(ours.headers.multi_items()) == sorted(theirs.headers.multi_items())
        assert ours.extensions == theirs.extensions
