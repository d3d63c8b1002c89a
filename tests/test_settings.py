"""Settings come from FRONTDESK_* variables only, with clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from frontdesk.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_sqlite_and_a_generated_key(tmp_path: Path) -> None:
    settings = load_settings({"FRONTDESK_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/frontdesk.db"
    assert settings.is_sqlite
    assert settings.runs_worker_in_process
    key_file = tmp_path / "secret.key"
    assert settings.secret_keys == (key_file.read_text().strip(),)
    assert key_file.stat().st_mode & 0o077 == 0  # readable by the owner only
    assert load_settings({"FRONTDESK_DATA_DIR": str(tmp_path)}).secret_keys == settings.secret_keys


def test_every_variable_is_read(tmp_path: Path) -> None:
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    settings = load_settings(
        {
            "FRONTDESK_DATA_DIR": str(tmp_path),
            "FRONTDESK_DATABASE_URL": "postgresql://u@db/frontdesk",
            "FRONTDESK_SECRET_KEY": keys,
            "FRONTDESK_META_APP_ID": "900100200300400",
            "FRONTDESK_META_APP_SECRET": "s3cret",
            "FRONTDESK_META_VERIFY_TOKEN": "verify-me",
            "FRONTDESK_GRAPH_URL": "http://127.0.0.1:8081/",
            "FRONTDESK_WORKERS": "8",
            "FRONTDESK_WORKER_NICE": "0",
            "FRONTDESK_SENDS_PER_SECOND": "300",
            "FRONTDESK_IN_PROCESS_WORKER": "true",
        }
    )
    assert settings.secret_keys == tuple(keys.split(","))
    assert (settings.meta_app_id, settings.meta_app_secret, settings.meta_verify_token) == (
        "900100200300400",
        "s3cret",
        "verify-me",
    )
    assert settings.graph_url == "http://127.0.0.1:8081"
    assert not settings.is_sqlite
    assert settings.runs_worker_in_process
    assert settings.workers == 8
    assert settings.worker_nice == 0
    assert settings.sends_per_second == 300
    assert "s3cret" not in repr(settings)
    assert keys.split(",")[0] not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FRONTDESK_SECRET_KEY": "not-a-key"}, "FRONTDESK_SECRET_KEY"),
        ({"FRONTDESK_DATABASE_URL": "mysql://x"}, "FRONTDESK_DATABASE_URL"),
        ({"FRONTDESK_WORKERS": "many"}, "FRONTDESK_WORKERS"),
        ({"FRONTDESK_WORKERS": "0"}, "FRONTDESK_WORKERS"),
        ({"FRONTDESK_WORKER_NICE": "20"}, "FRONTDESK_WORKER_NICE"),
        ({"FRONTDESK_WORKER_NICE": "-5"}, "FRONTDESK_WORKER_NICE"),
        ({"FRONTDESK_SENDS_PER_SECOND": "301"}, "FRONTDESK_SENDS_PER_SECOND"),
        ({"FRONTDESK_SENDS_PER_SECOND": "0.5"}, "FRONTDESK_SENDS_PER_SECOND"),
        ({"FRONTDESK_IN_PROCESS_WORKER": "perhaps"}, "FRONTDESK_IN_PROCESS_WORKER"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({"FRONTDESK_DATA_DIR": str(tmp_path), **env})
