"""Settings: every `FRONTDESK_*` variable, read once by `load_settings()` and passed down."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

DEFAULT_DATA_DIR = "./data"
DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v25.0"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR}/frontdesk.db"
    secret_keys: tuple[str, ...] = field(default_factory=tuple, repr=False)
    """Fernet keys, newest first: the first encrypts, all decrypt (rotation)."""
    meta_app_id: str = ""
    meta_app_secret: str = field(default="", repr=False)
    meta_verify_token: str = field(default="", repr=False)
    graph_url: str = DEFAULT_GRAPH_URL
    graph_version: str = DEFAULT_GRAPH_VERSION
    public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 1024 * 1024
    workers: int = 4
    """Transactions (batches of jobs) a worker process runs side by side; one on SQLite."""
    worker_nice: int = 10
    """How much lower than normal the CPU priority of `frontdesk worker` is (0 to 19): on a
    machine it shares with `frontdesk serve`, acknowledging Meta's webhooks goes first."""
    sends_per_second: int = 50
    """Messages sent per second per Page and process, at most; Meta allows 300 (digest §10)."""
    job_lease_seconds: int = 60
    """How long a claimed job stays a worker's: a killed worker's jobs are taken over after it."""
    in_process_worker: bool | None = None
    """Run a worker inside `frontdesk serve`; None = only on SQLite."""
    log_level: str = "info"
    """Frontdesk's log level, one of LOG_LEVELS (libraries' chatter stays at warning)."""

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def runs_worker_in_process(self) -> bool:
        return self.is_sqlite if self.in_process_worker is None else self.in_process_worker


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name} must be between {low} and {high}")
    return number


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _secret_keys(env: Mapping[str, str], data_dir: Path) -> tuple[str, ...]:
    """FRONTDESK_SECRET_KEY (comma-separated for rotation), or a key file made on first run."""
    raw = env.get("FRONTDESK_SECRET_KEY", "")
    if not raw:
        key_file = data_dir / "secret.key"
        if not key_file.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_bytes(Fernet.generate_key())
            key_file.chmod(stat.S_IRUSR | stat.S_IWUSR)
        raw = key_file.read_text().strip()
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise SettingsError(
                "FRONTDESK_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes), "
                "comma-separated, newest first"
            ) from None
    return keys


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from the environment; the only place that reads it."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("FRONTDESK_DATA_DIR") or DEFAULT_DATA_DIR)
    database_url = env.get("FRONTDESK_DATABASE_URL") or f"sqlite:///{data_dir}/frontdesk.db"
    if not database_url.startswith(("sqlite", "postgresql")):
        raise SettingsError("FRONTDESK_DATABASE_URL must be a sqlite:/// or postgresql:// URL")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_keys=_secret_keys(env, data_dir),
        meta_app_id=env.get("FRONTDESK_META_APP_ID", ""),
        meta_app_secret=env.get("FRONTDESK_META_APP_SECRET", ""),
        meta_verify_token=env.get("FRONTDESK_META_VERIFY_TOKEN", ""),
        graph_url=(env.get("FRONTDESK_GRAPH_URL") or DEFAULT_GRAPH_URL).rstrip("/"),
        graph_version=env.get("FRONTDESK_GRAPH_VERSION") or DEFAULT_GRAPH_VERSION,
        public_url=(env.get("FRONTDESK_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
        max_body_bytes=_int(env, "FRONTDESK_MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
        workers=_int(env, "FRONTDESK_WORKERS", 4, 1, 256),
        worker_nice=_int(env, "FRONTDESK_WORKER_NICE", 10, 0, 19),
        sends_per_second=_int(env, "FRONTDESK_SENDS_PER_SECOND", 50, 1, 300),
        job_lease_seconds=_int(env, "FRONTDESK_JOB_LEASE_SECONDS", 60, 1, 3600),
        in_process_worker=_flag(env, "FRONTDESK_IN_PROCESS_WORKER"),
        log_level=_choice(env, "FRONTDESK_LOG_LEVEL", LOG_LEVELS, "info"),
    )
