"""Settings: defaults, the collection host allow-list, and errors that name the variable."""

from __future__ import annotations

import pytest

from bot.settings import CollectionHost, SettingsError, load_settings


def test_defaults_point_at_ecwid_and_its_collection_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # no .env here
    settings = load_settings()

    assert settings.ecwid_api_url == "https://app.ecwid.com/api/v3"
    assert [str(host) for host in settings.collection_hosts] == ["s3://ecwid-api-playground"]
    assert settings.check_timeout_s == 20


def test_collection_hosts_read_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "COLLECTION_HOSTS", "ecwid-api-playground.s3.amazonaws.com, http://127.0.0.1:8765"
    )

    hosts = load_settings().collection_hosts

    assert hosts[1] == CollectionHost("http", "127.0.0.1", 8765, explicit_port=True)
    assert hosts[1].allows("http", "127.0.0.1", 8765)
    assert not hosts[1].allows("http", "127.0.0.1", 8766)
    assert not hosts[0].allows("http", "ecwid-api-playground.s3.amazonaws.com", None)


# Every address AWS documents for one object of a bucket ("Virtual hosting of buckets").
BUCKET_ADDRESSES = [
    ("ecwid-api-playground.s3.amazonaws.com", "/1003_ab.json.postman_collection"),
    ("ecwid-api-playground.s3.eu-west-1.amazonaws.com", "/1003_ab.json.postman_collection"),
    ("ecwid-api-playground.s3.us-gov-west-1.amazonaws.com", "/1003_ab.json.postman_collection"),
    ("s3.amazonaws.com", "/ecwid-api-playground/1003_ab.json.postman_collection"),
    ("s3.us-east-2.amazonaws.com", "/ecwid-api-playground/1003_ab.json.postman_collection"),
]


@pytest.mark.parametrize(
    "entry", ["s3://ecwid-api-playground", "ecwid-api-playground.s3.amazonaws.com"]
)
@pytest.mark.parametrize(("host", "path"), BUCKET_ADDRESSES)
def test_a_bucket_entry_allows_every_address_of_that_bucket(
    entry: str, host: str, path: str
) -> None:
    bucket = CollectionHost.parse(entry)

    assert bucket.bucket == "ecwid-api-playground"
    assert bucket.allows("https", host, None, path)
    assert bucket.allows("https", host, 443, path)
    assert not bucket.allows("http", host, None, path)
    assert not bucket.allows("https", host, 8443, path)


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("other.s3.amazonaws.com", "/1003_ab.json.postman_collection"),
        ("other.s3.eu-west-1.amazonaws.com", "/1003_ab.json.postman_collection"),
        ("s3.amazonaws.com", "/other/1003_ab.json.postman_collection"),
        ("s3.amazonaws.com", "/ecwid-api-playground-2/1003_ab.json.postman_collection"),
        ("s3.amazonaws.com", "/1003_ab.json.postman_collection"),
        (
            "s3.amazonaws.com",
            "/ecwid-api-playground/" + ".." + "/other/1003_ab.json.postman_collection",
        ),
        ("s3.amazonaws.com", "/ecwid-api-playground/%2e%2e/other/x.json.postman_collection"),
        ("s3.eu-west-1.amazonaws.com.evil.example", "/ecwid-api-playground/x.json"),
        ("ecwid-api-playground.s3.amazonaws.com.evil.example", "/x.json"),
        ("ecwid-api-playground.s3.evil.amazonaws.com", "/x.json"),
        ("example.com", "/ecwid-api-playground/x.json"),
    ],
)
def test_a_bucket_entry_allows_no_other_bucket(host: str, path: str) -> None:
    assert not CollectionHost.parse("s3://ecwid-api-playground").allows("https", host, None, path)


def test_a_bucket_address_with_a_port_stays_a_host_entry() -> None:
    entry = CollectionHost.parse("https://ecwid-api-playground.s3.amazonaws.com:8443")
    assert entry.bucket is None
    assert not entry.allows("https", "s3.amazonaws.com", 8443, "/ecwid-api-playground/x.json")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHECK_TIMEOUT_S", "soon"),
        ("CHECK_TIMEOUT_S", "-1"),
        ("COLLECTION_HOSTS", "ftp://example.com"),
        ("COLLECTION_HOSTS", "example.com/path"),
        ("COLLECTION_HOSTS", "s3://Not_A_Bucket"),
        ("COLLECTION_HOSTS", "s3://a..b"),
        ("ECWID_API_URL", "app.ecwid.com"),
        ("LOG_LEVEL", "chatty"),
    ],
)
def test_a_bad_value_is_a_start_up_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_serving_without_slack_tokens_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    monkeypatch.chdir("/")
    for variable in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(variable, raising=False)

    assert main(["serve"]) == 2
    error = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN" in error
    assert "SLACK_SIGNING_SECRET" in error
    assert "Traceback" not in error
