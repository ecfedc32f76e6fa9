"""Settings: defaults, file, environment overrides and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import PrivacyMode, load_settings
from bot.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_use_a_sqlite_file_next_to_the_config(tmp_path: Path) -> None:
    """With no database url, the store is a SQLite file beside the config file."""
    (tmp_path / "conf").mkdir()
    config = write(tmp_path / "conf" / "c.toml", "")
    settings = load_settings(config)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'conf' / 'cohort.db'}"
    assert settings.privacy.mode is PrivacyMode.OPT_IN
    assert settings.privacy.retention_days == 90


def test_no_config_file_means_defaults_in_the_working_folder(tmp_path: Path) -> None:
    """Without any config file Cohort still starts, storing next to where it runs."""
    settings = load_settings(None)
    assert settings.database_url.endswith(f"{tmp_path}/cohort.db")
    assert not settings.discord.enabled and not settings.telegram.enabled


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """COHORT_<SECTION>__<KEY> beats the file, for secrets above all."""
    config = write(
        tmp_path / "c.toml", '[discord]\ntoken = "from-file"\n[privacy]\nmode = "opt_in"\n'
    )
    monkeypatch.setenv("COHORT_DISCORD__TOKEN", "from-env")
    monkeypatch.setenv("COHORT_TELEGRAM__TOKEN", "123:abc")
    monkeypatch.setenv("COHORT_DATABASE__URL", "postgresql://u@db/cohort")
    settings = load_settings(config)
    assert settings.discord.token.get_secret_value() == "from-env"
    assert settings.telegram.enabled
    assert settings.database_url == "postgresql+asyncpg://u@db/cohort"


def test_relative_sqlite_path_is_relative_to_the_config(tmp_path: Path) -> None:
    """A relative SQLite path in the config resolves against the config's folder."""
    config = write(tmp_path / "c.toml", '[database]\nurl = "sqlite:///data/x.db"\n')
    assert load_settings(config).database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'x.db'}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[privacy]\nmode = "sometimes"\n', "privacy.mode: Input should be 'opt_in' or 'opt_out'"),
        ("[privacy]\nmoed = 1\n", "privacy.moed: unknown setting"),
        (
            "[ingest]\nbatch_size = 0\n",
            "ingest.batch_size: Input should be greater than or equal to 1",
        ),
        ('[database]\nurl = "mysql://x"\n', "database.url: must start with sqlite+aiosqlite://"),
        ("[telegarm]\ntoken = 'x'\n", "telegarm: unknown setting"),
    ],
)
def test_bad_settings_name_the_key_in_one_line(tmp_path: Path, text: str, expected: str) -> None:
    """A bad config is one line naming file, key and problem."""
    config = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{config}: {expected}")


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    """A TOML syntax error says where it is."""
    config = write(tmp_path / "c.toml", "[privacy]\nmode = opt_in\n")
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2"):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    """Naming a config that does not exist is an error, not silent defaults."""
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_example_config_documents_every_setting_and_loads() -> None:
    """config.example.toml loads as-is and mentions every setting of every section."""
    from bot.config import Settings

    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    settings = load_settings(example)
    text = example.read_text(encoding="utf-8")
    for section, model in Settings.model_fields.items():
        assert f"[{section}]" in text
        annotation = model.annotation
        assert annotation is not None
        for key in annotation.model_fields:
            assert f"\n{key} =" in text or f"\n# {key} =" in text, f"{section}.{key} undocumented"
    assert settings.privacy.mode is PrivacyMode.OPT_IN
