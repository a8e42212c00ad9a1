"""Chaos at start-up, issue 18 item 13: a local process already listens on the bus port. `alprd run`
must say who holds it (the address, the holder's pid and command line) in one line and exit 75
(EX_TEMPFAIL), which the systemd unit restarts (it only refuses to restart on exit 2, a
configuration error), so the daemon comes up once the port is free."""
from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

from bursts import Burst, make_burst_video
from chaos_helpers import chaos_config, free_port, no_tracebacks, run_alprd

ROOT = Path(__file__).resolve().parents[2]
HOLDER = ("import socket, sys, time; "
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
          "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(1); "
          "print('LISTENING', flush=True); time.sleep(120)")


def test_a_held_bus_port_names_its_holder_and_exits_for_a_restart(tmp_path, chaos_weights):
    video = make_burst_video(tmp_path / "cam.mp4", [Burst(0.5, 6)])
    port = free_port()
    cfg = chaos_config(tmp_path / "alprd.yaml", [{"id": "cam", "url": str(video)}], state_dir=tmp_path / "state",
                       weights=chaos_weights, bus_port=port, sql_url=f"sqlite:///{tmp_path / 'e.db'}")
    script = tmp_path / "squatter.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "LISTENING"
        res = run_alprd("run", "-c", str(cfg), timeout=120, cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait(10)
    no_tracebacks(res.stderr)
    assert res.returncode == 75, (res.returncode, res.stderr[-3000:])
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, res.stderr[-3000:]
    assert f"tcp://127.0.0.1:{port} is already in use by pid {holder.pid} (" in errors[0]
    assert f"squatter.py {port})" in errors[0]
    # once the port is free, the same command runs (what the unit's restart does)
    again = run_alprd("run", "-c", str(cfg), timeout=180, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]


def test_the_unit_restarts_on_exit_75_and_not_on_exit_2_or_66():
    """75: a held port may be freed; 2: a configuration error and 66: files that could not be read
    (tests/badinput/test_badinput_sources.py) would fail the same way again."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(ROOT / "alprd" / "data" / "alprd.service")
    service = unit["Service"]
    assert service["Restart"] in ("on-failure", "always")
    prevented = service.get("RestartPreventExitStatus", "").split()
    assert "2" in prevented and "66" in prevented and "75" not in prevented
