"""A generic supervisor: a list of process specs, started in order, watched, stopped in reverse.

It knows nothing about cameras or models. Each spec names a module-level body function and its
keyword arguments; every start gets a fresh duplex Pipe (see alprd.process.child). The owner
of the supervisor drives it from its own loop (nothing here blocks for long and no signal handler
does any work):

    sup.start_all()
    while running:
        ready = wait(sup.waitables(), timeout)
        for child, msg in sup.receive(ready): ...      # Log and Fatal are handled here already
        for change in sup.poll(): ...                  # exits, restarts (with backoff), kills
    sup.stop_all(pump=one_loop_step)                   # reverse order, orderly, then SIGKILL

Restart policy: ``always`` (any exit that was not asked for), ``on-failure`` (a non-zero exit;
exit 0 means the child finished its job, e.g. a file source at its end) or ``never``. A child
that reports a fatal, user-fixable error (exit code EXIT_FATAL) is never restarted. Restarts back
off exponentially from min_backoff_s to max_backoff_s and the streak resets once a child has run
healthy for reset_after_s. Every restart is logged and counted.
"""
from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from alprd.messages import Fatal, Log, Ready, Stop
from alprd.process.child import EXIT_FATAL, child_main

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartPolicy:
    mode: Literal["always", "on-failure", "never"] = "on-failure"
    min_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, streak: int) -> float:
        return min(self.max_backoff_s, self.min_backoff_s * 2 ** max(0, streak - 1))


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    target: Callable[..., int | None]  # body(channel, **kwargs); module-level so spawn imports it
    kwargs: dict[str, Any] | Callable[[], dict[str, Any]] = field(default_factory=dict)
    restart: RestartPolicy = RestartPolicy()
    stop_timeout_s: float = 10.0
    torch_threads: int | None = None  # None: the child does not use torch
    # Called by stop_all() before the stop message is sent; the stop waits (pumping) until it
    # returns True or stop_timeout_s passes. The daemon uses it to drain frames in flight.
    ready_to_stop: Callable[[], bool] | None = None
    # start_all() waits for the child's Ready message (alprd.messages) before starting the next spec
    # (the inference worker loads its model before any decoder starts filling rings).
    wait_ready: bool = False
    ready_timeout_s: float = 300.0


# Child states
RUNNING, BACKOFF, STOPPING, STOPPED, FINISHED, FATAL = (
    "running", "backoff", "stopping", "stopped", "finished", "fatal")


@dataclass
class Child:
    spec: ProcessSpec
    process: Any = None
    conn: Any = None
    state: str = STOPPED
    starts: int = 0
    restarts: int = 0
    streak: int = 0  # consecutive unhealthy exits
    started_at: float = 0.0
    restart_at: float = 0.0
    stop_deadline: float = 0.0
    exitcode: int | None = None
    fatal_message: str | None = None
    ready: bool = False  # sent a Ready since its latest start

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()


@dataclass(frozen=True)
class Change:
    """Something poll() saw: kind is "exited" (with exitcode), "started" or "killed"."""

    child: Child
    kind: str
    exitcode: int | None = None


class Supervisor:
    def __init__(self, specs: list[ProcessSpec], *, start_method: str = "spawn",
                 log_level: int | None = None) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"process names must be unique: {names}")
        self.ctx = multiprocessing.get_context(start_method)
        self.children = [Child(s) for s in specs]
        self._by_conn: dict[Any, Child] = {}
        self.log_level = log_level if log_level is not None else logging.getLogger().getEffectiveLevel()

    def child(self, name: str) -> Child:
        for c in self.children:
            if c.name == name:
                return c
        raise KeyError(name)

    def add(self, spec: ProcessSpec, *, start: bool = True) -> Child:
        """A new child at the end of the start order (a camera added by a reload); started now."""
        if any(c.name == spec.name for c in self.children):
            raise ValueError(f"a process named {spec.name!r} exists already")
        child = Child(spec)
        self.children.append(child)
        if start:
            self._start(child)
        return child

    def discard(self, name: str) -> None:
        """Forget a child that is no longer running (stop it first with request_stop)."""
        child = self.child(name)
        if child.alive or child.state in (RUNNING, STOPPING):
            raise RuntimeError(f"{name} is still running")
        if child.conn is not None:
            self._by_conn.pop(child.conn, None)
            child.conn.close()
            child.conn = None
        self.children.remove(child)

    # -- starting ------------------------------------------------------------------------------
    def start_all(self, pump: Callable[[float], None] | None = None,
                  abort: Callable[[], bool] = lambda: False) -> bool:
        """Start every spec in order; a wait_ready spec must report ready before the next starts.
        False if such a child died (and was not restarted into readiness), timed out, or the
        owner's abort() said so meanwhile (a signal during start-up)."""
        pump = pump or self._default_pump
        for child in self.children:
            if abort():
                return False
            self._start(child)
            if not child.spec.wait_ready:
                continue
            deadline = time.monotonic() + child.spec.ready_timeout_s
            while not child.ready:
                if abort():
                    return False
                if child.state in (FATAL, FINISHED, STOPPED) or time.monotonic() >= deadline:
                    if not child.ready and child.state not in (FATAL, FINISHED, STOPPED):
                        log.error("%s did not become ready within %.0f s", child.name, child.spec.ready_timeout_s)
                    return False
                pump(0.05)
        return True

    def _default_pump(self, timeout: float) -> None:
        ready = multiprocessing.connection.wait(self.waitables(), timeout)
        self.receive(ready)
        self.poll()

    def _start(self, child: Child) -> None:
        spec = child.spec
        kwargs = spec.kwargs() if callable(spec.kwargs) else dict(spec.kwargs)
        parent_conn, child_conn = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(
            target=child_main, name=f"alprd-{spec.name}",
            args=(spec.name, child_conn, spec.target, kwargs, self.log_level, spec.torch_threads))
        proc.start()
        child_conn.close()  # the child holds the only other end: its death reads as EOF here
        if child.conn is not None:
            self._by_conn.pop(child.conn, None)
        child.process, child.conn = proc, parent_conn
        self._by_conn[parent_conn] = child
        child.state = RUNNING
        child.starts += 1
        child.started_at = time.monotonic()
        child.exitcode = None
        child.ready = False
        log.debug("started %s (pid %d)", spec.name, proc.pid)

    # -- watching ------------------------------------------------------------------------------
    def waitables(self) -> list:
        """Connections and process sentinels to pass to multiprocessing.connection.wait()."""
        out = list(self._by_conn)
        out += [c.process.sentinel for c in self.children if c.process is not None and c.state in (RUNNING, STOPPING)]
        return out

    def receive(self, ready) -> list[tuple[Child, tuple]]:
        """Read every message waiting on the ready connections; re-emit child logs here."""
        out = []
        for conn in ready:
            child = self._by_conn.get(conn)
            if child is None:
                continue
            try:
                while conn.poll():
                    msg = conn.recv()
                    if not self._own(child, msg):
                        if isinstance(msg, Ready):
                            child.ready = True
                        out.append((child, msg))
            except (EOFError, OSError):
                self._by_conn.pop(conn, None)  # child gone; poll() reaps it
            except Exception:  # an unpicklable message: a bug in the child
                log.exception("%s: unreadable message", child.name)
        return out

    @staticmethod
    def _own(child: Child, msg: object) -> bool:
        """Handle the messages every child sends (its logs, a fatal error); False for others."""
        if isinstance(msg, Log):
            _emit(msg.record)
        elif isinstance(msg, Fatal):
            child.fatal_message = msg.message
            log.error("%s: %s", child.name, msg.message)
        else:
            return False
        return True

    def send(self, child: Child, msg: object) -> bool:
        """Send one message (an alprd.messages dataclass); False if the child cannot take it."""
        if child.conn is None or child.state not in (RUNNING, STOPPING):
            return False
        try:
            child.conn.send(msg)
            return True
        except (OSError, ValueError):
            return False

    def poll(self) -> list[Change]:
        """Reap exits, schedule and perform restarts, kill children past their stop deadline."""
        now = time.monotonic()
        changes: list[Change] = []
        for child in self.children:
            if child.state in (RUNNING, STOPPING) and not child.process.is_alive():
                changes.append(self._reaped(child, now))
            elif child.state == STOPPING and now >= child.stop_deadline:
                log.warning("%s did not stop within %.1f s; killing it", child.name, child.spec.stop_timeout_s)
                child.process.kill()
                child.process.join(2.0)
                changes.append(self._reaped(child, now))
                changes.append(Change(child, "killed"))
            elif child.state == BACKOFF and now >= child.restart_at:
                self._start(child)
                changes.append(Change(child, "started"))
        return changes

    def _reaped(self, child: Child, now: float) -> Change:
        child.process.join(0.5)
        code = child.process.exitcode
        child.exitcode = code
        if child.conn is not None:
            self._drain_logs(child)
            self._by_conn.pop(child.conn, None)
            child.conn.close()
            child.conn = None
        was_stopping = child.state == STOPPING
        policy = child.spec.restart
        if was_stopping:
            child.state = STOPPED
            log.debug("%s stopped (exit %s)", child.name, code)
        elif code == EXIT_FATAL or child.fatal_message:
            child.state = FATAL
            log.error("%s failed and will not be restarted: %s", child.name, child.fatal_message or f"exit {code}")
        elif code == 0 and policy.mode != "always":
            child.state = FINISHED
            log.debug("%s finished", child.name)
        elif policy.mode == "never":
            child.state = FINISHED
            log.error("%s exited with %s; restart policy is never", child.name, _describe(code))
        else:
            healthy = now - child.started_at >= policy.reset_after_s
            child.streak = 1 if healthy else child.streak + 1
            delay = policy.delay(child.streak)
            child.restarts += 1
            child.state = BACKOFF
            child.restart_at = now + delay
            log.warning("%s exited with %s; restarting in %.1f s (restart #%d)",
                        child.name, _describe(code), delay, child.restarts)
        return Change(child, "exited", code)

    def _drain_logs(self, child: Child) -> None:
        """Whatever the child said before dying (its traceback) is still in the pipe."""
        try:
            while child.conn.poll():
                self._own(child, child.conn.recv())
        except (EOFError, OSError):
            pass
        except Exception:
            log.debug("%s: unreadable message after exit", child.name, exc_info=True)

    # -- stopping ------------------------------------------------------------------------------
    def request_stop(self, child: Child) -> None:
        """Ask one child to stop; poll() kills it if it has not exited by its deadline."""
        if child.state == BACKOFF:
            child.state = STOPPED
        elif child.state == RUNNING:
            child.state = STOPPING
            child.stop_deadline = time.monotonic() + child.spec.stop_timeout_s
            if not self.send(child, Stop()):
                log.debug("%s: stop message not delivered", child.name)

    def stop_all(self, pump: Callable[[float], None] | None = None) -> None:
        """Stop every child in reverse start order, keeping the owner's loop running meanwhile.

        For each child: wait (pumping) for spec.ready_to_stop(), send the stop, wait (pumping)
        for its exit; a child past its stop_timeout_s is killed. A child that has work left but
        is between a crash and its restart (backoff) is waited for too: the pump's poll()
        restarts it and it gets the chance to finish (the worker and the frames it owes).
        """
        pump = pump or self._default_pump
        for child in reversed(self.children):
            spec = child.spec
            if spec.ready_to_stop is not None and child.state in (RUNNING, BACKOFF):
                deadline = time.monotonic() + spec.stop_timeout_s
                while child.state in (RUNNING, BACKOFF) and not spec.ready_to_stop():
                    if time.monotonic() >= deadline:
                        log.warning("%s: not drained within %.1f s; stopping it anyway",
                                    child.name, spec.stop_timeout_s)
                        break
                    pump(0.05)
            self.request_stop(child)
            while child.state == STOPPING:
                pump(0.05)
                if child.state == STOPPING:
                    self.poll()  # in case the pump does not

    def kill_all(self) -> None:
        """Last resort (error paths): nothing may outlive the main process."""
        for child in reversed(self.children):
            if child.process is not None and child.process.is_alive():
                child.process.kill()
                child.process.join(2.0)
            if child.state in (RUNNING, STOPPING, BACKOFF):
                child.state = STOPPED

    @property
    def restarts(self) -> dict[str, int]:
        return {c.name: c.restarts for c in self.children}


def _emit(record: logging.LogRecord) -> None:
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


def _describe(code: int | None) -> str:
    if code is None:
        return "unknown status"
    if code < 0:
        import signal

        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"
