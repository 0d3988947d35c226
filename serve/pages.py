"""The pages an SRE looks at: incidents, one incident's timeline, the approval queue. The HTML
is a shell with no data (so it is served without a token); its script reads the API with the
token the SRE gives it, kept in the browser's localStorage (a link may carry it in the URL
fragment, which never reaches a server)."""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)
SHELL = Path(__file__).parent / "static" / "app.html"


@cache
def _shell() -> str:
    return SHELL.read_text()


def _page(page: str, subject: str = "") -> HTMLResponse:
    html = _shell().replace("{{page}}", page).replace("{{subject}}", escape(subject, quote=True))
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline' "
            "'self'; style-src 'unsafe-inline' 'self'; connect-src 'self'; img-src 'self' blob:",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


VENDOR = Path(__file__).parent / "static" / "vendor"
TYPES = {".js": "text/javascript", ".css": "text/css"}


@router.get("/static/vendor/{package}/{name}")
def vendored(package: str, name: str) -> FileResponse:
    """The pages' vendored libraries (each folder holds its licence); nothing else is served."""
    path = (VENDOR / package / name).resolve()
    if path.suffix not in TYPES or path.parent.parent != VENDOR.resolve() or not path.is_file():
        raise HTTPException(404, "not found")
    return FileResponse(path, media_type=TYPES[path.suffix],
                        headers={"Cache-Control": "public, max-age=86400",
                                 "X-Content-Type-Options": "nosniff"})


@router.get("/", response_class=HTMLResponse)
def incidents_page() -> HTMLResponse:
    return _page("incidents")


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: str) -> HTMLResponse:
    return _page("incident", incident_id)


@router.get("/models", response_class=HTMLResponse)
def models_page() -> HTMLResponse:
    return _page("models")


@router.get("/trajectories", response_class=HTMLResponse)
def trajectories_page() -> HTMLResponse:
    return _page("trajectories")


@router.get("/trajectories/{trajectory_id}", response_class=HTMLResponse)
def trajectory_page(trajectory_id: str) -> HTMLResponse:
    return _page("trajectory", trajectory_id)


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page() -> HTMLResponse:
    return _page("approvals")
