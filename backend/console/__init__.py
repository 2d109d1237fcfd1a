"""The staff console at /console: server-rendered pages (Jinja2) with htmx, no CDN.

`console_router()` holds signing in and out (the lead includes it with prefix `/console`);
each page area has its own router (queue, conversations, KPIs). `mount_console_static(app)`
serves the vendored htmx, its SSE extension and the style sheet at /console/static.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from backend.console.auth_views import router as auth_router
from backend.console.templating import STATIC_DIR

STATIC_PATH = "/console/static"


def console_router() -> APIRouter:
    """Sign-in, sign-out, the console's home and the supervisors' staff list."""
    return auth_router


def mount_console_static(app: FastAPI) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="console-static")
