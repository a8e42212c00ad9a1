"""A configuration with several problems, met by every command that reads one: each problem is
its own plain line on stderr with the command's prefix (a multi-line message printed whole
would leave every line after the first unprefixed), exit 2. In-process: each command stops at
its configuration, before any database, socket or model."""
from __future__ import annotations

import pytest

from alprd.cli import main

BAD = 'cameras:\n  - id: "bad id!"\n    url: x.mp4\n    fps: "5"\nsinks: {nosuch: 1}\n'
PROBLEMS = ("cameras.0.id:", "cameras.0.fps:", "sinks.nosuch:")


@pytest.mark.parametrize("args, prefix", [
    (("plates", "list"), "alprd plates: "), (("plates", "add", "x", "A12345"), "alprd plates: "),
    (("visits",), "alprd visits: "), (("query",), "alprd query: "), (("db", "current"), "alprd db: "),
    (("status",), "error: "), (("check-config",), "error: "), (("run",), "error: "),
    (("web",), "alprd web: "), (("subscribe",), "alprd subscribe: "),
])
def test_every_config_problem_is_one_prefixed_line(tmp_path, capsys, args, prefix):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD)
    code = main([*args, "-c", str(cfg)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == len(PROBLEMS) and all(ln.startswith(prefix + str(cfg)) for ln in lines), lines
    assert all(key in ln for key, ln in zip(PROBLEMS, lines)), lines
