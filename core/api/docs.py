"""The API documentation at ``/docs``: Swagger UI served from the installed package.

FastAPI's own ``/docs`` page loads Swagger UI's script and styles (and a favicon) from
public CDNs, so on a machine without internet it is a blank page. This page is
FastAPI's, with every asset served by the API itself from ``swagger-ui-bundle-v2``, a
PyPI package that ships Swagger UI's release files: the version is pinned by the
project's dependencies and installed with them, and nothing is fetched at run time or
build time. Swagger UI's online validator badge (a request to validator.swagger.io) is
turned off. ReDoc's page (FastAPI's ``/redoc``) is not served: one reference is enough,
and no package ships ReDoc's script for Python.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

#: Where Swagger UI's files are served.
ASSETS = "/docs/assets"
#: The files of the installed Swagger UI release.
ASSET_DIR = Path(str(swagger_ui_path))


def mount_docs(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """Serve ``/docs`` and its assets on ``app`` (created with ``docs_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
