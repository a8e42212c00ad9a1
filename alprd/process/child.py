"""What every child process shares: its channel to the parent and its set-up.

A child talks to its parent over one duplex ``multiprocessing`` Pipe that the supervisor
creates afresh for every start, so a child killed in the middle of a write can never leave a
lock held that its replacement would need (the failure mode of a shared ``multiprocessing.Queue``).

Messages are the dataclasses of alprd.messages. Parent → child: ``Stop`` and whatever the body
defines (the inference worker takes ``Frames`` and ``Cameras``). Child → parent: ``Log`` (its log
records), ``Fatal`` (a user-fixable error: do not restart me), a ``Ready`` and the body's own.

The child's set-up (``child_main``) runs before its body: process title (setproctitle when
installed, else the kernel's 15-character comm name), SIGINT/SIGTERM ignored (the parent
orchestrates an orderly stop and escalates to SIGKILL if a child hangs), logging through a
QueueHandler whose queue is the channel, and torch's thread count where the child uses torch.
A child whose parent dies sees end-of-file on the channel and its stop event is set.
"""
from __future__ import annotations

import ctypes
import logging
import logging.handlers
import os
import queue
import signal
import sys
import threading
from typing import Any, Callable

from alprd.messages import Fatal, Log, Stop

log = logging.getLogger(__name__)

EXIT_FATAL = 3  # a child's exit code for "do not restart me" (after sending Fatal)


class Channel:
    """The child's end of its pipe: thread-safe send, a reader thread, a stop event.

    ``put_nowait`` makes the channel usable as a logging QueueHandler's queue.
    """

    def __init__(self, conn) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self.stop_event = threading.Event()
        self.parent_gone = threading.Event()
        self._inbox: queue.Queue = queue.Queue()
        # Applied to each message by the reader thread as it arrives (the inference worker
        # copies frames out of their rings at once, before the decoders can overwrite them).
        self.transform: Callable[[object], object] | None = None
        self._reader = threading.Thread(target=self._read_loop, name="channel-reader", daemon=True)
        self._reader.start()

    # -- to the parent -------------------------------------------------------------------------
    def send(self, msg: object) -> bool:
        """Send one message (an alprd.messages dataclass); False (and the stop event set) if
        the parent is gone."""
        try:
            with self._send_lock:
                self._conn.send(msg)
            return True
        except (OSError, EOFError, ValueError):  # BrokenPipeError, closed connection
            self._lost_parent()
            return False

    def put_nowait(self, record: logging.LogRecord) -> None:  # QueueHandler protocol
        self.send(Log(record))

    # -- from the parent -----------------------------------------------------------------------
    def get(self, timeout: float | None = None):
        """The next message from the parent (a Stop too, after the stop event is set), or None
        after `timeout` seconds."""
        try:
            return self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def post(self, msg: object) -> None:
        """Deliver a message to this child's own loop, from another of its threads (get() returns
        it like one from the parent): a worker lane says it is done this way."""
        self._inbox.put(msg)

    def _read_loop(self) -> None:
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                self._lost_parent()
                return
            if isinstance(msg, Stop):
                self.stop_event.set()
            elif self.transform is not None:
                try:
                    msg = self.transform(msg)
                except Exception:  # noqa: BLE001 - keep reading; the body will notice
                    log.exception("handling a message from the parent failed")
                    continue
            self._inbox.put(msg)

    def _lost_parent(self) -> None:
        self.parent_gone.set()
        self.stop_event.set()
        self._inbox.put(Stop())


def set_process_title(title: str) -> None:
    """setproctitle if installed (ps shows it), else the kernel comm name (top, ps -o comm)."""
    try:
        import setproctitle  # optional dependency

        setproctitle.setproctitle(title)
        return
    except ImportError:
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_name = 15
        libc.prctl(pr_set_name, ctypes.c_char_p(title.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass


class _ParentHandler(logging.handlers.QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = super().prepare(record)  # formats msg/args/exc_info into a picklable record
        record.processName = self.process_name
        return record

    process_name = ""


def child_main(name: str, conn, target: Callable[..., int | None], kwargs: dict[str, Any],
               log_level: int, torch_threads: int | None) -> None:
    """Entry point of every child (a module-level function, so `spawn` can import it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    set_process_title(f"alprd: {name}")
    channel = Channel(conn)
    handler = _ParentHandler(channel)
    handler.process_name = name
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level)
    if torch_threads is not None:
        import torch

        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
    code = 0
    try:
        code = int(target(channel, **kwargs) or 0)
    except FatalChildError as exc:
        channel.send(Fatal(str(exc)))
        code = EXIT_FATAL
    except BaseException:  # noqa: BLE001 - the parent must hear why its child died
        logging.getLogger(f"alprd.{name}").exception("%s crashed", name)
        code = 1
    finally:
        logging.shutdown()
        try:
            conn.close()
        except OSError:
            pass
    sys.stdout.flush()
    os._exit(code)  # skip atexit/finalizers of libraries that may hang in a child


class FatalChildError(Exception):
    """Raised by a child body for a user-fixable error (bad weights path...): no restart."""
