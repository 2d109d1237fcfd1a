"""The staff console at /console: server-rendered pages (Jinja2) with htmx, no CDN.

`install_console(app)` puts the console's shell in an app: `console_router()` (signing in and
out, the home, the staff list) under /console, the vendored htmx, its SSE extension and the
style sheet at /console/static (`mount_console_static`), and HTML error pages for people
(`backend.console.errors`). Each page area has its own router (queue, conversations, KPIs),
included with the prefix /console as well.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.console.auth_views import router as auth_router
from backend.console.errors import console_http_error
from backend.console.templating import STATIC_DIR

PREFIX = "/console"
STATIC_PATH = "/console/static"


def console_router() -> APIRouter:
    """Sign-in, sign-out, the console's home and the supervisors' staff list."""
    return auth_router


def mount_console_static(app: FastAPI) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="console-static")


def install_console(app: FastAPI) -> None:
    """Sign-in routes, static files and error pages; the page areas' routers come apart."""
    app.include_router(console_router(), prefix=PREFIX)
    mount_console_static(app)
    # Delegates to FastAPI's JSON answer for everything but a person's console page.
    app.add_exception_handler(StarletteHTTPException, console_http_error)
