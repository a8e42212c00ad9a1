"""What a failed SIGHUP reload reports: every problem of the file, on one line, because it goes
into one log record and into sd_notify's STATUS= (a newline there starts another assignment)."""
from __future__ import annotations

from alprd.service.reload import load


def test_a_file_with_several_config_errors_is_reported_whole_on_one_line(tmp_path):
    cfg = tmp_path / "alprd.yaml"
    cfg.write_text('cameras:\n  - id: "bad id!"\n    url: x.mp4\n    fps: "5"\nsinks: {nosuch: 1}\n')
    new, error = load(cfg)
    assert new is None and "\n" not in error
    assert all(key in error for key in ("cameras.0.id:", "cameras.0.fps:", "sinks.nosuch:")), error


def test_every_preflight_problem_is_reported_not_only_the_first(tmp_path):
    cfg = tmp_path / "alprd.yaml"
    cfg.write_text(f"cameras:\n  - {{id: a, url: {tmp_path / 'no-a.mp4'}}}\n  - {{id: b, url: {tmp_path / 'no-b.mp4'}}}\n"
                   f"sinks: {{bus: {{enabled: false}}}}\n")
    new, error = load(cfg)
    assert new is None and "\n" not in error
    assert "cameras.0.url: no such file" in error and "cameras.1.url: no such file" in error, error
