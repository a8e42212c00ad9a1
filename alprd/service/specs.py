"""The daemon's child processes, as specs for the generic supervisor (alprd.process.supervisor).

Started in this order and stopped in reverse: the inference worker first (it loads the model
before any decoder fills a ring, and stops last, once every waiting frame is through), then one
decoder per camera. A new kind of child (a web process...) is one more function here returning
a ProcessSpec, added to the list in Daemon.specs(); its body is a module-level function of the
layer it belongs to (as run_worker and decoder_main are), and what it sends is declared in
alprd.messages with a handler in alprd.service.handlers.
"""
from __future__ import annotations

from typing import Callable

from alprd.config import AppConfig, CameraConfig, camera_fps
from alprd.infer.worker import run_worker
from alprd.process.supervisor import ProcessSpec, RestartPolicy
from alprd.stream.decoder_process import decoder_main
from alprd.web.server import web_main

WORKER = "worker"
WEB = "web"
_DECODER = "decoder:"


def decoder_name(camera_id: str) -> str:
    return f"{_DECODER}{camera_id}"


def camera_of(name: str) -> str | None:
    """The camera id of a decoder's process name; None for any other child."""
    return name[len(_DECODER):] if name.startswith(_DECODER) else None


def worker_spec(cfg: AppConfig, cameras: Callable[[], list[CameraConfig]], drained: Callable[[], bool]) -> ProcessSpec:
    """The inference worker: always restarted; its kwargs are built at each start, so a restart
    sees the cameras of the latest reload; it stops once drained() (no frame waits or is in flight)."""
    return ProcessSpec(
        WORKER, run_worker,
        kwargs=lambda: dict(inference=cfg.inference, cameras=list(cameras()), crops=cfg.storage.crops),
        restart=RestartPolicy("always", 1.0, 30.0), stop_timeout_s=30.0,
        torch_threads=cfg.inference.threads, ready_to_stop=drained, wait_ready=True)


def decoder_spec(cfg: AppConfig, cam: CameraConfig, stats, realtime: bool | None) -> ProcessSpec:
    """One camera's decoder: restarted on failure with the camera's reconnect back-off; exit 0
    means its file ended."""
    d = cfg.defaults
    return ProcessSpec(
        decoder_name(cam.id), decoder_main,
        kwargs=dict(camera=cam, defaults=d, fps=camera_fps(cfg, cam), stats=stats, realtime=realtime),
        restart=RestartPolicy("on-failure", d.reconnect_min_s, d.reconnect_max_s),
        stop_timeout_s=max(d.open_timeout_s, d.read_timeout_s) + 5.0)


def web_spec(cfg: AppConfig) -> ProcessSpec:
    """The web console (alprd.web, when web.enabled): first in start order, so its live stream is
    subscribed before the first event, and so last to stop; restarted whatever its exit (a bug in
    it never reaches capture); a configuration it refuses (WebError) is fatal, not retried."""
    return ProcessSpec(WEB, web_main, kwargs=dict(cfg=cfg), restart=RestartPolicy("always", 1.0, 30.0),
                       stop_timeout_s=10.0)
