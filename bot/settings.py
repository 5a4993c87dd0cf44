"""All configuration, read once from the environment (and `.env`), validated, passed down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

NEW_KEY_COMMAND = "ecwid-connect new-key"
DEFAULT_COLLECTION_HOST = "ecwid-api-playground.s3.amazonaws.com"


@dataclass(frozen=True, slots=True)
class CollectionHost:
    """One allow-listed place a Personal collection may be downloaded from.

    A bare host means HTTPS on port 443. An entry with a scheme and port, such as
    `http://127.0.0.1:8765`, allows exactly that: it is how the local sandbox is reached.
    """

    scheme: Literal["http", "https"]
    host: str
    port: int
    explicit_port: bool

    @classmethod
    def parse(cls, entry: str) -> CollectionHost:
        text = entry.strip().rstrip("/")
        if not text:
            raise ValueError("empty entry")
        parts = urlsplit(text if "://" in text else f"https://{text}")
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{entry!r}: only http:// and https:// are allowed")
        if not parts.hostname or parts.path or parts.query or parts.username:
            raise ValueError(f"{entry!r}: give a host, optionally with scheme and port, no path")
        scheme: Literal["http", "https"] = "http" if parts.scheme == "http" else "https"
        try:
            port = parts.port
        except ValueError as error:
            raise ValueError(f"{entry!r}: bad port") from error
        default = 80 if scheme == "http" else 443
        return cls(scheme, parts.hostname.lower(), port or default, port is not None)

    def allows(self, scheme: str, host: str, port: int | None) -> bool:
        default = 80 if scheme == "http" else 443
        return (scheme, host.lower(), port or default) == (self.scheme, self.host, self.port)

    def __str__(self) -> str:
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

    database_url: SecretStr | None = None
    data_dir: str = "data"
    credentials_key: SecretStr | None = None
    credentials_ttl_h: float = Field(default=72.0, gt=0, le=24 * 30)
    check_lease_s: float = Field(default=30.0, ge=1, le=600)
    support_channel_id: str | None = None
    support_user_group_id: str | None = None
    support_external_agents: bool = False

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = Field(default=3000, ge=1, le=65535)

    @field_validator("collection_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            entries = [entry for entry in value.replace(";", ",").split(",") if entry.strip()]
            if not entries:
                raise ValueError("list at least one host")
            return tuple(CollectionHost.parse(entry) for entry in entries)
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

    Validation errors become one readable `SettingsError` naming each bad variable.
    """
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            variable = "_".join(str(part) for part in problem["loc"][:1]).upper() or "settings"
            lines.append(f"{variable}: {problem['msg'].removeprefix('Value error, ')}")
        raise SettingsError("Bad configuration:\n  " + "\n  ".join(lines)) from None
