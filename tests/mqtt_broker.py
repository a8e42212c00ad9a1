"""A real, throwaway MQTT broker for tests: Debian's mosquitto on a free loopback port.

`Mosquitto` writes a config into a temp dir (listener on 127.0.0.1 only, persistence in the temp
dir so sessions and retained messages survive a restart, optionally a password file and TLS) and
can be stopped and started again on the same port (a broker outage). The fixture `mosquitto`
skips when the binary is missing, unless CI is set: there it fails, like tests/pg.py.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from benchmarks.ports import free_port


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)


class Mosquitto:
    def __init__(self, binary: str, *, users: dict[str, str] | None = None,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="alprd-mqtt-"))
        self.port = free_port()
        self.log = self.root / "mosquitto.log"
        self.proc: subprocess.Popen | None = None
        lines = [f"listener {self.port} 127.0.0.1", "persistence true",
                 f"persistence_location {self.root}/", "autosave_interval 1",
                 f"log_dest file {self.log}", "log_type all", "max_queued_messages 100000"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it switches to the `mosquitto` user, who cannot write here
        if users:
            pw = self.root / "passwd"
            pw.write_text("")
            for user, password in users.items():
                subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-b", str(pw),
                                user, password], check=True, capture_output=True)
            lines += [f"password_file {pw}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            ca, cert, key = tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        (self.root / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 20.0) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.root / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): "
                                   f"{self.proc.stderr.read().decode(errors='replace')[-2000:]} "
                                   f"{self.log.read_text(errors='replace')[-2000:] if self.log.exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence (sessions, queued QoS-1 messages) and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl CLI):
    returns (ca.pem, server.pem, server.key)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca, ca_key, cert, key, csr = (d / n for n in ("ca.pem", "ca.key", "server.pem", "server.key", "server.csr"))
    ext = d / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=alprd test CA",
        "-keyout", str(ca_key), "-out", str(ca))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return ca, cert, key


def missing_reason() -> str | None:
    if find_mosquitto() is None:
        return "mosquitto not found: install the Debian package mosquitto (scripts/install-test-deps.sh)"
    return None


@pytest.fixture
def mosquitto():
    """A started broker of this test alone (tests restart it)."""
    reason = missing_reason()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    broker = Mosquitto(find_mosquitto())
    try:
        broker.start()
        yield broker
    finally:
        broker.cleanup()
