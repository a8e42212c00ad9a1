"""Bad configuration everywhere: every malformed config is one ConfigError line naming the key
path (exit 2 from the CLI), never a traceback.

The fuzz mutates a complete, valid configuration (every section, every key) one key at a time:
a value replaced by junk of another type or an out-of-range number (NaN and infinities
included), a required key deleted, an unknown key added, a section replaced by a scalar. Each
result either validates (the junk happened to be acceptable) and then passes the file-system
preflight without raising, or raises ConfigError whose one-line message starts with the mutated
key's path. Raw YAML text is fuzzed through load_config the same way.
"""
from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alprd.config import AppConfig, ConfigError, load_config, parse_config
from alprd.service import preflight

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
from helpers_daemon import run_alprd  # noqa: E402

VALID = {
    "cameras": [
        {"id": "gate", "url": "rtsp://viewer:pw@10.0.0.5/stream1", "fps": 5, "loop": False,
         "roi": {"x": 0, "y": 100, "width": 640, "height": 200},
         "polygon": [[0, 0], [100, 0], [100, 100]], "enabled": True},
        {"id": "yard", "url": "/var/lib/alprd/yard.mp4"},
    ],
    "defaults": {"fps": 10, "ring_slots": 8, "open_timeout_s": 10, "read_timeout_s": 10,
                 "reconnect_min_s": 0.5, "reconnect_max_s": 30},
    "inference": {"device": "auto", "backend": "auto", "weights": None, "max_batch": 8,
                  "max_wait_ms": 20, "det_threshold": 0.5, "nms_threshold": 0.3, "threads": 0},
    "tracking": {"iou_threshold": 0.2, "min_hits": 2, "max_unseen_s": 2.0, "preview_confidence": 0.8,
                 "min_final_confidence": 0.3, "stationary_px": 20, "parked_after_s": 60, "top_k": 3},
    "sinks": {
        "stdout": {"enabled": True, "as_json": False},
        "jsonl": {"enabled": True, "path": "events.jsonl"},
        "sql": {"enabled": True, "url": "sqlite:///alprd.db", "password_env": None, "password_file": None,
                "store_reads": False, "batch_size": 64, "flush_interval_s": 0.5, "retention_days": None,
                "busy_timeout_s": 5, "retry_max_s": 30, "spool_dir": None},
        "bus": {"enabled": True, "endpoint": "tcp://127.0.0.1:5556", "sndhwm": 10000,
                "curve_secret_key_file": None, "curve_clients_dir": None},
    },
    "storage": {"state_dir": "var", "crops": True, "crop_retention_days": None, "crop_max_mb": None},
    "metrics": {"enabled": False, "bind": "127.0.0.1", "port": 9108},
}


def _paths(node, prefix=()):
    """Every key path of the tree (dict keys and list indices), parents before children."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


PATHS = list(_paths(VALID))
JUNK = st.one_of(
    st.none(), st.booleans(), st.text(max_size=30), st.just("x" * 5000), st.just("a\x00b"),
    st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.inf, -math.inf, math.nan, -1, 0, 1e308, -0.0]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.just([[1, 2]]), st.just({"x": 1}),
)


def _get(tree, path):
    for k in path:
        tree = tree[k]
    return tree


def _dotted(path) -> str:
    """A key path as errors show it: one line, a key's control characters escaped (a newline)."""
    return ".".join("".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(p))
                    for p in path)


def _check(data, path) -> None:
    """parse_config either accepts (and the preflight does not raise) or names the path."""
    try:
        cfg = parse_config(data, "fuzz.yaml")
    except ConfigError as exc:
        assert str(exc) == "\n".join(exc.lines) and exc.lines, exc
        for msg in exc.lines:   # every problem is one line naming its key path
            assert "\n" not in msg and msg.startswith("fuzz.yaml: "), msg
            where = msg[len("fuzz.yaml: "):].split(":", 1)[0]
            # a whole-file check (the fps floor) names the fps key and, in its text, the other key
            assert where == _dotted(path) or where.startswith(_dotted(path) + ".") or \
                (path[0] == "cameras" and where == "cameras") or _dotted(path) in msg, (path, msg)
        return
    assert isinstance(cfg, AppConfig)
    preflight.problems(cfg)  # must not raise either (NUL bytes, odd paths)


def test_the_valid_config_is_valid():
    cfg = parse_config(copy.deepcopy(VALID))
    assert [c.id for c in cfg.cameras] == ["gate", "yard"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), junk=JUNK)
@example(path=("cameras", 0), junk={"\n": 0})  # a key with a newline once made a two-line error
def test_a_value_replaced_by_junk_is_accepted_or_named(path, junk):
    data = copy.deepcopy(VALID)
    _get(data, path[:-1])[path[-1]] = junk
    _check(data, path)


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from([p for p in PATHS if isinstance(p[-1], str)]))
def test_a_deleted_key_is_accepted_or_named(path):
    data = copy.deepcopy(VALID)
    del _get(data, path[:-1])[path[-1]]
    _check(data, path)


@settings(max_examples=150, deadline=None)
@given(parent=st.sampled_from([()] + [p for p in PATHS if isinstance(_get(VALID, p), dict)]),
       key=st.text(min_size=1, max_size=12).filter(lambda k: "." not in k and ":" not in k))
def test_an_unknown_key_is_refused_by_its_path(parent, key):
    data = copy.deepcopy(VALID)
    target = _get(data, parent)
    if key in target:
        return
    target[key] = 1
    with pytest.raises(ConfigError) as info:
        parse_config(data, "fuzz.yaml")
    assert str(info.value) == f"fuzz.yaml: {_dotted(parent + (key,))}: unknown key"


@pytest.mark.parametrize("value, key", [
    (math.inf, ("defaults", "reconnect_max_s")),   # Event.wait(inf) raises OverflowError in a decoder
    (math.inf, ("defaults", "open_timeout_s")),
    (math.inf, ("inference", "max_wait_ms")),      # a batch that is never due
    (math.nan, ("tracking", "max_unseen_s")),
    (-math.inf, ("tracking", "stationary_px")),
])
def test_non_finite_numbers_are_refused(value, key):
    data = copy.deepcopy(VALID)
    _get(data, key[:-1])[key[-1]] = value
    with pytest.raises(ConfigError, match=rf"{'.'.join(key)}: Input should be a finite number"):
        parse_config(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, b: a + b, st.sampled_from(["cameras:\n  - id: a\n    url: x\n", "", "cameras: [",
                                                   "defaults: {fps: ", "- - -\n", "? [a]\n: b\n", "&a [*a]\n",
                                                   "cameras: !!python/object/apply:os.system ['true']\n"]),
              st.text(max_size=60)),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
))
def test_any_yaml_text_loads_or_is_one_config_error(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("yaml") / "alprd.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        cfg = load_config(p)
    except ConfigError as exc:
        assert all("\n" not in ln and ln.startswith(str(p)) for ln in exc.lines), str(exc)
    else:
        assert isinstance(cfg, AppConfig)


def test_deep_nesting_is_a_config_error_not_a_recursion_traceback(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text("cameras: " + "[" * 5000 + "]" * 5000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(p)


@pytest.mark.parametrize("body, expected", [
    ("cameras:\n  - id: a\n    url: x.mp4\ndefaults:\n  reconnect_max_s: .inf\n",
     "defaults.reconnect_max_s: Input should be a finite number"),
    ("cameras: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("cameras:\n  - id: a\n    url: x.mp4\nsinks:\n  bus: {endpoint: tcp://0.0.0.0:1, sndhwm: -1}\n",
     "sinks.bus.sndhwm:"),
    (b"\xff\xfe\x00 garbage", "config is not UTF-8 text"),
    ("cameras: [\x1f]\n", "invalid YAML (unacceptable character"),
])
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_the_cli_exits_2_with_the_key_path_and_no_traceback(tmp_path, body, expected, command):
    p = tmp_path / "alprd.yaml"
    p.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    res = run_alprd(command, "-c", str(p), timeout=60, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and expected in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
