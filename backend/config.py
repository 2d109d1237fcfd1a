"""Settings of the backend service: one object, read from the environment and `.env`.

Development secrets are public (they are in this repository), so settings refuse to load with
one unless `ACORDO_ENVIRONMENT` is explicitly `development` or `test`: an unset, misspelt or
any other environment is treated as production.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# The only environments where the development secrets below may be used.
DEVELOPMENT_ENVIRONMENTS = frozenset({"development", "test"})
GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
# Secrets every deployment must set: their defaults only serve development and tests.
REQUIRED_SECRETS = (
    "service_token",
    "link_token_secret",
    "payments_webhook_secret",
    "verification_secret",
    "data_key",
    "contact_signing_secret",
)
# Channel secrets: empty turns the channel off, so only known placeholders are refused.
OPTIONAL_SECRETS = ("telegram_webhook_secret", "whatsapp_app_secret", "whatsapp_verify_token")
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "secret",
        "dev-service-token",
        "dev-link-secret",
        "dev-payments-webhook-secret",
        "dev-verification-secret",
        "dev-data-key",
        "dev-contact-signing-secret",
    }
)
# What secrets.token_urlsafe(32) gives is 43 characters; shorter ones are guessable.
MIN_SECRET_CHARS = 32


class InsecureSettings(Exception):
    """A development or placeholder secret outside development; names each setting to fix.

    Not a ValueError, so pydantic does not fold it into a validation report: it stops the
    process with this message.
    """

    def __init__(self, environment: str, problems: dict[str, str]) -> None:
        self.problems = problems
        lines = [
            f"  ACORDO_{name.upper()}: {problem}" for name, problem in sorted(problems.items())
        ]
        super().__init__(
            f"refusing to start with development secrets (ACORDO_ENVIRONMENT={environment!r}):\n"
            + "\n".join(lines)
            + f"\nGenerate each secret with:\n  {GENERATE_SECRET}\n"
            "or, on a developer's machine only, set ACORDO_ENVIRONMENT=development."
        )


def secret_problems(values: dict[str, str]) -> dict[str, str]:
    """What is wrong with each secret setting for a production run (empty when nothing)."""
    problems: dict[str, str] = {}
    for name in REQUIRED_SECRETS:
        value = values[name]
        if not value or value.lower() in PLACEHOLDER_SECRETS:
            problems[name] = "is a development default or a placeholder; set a real secret"
        elif len(value) < MIN_SECRET_CHARS:
            problems[name] = f"is shorter than {MIN_SECRET_CHARS} characters"
    for name in OPTIONAL_SECRETS:
        if values[name].lower() in PLACEHOLDER_SECRETS:
            problems[name] = "is a placeholder; set a real secret, or leave it empty (off)"
    return problems


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_prefix="ACORDO_", extra="ignore")

    environment: str = Field(
        "production",
        description="development or test allow the development secrets; anything else is "
        "production",
    )
    database_url: str = Field(
        f"sqlite:///{REPO_ROOT / 'var' / 'acordo.sqlite3'}",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; PostgreSQL as postgresql+psycopg://user:pass@host/db",
    )
    service_token: str = Field(
        "dev-service-token", description="Bearer token the action server and staff tools present"
    )
    payments_webhook_secret: str = Field(
        "dev-payments-webhook-secret",
        description="HMAC-SHA256 key the payment provider signs each payment webhook with",
    )
    data_key: str = Field(
        "dev-data-key",
        description="master key that wraps each person's data key (backend/privacy): losing it "
        "makes every logged text unreadable",
    )
    # Bodies over this are refused (413) before they are read: web chat, payments, the API.
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Telegram and WhatsApp webhooks: Meta batches several messages and statuses in one call.
    max_webhook_body_bytes: int = Field(3 * 1024 * 1024, ge=1024)
    # Requests per client address to the public web chat API, in the `limits` notation.
    webchat_rate_limit: str = "30/minute"
    # Staff console (backend/staff): sessions and failed sign-ins.
    staff_session_idle_minutes: int = Field(
        8 * 60, ge=5, description="a console session ends after this long without a request"
    )
    staff_session_max_hours: int = Field(
        24, ge=1, description="a console session ends this long after sign-in, however active"
    )
    staff_login_rate_limit: str = Field(
        "5 per 15 minutes",
        description="failed sign-ins allowed per e-mail and per client address, in the `limits` "
        "notation; more are refused without checking the password",
    )
    verification_max_attempts: int = Field(3, ge=1, le=10)
    verification_lock_minutes: int = Field(60 * 24, ge=1)
    verification_ttl_minutes: int = Field(
        15,
        ge=5,
        description="idle timeout: minutes without a verified request after which a contact "
        "must verify again to see debt details",
    )
    # The gateway signs each turn's contact for the action server (backend/contacts/signing.py).
    contact_signing_secret: str = Field(
        "dev-contact-signing-secret",
        description="HMAC key of the contact signatures the gateway puts in each turn",
    )
    contact_signature_ttl_seconds: int = Field(
        600, ge=30, description="how long the action server may use a turn's contact signature"
    )
    # Guards against guessing (backend/verification/, README "Verification").
    verification_secret: str = Field(
        "dev-verification-secret",
        description="HMAC key of the stored client-address hashes and one-time codes",
    )
    verification_free_failures: int = Field(
        2, ge=0, description="failures per debtor and per address before each next one waits"
    )
    verification_backoff_base_seconds: int = Field(
        30, ge=1, description="the first wait; each further failure doubles it"
    )
    verification_backoff_max_seconds: int = Field(3600, ge=1)
    verification_address_window_minutes: int = Field(
        24 * 60, ge=1, description="how long a client address's failures are counted"
    )
    verification_debtor_max_failures: int = Field(
        5, ge=1, description="failures for one debtor, over all contacts, that lock knowledge-only"
    )
    verification_debtor_lock_minutes: int = Field(
        30 * 24 * 60, ge=1, description="how long knowledge alone verifies nobody as that debtor"
    )
    verification_global_failures_per_hour: int = Field(
        100, ge=1, description="failures everywhere above which every unbound contact needs a code"
    )
    verification_code_ttl_minutes: int = Field(10, ge=1, le=60)
    verification_code_max_attempts: int = Field(5, ge=1, le=10)
    verification_codes_per_hour: int = Field(5, ge=1, description="codes e-mailed per debtor")
    # Outbound e-mail (one-time codes; reminders later). Empty host: no e-mail is sent.
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = Field("Acordo <no-reply@acordo.invalid>", description="the From header")
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (port 587), ssl (port 465) or none (loopback only)"
    )
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    creditor_name: str = Field(
        "Aurora Crédito",
        description="the creditor this deployment collects for, named in the web chat's greeting",
    )
    document_suffix_length: int = Field(
        4, ge=3, le=6, description="Trailing document characters a debtor types to verify"
    )
    database_timeout_seconds: float = Field(10.0, gt=0)
    # Connections each process keeps open, and how many more it may open at busy times. A
    # sync route or gateway step holds one only while it runs (never while a turn waits on
    # Rasa); 40 is the size of the thread pool that runs them. On PostgreSQL, processes ×
    # (pool + overflow) must stay below the server's max_connections.
    database_pool_size: int = Field(10, ge=1, le=1000)
    database_max_overflow: int = Field(30, ge=0, le=1000)
    rasa_url: str = Field("http://127.0.0.1:5005", description="Base URL of the Rasa server")
    tracker_store_url: str = Field(
        "",
        description="Rasa's tracker store (the same ACORDO_TRACKER_STORE_URL bot/endpoints.yml "
        "reads), so that erasing a debtor also deletes their conversations there",
    )
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
    knowledge_background_dir: Path = Field(
        REPO_ROOT / "knowledge" / "background",
        description="off-topic messages per language: questions closer to them get no guide",
    )
    knowledge_store_dir: Path = Field(
        REPO_ROOT / "var" / "chroma", description="the persistent Chroma collection"
    )
    knowledge_top_k: int = Field(3, ge=1, le=10)
    # A guide is quoted when its cosine similarity to the question, less `background_weight`
    # times the similarity of the closest off-topic message, reaches the threshold; else the bot
    # says it doesn't know. Chosen on knowledge/eval (python -m backend.knowledge.evaluation).
    knowledge_score_threshold: float = Field(
        0.3142, ge=0, le=1, description="below this the bot says it doesn't know (see above)"
    )
    knowledge_background_weight: float = Field(
        0.65, ge=0, le=1, description="how much nearness to off-topic messages counts against"
    )
    knowledge_chat_provider: str = Field(
        "", description="LangChain provider of the optional generative answers; empty: off"
    )
    knowledge_chat_model: str = Field("", description="the chat model, e.g. gpt-4o-mini")
    knowledge_chat_timeout_seconds: float = Field(20.0, gt=0)
    # Staff handoffs (backend/handoffs/): when people answer, and what the debtor is told.
    staff_hours_timezone: str = Field(
        "America/Sao_Paulo", description="time zone of the staff's business hours"
    )
    staff_hours: str = Field(
        "mon-fri 09:00-18:00",
        description="when staff answer, e.g. 'mon-fri 09:00-18:00, sat 09:00-13:00'; outside "
        "them a debtor handed to a person is told when the team is back",
    )
    staff_expected_response_minutes: int = Field(
        15, ge=1, description="the wait a debtor is told to expect within business hours"
    )
    escalate_on_hardship: bool = Field(
        True, description="a debtor who says they are in hardship is also queued for a person"
    )
    scheduler_nightly_hour_utc: int = Field(
        2, ge=0, le=23, description="hour (UTC) the scheduler recomputes risk segments"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="where people reach this backend: e-mailed links (web chat, unsubscribe)",
    )

    @field_validator("webchat_rate_limit", "staff_login_rate_limit")
    @classmethod
    def rate_limit_is_readable(cls, value: str) -> str:
        limits.parse(value)  # a ValueError names what it could not read
        return value

    @field_validator("staff_hours")
    @classmethod
    def staff_hours_are_readable(cls, value: str) -> str:
        from backend.handoffs import hours  # the parser lives with the handoffs

        hours.parse(value)
        return value

    @field_validator("staff_hours_timezone")
    @classmethod
    def staff_hours_timezone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def is_development(self) -> bool:
        return self.environment in DEVELOPMENT_ENVIRONMENTS

    @model_validator(mode="after")
    def refuse_development_secrets_outside_development(self) -> Settings:
        if self.is_development:
            return self
        names = REQUIRED_SECRETS + OPTIONAL_SECRETS
        problems = secret_problems({name: getattr(self, name) for name in names})
        if problems:
            raise InsecureSettings(self.environment, problems)
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
