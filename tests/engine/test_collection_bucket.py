"""The Personal-collection bucket at every address S3 serves it from (AWS, "Virtual hosting of
buckets"): intake and download both take each one as the same allow-listed bucket, and no other
bucket. Requests for Amazon's hosts are carried to the sandbox on loopback, Host header intact,
as DNS would carry them to S3; only the public-address check's DNS lookup is stood in for."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.engine import download
from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis, StepName, StepStatus
from bot.engine.download import download_collection
from bot.engine.errors import CollectionError, PasteError
from bot.engine.intake import CollectionPaste, read_paste
from bot.engine.redaction import CollectionUrl
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.settings import DEFAULT_COLLECTION_HOST, CollectionHost, load_settings

BUCKET = (CollectionHost.parse(DEFAULT_COLLECTION_HOST),)
NAME = "1003_aB3dE6gH9kL2.json.postman_collection"
# Every documented address of one object of the bucket, by its key `{name}`.
ADDRESSES = [
    "https://ecwid-api-playground.s3.amazonaws.com/{name}",
    "https://ecwid-api-playground.s3.us-west-2.amazonaws.com/{name}",
    "https://s3.amazonaws.com/ecwid-api-playground/{name}",
    "https://s3.eu-central-1.amazonaws.com/ecwid-api-playground/{name}",
]
OTHER_BUCKETS = [
    "https://my-bucket.s3.amazonaws.com/{name}",
    "https://my-bucket.s3.us-west-2.amazonaws.com/{name}",
    "https://s3.amazonaws.com/my-bucket/{name}",
    "https://s3.eu-central-1.amazonaws.com/my-bucket/{name}",
    "https://s3.amazonaws.com/ecwid-api-playground/" + ".." + "/my-bucket/{name}",  # a dot segment
]
S3_ADDRESS = ipaddress.ip_address("52.217.0.10")  # public: what S3's names resolve to


class ToLoopback(httpx.AsyncBaseTransport):
    """Carries requests for `*.amazonaws.com` to a loopback port, keeping the Host header."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx.AsyncHTTPTransport()
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host.endswith(".amazonaws.com"):
            self.seen.append(f"{request.url.host}{request.url.path}")
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def s3_resolves_publicly(monkeypatch: pytest.MonkeyPatch) -> None:
    async def addresses(url: httpx.URL, timeouts: httpx.Timeout) -> list[object]:
        assert url.host.endswith(".amazonaws.com"), url.host
        return [S3_ADDRESS]

    monkeypatch.setattr(download, "_addresses", addresses)


@pytest.fixture
async def routed(sandbox: EcwidSandbox) -> AsyncIterator[tuple[httpx.AsyncClient, ToLoopback]]:
    transport = ToLoopback(sandbox.port)
    async with httpx.AsyncClient(transport=transport) as client:
        yield client, transport


# --- Intake -----------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ADDRESSES)
def test_intake_takes_every_address_of_the_bucket(address: str) -> None:
    url = address.format(name=NAME)

    assert read_paste(url, BUCKET) == CollectionPaste(CollectionUrl(url))
    assert read_paste(f"  <{url}>  ", BUCKET) == CollectionPaste(CollectionUrl(url))


@pytest.mark.parametrize("address", ADDRESSES)
def test_intake_upgrades_http_on_every_address(address: str) -> None:
    url = address.format(name=NAME)

    assert read_paste(url.replace("https://", "http://"), BUCKET) == CollectionPaste(
        CollectionUrl(url)
    )


@pytest.mark.parametrize("address", ADDRESSES)
def test_a_cut_address_of_the_bucket_is_truncated(address: str) -> None:
    with pytest.raises(PasteError) as caught:
        read_paste(address.format(name="1003_aB3dE6"), BUCKET)

    assert caught.value.diagnosis is Diagnosis.URL_TRUNCATED


@pytest.mark.parametrize("address", OTHER_BUCKETS)
def test_intake_refuses_other_buckets_on_the_same_hosts(address: str) -> None:
    with pytest.raises(PasteError) as caught:
        read_paste(address.format(name=NAME), BUCKET)

    assert caught.value.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert "not where Ecwid publishes" in caught.value.detail


# --- Download ---------------------------------------------------------------------------------


def _connected_at(sandbox: EcwidSandbox, address: str) -> str:
    """The connected sample store's collection at `address`, one of ADDRESSES."""
    return address.format(name=sandbox.store("connected").collection_path.rsplit("/", 1)[-1])


@pytest.mark.usefixtures("s3_resolves_publicly")
@pytest.mark.parametrize("address", ADDRESSES)
async def test_download_takes_every_address_of_the_bucket(
    sandbox: EcwidSandbox, routed: tuple[httpx.AsyncClient, ToLoopback], address: str
) -> None:
    client, transport = routed
    url = _connected_at(sandbox, address)

    body = await download_collection(CollectionUrl(url), client, BUCKET)

    assert body == (await client.get(sandbox.collection_url("connected"))).content
    assert transport.seen == [url.removeprefix("https://")]


@pytest.mark.usefixtures("s3_resolves_publicly")
@pytest.mark.parametrize("address", OTHER_BUCKETS)
async def test_download_refuses_other_buckets_without_a_request(
    routed: tuple[httpx.AsyncClient, ToLoopback], address: str
) -> None:
    client, transport = routed

    with pytest.raises(CollectionError) as caught:
        await download_collection(CollectionUrl(address.format(name=NAME)), client, BUCKET)

    assert caught.value.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert transport.seen == []


@pytest.mark.usefixtures("s3_resolves_publicly")
@pytest.mark.parametrize("address", ADDRESSES)
async def test_a_whole_check_from_every_address_of_the_bucket(
    sandbox: EcwidSandbox, routed: tuple[httpx.AsyncClient, ToLoopback], address: str
) -> None:
    client, transport = routed
    settings = load_settings(env_file=None, ecwid_api_url=sandbox.api_url, check_timeout_s=5.0)
    assert settings.collection_hosts == BUCKET  # the default: the bucket, named

    report = await ConnectionChecker(settings, client).check_text(_connected_at(sandbox, address))

    assert report.diagnosis is Diagnosis.OK, report.summary
    assert report.step(StepName.DOWNLOAD).status is StepStatus.PASSED  # type: ignore[union-attr]
    assert len(transport.seen) == 1
