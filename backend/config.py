"""Settings of the backend service: one object, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "dev-service-token", "dev-link-secret"})


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
    creditor_name: str = Field(
        "Aurora Crédito",
        description="the creditor this deployment collects for, named in the web chat's greeting",
    )
    document_suffix_length: int = Field(
        4, ge=3, le=6, description="Trailing document characters a debtor types to verify"
    )
    database_timeout_seconds: float = Field(10.0, gt=0)
    rasa_url: str = Field("http://127.0.0.1:5005", description="Base URL of the Rasa server")
    # Rasa loads its model lazily, so the first message after a start can take many seconds.
    rasa_timeout_seconds: float = Field(30.0, gt=0)
    webchat_max_message_chars: int = Field(2000, ge=1)
    # Telegram
    telegram_bot_token: str = Field("", description="BotFather's token; empty: no Telegram")
    telegram_webhook_secret: str = Field(
        "", description="Telegram sends it in X-Telegram-Bot-Api-Secret-Token with each update"
    )
    telegram_bot_username: str = Field("", description="the bot's @username, for deep links")
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    link_token_secret: str = Field(
        "dev-link-secret", description="HMAC key of the deep-link tokens that bind a chat"
    )
    link_token_ttl_minutes: int = Field(4320, ge=1)
    # WhatsApp Cloud API: the channel refuses to work (503) until the first four are set.
    whatsapp_phone_number_id: str = Field("", description="the business number's id at Meta")
    whatsapp_access_token: str = Field("", description="a system user's token for the Graph API")
    whatsapp_app_secret: str = Field("", description="signs each webhook (X-Hub-Signature-256)")
    whatsapp_verify_token: str = Field("", description="echoed by Meta's webhook handshake")
    whatsapp_graph_base_url: str = "https://graph.facebook.com"
    whatsapp_graph_version: str = "v21.0"
    whatsapp_timeout_seconds: float = Field(10.0, gt=0)
    whatsapp_templates: dict[str, str] = Field(
        default_factory=dict,
        description="approved template per conversation language, for messages sent outside "
        'the 24-hour window, as JSON: {"pt_BR": "lembrete_pagamento", ...}',
    )
    whatsapp_template_languages: dict[str, str] = Field(
        default_factory=lambda: {"pt_BR": "pt_BR", "es": "es", "it": "it", "en": "en_US"},
        description="conversation language → the template's language code at Meta",
    )
    # Knowledge base
    knowledge_articles_dir: Path = REPO_ROOT / "knowledge" / "articles"
    knowledge_store_dir: Path = Field(
        REPO_ROOT / "var" / "chroma", description="the persistent Chroma collection"
    )
    knowledge_top_k: int = Field(3, ge=1, le=10)
    knowledge_score_threshold: float = Field(
        0.80, ge=0, le=1, description="cosine relevance below which the bot says it doesn't know"
    )
    knowledge_chat_provider: str = Field(
        "", description="LangChain provider of the optional generative answers; empty: off"
    )
    knowledge_chat_model: str = Field("", description="the chat model, e.g. gpt-4o-mini")
    knowledge_chat_timeout_seconds: float = Field(20.0, gt=0)
    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def refuse_placeholder_secrets_outside_local(self) -> Settings:
        if self.environment == "production" and self.service_token in PLACEHOLDER_SECRETS:
            raise ValueError("set ACORDO_SERVICE_TOKEN to a real secret in production")
        if self.environment == "production" and self.link_token_secret in PLACEHOLDER_SECRETS:
            raise ValueError("set ACORDO_LINK_TOKEN_SECRET to a real secret in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
