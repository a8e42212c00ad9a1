"""Checks of a parsed configuration against the machine, before anything starts.

config.py validates the file's shape without I/O; this adds what needs the file system: camera
files and the weights file exist, at least one camera is enabled. Each problem names its key
path, like the config errors, so `alprd run` and `alprd check-config` report them alike (exit 2).

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
        if path is not None and not path.is_file():
            out.append(f"cameras.{i}.url: no such file: {path}")
    if cfg.inference.weights and not Path(cfg.inference.weights).expanduser().is_file():
        out.append(f"inference.weights: no such file: {cfg.inference.weights}")
    return out
