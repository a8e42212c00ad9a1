"""`alprd check-config` and `alprd run` on good and broken configurations: exit 2 with the key
path, before anything starts; and the shipped config/alprd.yaml documents every option."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alprd.cli import main
from alprd.config import AppConfig, load_config
from helpers_daemon import run_alprd

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "alprd.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture
def clip(tmp_path):
    p = tmp_path / "clip.mp4"
    p.write_bytes(b"not really a video, but it exists")
    return p


def test_good_config_passes_with_a_summary(tmp_path, clip, capsys):
    cfg = write(tmp_path, f"""
cameras:
  - id: gate
    url: {clip}
    roi: {{x: 0, y: 100, width: 640, height: 200}}
  - id: street
    url: rtsp://admin:secret@10.0.0.5/stream1
    fps: 5
sinks:
  sql: {{enabled: false}}
""")
    assert main(["check-config", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "camera gate" in out and "roi 640x200+0+100" in out
    assert "secret" not in out and "admin:***@10.0.0.5" in out


@pytest.mark.parametrize("args", [[], ["-c", str(ROOT / "config" / "demo.yaml")]], ids=["embedded", "demo"])
def test_the_shipped_configs_pass(capsys, args):
    assert main(["check-config", *args]) == 0
    assert "builtin:sample.mp4" in capsys.readouterr().out


@pytest.mark.parametrize("body, expected", [
    ("cameras:\n  - id: a\n    url: {clip}\n    fpss: 3\n", "cameras.0.fpss: unknown key"),
    ("cameras:\n  - id: a\n    url: {clip}\ninference:\n  max_batch: many\n", "inference.max_batch:"),
    ("cameras:\n  - id: a\n", "cameras.0.url: Field required"),
    ("cameras:\n  - id: a\n    url: {clip}\n    roi: {{x: 0, y: 0, width: -5, height: 10}}\n", "cameras.0.roi.width:"),
    ("cameras:\n  - id: a\n    url: {clip}\n    polygon: [[0, 0], [1, 1]]\n", "cameras.0.polygon:"),
    ("cameras:\n  - id: a\n    url: {clip}\n  - id: a\n    url: {clip}\n", "repeated: a"),
    ("cameras:\n  - id: a\n    url: /nonexistent/clip.mp4\n", "cameras.0.url: no such file: /nonexistent/clip.mp4"),
    ("cameras:\n  - id: a\n    url: {clip}\ninference:\n  weights: /nonexistent/w.pt\n", "inference.weights: no such file"),
    ("cameras:\n  - id: a\n    url: {clip}\n    enabled: false\n", "cameras: no camera is enabled"),
    ("cameras: [\n", "invalid YAML"),
    ("- just a list\n", "top level must be a mapping"),
])
def test_broken_configs_exit_2_naming_the_key(tmp_path, clip, capsys, body, expected):
    cfg = write(tmp_path, body.format(clip=clip))
    assert main(["check-config", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(cfg) in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback


def test_run_with_a_broken_config_exits_2_before_anything_starts(tmp_path, clip):
    state = tmp_path / "state"
    cfg = write(tmp_path, f"cameras:\n  - id: a\n    url: {clip}\n    fps: 0\nstorage:\n  state_dir: {state}\n")
    res = run_alprd("run", "-c", str(cfg), timeout=60)
    assert res.returncode == 2
    assert "cameras.0.fps:" in res.stderr and "Traceback" not in res.stderr
    assert not state.exists()  # nothing started, nothing written
    res = run_alprd("check-config", "-c", str(tmp_path / "missing.yaml"), timeout=60)
    assert res.returncode == 2 and "cannot read config" in res.stderr


def _keys(model: type, prefix: str = "") -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        out.add(path)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, AppConfig.__mro__[1]):  # a nested section
            out |= _keys(ann, path + ".")
    return out


def _yaml_keys(data, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(data, dict):
        for k, v in data.items():
            out.add(f"{prefix}{k}")
            out |= _yaml_keys(v, f"{prefix}{k}.")
    return out


def test_config_file_documents_every_option_with_its_default():
    from alprd.config import CameraConfig

    path = ROOT / "config" / "alprd.yaml"
    assert path.resolve() == (ROOT / "alprd" / "data" / "alprd.yaml").resolve()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    documented = _yaml_keys({k: v for k, v in data.items() if k != "cameras"})
    documented |= {f"cameras.{k}" for k in data["cameras"][0]}
    wanted = {k for k in _keys(AppConfig) if not k.startswith("cameras")} | {
        f"cameras.{k}" for k in CameraConfig.model_fields}
    missing = sorted(wanted - documented)
    assert not missing, f"config/alprd.yaml does not document: {', '.join(missing)} (add them, with defaults)"
    cfg = load_config(path)
    # every section's values are the defaults of the model
    for section in ("defaults", "inference", "tracking", "sinks", "storage", "metrics"):
        default = type(getattr(cfg, section))().model_dump()
        shipped = getattr(cfg, section).model_dump()
        if section == "sinks":  # the default file keeps its database under var/ like the rest
            shipped["sql"]["url"] = default["sql"]["url"]
        assert shipped == default, f"config/alprd.yaml {section} differs from the defaults"
