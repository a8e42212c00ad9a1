"""Event factories and the database outage shared by the sink tests."""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

from waiting import HANG_GUARD_S

from alprd.events import Alternative, PlateEvent

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def make_event(plate: str = "ABC123", camera: str = "gate1", *, kind: str = "plate.final",
               at: datetime = T0, track_id: int = 1, **kw) -> PlateEvent:
    return PlateEvent(kind=kind, camera_id=camera, track_id=track_id, plate=plate,
                      confidence=kw.pop("confidence", 0.93), first_seen=at - timedelta(seconds=2),
                      last_seen=at, reads=kw.pop("reads", 5),
                      alternatives=kw.pop("alternatives", (Alternative("A8C123", 0.04),)),
                      direction=kw.pop("direction", "down"),
                      corners=kw.pop("corners", ((10.0, 20.0), (110.0, 22.0), (108.0, 52.0), (9.0, 50.0))),
                      **kw)


@contextlib.contextmanager
def database_down(db):
    """The outage the SQL sink must ride out: PostgreSQL stopped, or SQLite held by another
    writer's exclusive transaction; the database is back when the block ends."""
    lock = None
    if db.dialect == "postgresql":
        db.server.stop()
    else:
        lock = sqlite3.connect(db.url[len("sqlite:///"):], isolation_level=None, timeout=1)
        lock.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        if lock is not None:
            lock.rollback()
            lock.close()
        else:
            db.server.start()




def returns(fn, *args, **kwargs):
    """Call fn in a thread and give back its result once it has returned. The test's condition
    (a database still down, a subscriber that never reads) stays as it is meanwhile, so a call
    that waited for it would never return: HANG_GUARD_S turns that into a failure."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} did not return"
    if "error" in box:
        raise box["error"]
    return box.get("result")
