"""All configuration, read once from the environment (and `.env`), validated, passed down."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.response_targets import ResponseTargets, SupportHours

NEW_KEY_COMMAND = "ecwid-connect new-key"
DEFAULT_COLLECTION_HOST = "ecwid-api-playground.s3.amazonaws.com"


BUCKET_SCHEME = "s3"
# AWS region names as S3 addresses carry them: us-east-1, eu-west-2, ap-southeast-1, us-gov-west-1.
_AWS_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"
_S3_PATH_STYLE_HOST = re.compile(rf"s3(?:\.{_AWS_REGION})?\.amazonaws\.com")
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_VIRTUAL_HOST = re.compile(r"(?P<bucket>[a-z0-9.-]+)\.s3\.amazonaws\.com")


@dataclass(frozen=True, slots=True)
class CollectionHost:
    """One allow-listed place a Personal collection may be downloaded from: a host or a bucket.

    A bare host means HTTPS on port 443. An entry with a scheme and port, such as
    `http://127.0.0.1:8765`, allows exactly that: it is how the local sandbox is reached.

    An Amazon S3 bucket, written `s3://<bucket>` or as its address `<bucket>.s3.amazonaws.com`,
    allows that one bucket at every address S3 serves it from, over HTTPS (AWS, "Virtual hosting
    of buckets"): `<bucket>.s3.amazonaws.com/<key>`, `<bucket>.s3.<region>.amazonaws.com/<key>`,
    `s3.amazonaws.com/<bucket>/<key>` and `s3.<region>.amazonaws.com/<bucket>/<key>`; no other
    bucket on those hosts.
    """

    scheme: Literal["http", "https"]
    host: str
    port: int
    explicit_port: bool
    bucket: str | None = None

    @classmethod
    def parse(cls, entry: str) -> CollectionHost:
        text = entry.strip().rstrip("/")
        if not text:
            raise ValueError("empty entry")
        if text.lower().startswith(f"{BUCKET_SCHEME}://"):
            return cls.for_bucket(text[len(BUCKET_SCHEME) + 3 :], entry)
        parts = urlsplit(text if "://" in text else f"https://{text}")
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{entry!r}: only http://, https:// and s3:// are allowed")
        if not parts.hostname or parts.path or parts.query or parts.username:
            raise ValueError(f"{entry!r}: give a host, optionally with scheme and port, no path")
        scheme: Literal["http", "https"] = "http" if parts.scheme == "http" else "https"
        try:
            port = parts.port
        except ValueError as error:
            raise ValueError(f"{entry!r}: bad port") from error
        host = parts.hostname.lower()
        virtual = _S3_VIRTUAL_HOST.fullmatch(host)
        if virtual and scheme == "https" and port in (None, 443):
            return cls.for_bucket(virtual["bucket"], entry)
        default = 80 if scheme == "http" else 443
        return cls(scheme, host, port or default, port is not None)

    @classmethod
    def for_bucket(cls, bucket: str, entry: str | None = None) -> CollectionHost:
        """The entry allowing S3 bucket `bucket` at each of its addresses."""
        name = bucket.strip().lower()
        if not _S3_BUCKET.fullmatch(name) or ".." in name:
            raise ValueError(f"{entry or bucket!r}: not an S3 bucket name")
        return cls("https", f"{name}.s3.amazonaws.com", 443, explicit_port=False, bucket=name)

    def allows(self, scheme: str, host: str, port: int | None, path: str = "/") -> bool:
        """True when a download of `scheme://host:port/path` stays within this entry."""
        default = 80 if scheme == "http" else 443
        if self.bucket is None:
            return (scheme, host.lower(), port or default) == (self.scheme, self.host, self.port)
        if (scheme, port or default) != ("https", 443):
            return False
        host = host.lower()
        plain = unquote(path)
        # A dot segment would climb out of the bucket once the path is normalised.
        if any(segment in (".", "..") for segment in plain.split("/")):
            return False
        if host == self.host or re.fullmatch(
            rf"{re.escape(self.bucket)}\.s3\.{_AWS_REGION}\.amazonaws\.com", host
        ):
            return True
        inside = plain == f"/{self.bucket}" or plain.startswith(f"/{self.bucket}/")
        return inside and _S3_PATH_STYLE_HOST.fullmatch(host) is not None

    def __str__(self) -> str:
        if self.bucket is not None:
            return f"{BUCKET_SCHEME}://{self.bucket}"
        return f"{self.scheme}://{self.host}:{self.port}"


class Settings(BaseSettings):
    """ecwid-connect's settings; each field is the environment variable of the same name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    ecwid_api_url: str = "https://app.ecwid.com/api/v3"
    collection_hosts: Annotated[tuple[CollectionHost, ...], NoDecode] = Field(
        default=(CollectionHost.parse(DEFAULT_COLLECTION_HOST),)
    )
    check_timeout_s: float = Field(default=20.0, gt=0, le=300)
    token_cooldown_s: float = Field(default=60.0, ge=0, le=3600)
    failing_token_budget_per_min: int = Field(default=300, ge=10, le=600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    database_url: SecretStr | None = None
    data_dir: str = "data"
    credentials_key: SecretStr | None = None
    credentials_ttl_h: float = Field(default=72.0, gt=0, le=24 * 30)
    # How long a secret spotted in a channel message is held, encrypted, for its author's
    # private check from the warning (only with CREDENTIALS_KEY).
    leak_hold_min: float = Field(default=10.0, gt=0, le=60)
    check_lease_s: float = Field(default=30.0, ge=1, le=600)
    follow_up_every_s: float = Field(default=600.0, gt=0)
    follow_up_for_h: float = Field(default=24.0, gt=0)
    watch_every_s: float = Field(default=86400.0, gt=0)
    revoke_reminder_after_h: float = Field(default=72.0, gt=0)
    support_channel_id: str | None = None
    support_user_group_id: str | None = None
    support_external_agents: bool = False
    history_retention_days: float | None = Field(default=None, gt=0)
    escalation_response_targets: Annotated[ResponseTargets, NoDecode] = Field(
        default_factory=ResponseTargets.default
    )
    support_hours: Annotated[SupportHours | None, NoDecode] = None

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_mode: Literal["socket", "http"] | None = None
    host: str = "0.0.0.0"  # noqa: S104 - a server in a container listens on every interface
    port: int = Field(default=3000, ge=1, le=65535)
    ready_max_backlog: int = Field(default=200, ge=1)

    @field_validator("collection_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            entries = [entry for entry in value.replace(";", ",").split(",") if entry.strip()]
            if not entries:
                raise ValueError("list at least one host")
            return tuple(CollectionHost.parse(entry) for entry in entries)
        return value

    @field_validator("escalation_response_targets", mode="before")
    @classmethod
    def _targets(cls, value: object) -> object:
        if isinstance(value, str):
            return ResponseTargets.parse(value) if value.strip() else ResponseTargets.default()
        return value

    @field_validator("support_hours", mode="before")
    @classmethod
    def _support_hours(cls, value: object) -> object:
        if isinstance(value, str):
            return SupportHours.parse(value) if value.strip() else None
        return value

    @field_validator("ecwid_api_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://app.ecwid.com/api/v3")
        return value

    @field_validator("credentials_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        validate_key(value.get_secret_value())
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(normalise_url(value.get_secret_value()))

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("slack_mode", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @field_validator("history_retention_days", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def collects_from_ecwid(self) -> bool:
        """Whether Ecwid's own collection bucket is allowed: without it, real pastes fail."""
        return any(
            host.allows("https", DEFAULT_COLLECTION_HOST, 443) for host in self.collection_hosts
        )


def normalise_url(url: str) -> str:
    """`url` with the async driver this project uses: asyncpg for PostgreSQL, aiosqlite for SQLite.

    Accepts `postgresql://` and `postgres://` (as hosting services give them) and turns libpq's
    `sslmode=` into asyncpg's `ssl=`. Raises ValueError for anything else; the message never
    repeats the URL, which holds a password.
    """
    from sqlalchemy.engine import make_url  # only when a database URL is set
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise ValueError(
            "DATABASE_URL is not a database URL: use postgresql://user:password@host/name"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        query = dict(parsed.query)
        if "sslmode" in query and "ssl" not in query:
            query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(drivername="postgresql+asyncpg", query=query)
    elif backend == "sqlite" and driver in ("", "aiosqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(
            "DATABASE_URL must be a PostgreSQL URL (postgresql://…) or a SQLite one (sqlite:///…)"
        )
    return parsed.render_as_string(hide_password=False)


def validate_key(key: str) -> None:
    """Raise ValueError, without quoting `key`, unless it is a Fernet key."""
    from cryptography.fernet import Fernet  # only when a key is set

    try:
        Fernet(key.strip().encode())
    except ValueError:  # binascii.Error, for bad base64, is a ValueError too
        raise ValueError(
            f"CREDENTIALS_KEY must be a Fernet key: generate one with {NEW_KEY_COMMAND}"
        ) from None


class SettingsError(Exception):
    """Configuration is wrong; the message names each bad variable and says what it must be."""


def load_settings(env_file: str | None = ".env", **overrides: object) -> Settings:
    """Read the settings (environment, then `env_file`), with `overrides` on top.

    Validation errors become one `SettingsError`, one line per bad variable, naming it once.
    """
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError("\n".join(_problems(error).values())) from None


def load_settings_for(needed: Iterable[str], env_file: str | None = ".env") -> Settings:
    """The settings for a command that reads only `needed` (field names): a bad value
    elsewhere is not its problem, that setting falls back to its default."""
    try:
        return Settings(_env_file=env_file)
    except ValidationError as error:
        problems = _problems(error)
    wanted = {name.lower() for name in needed}
    if any(field in wanted for field in problems):
        lines = [line for field, line in problems.items() if field in wanted]
        raise SettingsError("\n".join(lines))
    defaults = {field: Settings.model_fields[field].default for field in problems}
    return load_settings(env_file, **defaults)


def _problems(error: ValidationError) -> dict[str, str]:
    """Each bad field's one line: `VARIABLE: what it must be`, the variable named once."""
    problems: dict[str, str] = {}
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "settings"
        variable = field.upper()
        message = problem["msg"].removeprefix("Value error, ")
        line = message if message.startswith(variable) else f"{variable}: {message}"
        problems.setdefault(field, line)
    return problems
