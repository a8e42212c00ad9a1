"""Assembling the parking stage for the daemon: the I/O at its edges (SQL engine, list cache, the
state of open visits from SQL and from the SQL sink's spool).

Without an SQL sink there are no lists (they live in SQL) and visits are kept in memory only.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from alprd.config import AppConfig, CameraConfig
from alprd.parking.config import CameraParking
from alprd.parking.match import load_costs
from alprd.parking.stage import ParkingStage, spooled_records

log = logging.getLogger(__name__)


def build_stage(cfg: AppConfig, cameras: Iterable[CameraConfig], sinks: Iterable = ()) -> ParkingStage | None:
    """The stage, or None when parking is disabled. `sinks`: the daemon's sinks (for the SQL
    sink's spool: visit events published before a restart and not yet written)."""
    p = cfg.parking
    if not p.enabled:
        return None
    roles = {c.id: c.parking for c in cameras if c.parking is not None}
    costs = load_costs(p.costs_file)
    lists = None
    open_visits: dict[str, list] = {}
    sql_sink = next((s for s in sinks if getattr(s, "name", None) == "sql"), None)
    spool = getattr(sql_sink, "spool", None)
    spooled: list[dict] = []
    if cfg.sinks.sql.enabled:
        from alprd.parking.lists import ListCache
        from alprd.sinks.db_url import make_engine, url_from_config

        engine = make_engine(url_from_config(cfg.sinks.sql), busy_timeout_s=cfg.sinks.sql.busy_timeout_s)
        lists = ListCache(engine, p.lists_refresh_s, cfg.state_path("parking", "lists.json")).start()
        sites = sorted({r.site for r in roles.values() if r.role != "none"})
        open_visits, spooled = _state(engine, sites, sql_sink, spool)
    stage = ParkingStage(p, roles, costs, lists=lists, open_visits=open_visits)
    stage.recovered = stage.recover(spooled)
    if stage.books:
        log.info("parking: %s", ", ".join(f"site {s}: {n} inside" for s, n in stage.occupancy.items()))
    return stage


def _state(engine, sites: list[str], sql_sink, spool) -> tuple[dict[str, list], list[dict]]:
    """The open visits in SQL and the records of the SQL sink's spool after them, read as one
    consistent cut: the writer first gets a chance to empty the spool (database up); then both
    are read until the spool's acknowledged position did not move in between."""
    from alprd.parking.store import open_visits as read_open

    if sql_sink is not None and spool is not None and sql_sink.pending():
        sql_sink.flush(10.0)  # returns at once when the database is down
    for _ in range(5):
        mark = spool.acked if spool is not None else None
        open_visits: dict[str, list] = {}
        try:
            for site in sites:
                open_visits[site] = read_open(engine, site)
        except Exception as exc:  # noqa: BLE001 - a database down at start: the spool still helps
            log.warning("parking: cannot read the open visits (%s); starting from the spool only",
                        str(getattr(exc, "orig", None) or exc).splitlines()[0])
        spooled = spooled_records(spool)
        if spool is None or spool.acked == mark:
            return open_visits, spooled
    log.warning("parking: the SQL sink kept writing while the state was read; using the last reading")
    return open_visits, spooled


def inward_of(cameras: Iterable[CameraConfig]) -> dict[str, tuple[float, float]]:
    """Camera id -> its unit "in" vector, for the trackers (events' travel)."""
    return {c.id: c.parking.inward.unit() for c in cameras if c.parking is not None and c.parking.inward is not None}


class StageRunner:
    """The daemon's handle on the stage: derived events for each plate event, the expiry tick,
    figures for stats.json. A bug in the stage is logged, never fatal: plate events still flow."""

    TICK_S = 5.0

    def __init__(self, stage: ParkingStage | None, publish=None) -> None:
        self.stage = stage
        self.publish = publish  # where on_tick() sends what tick() gives (the fan-out)
        self._next_tick = 0.0
        self.errors = 0

    def process(self, event) -> list:
        """The daemon's stage protocol (alprd.service.event_path): derived events of one event."""
        return self.derive(event)

    def derive(self, event) -> list:
        if self.stage is None:
            return []
        try:
            return self.stage.process(event)
        except Exception:  # noqa: BLE001
            self.errors += 1
            log.exception("parking: could not process %s %s", event.kind, event.event_id)
            return []

    def tick(self, now_mono: float) -> list:
        if self.stage is not None and self.stage.recovered:
            lost, self.stage.recovered = self.stage.recovered, []
            return lost  # derived events a kill lost, re-derived at start: published first
        if self.stage is None or now_mono < self._next_tick:
            return []
        self._next_tick = now_mono + self.TICK_S
        from datetime import datetime, timezone

        try:
            return self.stage.tick(datetime.now(timezone.utc))
        except Exception:  # noqa: BLE001
            self.errors += 1
            log.exception("parking: expiry failed")
            return []

    def camera_changed(self, cam: CameraConfig, router) -> None:
        """A camera added (or re-added with new settings) by a SIGHUP reload: its "in" direction
        for the tracker it is about to get, and its role in the stage. Call before
        router.add_camera(cam.id)."""
        inward = inward_of([cam])
        if cam.id in inward:
            router.inward[cam.id] = inward[cam.id]
        else:
            router.inward.pop(cam.id, None)
        if self.stage is not None:
            self.stage.set_role(cam.id, cam.parking)

    def on_tick(self, now_mono: float) -> None:
        """For the daemon's timers: tick() and publish the result."""
        events = self.tick(now_mono)
        if events and self.publish is not None:
            for e in events:
                self.publish(e)

    def status(self) -> dict | None:
        """stats.json's "parking": occupancy per site, lists loaded, derived events, errors."""
        st = self.stage
        if st is None:
            return None
        lists = st.current_lists()
        return {"occupancy": st.occupancy, "lists": {pl.name: len(pl.entries) for pl in lists},
                "events": dict(st.counts), "errors": self.errors}

    def stop(self) -> None:
        stop_stage(self.stage)

    close = stop  # the stage protocol's name


def stop_stage(stage: ParkingStage | None) -> None:
    if stage is not None and stage.lists is not None:
        stage.lists.stop()
        stage.lists.engine.dispose()


__all__ = ["build_stage", "stop_stage", "inward_of", "StageRunner", "CameraParking"]
