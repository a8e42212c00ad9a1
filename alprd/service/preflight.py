"""Checks of a parsed configuration against the machine, before anything starts.

config.py validates the file's shape without I/O; this adds what needs the machine: camera
files and the weights file exist, at least one camera is enabled, the bus endpoint can be
bound. Each problem names its key path, like the config errors, so `alprd run` and
`alprd check-config` report them alike (exit 2).

Also the one place the `builtin:` URL scheme is resolved: `builtin:sample.mp4` is the sample video
shipped inside the package (alprd/data/), so the embedded default config works from any directory.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

from alprd.config import AppConfig, CameraConfig
from alprd.stream.source import is_live

BUILTIN = "builtin:"


def data_file(name: str) -> Path:
    return Path(str(resources.files("alprd").joinpath("data", name)))


def resolve_url(url: str) -> str:
    """builtin:NAME → the packaged data file's path; anything else unchanged."""
    if url.startswith(BUILTIN):
        return str(data_file(url[len(BUILTIN):].lstrip("/")))
    return url


def local_path(url: str) -> Path | None:
    """The file a non-live camera URL names (plain path or file://), else None."""
    url = resolve_url(url)
    if is_live(url):
        return None
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:  # another FFmpeg protocol; leave it to FFmpeg
        return None
    return Path(url).expanduser()


def resolved_camera(cam: CameraConfig) -> CameraConfig:
    url = resolve_url(cam.url)
    return cam if url == cam.url else cam.model_copy(update={"url": url})


def _file_problem(path: Path) -> str | None:
    """None when `path` is a readable file's name, else why not (never raises: a name too long
    or a directory we may not enter is the user's to fix, not a traceback)."""
    try:
        if path.is_file():
            return None
        return "no such file"
    except OSError as exc:
        return f"cannot use this path ({exc.strerror or exc})"


def problems(cfg: AppConfig) -> list[str]:
    """One line per problem, each starting with its key path."""
    out = []
    enabled = [c for c in cfg.cameras if c.enabled]
    if not enabled:
        out.append("cameras: no camera is enabled")
    for i, cam in enumerate(cfg.cameras):
        if not cam.enabled:
            continue
        path = local_path(cam.url)
        why = _file_problem(path) if path is not None else None
        if why:
            out.append(f"cameras.{i}.url: {why}: {_short(str(path))}")
    if cfg.inference.weights:
        why = _file_problem(Path(cfg.inference.weights).expanduser())
        if why:
            out.append(f"inference.weights: {why}: {_short(cfg.inference.weights)}")
    if cfg.sinks.bus.enabled:
        why = bus_problem(cfg.sinks.bus.endpoint)
        if why:
            out.append(f"sinks.bus.endpoint: {why}")
    return out


def bus_problem(endpoint: str) -> str | None:
    """None when the bus endpoint can be bound here, else why not (an address this host does not
    have, a malformed endpoint, a directory that does not exist for ipc://). A port already in
    use is not a configuration problem (it may be this daemon's, still running): the daemon
    says who holds it when it starts."""
    import zmq

    from alprd.sinks.bus import ipc_path

    path = ipc_path(endpoint)
    if path is not None:
        return _ipc_problem(endpoint, path)
    port = endpoint.rsplit(":", 1)[-1] if endpoint.startswith("tcp://") else ""
    if port.isdigit() and int(port) > 65535:  # ZeroMQ would take it modulo 65536
        return f"port {port} is out of range (0-65535; 0 = any free port)"
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        if exc.errno == zmq.EADDRINUSE:
            return None
        return f"cannot bind {_short(endpoint)} ({zmq.strerror(exc.errno)})"
    finally:
        sock.close()
        ctx.term()
    return None


def _ipc_problem(endpoint: str, path: str) -> str | None:
    """bus_problem for ipc:// without binding: libzmq binds an ipc path by first deleting whatever
    is there, so a trial bind while the daemon runs (check-config, a reload) took the live bus's
    socket file away and no new subscriber could connect until a restart."""
    import errno
    import os
    import stat

    from alprd.sinks.bus import IPC_PATH_MAX

    size = len(os.fsencode(path))
    if size > IPC_PATH_MAX:
        return f"the ipc path is {size} bytes long (at most {IPC_PATH_MAX})"
    target = Path(path)
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        return f"cannot bind {_short(endpoint)} ({exc.strerror})"
    if mode is not None:  # a socket: a live bus (perhaps this daemon's) or a stale file binding replaces
        return None if stat.S_ISSOCK(mode) else f"{_short(path)} exists and is not a socket (binding would delete it)"
    parent = target.parent
    if not parent.is_dir():
        return f"cannot bind {_short(endpoint)} ({os.strerror(errno.ENOENT)})"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot bind {_short(endpoint)} ({os.strerror(errno.EACCES)})"
    return None


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
