"""Typed configuration: the YAML file is parsed once, validated here, and flows down as objects.

Every model forbids unknown keys and is frozen. A bad file raises ConfigError listing every
problem, one line each naming its key path (e.g. ``cameras.0.fps``), so `alprd check-config` and
`alprd run` exit 2 with all of them at once: a typo cannot hide behind another error. Per-camera
values that may be omitted inherit from ``defaults`` (camera_fps()).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alprd.model.defaults import DET_THRESHOLD, NMS_THRESHOLD, PROVINCE_WEIGHT, READ_THRESHOLD, ZOOM_TILES_PER_FRAME
from alprd.config_sinks import (  # noqa: F401 (re-exported: the config's public names)
    require_unique,
    JsonlSinkConfig,
    StdoutSinkConfig,
    SqlSinkConfig,
    BusSinkConfig,
    DeliveryConfig,
    WebhookTargetConfig,
    MqttTlsConfig,
    HomeAssistantConfig,
    MqttSinkConfig,
    SinksConfig,
)
from alprd.parking.config import CameraParking, ParkingConfig


class ConfigError(Exception):
    """User-fixable problems in the configuration file: ``lines`` holds one line per problem
    (each "SOURCE: key.path: what"); str() joins them with newlines."""

    def __init__(self, *lines: str) -> None:
        self.lines = [ln for ln in lines if ln] or ["invalid configuration"]
        super().__init__("\n".join(self.lines))


# The SQL schema's limit on camera ids (alprd/sinks/schema.py: String(64)): a longer id would pass
# here and then have every one of its events refused by the database.
CAMERA_ID_MAX = 64
# fps is a number in the YAML, never a string ('5') or a boolean (true == 1 fps): strict floats.
_FPS = dict(gt=0, strict=True)


class _Model(BaseModel):
    # allow_inf_nan=False: YAML's .inf / .nan are floats, and an infinite timeout, back-off or
    # batch wait would pass every bound and then hang or crash the daemon far from the file.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Rect(_Model):
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class MotionConfig(_Model):
    """The motion gate (alprd.stream.motion): frames where nothing changed within the ROI skip
    inference; the tracker keeps what it saw. Off by default: on, a still scene costs a camera
    about one inferred frame per min_interval_s instead of every sampled frame."""

    enabled: bool = False
    threshold: float = Field(default=0.002, gt=0, le=1, description="share of the small grey copy that must change")
    pixel_delta: float = Field(default=12.0, gt=0, le=255, description="grey levels a cell must move")
    min_interval_s: float = Field(default=1.0, gt=0, le=60, description="a frame is inferred at least this often")
    width: int = Field(default=160, ge=16, le=1920, description="columns of the small grey copy")


class DecodeConfig(_Model):
    """How streams are decoded on this host (alprd.stream.decoding; docs/performance.md has the
    costs). Frame skipping never changes which frames are sampled or their timestamps."""

    threads: int = Field(default=2, ge=1, le=16, description="codec threads per camera")
    thread_type: Literal["auto", "slice", "frame"] = "auto"  # auto: slice for live streams, both for files
    skip_nonref: bool = True  # frames between two sampled ones that nothing references are not decoded
    # With the motion gate on: after this long without change only key frames are decoded until one
    # shows a change (a still camera then costs one frame per GOP; a change is seen up to one GOP late).
    idle_keyframes_after_s: float | None = Field(default=None, gt=0, le=3600)
    hwaccel: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$",
                                description="FFmpeg hardware device type (cuda, vaapi, qsv...); None = software")
    hwaccel_device: str | None = None  # e.g. /dev/dri/renderD128 or a CUDA index


class CameraConfig(_Model):
    id: str = Field(min_length=1, max_length=CAMERA_ID_MAX, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = Field(min_length=1)
    fps: float | None = Field(default=None, **_FPS, description="processed frames per second; None = defaults.fps")
    max_frame_pixels: int | None = Field(default=None, ge=64 * 64, le=1 << 30,
                                         description="None = defaults.max_frame_pixels")
    loop: bool = False
    roi: Rect | None = None
    polygon: list[tuple[float, float]] | None = None
    enabled: bool = True
    parking: CameraParking | None = None  # role in a car park and which way is "in" (docs/parking.md)
    motion: MotionConfig | None = None  # None = defaults.motion

    @field_validator("polygon")
    @classmethod
    def _polygon_has_area(cls, v):
        if v is not None and len(v) < 3:
            raise ValueError("a polygon needs at least 3 points")
        return v


class CameraDefaults(_Model):
    fps: float = Field(default=10.0, **_FPS)
    ring_slots: int = Field(default=8, ge=2, le=256)
    open_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=10.0, gt=0)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    # Frames above this many pixels (width x height) are refused by the decoder before they are
    # decoded: a hostile or misconfigured stream cannot size the shared-memory ring (8 slots of
    # 4096x4096 BGR = 400 MB per camera). Raise it for 8K cameras.
    max_frame_pixels: int = Field(default=4096 * 4096, ge=64 * 64, le=1 << 30)
    motion: MotionConfig = MotionConfig()
    decode: DecodeConfig = DecodeConfig()


CPU_MAX_BATCH = 4
GPU_MAX_BATCH = 32


class InferenceConfig(_Model):
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    backend: Literal["auto", "torch", "onnxruntime"] = "auto"
    weights: str | None = None  # None = the weights shipped in the package
    # None = by device: CPU_MAX_BATCH on a CPU (latency: a batch of 8 1080p frames takes ~0.2 s
    # on 2 cores, for little more throughput than 4), GPU_MAX_BATCH on a GPU (throughput).
    max_batch: int | None = Field(default=None, ge=1, le=256)
    max_wait_ms: float = Field(default=20.0, ge=0)
    # A frame still waiting for the worker this long after it reached the daemon is skipped
    # (counted as dropped): an overloaded daemon stays current instead of falling behind.
    max_queue_ms: float = Field(default=500.0, ge=0)  # 0 = never skip by age
    det_threshold: float = Field(default=DET_THRESHOLD, ge=0, le=1)
    nms_threshold: float = Field(default=NMS_THRESHOLD, ge=0, le=1)
    threads: int = Field(default=0, ge=0, description="torch/ORT intra-op threads; 0 = library default")
    # Recognizers side by side in the worker, each reading its own cameras' frames on `threads`
    # threads (1 when 0) (alprd.infer.lanes); 0 = auto: one per CPU core, at most one per camera
    # at start, one on a GPU.
    lanes: int = Field(default=0, ge=0, le=16)
    # A read that fits no mainland plate layout becomes the most probable one that does
    # (alprd.model.plate_format); false keeps the raw greedy read.
    plate_format: bool = True
    # A read with a character under rewarp.RETRY_BELOW confidence is read again from wider warps of
    # its plate and the most confident read kept (alprd.model.rewarp); false = one read per plate.
    reread: bool = True
    # A read still doubtful is read again from its region with a horizontal motion smear undone
    # at several lengths, the most confident kept (alprd.model.unsmear; only with reread); false = none.
    unsmear: bool = True
    # A camera's box that read as no plate after every extra look is read once in its next frames
    # at the same place, and in full again every this many frames (alprd.cascade.settled); 0 = always in full.
    junk_recheck_frames: int = Field(default=8, ge=0, le=1000)
    # A camera's plate whose read after every extra look was reportable is read once in the next
    # frame at about the same place, in full the frame after (alprd.cascade.confirmed); false =
    # every doubtful read gets every extra look in every frame.
    alternate_confirmed: bool = True
    # Only reads of a valid plate layout whose weakest character is at least read_threshold
    # confident go to the tracker (alprd.cascade.reportable; chosen on dev data); all_candidates:
    # every box the detector finds, junk included (debugging).
    read_threshold: float = Field(default=READ_THRESHOLD, ge=0, le=1)
    all_candidates: bool = False
    # The site's common provinces (e.g. ["粤", "桂"]): a prior on a plate's first character, not a
    # filter; each named one weighs province_weight times the others (alprd.model.province_prior).
    provinces: list[str] = Field(default_factory=list)
    province_weight: float = Field(default=PROVINCE_WEIGHT, gt=0, le=1000)
    # Distant plates in frames over 500 px: full-resolution (or magnified) tiles of each camera's frame looked at
    # in turn, this many per frame (a fraction: one every so many frames), and plates found there
    # followed (alprd.cascade.zoom); 0 = off.
    zoom_tiles_per_frame: float = Field(default=ZOOM_TILES_PER_FRAME, ge=0, le=64)
    # The tiles that changed most since their last look go first (a car driving in is looked at
    # at once); false = plain turn.
    zoom_by_change: bool = True

    @field_validator("provinces")
    @classmethod
    def _province_chars(cls, v):
        from alprd.model.charset import REGION_CHARS

        bad = [p for p in v if p not in REGION_CHARS]
        if bad:
            raise ValueError(f"not a province character: {', '.join(bad)} (one of {''.join(REGION_CHARS)})")
        return v

    def batch_for(self, device: str) -> int:
        """max_batch, or the device's default when it is unset."""
        if self.max_batch is not None:
            return self.max_batch
        return GPU_MAX_BATCH if str(device).startswith("cuda") else CPU_MAX_BATCH


class TrackingConfig(_Model):
    iou_threshold: float = Field(default=0.2, ge=0, le=1)
    min_hits: int = Field(default=2, ge=1)
    max_unseen_s: float = Field(default=2.0, gt=0)
    preview_confidence: float = Field(default=0.8, ge=0, le=1)
    min_final_confidence: float = Field(default=0.3, ge=0, le=1)
    stationary_px: float = Field(default=20.0, ge=0)
    parked_after_s: float = Field(default=60.0, gt=0)
    top_k: int = Field(default=3, ge=1)


class StorageConfig(_Model):
    state_dir: str = "var"
    crops: bool = True
    crop_retention_days: float | None = Field(default=None, gt=0)
    crop_max_mb: float | None = Field(default=None, gt=0)


class MetricsConfig(_Model):
    enabled: bool = False
    bind: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535, description="0 = any free port (see stats.json)")


class WebConfig(_Model):
    """The web console and HTTP API (alprd/web/, docs/web.md): a child of `alprd run` when enabled."""
    enabled: bool = False
    bind: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8780, ge=0, le=65535, description="0 = any free port (see web.json)")
    # Any bind but loopback needs a credential (SECURITY.md): a bearer token, or basic auth.
    token_env: str | None = None       # an environment variable holding the API token
    token_file: str | None = None      # or a file holding it (first line)
    username: str | None = None        # basic auth user ...
    password_env: str | None = None    # ... and its password's environment variable
    password_file: str | None = None   # or a file holding it
    live_buffer: int = Field(default=200, ge=0, le=10000, description="recent live events a new page gets")

    @model_validator(mode="after")
    def _credential_off_loopback(self):
        """Any bind but loopback needs a credential source (the values are read at start)."""
        import ipaddress

        host = self.bind.strip("[]").lower()
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback and not (self.token_env or self.token_file or self.password_env or self.password_file):
            raise ValueError(f"bind {self.bind} is not loopback: set token_env/token_file or username with "
                             "password_env/password_file (SECURITY.md), or bind 127.0.0.1")
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError("username is needed with password_env/password_file (basic auth)")
        return self


class AppConfig(_Model):
    cameras: list[CameraConfig] = Field(min_length=1)
    defaults: CameraDefaults = CameraDefaults()
    inference: InferenceConfig = InferenceConfig()
    tracking: TrackingConfig = TrackingConfig()
    sinks: SinksConfig = SinksConfig()
    storage: StorageConfig = StorageConfig()
    metrics: MetricsConfig = MetricsConfig()
    parking: ParkingConfig = ParkingConfig()
    web: WebConfig = WebConfig()

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, v):
        return require_unique(v, [c.id for c in v], "camera ids")

    @model_validator(mode="after")
    def _fps_floor(self):
        """A camera must process a frame more often than a track may go unseen, or every track
        ends before its next frame and no plate is ever reported (fps: 1e-300 = one frame ever)."""
        slowest = self.tracking.max_unseen_s
        bad = []
        if self.defaults.fps * slowest <= 1:
            bad.append(("defaults.fps", self.defaults.fps))
        for i, cam in enumerate(self.cameras):
            if cam.fps is not None and cam.fps * slowest <= 1:
                bad.append((f"cameras.{i}.fps", cam.fps))
        if bad:
            raise ValueError("\n".join(
                f"{where}: {fps:g} fps is a frame every {1 / fps:.3g} s, not more often than "
                f"tracking.max_unseen_s ({slowest:g} s): every track would end before its next "
                f"frame; the least is above {1 / slowest:g} fps" for where, fps in bad))
        return self

    @model_validator(mode="after")
    def _delivery_cameras(self):
        """A webhook or MQTT camera filter naming no configured camera would silently send nothing."""
        ids = {c.id for c in self.cameras}
        keys = [(f"sinks.webhooks.{i}.cameras", t.cameras) for i, t in enumerate(self.sinks.webhooks)]
        keys.append(("sinks.mqtt.cameras", self.sinks.mqtt.cameras))
        for key, cams in keys:
            unknown = [c for c in cams if c not in ids]
            if unknown:
                raise ValueError(f"{key}: no camera with id {', '.join(unknown)}")
        return self

    def state_path(self, *parts: str) -> Path:
        return Path(self.storage.state_dir).joinpath(*parts)


def _key_text(part) -> str:
    """A key as it reads on one line: its control characters (a newline in a YAML key) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(part))


def _format_errors(err: ValidationError) -> list[str]:
    """One "key.path: message" line per key path (a union type may report several errors for
    one value; the first says it), in the file's order."""
    out, seen = [], set()
    for e in err.errors():
        path = ".".join(_key_text(p) for p in e["loc"]) or "(top level)"
        if path in seen:
            continue
        seen.add(path)
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        if e["type"] == "string_too_long" and e["loc"][0] == "cameras" and e["loc"][-1] == "id":
            msg += " (the event database's limit)"
        if e["type"] == "value_error" and not e["loc"]:
            # a whole-file check (model_validator): its message already names each key path
            out.extend(str(e["ctx"]["error"]).splitlines())
            continue
        out.append(f"{path}: {msg}")
    return out


def parse_config(data: object, source: str = "<config>") -> AppConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    try:
        return AppConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(*(f"{source}: {line}" for line in _format_errors(err))) from None


def load_config(path: str | os.PathLike) -> AppConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: config is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        detail = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line
        raise ConfigError(f"{p}:{where} invalid YAML ({detail})") from None
    except RecursionError:  # the YAML composer recurses once per nesting level
        raise ConfigError(f"{p}: invalid YAML (nested too deeply)") from None
    try:
        return parse_config(data, str(p))
    except RecursionError:
        raise ConfigError(f"{p}: the configuration is nested too deeply") from None


SERVICE_CONFIG = Path("/etc/alprd/alprd.yaml")


def default_config_path() -> Path:
    """The configuration every command reads without -c: the installed service's
    (/etc/alprd/alprd.yaml) when there is one, else the embedded default (alprd/data/alprd.yaml:
    the sample video, state in ./var). One rule for all commands, so `alprd run`, `query`, `db`,
    `status` and `subscribe` agree on the database, state directory and bus without -c."""
    if SERVICE_CONFIG.is_file():
        return SERVICE_CONFIG
    from importlib import resources

    return Path(str(resources.files("alprd").joinpath("data", "alprd.yaml")))


def camera_fps(cfg: AppConfig, cam: CameraConfig) -> float:
    """The one place camera settings inherit from defaults."""
    return cam.fps if cam.fps is not None else cfg.defaults.fps
