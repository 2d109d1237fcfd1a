"""The backend service: FastAPI app, routers and the one place errors become HTTP responses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from backend.access_log import AccessLog, silence_uvicorn_access_log
from backend.campaigns.contact_rules_views import router as contact_rules_router
from backend.campaigns.views import router as campaigns_router
from backend.config import get_settings
from backend.console import conversation_views, install_console, queue_views
from backend.contacts.views import router as contacts_router
from backend.db import SessionDep
from backend.debts.views import router as debts_router
from backend.deps import Now, require_contact_signature, require_service_token
from backend.exceptions import DomainError, RateLimited
from backend.gateway.channels.email import router as email_router
from backend.gateway.channels.telegram_webhook import router as telegram_router
from backend.gateway.channels.telegram_webhook import webhook_router
from backend.gateway.channels.webchat import STATIC_DIR as CHAT_STATIC_DIR
from backend.gateway.channels.webchat import router as chat_router
from backend.gateway.channels.whatsapp import router as whatsapp_router
from backend.gateway.lifespan import lifespan as gateway_lifespan
from backend.knowledge.index import warm_up as warm_up_knowledge
from backend.knowledge.views import router as knowledge_router
from backend.kpis.views import router as kpi_router
from backend.ledger.views import router as ledger_router
from backend.limits import AddressRateLimiter, BodySizeLimit
from backend.observability.logs import configure_logging
from backend.observability.metrics import exposition
from backend.observability.timing import install_sql_timing
from backend.payments.views import router as payments_router
from backend.segments.views import router as segments_router
from backend.verification.views import router as verification_router

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The knowledge index builds in the background while the gateway's clients open."""
    settings = app.dependency_overrides.get(get_settings, get_settings)()
    warm_up_knowledge(settings.knowledge_store_dir)
    async with gateway_lifespan(app):
        yield


def create_app() -> FastAPI:
    configure_logging("backend")
    install_sql_timing()
    app = FastAPI(
        title="Acordo collections backend",
        version="0.1.0",
        description=(
            "Debtors, debts, negotiation policies and payment plans. The bot proposes; this "
            "service decides. Every route under /api/v1 needs the service token as a Bearer "
            "token, except the payment provider's webhook, which is signed with its own secret."
        ),
        lifespan=lifespan,
    )
    # The action server's token, and for a contact's routes the gateway's signature of it.
    protected = [Depends(require_service_token), Depends(require_contact_signature)]
    for router in (
        contacts_router,
        verification_router,
        debts_router,
        telegram_router,
        knowledge_router,
        ledger_router,
        campaigns_router,
        contact_rules_router,
        segments_router,
    ):
        app.include_router(router, prefix=API_PREFIX, dependencies=protected)
    # The payment provider signs each call with its own secret; the service token is no use here.
    app.include_router(payments_router, prefix=API_PREFIX)
    # The customer-facing web chat is public: its visitors hold no token.
    app.include_router(chat_router)
    app.include_router(webhook_router)
    # Meta calls the WhatsApp webhook; it authenticates with its own signature.
    app.include_router(whatsapp_router)
    # Unsubscribe links from e-mails: signed, followed from the person's mailbox.
    app.include_router(email_router)
    app.mount("/chat/static", StaticFiles(directory=CHAT_STATIC_DIR), name="chat-static")
    # The staff console: sign-in, static files, then its pages (each needs a staff session).
    install_console(app)
    for console_router in (queue_views.router, conversation_views.router, kpi_router):
        app.include_router(console_router, prefix="/console")
    app.add_middleware(BodySizeLimit)
    # One per app, so that each app (and each test) counts from zero.
    app.state.webchat_limiter = AddressRateLimiter()

    # Outermost, so that every answer is logged, refusals by the other middleware included.
    app.add_middleware(AccessLog)
    silence_uvicorn_access_log()

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # For Prometheus on this machine; the Procfile binds the backend to 127.0.0.1.
    @app.get("/metrics", include_in_schema=False)
    def metrics(db_session: SessionDep, now: Now) -> Response:
        body, content_type = exposition(db_session, now)
        return Response(body, media_type=content_type)

    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    return app


def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
    body = {"reason_code": exc.reason_code, "message": exc.message, **exc.details}
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return JSONResponse(status_code=exc.status_code, content={"detail": body}, headers=headers)


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [
        {"field": ".".join(str(part) for part in error["loc"][1:]), "message": error["msg"]}
        for error in exc.errors()
    ]
    message = "; ".join(f"{p['field'] or 'body'}: {p['message']}" for p in problems)
    return JSONResponse(
        status_code=422,
        content={
            "detail": {"reason_code": "invalid_request", "message": message, "errors": problems}
        },
    )


def _database_unavailable(_request: Request, exc: OperationalError) -> JSONResponse:
    log.error("database unavailable: %s", exc.orig.__class__.__name__)
    return JSONResponse(
        status_code=503,
        content={
            "detail": {
                "reason_code": "service_unavailable",
                "message": "the database is unavailable; try again shortly",
            }
        },
    )


app = create_app()
