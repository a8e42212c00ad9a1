"""Running the app: uvicorn on a socket bound here, until a stop is asked for.

The socket is bound before uvicorn starts, so a port in use is one clear error (WebError) and a
port of 0 gets a real one, which <state_dir>/web.json records (url, pid) for tests and tools.
`web_main` is the body of the daemon's `web` child (alprd.service.specs.web_spec): its own
process, so a bug here never touches capture; the child ignores SIGINT/SIGTERM (the supervisor
stops it with a Stop message), so uvicorn must not install its own signal handlers there.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import threading
from pathlib import Path

from alprd.web.settings import WebError, WebSettings

log = logging.getLogger(__name__)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        why = "in use by another process" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise WebError(f"web: cannot listen on {host}:{port} ({why})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def write_web_json(state_dir: Path, url: str) -> None:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / ".web.json.tmp"
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
        os.replace(tmp, state_dir / "web.json")
    except OSError as exc:
        log.warning("web: cannot write %s/web.json (%s)", state_dir, exc.strerror or exc)


class _Server:
    """uvicorn.Server without signal handlers when `own_signals` is False (a supervised child)."""

    def __new__(cls, config, own_signals: bool):
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):
                yield

        return (uvicorn.Server if own_signals else Quiet)(config)


def serve(settings: WebSettings, *, stop: threading.Event | None = None, own_signals: bool = True,
          on_ready=None) -> int:
    """Serve until `stop` is set (or, with own_signals, until SIGINT/SIGTERM); returns 0."""
    import uvicorn

    from alprd.web.app import create_app

    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # "Started server process..." is noise
        logging.getLogger(name).setLevel(logging.WARNING)
    sock = bind_socket(settings.bind, settings.port)
    url = url_of(sock)
    app = create_app(settings)
    config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=3,
                            lifespan="on", proxy_headers=False, server_header=False)
    server = _Server(config, own_signals)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        if stop is not None:
            def watch():
                stop.wait()
                loop.call_soon_threadsafe(lambda: setattr(server, "should_exit", True))
                loop.call_soon_threadsafe(app.state.web.hub.close)
            threading.Thread(target=watch, name="web-stop", daemon=True).start()
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            write_web_json(settings.state_dir, url)
            log.info("web console on %s", url)
            if on_ready is not None:
                on_ready(url)
        await task

    try:
        asyncio.run(run())
    finally:
        sock.close()
        _remove_web_json(settings.state_dir)
    return 0


def _remove_web_json(state_dir: Path) -> None:
    """Once stopped, web.json names nothing: removed if it is still this process's."""
    path = state_dir / "web.json"
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def web_main(channel, *, cfg) -> int:
    """The daemon's web child: settings from the configuration, served until the parent's Stop."""
    from alprd.messages import Ready
    from alprd.process.child import FatalChildError
    from alprd.web.settings import from_config

    try:
        settings = from_config(cfg)
    except WebError as exc:
        raise FatalChildError(str(exc)) from None
    try:
        return serve(settings, stop=channel.stop_event, own_signals=False,
                     on_ready=lambda url: channel.send(Ready()))
    except WebError as exc:  # the port: another process may free it, so a restart may work
        log.error("%s", exc)
        return 1
