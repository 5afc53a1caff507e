"""Settings from the environment and `.env`: the names are an outside contract."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.search import DEFAULT_TEMPLATES


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


class Settings(BaseSettings):
    """Everything `newsbot run` needs to know, read once at start.

    Field names map one-to-one to environment variables (TELEGRAM_BOT_TOKEN, ...), so the
    README's settings table is the contract and this class is its only reader.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_bot_token: SecretStr | None = Field(
        default=None, description="The bot's token from BotFather; required to run."
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        description="Bot API server root; calls go to {root}/bot{token}/{method}.",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///newsbot.db", description="SQLAlchemy database URL."
    )
    sources: Path | None = Field(
        default=None,
        description="OPML file of the operator's feeds; unset means the bundled catalogue.",
    )
    poll_interval: int = Field(default=300, ge=1, description="Seconds between polls.")
    poll_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes that poll, the bot's own included: more use more CPU cores "
        "for thousands of feeds. Each claims its sources in the database.",
    )
    digest_threshold: int = Field(
        default=5, ge=1, description="More alerts than this due at once go out as one digest."
    )
    send_rate: float = Field(
        default=30.0,
        gt=0,
        le=1000,
        description="Messages per second in all; raise only if Telegram allows the bot more.",
    )
    search_feeds: str = Field(
        default=DEFAULT_TEMPLATES,
        description="News search feed URL templates ({query} is the tag's names), separated "
        "by spaces; empty switches news search off.",
    )
    allow_private_networks: bool = Field(
        default=False,
        description="Let chats add sources on loopback or private networks.",
    )
    http2: bool = Field(
        default=False,
        description="Fetch feeds over HTTP/2 where servers offer it, with httpx's own "
        "connection pool; off, over HTTP/1.1 with aiohttp, at a quarter of the CPU a poll.",
    )

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def search_templates(self) -> tuple[str, ...]:
        return tuple(self.search_feeds.split())

    @property
    def token(self) -> str:
        """The raw token, for the few places that must send it (never for logging)."""
        if self.telegram_bot_token is None:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: put it in the environment or in .env "
                "(get a token from @BotFather)"
            )
        return self.telegram_bot_token.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one plain sentence per problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError("; ".join(problems)) from None
