"""The console: one function serving the page and its static assets from `console/` (no build
step). Public files only: every figure on the page comes from the management API, which checks
the admin key (or, on Azure, the Entra sign-in) on each call."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import NotFound
from ..gateway import Gateway
from ..http_types import ApiRequest, ApiResponse

ROOT = Path(__file__).resolve().parent.parent.parent / "console"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
          ".txt": "text/plain; charset=utf-8"}
# The page runs only its own script and talks only to its own origin; nothing may frame it.
_HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; "
                                       "style-src 'self'; img-src 'self' data:; "
                                       "connect-src 'self'; frame-ancestors 'none'; "
                                       "base-uri 'none'; form-action 'self'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache"}


@lru_cache(maxsize=1)
def _assets() -> dict[str, Path]:
    """Every file under console/ by its relative path: requests name one of these or get a 404,
    so no path can reach outside the folder."""
    return {p.relative_to(ROOT).as_posix(): p for p in ROOT.rglob("*") if p.is_file()}


async def serve(gw: Gateway, req: ApiRequest) -> ApiResponse:
    name = req.path_params.get("path", "") or "index.html"
    path = _assets().get(name)
    if path is None or path.suffix not in _TYPES:
        raise NotFound(f"No console file '{name}'.", param="path")
    return ApiResponse(body=path.read_bytes(), media_type=_TYPES[path.suffix],
                       headers=dict(_HEADERS))
