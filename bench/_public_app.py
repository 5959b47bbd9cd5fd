"""The API app plus a static directory: bench/public.py's baseline, served by the same uvicorn."""

from __future__ import annotations

import os

from starlette.staticfiles import StaticFiles

from api.main import create_app

app = create_app()
# The same middleware stack as every route; only the handler differs (a file on disk).
app.mount("/bench-static", StaticFiles(directory=os.environ["BENCH_STATIC_DIR"]))
