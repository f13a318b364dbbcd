"""Settings, read from the environment with the ``FOREWARN_`` prefix (and from CLI flags)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("forewarn", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOREWARN_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    #: An external PostgreSQL (``postgresql://…``); when unset, an embedded server runs in ``data_dir``.
    database_url: SecretStr | None = None
    database_name: str = "forewarn"
    host: str = "127.0.0.1"
    port: int = 8000
    #: Public base URL, used in links and the ledger's origin line.
    base_url: str | None = None
    #: Base64 of a raw 32-byte Ed25519 private key; when unset one is created in the data dir.
    signing_key: SecretStr | None = None
    #: Base64 of a 32-byte AES-256-GCM key; when unset one is created in the data dir.
    data_key: SecretStr | None = None

    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 26_214_400
    session_hours: int = 12
    token_default_days: int = 90
    #: "auto": Secure cookies when the request came over https; "always" / "never" force it.
    cookie_secure: str = "auto"
    login_attempts_per_minute: int = 10
    log_level: str = "INFO"
    log_json: bool = True
    worker: bool = True
    worker_concurrency: int = 2

    @property
    def public_base_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
