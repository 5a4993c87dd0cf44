"""Settings: defaults, the collection host allow-list, and errors that name the variable."""

from __future__ import annotations

import pytest

from bot.settings import CollectionHost, SettingsError, load_settings


def test_defaults_point_at_ecwid_and_its_collection_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # no .env here
    settings = load_settings()

    assert settings.ecwid_api_url == "https://app.ecwid.com/api/v3"
    assert [str(host) for host in settings.collection_hosts] == [
        "https://ecwid-api-playground.s3.amazonaws.com:443"
    ]
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


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHECK_TIMEOUT_S", "soon"),
        ("CHECK_TIMEOUT_S", "-1"),
        ("COLLECTION_HOSTS", "ftp://example.com"),
        ("COLLECTION_HOSTS", "example.com/path"),
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
