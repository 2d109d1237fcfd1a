"""Templates of the staff console: one Jinja2 environment, autoescaped, and `render`.

`render` adds what every page needs: `staff` (the signed-in member, or None) and `csrf_token`
(the session's, for forms), and the console's response headers: no caching of pages full of
personal data, no framing, scripts only from this origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

# htmx's SSE extension needs connect-src 'self'; inline style attributes stay allowed for the
# server-drawn SVG charts. No inline scripts, no eval (so no hx-on attributes).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def render(
    request: Request,
    name: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The template `name` as a response, with `staff` and `csrf_token` in its context."""
    session = getattr(request.state, "staff_session", None)
    context.setdefault("staff", session.staff if session is not None else None)
    context.setdefault("csrf_token", session.csrf_token if session is not None else "")
    return templates.TemplateResponse(
        request,
        name,
        context,
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )
