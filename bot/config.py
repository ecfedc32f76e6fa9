"""Settings: one model per config section, loaded from TOML and overridable by environment.

The file is optional; every setting has a default except the platform tokens, which
are only needed to run the bots. Environment variables take precedence over the file:
`COHORT_<SECTION>__<KEY>`, e.g. `COHORT_DISCORD__TOKEN`, `COHORT_DATABASE__URL`.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONFIG_NAME = "config.toml"
DEFAULT_DATABASE_NAME = "cohort.db"
CONFIG_ENV = "COHORT_CONFIG"


class _Section(BaseModel):
    """A config section: unknown keys are errors so that typos never pass silently."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class PrivacyMode(StrEnum):
    """How consent is obtained: explicit opt-in (default) or opt-out after a posted notice."""

    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"


class DatabaseSettings(_Section):
    """[database]: where Cohort keeps its data."""

    url: str = Field(default="", description="SQLAlchemy URL; empty means a SQLite file.")
    pool_size: int = Field(default=5, ge=1, le=100)
    busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    auto_migrate: bool = True
    # PostgreSQL: how often a `cohort run` that is not the leader tries to take over.
    leader_poll_seconds: float = Field(default=5.0, ge=0.1, le=300)

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        scheme = value.split("://", 1)[0]
        aliases = {
            "sqlite": "sqlite+aiosqlite",
            "sqlite+aiosqlite": "sqlite+aiosqlite",
            "postgresql": "postgresql+asyncpg",
            "postgres": "postgresql+asyncpg",
            "postgresql+asyncpg": "postgresql+asyncpg",
        }
        if "://" not in value or scheme not in aliases:
            raise ValueError(
                f"must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (got {scheme!r})"
            )
        return aliases[scheme] + "://" + value.split("://", 1)[1]


class PrivacySettings(_Section):
    """[privacy]: consent mode and how long raw text is kept."""

    mode: PrivacyMode = PrivacyMode.OPT_IN
    retention_days: int = Field(default=90, ge=1, le=3650)


class IngestSettings(_Section):
    """[ingest]: the live ingestion pipeline's queue and batching."""

    queue_size: int = Field(default=10_000, ge=10, le=10_000_000)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    batch_seconds: float = Field(default=1.0, gt=0, le=60)


class RecsysSettings(_Section):
    """[recsys]: where trained models live and how the ranker trains."""

    artifacts_dir: Path = Path("artifacts")
    validation_members: int = Field(default=8000, ge=10, le=1_000_000)
    attention: bool = False
    attention_epochs: float = Field(default=1.0, gt=0, le=100)
    hybrid: bool = False
    hybrid_epochs: int = Field(default=1, ge=1, le=100)
    item_tune: bool = True
    item_dropout: float = Field(default=0.25, ge=0.0, lt=1.0)
    item_l2: float = Field(default=50.0, ge=0.0)
    seed: int = 0


class RecommendSettings(_Section):
    """[recommend]: the business rules between ranker scores and what members see."""

    k: int = Field(default=5, ge=1, le=10)
    diversity: float = Field(default=0.2, ge=0.0, le=1.0)
    exploration: float = Field(default=0.1, ge=0.0, le=1.0)
    level_gate: bool = True
    holdout: float = Field(default=0.1, ge=0.0, le=0.5)
    attribution_days: int = Field(default=14, ge=1, le=365)


_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"


class DeliverySettings(_Section):
    """[delivery]: how often and when Cohort may send promotional messages."""

    dm_cap: int = Field(default=1, ge=0, le=100)
    dm_cap_days: int = Field(default=7, ge=1, le=365)
    quiet_start: str = Field(default="22:00", pattern=_CLOCK)
    quiet_end: str = Field(default="08:00", pattern=_CLOCK)
    course_cooldown_days: int = Field(default=30, ge=0, le=3650)
    send_rate: float = Field(default=5.0, gt=0, le=100)
    max_attempts: int = Field(default=5, ge=1, le=50)


class DigestSettings(_Section):
    """[digest]: the default schedule (communities can set their own)."""

    cron: str = "0 9 * * MON"
    personal: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"not a cron expression ({exc})") from None
        return value


class WebSettings(_Section):
    """[web]: the purchase webhook and click-tracking redirect (aiohttp)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Public base URL of this server, e.g. https://cohort.example.com. Empty: links
    # go straight to the course page (with a token for purchase attribution).
    public_url: str = ""
    webhook_secret: SecretStr = SecretStr("")

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class DiscordSettings(_Section):
    """[discord]: the Discord adapter."""

    token: SecretStr = SecretStr("")
    moderator_roles: list[str] = Field(default_factory=lambda: ["Moderator", "Admin"])
    backfill_limit: int = Field(default=500, ge=0, le=100_000)
    shards: int | Literal["auto"] | None = None

    @field_validator("shards")
    @classmethod
    def _shard_count(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError('must be "auto" or a number of shards from 1')
        return value

    @property
    def enabled(self) -> bool:
        """Whether a token is configured, so the Discord bot can run."""
        return bool(self.token.get_secret_value())


class TelegramSettings(_Section):
    """[telegram]: the Telegram adapter."""

    token: SecretStr = SecretStr("")
    # "polling" (getUpdates) or "webhook" (Telegram posts updates to webhook_url).
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)

    @field_validator("webhook_url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith("https://"):
            raise ValueError("must start with https:// (Telegram only posts to HTTPS)")
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramSettings:
        if self.mode == "webhook" and self.enabled:
            if not self.webhook_url:
                raise ValueError('mode = "webhook" needs webhook_url')
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", self.webhook_secret.get_secret_value()):
                raise ValueError(
                    'mode = "webhook" needs webhook_secret: 1-256 characters A-Z, a-z, 0-9, _ or -'
                )
        return self

    @property
    def enabled(self) -> bool:
        """Whether a token is configured, so the Telegram bot can run."""
        return bool(self.token.get_secret_value())


class LoggingSettings(_Section):
    """[logging]: log verbosity."""

    level: str = "INFO"

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper


class Settings(BaseSettings):
    """All of Cohort's settings; built by `load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="COHORT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    recsys: RecsysSettings = Field(default_factory=RecsysSettings)
    recommend: RecommendSettings = Field(default_factory=RecommendSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    # Where the config came from; not a setting. Relative paths resolve against it.
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first (highest priority), then the TOML file's values."""
        return env_settings, init_settings

    @property
    def base_dir(self) -> Path:
        """The folder of the config file (or the working folder): relative paths start here."""
        return self._base_dir

    @property
    def artifacts_path(self) -> Path:
        """The models folder; relative paths start at the config file's folder."""
        path = self.recsys.artifacts_dir
        return path if path.is_absolute() else (self._base_dir / path).resolve()

    @property
    def database_url(self) -> str:
        """The effective database URL: the configured one, or a SQLite file by the config."""
        url = self.database.url
        if not url:
            return f"sqlite+aiosqlite:///{(self.base_dir / DEFAULT_DATABASE_NAME).resolve()}"
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if path and path != ":memory:" and not Path(path).is_absolute():
                return prefix + str((self.base_dir / path).resolve())
        return url


def resolve_config_path(explicit: Path | None) -> Path | None:
    """Pick the config file: `--config`, else `$COHORT_CONFIG`, else `./config.toml` if present."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown setting"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    return f"{key}: {message}"


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from `path` (TOML, optional) and the environment.

    Raises `ConfigError` with one line naming the source, key and problem.
    """
    config_path = resolve_config_path(path)
    data: dict[str, Any] = _read_toml(config_path) if config_path else {}
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    base_dir = config_path.resolve().parent if config_path else Path.cwd()
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        source = str(config_path) if config_path else "settings"
        raise ConfigError(f"{source}: {_describe(exc.errors()[0])}") from None
    settings._base_dir = base_dir
    log.debug("settings loaded from %s", config_path or "defaults")
    return settings
