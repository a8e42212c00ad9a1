"""`alprd install-service [--prefix DIR] [--dry-run] [--gpu]`: install alprd as a systemd service.

What it does, in order (each step says what it did, or with --dry-run what it would do):
1. creates the `alprd` system user and group (home /var/lib/alprd, no login shell) unless it exists;
2. writes the unit to /etc/systemd/system/alprd.service, ExecStart pointing at this alprd;
3. with --gpu, a drop-in alprd.service.d/gpu.conf that lets the service open the NVIDIA devices;
4. copies the service configuration to /etc/alprd/alprd.yaml (root:alprd, 0640) unless that file
   exists (it is never overwritten), and the full reference configuration to
   /etc/alprd/alprd.reference.yaml;
5. runs `systemctl daemon-reload` when systemd is running;
then prints the next steps. It does not enable or start the service: the configuration has no
enabled camera until you add yours.

--prefix DIR installs into DIR as a staging root (DIR/etc/...; packaging, tests): no user is
created, nothing is chowned and systemd is not reloaded. Without it, alprd must run as root.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

UNIT_PATH = "etc/systemd/system/alprd.service"
DROPIN_PATH = "etc/systemd/system/alprd.service.d/gpu.conf"
CONFIG_PATH = "etc/alprd/alprd.yaml"
REFERENCE_PATH = "etc/alprd/alprd.reference.yaml"
USER = "alprd"
HOME = "/var/lib/alprd"

GPU_DROPIN = """\
# Written by `alprd install-service --gpu`: let alprd open the NVIDIA devices (all GPUs).
[Service]
PrivateDevices=no
DevicePolicy=closed
DeviceAllow=char-nvidia-frontend rw
DeviceAllow=char-nvidia-uvm rw
DeviceAllow=char-nvidia-caps rw
DeviceAllow=char-nvidia-modeset rw
"""


@dataclass
class Step:
    text: str                          # what it does, in the imperative
    run: Callable[[], str | None]      # does it; returns a note to print, if any


def add_parser(sub) -> None:
    p = sub.add_parser("install-service", help="install the systemd unit, the alprd user and /etc/alprd/alprd.yaml")
    p.add_argument("--prefix", default="/", help="install under this root directory (staging; default /)")
    p.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    p.add_argument("--gpu", action="store_true", help="allow the service to use NVIDIA GPUs (a unit drop-in)")
    p.add_argument("--exec", dest="exec_path", metavar="COMMAND",
                   help="the alprd command the unit runs (default: the alprd of this Python)")
    p.set_defaults(func=run)


def _data(name: str) -> str:
    from alprd.service.preflight import data_file

    return data_file(name).read_text(encoding="utf-8")


def alprd_command() -> str:
    """The alprd console script next to this interpreter (a venv's bin/), else python -m alprd."""
    script = Path(sys.executable).parent / "alprd"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    return f"{sys.executable} -m alprd"


def unit_text(command: str) -> str:
    lines = []
    for line in _data("alprd.service").splitlines():
        if line.startswith("ExecStart="):
            line = f"ExecStart={command} run -c /{CONFIG_PATH}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def plan(prefix: Path, *, gpu: bool, command: str) -> list[Step]:
    live = prefix.resolve() == Path("/")
    steps: list[Step] = []
    if live:
        if _user_exists(USER):
            steps.append(Step(f"keep the existing user {USER}", lambda: None))
        else:
            nologin = shutil.which("nologin") or "/usr/sbin/nologin"
            cmd = ["useradd", "--system", "--user-group", "--home-dir", HOME, "--no-create-home",
                   "--shell", nologin, "--comment", "alprd licence plate recognition", USER]
            steps.append(Step(f"create the system user: {shlex.join(cmd)}",
                              lambda: subprocess.run(cmd, check=True) and None))
    unit = prefix / UNIT_PATH
    steps.append(Step(f"write {unit} (ExecStart={command} run -c /{CONFIG_PATH})",
                      lambda: _write(unit, unit_text(command), 0o644)))
    dropin = prefix / DROPIN_PATH
    if gpu:
        steps.append(Step(f"write {dropin} (NVIDIA devices allowed)", lambda: _write(dropin, GPU_DROPIN, 0o644)))
    elif dropin.exists():
        steps.append(Step(f"keep {dropin} (remove it by hand to take the GPUs away)", lambda: None))
    config = prefix / CONFIG_PATH
    if config.exists():
        steps.append(Step(f"keep the existing {config} (not overwritten)", lambda: None))
    else:
        def install_config() -> str | None:
            _write(config, _data("alprd-service.yaml"), 0o640)
            if live and _user_exists(USER):
                import grp

                os.chown(config, 0, grp.getgrnam(USER).gr_gid)
                os.chmod(config.parent, 0o750)
                os.chown(config.parent, 0, grp.getgrnam(USER).gr_gid)
            return None
        steps.append(Step(f"write {config} (the service configuration; root:{USER}, mode 0640)", install_config))
    reference = prefix / REFERENCE_PATH
    steps.append(Step(f"write {reference} (every option, commented)",
                      lambda: _write(reference, _data("alprd.yaml"), 0o644)))
    if live and shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        steps.append(Step("run systemctl daemon-reload",
                          lambda: subprocess.run(["systemctl", "daemon-reload"], check=True) and None))
    return steps


def next_steps(prefix: Path) -> str:
    cfg = f"/{CONFIG_PATH}"
    staged = "" if prefix.resolve() == Path("/") else f"(staged under {prefix}: copy it to / first)\n"
    return (f"{staged}Next steps:\n"
            f"  1. edit {cfg}: add your cameras and set enabled: true\n"
            f"  2. alprd check-config -c {cfg}\n"
            f"  3. systemctl enable --now alprd\n"
            f"  4. journalctl -u alprd -f      # logs (priorities: journalctl -u alprd -p warning)\n"
            f"     alprd status -c {cfg}   # cameras, fps, sinks, storage\n"
            f"     curl -s http://127.0.0.1:9108/metrics | grep ^alprd_\n"
            f"  After editing cameras: systemctl reload alprd (other cameras keep running).\n")


def run(args) -> int:
    prefix = Path(args.prefix)
    live = prefix.resolve() == Path("/")
    command = args.exec_path or alprd_command()
    if live and not args.dry_run and os.geteuid() != 0:
        print("error: installing the service needs root (or use --dry-run, or --prefix DIR to stage it)",
              file=sys.stderr)
        return 1
    for hidden, why in (("/home/", "ProtectHome=yes"), ("/root/", "ProtectHome=yes"),
                        ("/run/user/", "ProtectHome=yes"), ("/tmp/", "PrivateTmp=yes: the service gets an "
                                                          "empty /tmp of its own"),
                        ("/var/tmp/", "PrivateTmp=yes: the service gets an empty /var/tmp of its own")):
        if command.startswith(hidden):
            print(f"warning: {command.split()[0]} is under {hidden.rstrip('/')}, which the unit hides "
                  f"({why}): install alprd system-wide (e.g. a venv in /opt/alprd) or pass "
                  f"--exec", file=sys.stderr)
            break
    steps = plan(prefix, gpu=args.gpu, command=command)
    for step in steps:
        if args.dry_run:
            print(f"would {step.text}")
            continue
        try:
            note = step.run()
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"error: could not {step.text}: {exc}", file=sys.stderr)
            return 1
        print(f"did: {step.text}" + (f" ({note})" if note else ""))
    print()
    print(next_steps(prefix), end="")
    return 0
