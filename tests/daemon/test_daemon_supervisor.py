"""The generic supervisor with real spawned processes: order, restarts with backoff, fatal
errors, stop escalation, drain before stop, and child logs arriving in the parent."""
from __future__ import annotations

import logging
import multiprocessing.connection
import time

import bodies_daemon as bodies
from alprd.process.supervisor import (FATAL, FINISHED, STOPPED, STOPPING, ProcessSpec,
                                      RestartPolicy, Supervisor)


def pump_until(sup, cond, timeout=120.0, on_msg=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = multiprocessing.connection.wait(sup.waitables(), 0.05)
        for child, msg in sup.receive(ready):
            if on_msg:
                on_msg(child, msg)
        sup.poll()
        if cond():
            return
    raise AssertionError("condition not reached")


def messages(caplog, prefix):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


def test_children_start_in_order_and_stop_in_reverse_with_logs_in_the_parent(caplog):
    caplog.set_level(logging.INFO)
    specs = [ProcessSpec(n, bodies.until_stopped, kwargs={"tag": n}, wait_ready=True, ready_timeout_s=20)
             for n in ("one", "two", "three")]
    sup = Supervisor(specs)
    try:
        assert sup.start_all()
        assert messages(caplog, "started") == ["started one", "started two", "started three"]
        sup.stop_all()
        assert messages(caplog, "stopped") == ["stopped three", "stopped two", "stopped one"]
        assert all(c.state == STOPPED and c.exitcode == 0 for c in sup.children)
        assert all(r.processName in ("one", "two", "three") for r in caplog.records if r.name == "alprd.test.bodies")
    finally:
        sup.kill_all()


def test_a_crashing_child_is_restarted_with_growing_backoff_and_counted(caplog):
    caplog.set_level(logging.WARNING)
    policy = RestartPolicy("on-failure", min_backoff_s=0.1, max_backoff_s=0.4, reset_after_s=60)
    sup = Supervisor([ProcessSpec("crashy", bodies.crash, kwargs={"code": 7}, restart=policy)])
    try:
        sup.start_all()
        pump_until(sup, lambda: sup.child("crashy").restarts >= 3)
        warnings = messages(caplog, "crashy exited with code 7")
        assert len(warnings) >= 3
        delays = [float(w.split("restarting in ")[1].split(" s")[0]) for w in warnings[:4]]
        assert delays[:3] == [0.1, 0.2, 0.4]
        assert sup.restarts["crashy"] >= 3
    finally:
        sup.stop_all()
        sup.kill_all()


def test_an_exception_in_a_child_is_logged_with_its_traceback_and_restarted(caplog):
    caplog.set_level(logging.INFO)
    sup = Supervisor([ProcessSpec("err", bodies.raise_error, restart=RestartPolicy("always", 5.0, 5.0))])
    try:
        sup.start_all()
        pump_until(sup, lambda: sup.child("err").restarts == 1)
        crashed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("err crashed")]
        assert crashed and "RuntimeError: boom in the child" in crashed[0]  # traceback came along
    finally:
        sup.stop_all()
        sup.kill_all()


def test_fatal_errors_and_finished_children_are_not_restarted(caplog):
    caplog.set_level(logging.INFO)
    sup = Supervisor([ProcessSpec("fatal", bodies.fatal, restart=RestartPolicy("always", 0.1)),
                      ProcessSpec("done", bodies.finish, restart=RestartPolicy("on-failure", 0.1))])
    try:
        sup.start_all()
        pump_until(sup, lambda: sup.child("fatal").state == FATAL and sup.child("done").state == FINISHED)
        time.sleep(0.3)
        sup.poll()
        assert sup.restarts == {"fatal": 0, "done": 0}
        assert sup.child("fatal").fatal_message == "weights file is missing"
    finally:
        sup.kill_all()


def test_a_child_that_ignores_stop_is_killed_after_its_timeout(caplog):
    """The child sleeps an hour whatever it is told: stop_all() returns only because it kills
    it once its stop timeout has run out, having first asked it to stop and waited."""
    caplog.set_level(logging.WARNING)
    sup = Supervisor([ProcessSpec("stubborn", bodies.ignore_stop, stop_timeout_s=0.5, wait_ready=True)])
    child = sup.child("stubborn")
    seen = []  # (state, alive) of the child at each turn of the loop stop_all() runs
    hang_guard = time.monotonic() + 300

    def pump(timeout):
        assert time.monotonic() < hang_guard, "stop_all() did not kill a child that ignores stop"
        seen.append((child.state, child.process.is_alive()))
        ready = multiprocessing.connection.wait(sup.waitables(), timeout)
        sup.receive(ready)
        sup.poll()

    try:
        assert sup.start_all()
        t0 = time.monotonic()
        sup.stop_all(pump=pump)
        # asked to stop and left alive while stopping, killed once its timeout ran out (a lower
        # bound: load can only make it later)
        assert seen and seen[0] == (STOPPING, True)
        assert time.monotonic() - t0 >= 0.5
        assert child.state == STOPPED and child.exitcode == -9
        assert messages(caplog, "stubborn did not stop within 0.5 s; killing it")
    finally:
        sup.kill_all()


def test_stop_waits_for_ready_to_stop_and_keeps_pumping_meanwhile():
    pending = ["x", "y", "z"]
    got = []
    sup = Supervisor([ProcessSpec("echo", bodies.echo, wait_ready=True, stop_timeout_s=10,
                                  ready_to_stop=lambda: not pending and len(got) == 3)])

    def pump(timeout):
        if pending:
            sup.send(sup.child("echo"), bodies.Ping(pending.pop(0)))
        ready = multiprocessing.connection.wait(sup.waitables(), timeout)
        for _, msg in sup.receive(ready):
            if isinstance(msg, bodies.Pong):
                got.append(msg.text)
        sup.poll()

    try:
        assert sup.start_all()
        sup.stop_all(pump=pump)
        assert got == ["x", "y", "z"]
        assert sup.child("echo").exitcode == 0
    finally:
        sup.kill_all()
