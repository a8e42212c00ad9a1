"""A real, throwaway PostgreSQL server for tests (the Debian `postgresql` package's binaries).

`PgServer` runs initdb in a fresh temp dir (as the `postgres` user when we are root: initdb refuses
root), listens on a free loopback port with password (scram) auth and its unix socket inside the
temp dir, and can be stopped and started again on the same port (a database outage). Durability
settings are off for speed: these databases are thrown away.

The session fixture `pg_server` skips with the reason when the binaries or the driver are missing,
unless CI is set: there a missing PostgreSQL is a failure, so the dialect never silently goes
untested.
"""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from benchmarks.ports import free_port


def find_bindir() -> Path | None:
    """The directory with initdb and pg_ctl: $PG_BINDIR, the newest /usr/lib/postgresql/*/bin, PATH."""
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                         reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(str(Path(which).parent))
    for c in candidates:
        if (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def missing_reason() -> str | None:
    if find_bindir() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package "
                "postgresql (scripts/install-test-deps.sh) or set PG_BINDIR")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "no PostgreSQL driver: pip install -e '.[test]' (psycopg2-binary)"
    return None


class PgServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="alprd-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.user = "postgres"
        self._as_postgres = os.geteuid() == 0

    def _cmd(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        argv = list(args)
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({res.returncode}): "
                               f"{res.stderr.strip()[-2000:]}\n{log}")
        return res

    def init(self) -> "PgServer":
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        self._cmd(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user,
                  "--pwfile", str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        pwfile.unlink()
        return self

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -F "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=40 "
                "-c shared_buffers=16MB")
        self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", opts, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, capture_output=True).returncode == 0

    def url(self, dbname: str = "postgres", *, with_password: bool = True) -> str:
        auth = f"{self.user}:{self.password}" if with_password else self.user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL (password inline)."""
        import sqlalchemy as sa

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        from alprd.sinks.db_url import parse_url

        engine = sa.create_engine(parse_url(self.url()), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return self.url(name)

    def cleanup(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    reason = missing_reason()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    server = PgServer(find_bindir()).init()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
