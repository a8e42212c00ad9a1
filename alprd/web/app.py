"""The ASGI application: the API (api.py), the page (static/), auth (auth.py), live events (live.py).

`create_app(settings)` builds it; alprd.web.server runs it under uvicorn. The database is opened
lazily and read only through the query functions; its problems become one-line 4xx/503 answers.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from alprd.web import api
from alprd.web.auth import AuthMiddleware
from alprd.web.live import BusListener, Hub
from alprd.web.settings import WebSettings

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


class WebState:
    """What the routes share: settings, the engine (opened on first use), the hub, the listener."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.hub = Hub(settings.live_buffer)
        self.listener: BusListener | None = None
        self._engine = None
        self._schema_ok = False
        self._lock = threading.Lock()

    @property
    def has_db(self) -> bool:
        return self.settings.db_url is not None

    def engine(self):
        from alprd.sinks import schema
        from alprd.sinks.db_url import make_engine, sqlite_path

        if self.settings.db_url is None:
            raise HTTPException(503, "no history: the SQL sink is off (sinks.sql.enabled) and no --url was given")
        with self._lock:
            if self._engine is None:
                from sqlalchemy.engine import make_url

                url = make_url(self.settings.db_url)
                path = sqlite_path(url)
                if path is not None and not path.exists():
                    raise HTTPException(503, f"no database at {path} yet (the daemon creates it at start)")
                self._engine = make_engine(url, busy_timeout_s=self.settings.busy_timeout_s, create_dirs=False)
            if not self._schema_ok:
                try:
                    schema.check_schema_current(self._engine)
                except (schema.SchemaError, schema.DatabaseUnavailable) as exc:
                    raise HTTPException(503, str(exc)) from None
                self._schema_ok = True
            return self._engine

    def query(self, fn, *args, **kwargs):
        """fn(engine, ...) with database failures as one-line 503s and list errors as 4xx."""
        from alprd.parking.lists import ListError
        from alprd.sinks.db_url import mask_url, redact

        engine = self.engine()
        try:
            return fn(engine, *args, **kwargs)
        except ListError as exc:
            raise HTTPException(404 if str(exc).startswith(("unknown list", "list ")) and "has no" not in str(exc)
                                else 400, str(exc)) from None
        except HTTPException:
            raise
        except Exception as exc:  # driver errors: one line, password masked
            msg = redact(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], engine.url)
            log.warning("web: database read failed: %s", msg)
            raise HTTPException(503, f"{mask_url(engine.url)}: {msg}") from None

    def db_status(self) -> dict:
        try:
            self.engine()
            return {"ok": True}
        except HTTPException as exc:
            return {"ok": False, "detail": exc.detail}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.hub.attach(loop)
        if self.settings.bus_endpoint and self.listener is None:
            self.listener = BusListener(self.settings.bus_endpoint, self.hub).start()

    def stop(self) -> None:
        self.hub.close()
        if self.listener is not None:
            self.listener.stop()
        if self._engine is not None:
            self._engine.dispose()


def create_app(settings: WebSettings) -> FastAPI:
    state = WebState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(title="alprd", version="1", summary="plate events, crops, cameras, live stream",
                  docs_url=None, redoc_url=None, lifespan=lifespan)  # Swagger's UI loads from a CDN: off
    app.state.web = state
    app.include_router(api.router(state))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        lines = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body"))
            lines.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return JSONResponse({"detail": "; ".join(lines) or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):  # a bug: logged here, never a traceback out
        log.error("web: %s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc,
                  exc_info=exc)
        return JSONResponse({"detail": "internal error (logged)"}, status_code=500)

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(AuthMiddleware, creds=settings.credentials)
    return app

