"""benchmarks/soak.py runs the real daemon on looping streams and reports growth slopes: here for
8 s on 2 streams sampled every 0.25 s, asserting only that it runs and reports (no timing or growth
assertions: a short run on a shared machine says nothing about leaks; the 10-minute default does)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_soak_runs_and_reports_slopes(tmp_path):
    res = subprocess.run([sys.executable, "-m", "benchmarks.soak", "--cameras", "2", "--seconds", "8",
                          "--interval", "0.25", "--threads", "1", "--json"], capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(res.stdout)
    assert result["cameras"] == 2 and result["samples_n"] >= 15 and result["exit_code"] == 0
    growth = result["growth"]
    assert {"main", "worker", "decoder:cam0", "decoder:cam1", "shm", "total"} <= set(growth), sorted(growth)
    for role in ("main", "worker", "decoder:cam0"):
        for metric in ("rss_mb", "fds", "threads"):
            d = growth[role][metric]
            assert d["n"] >= 10 and d["first"] > 0 and "slope_per_h" in d
    assert growth["shm"]["rings"]["last"] == 2
    assert isinstance(result["grew"], list)
    table = subprocess.run([sys.executable, "-c", "import json,sys; from benchmarks.soak import print_table; "
                            "print_table(json.load(sys.stdin))"], input=res.stdout, capture_output=True,
                           text=True, timeout=60, cwd=ROOT)
    assert table.returncode == 0 and "MB/h" in table.stdout and "decoder:cam1" in table.stdout, table.stderr
