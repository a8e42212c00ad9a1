"""Issue 18 item 14: a daemon whose cameras could not be read must not report success.

A file that is not a video passes `check-config` (it exists); its decoder then ends without a
frame, exactly as a file at its end does. Before, `alprd run` stopped with exit 0 ("every source
has ended"), so a batch run or systemd saw a success that had processed nothing. Now it exits 66
(EX_NOINPUT), names the cameras, and the cameras that could be read are processed as before."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from bursts import Burst, make_burst_video  # noqa: E402
from chaos_helpers import chaos_config, events, free_port, no_tracebacks, run_alprd  # noqa: E402

from alprd.process.supervisor import FATAL, FINISHED  # noqa: E402
from alprd.service.sources import EXIT_SOURCES_FAILED, ended, stop_reason, unread  # noqa: E402


def _not_a_video(path: Path) -> Path:
    path.write_bytes(b"this is a shopping list, not a video\n" * 50)
    return path


def _config(tmp_path: Path, cameras: list[dict], weights: Path) -> Path:
    return chaos_config(tmp_path / "alprd.yaml", cameras, state_dir=tmp_path / "state", weights=weights,
                        bus_port=free_port(), sql_url=f"sqlite:///{tmp_path / 'e.db'}")


def test_an_unreadable_camera_fails_the_run_once_the_readable_one_is_read(tmp_path, badinput_weights):
    """One daemon run for both cases (a camera that is the only one fails the same way)."""
    good = make_burst_video(tmp_path / "gate.mp4", [Burst(0.3, 6)])
    bad = _not_a_video(tmp_path / "yard.mp4")
    cfg = _config(tmp_path, [{"id": "gate", "url": str(good)}, {"id": "yard", "url": str(bad)}], badinput_weights)
    assert run_alprd("check-config", "-c", str(cfg), cwd=tmp_path).returncode == 0  # it exists: not a config error
    res = run_alprd("run", "-c", str(cfg), timeout=180, cwd=tmp_path)
    no_tracebacks(res.stderr)
    assert res.returncode == EXIT_SOURCES_FAILED == 66, (res.returncode, res.stderr[-3000:])
    assert "no frame could be read from 1 of 2 camera(s): yard" in res.stderr
    finals = events(tmp_path / "state" / "events.jsonl", "plate.final")
    assert [e["camera_id"] for e in finals] == ["gate"], finals  # the readable camera was processed


def test_which_ended_sources_failed():
    assert not ended([]) and not ended([FINISHED, "running"]) and ended([FINISHED, FATAL])
    assert unread({"a": FINISHED, "b": FINISHED, "c": FATAL}, {"a": 12, "b": 0, "c": 40}) == ["b", "c"]
    assert stop_reason(2, []) == ("every source has ended", 0)
    assert stop_reason(3, ["b", "c"])[1] == 66
