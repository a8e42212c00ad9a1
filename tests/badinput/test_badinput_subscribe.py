"""`alprd subscribe` against hostile or wrong publishers (issue 18 items 11 and 14): a wrongly typed
event (a string confidence, a numeric time: any publisher behind a fleet proxy can send one) is
skipped and counted, in the table and with --json, and the next one shown; a server that refuses
our CurveZMQ key (or wants one we did not give) is an exit with a reason, not a silent wait.
Real `alprd subscribe` processes against real ZeroMQ sockets on loopback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
from helpers_daemon import alprd_cmd, env, run_alprd  # noqa: E402
from waiting import wait_for_text  # noqa: E402

NARROW = {"COLUMNS": "60", "LINES": "20"}
SAMPLE_PLATE = "粤LQ092V"


def _event(**over) -> bytes:
    ev = {"kind": "plate.final", "camera_id": "gate", "track_id": 1, "plate": SAMPLE_PLATE,
          "confidence": 0.93, "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:01Z",
          "reads": 3, "alternatives": [], "direction": "down", "parked": False, "corners": None,
          "crop_path": None, "event_id": "e1", "schema_version": 1}
    return json.dumps({**ev, **over}).encode()


@pytest.mark.parametrize("as_json", [False, True])
def test_subscribe_says_what_it_connected_to_and_skips_wrongly_typed_events(tmp_path, as_json):
    import zmq

    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)  # a PUB that shows the subscription when it arrives
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    err_path = tmp_path / "err"
    endpoint = f"tcp://127.0.0.1:{port}"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(alprd_cmd("subscribe", "--endpoint", endpoint, "--count", "1",
                                          *(["--json"] if as_json else [])),
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env(NARROW))
    try:
        text = wait_for_text(err_path, f"connected to {endpoint}", proc)
        assert f"waiting for events with topic prefix 'plate.' from {endpoint}" in text
        assert pub.poll(120_000) and pub.recv() == b"\x01plate."  # subscribed: nothing sent is lost
        pub.send_multipart([b"plate.final.gate", _event(confidence="high")])
        pub.send_multipart([b"plate.final.gate", _event(last_seen=12345)])
        pub.send_multipart([b"plate.final.gate", _event(event_id="good")])
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
        pub.close(0)
        ctx.term()
    assert proc.returncode == 0, err_path.read_text()
    assert len(out.strip().splitlines()) == 1
    if as_json:
        assert json.loads(out)["event_id"] == "good"
    else:
        assert SAMPLE_PLATE in out.split() and "0.93" in out.split()
    assert err_path.read_text().count("skipping a malformed event") == 2


def test_subscribe_with_a_wrong_curve_key_exits_with_a_reason(tmp_path):
    import zmq
    import zmq.auth

    zmq.auth.create_certificates(tmp_path, "server")
    zmq.auth.create_certificates(tmp_path, "impostor")
    public, secret = zmq.auth.load_certificate(tmp_path / "server.key_secret")
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.curve_secretkey, pub.curve_publickey, pub.curve_server = secret, public, True
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    try:
        for key, expected in ((tmp_path / "impostor.key", "refused the CurveZMQ handshake"),
                              (None, "pass --server-key")):
            res = run_alprd("subscribe", "--endpoint", f"tcp://127.0.0.1:{port}",
                            *(["--server-key", str(key)] if key else []), timeout=120)
            assert res.returncode == 1 and expected in res.stderr, res.stderr
    finally:
        pub.close(0)
        ctx.term()
