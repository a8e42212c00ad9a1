"""Chaos: PostgreSQL stopped under load, the whole daemon killed with SIGKILL while the database is
down, restarted (database still down), then the database comes back.

"Published" has one precise meaning here: an event is published once the SQL sink's spool has
it, i.e. its record is a complete, fdatasync'd line in a spool segment (<state>/spool/sql). That
is the moment the daemon stops owing anything for it; the bus and the JSONL file are told in
parallel and may be a moment ahead or behind. The guarantee checked after the restart:

- every record in the spool at the moment of the kill is in plate_events, exactly once (the
  database was down, so all of them had to come from the replay);
- every final a bus subscriber received before the kill is in plate_events too (the bus never
  gets ahead of the spool: a consumer that acted on an event can find it in the database);
- the second run, which starts with the database still down and sees it come back, stores and
  publishes exactly the plates of its streams (file cameras start again from the beginning).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from bursts import burst_schedule, make_burst_video
from chaos_helpers import (DaemonProcess, run_alprd, Ledger, Subscriber, chaos_config, events, frames_accounted,
                           free_port, no_tracebacks, spool_records, sql_finals, stats)

PLATES = 4


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False


def test_kill_9_of_the_daemon_while_postgres_is_down_loses_and_repeats_nothing(tmp_path, chaos_weights,
                                                                             pg_server, monkeypatch):
    from alprd.stream.ring import list_segments, segment_pid

    url = pg_server.create_database()
    cams = []
    for cam, offset in (("north", 0.5), ("south", 2.2)):
        # gaps of 2.5 s on the stream's clock: longer than tracking.max_unseen_s (1.5), so each burst
        # is its own track whatever the machine's load (the tracker splits on stream time)
        video = make_burst_video(tmp_path / f"{cam}.mp4", burst_schedule(PLATES, first_s=offset, gap_s=2.5))
        cams.append({"id": cam, "url": str(video)})
    port = free_port()
    state = tmp_path / "state"
    # the password reaches the daemon through the environment only (never the YAML)
    cfg = chaos_config(tmp_path / "alprd.yaml", cams, state_dir=state, weights=chaos_weights,
                       bus_port=port, sql_url=pg_server.url(url.rsplit("/", 1)[1], with_password=False),
                       sql={"password_env": "CHAOS_PG_PASSWORD"}, tracking={"max_unseen_s": 1.5})
    monkeypatch.setenv("CHAOS_PG_PASSWORD", pg_server.password)
    res = run_alprd("db", "upgrade", "-c", str(cfg), timeout=60)
    assert res.returncode == 0, res.stderr
    sub = Subscriber(f"tcp://127.0.0.1:{port}")
    jsonl = state / "events.jsonl"
    run1 = run2 = None
    try:
        # -- run 1: plates stored, then the database goes away and plates pile up in the spool
        run1 = DaemonProcess(cfg, tmp_path)
        run1.wait_for(lambda: {e["camera_id"] for e in sub.finals()} == {"north", "south"}, 90,
                      "a final of each camera")
        run1.wait_for(lambda: len(sql_finals(url)) >= 2, 30, "the first finals in PostgreSQL")
        pg_server.stop()
        n = len(sub.finals())
        run1.wait_for(lambda: len(sub.finals()) >= n + 2, 60, "two finals while PostgreSQL is down")
        children = _children(run1.proc.pid)
        rings = [s for s in list_segments() if segment_pid(s) in children]
        os.kill(run1.proc.pid, signal.SIGKILL)  # the main process only, as the OOM killer would
        run1.proc.wait(10)
        on_bus_before_kill = sub.finals()
        previews_before_kill = len(sub.events("plate.preview"))
        published = spool_records(state / "spool" / "sql")
        jsonl_lines_run1 = len(events(jsonl))
        # its children notice the parent is gone and exit by themselves, unlinking their rings
        deadline = time.monotonic() + 120  # a hang guard: they exit within a second or two
        while time.monotonic() < deadline and any(_alive(p) for p in children):
            time.sleep(0.2)
        assert not [p for p in children if _alive(p)], "children outlived the killed daemon"
        # -- run 2: same state directory (spool), the database still down at start
        run2 = DaemonProcess(cfg, tmp_path)
        run2.wait_for(lambda: "unreachable at start" in run2.stderr, 60, "the SQL sink starting without its database")
        assert not set(rings) & set(list_segments()), "rings of the killed daemon's decoders are gone"
        run2.wait_for(lambda: len(sub.finals()) > len(on_bus_before_kill), 90, "a final of the second run")
        pg_server.start()
        assert run2.wait(90) == 0, run2.stderr[-4000:]  # the files end: an orderly stop
    finally:
        for d in (run1, run2):
            if d is not None:
                d.close()
        sub.close()
        if not pg_server.running():
            pg_server.start()
    for d in (run1, run2):
        no_tracebacks(d.stderr)
        assert pg_server.password not in d.stderr + d.stdout, "the database password was logged"
    stored = sql_finals(url)
    stored_ids = [r["event_id"] for r in stored]
    assert len(stored_ids) == len(set(stored_ids)), "an event stored twice"
    published_ids = {e["event_id"] for e in published if e["kind"] == "plate.final"}
    assert published_ids and published_ids <= set(stored_ids), \
        f"published before the kill but not stored: {published_ids - set(stored_ids)}"
    bus_ids = {e["event_id"] for e in on_bus_before_kill}
    assert bus_ids <= set(stored_ids), f"seen on the bus before the kill, never stored: {bus_ids - set(stored_ids)}"
    before = {r["event_id"] for r in stored} & (published_ids | bus_ids)
    # the second run on its own: its streams' plates, each once, in every sink
    s = stats(state)
    run2_bus = sub.finals()[len(on_bus_before_kill):]
    ledger = Ledger("daemon kill -9 + restart (run 2)", {"north": PLATES, "south": PLATES},
                    [r for r in stored if r["event_id"] not in before], run2_bus,
                    sub.events("plate.preview")[previews_before_kill:],
                    events(jsonl, "plate.final")[sum(1 for e in events(jsonl)[:jsonl_lines_run1]
                                                     if e["kind"] == "plate.final"):],
                    counted=s["events"]["plate.final"])
    ledger.notes.update(published_before_kill=len(published_ids), on_bus_before_kill=len(bus_ids),
                        stored_from_run1=len(before))
    print(f"run 1: {len(bus_ids)} finals on the bus before the kill, {len(published_ids)} in the spool "
          f"(published), {len(before)} of them stored after the restart")
    ledger.check()
    assert frames_accounted(s)
    err = run2.stderr
    assert "replaying" in err and "is back; writing spooled events" in err
