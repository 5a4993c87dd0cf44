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
        ("ESCALATION_RESPONSE_TARGETS", "blocking=soon"),
        ("ESCALATION_RESPONSE_TARGETS", "urgent=5m"),
        ("SUPPORT_HOURS", "Mon-Fri 09:00-18:00 Mars/Olympus"),
        ("SUPPORT_HOURS", "weekdays"),
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


def test_each_bad_variable_is_one_line_naming_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    monkeypatch.setenv("DATABASE_URL", "mysql://u:p@db/bot")
    monkeypatch.setenv("CHECK_TIMEOUT_S", "soon")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    for variable in ("DATABASE_URL", "CHECK_TIMEOUT_S"):
        [line] = [line for line in lines if variable in line]
        assert line.count(variable) == 1
        assert line.startswith(variable)


@pytest.mark.parametrize("command", [["guide"], ["new-key"]])
def test_commands_that_need_no_settings_ignore_bad_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    from bot.cli.main import main

    monkeypatch.chdir("/")
    monkeypatch.setenv("DATABASE_URL", "mysql://u:p@db/bot")
    monkeypatch.setenv("CREDENTIALS_KEY", "not-a-key")
    monkeypatch.setenv("SLACK_MODE", "carrier-pigeon")

    assert main(command) == 0
    assert capsys.readouterr().err == ""


def test_check_ignores_a_bad_database_setting_but_not_a_bad_engine_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.settings import load_settings_for

    monkeypatch.chdir("/")
    monkeypatch.setenv("DATABASE_URL", "mysql://u:p@db/bot")
    monkeypatch.setenv("CHECK_TIMEOUT_S", "7")

    settings = load_settings_for(["check_timeout_s", "collection_hosts"])
    assert settings.check_timeout_s == 7
    assert settings.database_url is None

    monkeypatch.setenv("COLLECTION_HOSTS", "ftp://example.com")
    with pytest.raises(SettingsError) as raised:
        load_settings_for(["check_timeout_s", "collection_hosts"])
    assert "COLLECTION_HOSTS" in str(raised.value)
    assert "DATABASE_URL" not in str(raised.value)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from bot.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"ecwid-connect {version('ecwid-connect')}"


@pytest.mark.parametrize(
    ("env", "mode", "why"),
    [
        ({"SLACK_APP_TOKEN": "xapp-1"}, "socket", "SLACK_APP_TOKEN is set"),
        ({"SLACK_SIGNING_SECRET": "abc"}, "http", "SLACK_SIGNING_SECRET is set"),
        ({"SLACK_MODE": "HTTP", "SLACK_APP_TOKEN": "xapp-1"}, "http", "SLACK_MODE is set"),
    ],
)
def test_the_mode_is_chosen_or_inferred(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], mode: str, why: str
) -> None:
    from bot.slack.app import slack_mode

    monkeypatch.chdir("/")
    for variable in ("SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_MODE"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)

    chosen, reason = slack_mode(load_settings())
    assert chosen == mode
    assert why in reason


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("SLACK_BOT_TOKEN", "xoxb-...", "placeholder"),
        ("SLACK_BOT_TOKEN", "xoxb-your-token", "placeholder"),
        ("SLACK_BOT_TOKEN", "xapp-1-A1-abc", "malformed"),
        ("SLACK_BOT_TOKEN", "xoxb-abc def", "malformed"),
        ("SLACK_APP_TOKEN", "xapp-…", "placeholder"),
        ("SLACK_APP_TOKEN", "xoxb-1-2", "malformed"),
    ],
)
def test_placeholder_and_malformed_tokens_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    from bot.slack.app import MissingSlackCredentials, require_credentials

    monkeypatch.chdir("/")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A1-abc")
    monkeypatch.setenv(variable, value)

    with pytest.raises(MissingSlackCredentials) as raised:
        require_credentials(load_settings())
    [line] = [line for line in str(raised.value).splitlines() if problem in line]
    assert line.strip().startswith(variable)
    assert value not in str(raised.value) or "..." in value or "…" in value


def test_response_targets_and_support_hours_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESCALATION_RESPONSE_TARGETS", "blocking=5s,low=2d")
    monkeypatch.setenv("SUPPORT_HOURS", "Mon-Fri 09:00-18:00 Europe/Berlin")

    settings = load_settings(env_file=None)

    assert str(settings.escalation_response_targets) == "blocking=5s,normal=4h,low=2d"
    assert str(settings.support_hours) == "Mon-Fri 09:00-18:00 Europe/Berlin"


def test_without_support_hours_the_response_clock_always_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPPORT_HOURS", "")

    settings = load_settings(env_file=None)

    assert settings.support_hours is None
    assert str(settings.escalation_response_targets) == "blocking=30min,normal=4h,low=1d"
