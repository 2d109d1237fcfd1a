"""Error pages of the console: a person navigating gets a page, not JSON.

Only for /console paths and requests `wants_page` recognises (a browser navigating or posting
a plain form); htmx, scripts and every other path keep FastAPI's JSON answer.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from backend.console.templating import render
from backend.staff.deps import wants_page

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not possible here",
    409: "Changed meanwhile",
    422: "Could not do that",
    429: "Too many requests",
}


async def console_http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if not (
        request.url.path.startswith("/console/")
        and exc.status_code in TITLES
        and wants_page(request)
    ):
        return await http_exception_handler(request, exc)
    detail = exc.detail
    message = detail.get("message") if isinstance(detail, dict) else None
    return render(
        request,
        "error.html",
        status_code=exc.status_code,
        headers=exc.headers,
        title=TITLES[exc.status_code],
        message=message or str(detail),
    )
