"""Interactive API docs (``/docs``, Swagger UI) served from an installed package, never a CDN.

Off unless the site config says ``api.docs: true`` (``/openapi.json`` is always served). The
page and its three assets come from ``swagger_ui_bundle`` (Swagger UI 4.15, Apache-2.0), so a
browser opening ``/docs`` loads nothing from a third party, and the docs work offline. Only
the files the page needs are served (not the package's demo ``index.html``, which points at a
public example API). ``/redoc`` is not served: no installed package ships ReDoc.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

PREFIX = "/docs/assets"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "favicon-32x32.png": "image/png"}
# The page may load only from the site itself; Swagger UI starts from an inline script.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


@cache
def _asset(name: str) -> bytes:
    from swagger_ui_bundle import swagger_ui_path

    return (Path(str(swagger_ui_path)) / name).read_bytes()


def mount_docs(app: FastAPI) -> None:
    """Add ``GET /docs`` and its assets to ``app``."""
    _asset("swagger-ui-bundle.js")  # fails at start, not on the first visit, if not installed

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - docs",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon-32x32.png")
        page.headers["Content-Security-Policy"] = CSP
        return page

    for name, media_type in ASSETS.items():
        app.add_api_route(f"{PREFIX}/{name}", _asset_route(name, media_type), methods=["GET"],
                          include_in_schema=False)


def _asset_route(name: str, media_type: str) -> Callable[[], Awaitable[Response]]:
    """An endpoint without parameters (the file name is fixed, never taken from the request)."""
    async def serve() -> Response:
        return Response(_asset(name), media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})

    return serve
