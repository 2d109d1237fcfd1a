"""Settings of the backend service: one object, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "dev-service-token"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_prefix="ACORDO_", extra="ignore")

    environment: str = Field("local", description="local, test or production")
    database_url: str = Field(
        f"sqlite:///{REPO_ROOT / 'var' / 'acordo.sqlite3'}",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; PostgreSQL as postgresql+psycopg://user:pass@host/db",
    )
    service_token: str = Field(
        "dev-service-token", description="Bearer token the action server and gateway present"
    )
    verification_max_attempts: int = Field(3, ge=1, le=10)
    verification_lock_minutes: int = Field(60 * 24, ge=1)
    verification_ttl_minutes: int = Field(
        240, ge=5, description="How long a verified channel contact may see debt details"
    )
    document_suffix_length: int = Field(
        4, ge=3, le=6, description="Trailing document characters a debtor types to verify"
    )
    database_timeout_seconds: float = Field(10.0, gt=0)
    rasa_url: str = Field("http://127.0.0.1:5005", description="Base URL of the Rasa server")
    # Rasa loads its model lazily, so the first message after a start can take many seconds.
    rasa_timeout_seconds: float = Field(30.0, gt=0)
    webchat_max_message_chars: int = Field(2000, ge=1)
    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def refuse_placeholder_secrets_outside_local(self) -> Settings:
        if self.environment == "production" and self.service_token in PLACEHOLDER_SECRETS:
            raise ValueError("set ACORDO_SERVICE_TOKEN to a real secret in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
