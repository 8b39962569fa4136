"""The sandbox's processes: start one as a service of its own, record it, and stop it again
from this process or any later one (``services.json`` in the sandbox folder), without ever
signalling a process that merely reuses a recorded pid; and the folder's own life cycle.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from koji_containerbuild.sandbox.openshift.buildah import Buildah, BuildahError
from koji_containerbuild.sandbox.procs import descendants, proc_stat, start_time

MARKER = ".koji-containerbuild-sandbox"
STOP_ORDER = ("kojid", "openshift", "hub", "git-daemon")


class SandboxError(RuntimeError):
    """The sandbox cannot start (or its folder cannot be used); the message says why."""


class Layout:
    """Where each part of a sandbox lives."""

    def __init__(self, root: os.PathLike):
        self.root = Path(root).resolve()
        self.koji_conf = self.root / "koji.conf"        # the koji CLI's profile "sandbox"
        self.services = self.root / "services.json"     # pids of the running services
        self.etc = self.root / "etc"                    # osbs.conf, builder.conf, token
        self.logs = self.root / "logs"                  # one log per service
        self.hub = self.root / "hub"                    # hub state; task outputs in hub/work
        self.openshift = self.root / "openshift"        # the simulator's finished builds
        self.engine = self.root / "engine"              # buildah storage, registry, clones
        self.distgit = self.root / "distgit"            # bare container/<name>.git
        self.kojid = self.root / "kojid"                # kojid's task work dirs
        self.checkout = self.root / "checkout"          # a packager's clones
        self.registry_config = self.engine / "registry" / "config.yml"
        self.registry_pid = self.engine / "registry" / "registry.pid"


def stop_process(pid: int, started: Optional[str], timeout: float,
                 proc: Optional[subprocess.Popen] = None) -> bool:
    """SIGTERM the process ``pid`` that started at ``started``; after ``timeout`` SIGKILL it
    and everything it started. True when it was still running."""
    if started is None or start_time(pid) != started:
        if proc is not None:
            proc.poll()
        return False
    tree = descendants(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while start_time(pid) == started and time.monotonic() < deadline:
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.1)
        else:
            time.sleep(0.05)  # not our child: nothing to wait on but /proc
    for leftover in tree + descendants(pid):
        if proc_stat(leftover) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)
    if proc is not None:
        proc.wait()
    return True


@dataclass
class Service:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    stop_timeout: float = 15.0
    proc: Optional[subprocess.Popen] = None
    started: Optional[str] = None

    def spawn(self, cwd: Path, pass_fds: tuple[int, ...] = ()) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(os.environ, PYTHONUNBUFFERED="1", **self.env), cwd=str(cwd),
                start_new_session=True, pass_fds=pass_fds)
        self.started = start_time(self.proc.pid)

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise SandboxError(f"{self.name} exited at start; its log {self.log} ends:\n"
                               + log_tail(self.log))

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc.pid, self.started, self.stop_timeout, self.proc)
            self.proc = None

    def record(self) -> dict[str, Any]:
        return {"pid": self.proc.pid if self.proc else None, "started": self.started,
                "argv": self.argv, "url": self.url, "log": str(self.log),
                "stop_timeout": self.stop_timeout}


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return "(no log)\n"


def running_recorded(root: os.PathLike) -> list[str]:
    """Names of the services recorded in ``root`` that still run (e.g. left by ``--keep``)."""
    try:
        records = json.loads(Layout(Path(root)).services.read_text())
    except (OSError, ValueError):
        return []
    return [name for name, record in records.items()
            if record.get("pid") and record.get("started")
            and start_time(record["pid"]) == record["started"]]


def stop_recorded(root: os.PathLike) -> list[str]:
    """Stop the services a sandbox run recorded in ``root`` (from any process); their names."""
    layout = Layout(Path(root))
    stopped = []
    try:
        records = json.loads(layout.services.read_text())
    except (OSError, ValueError):
        records = {}
    for name in [n for n in STOP_ORDER if n in records] + [n for n in records
                                                          if n not in STOP_ORDER]:
        record = records[name]
        if record.get("pid") and stop_process(record["pid"], record.get("started"),
                                              record.get("stop_timeout", 15.0)):
            stopped.append(name)
    with contextlib.suppress(OSError, ValueError):  # the simulator's registry, if orphaned
        pid = int(layout.registry_pid.read_text())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            ours = str(layout.registry_config).encode() in f.read()
        if ours and stop_process(pid, start_time(pid), 10.0):
            stopped.append("registry")
    with contextlib.suppress(OSError):
        layout.services.unlink()
    return stopped


def prepare_folder(root: Path) -> None:
    """Make ``root`` an empty sandbox folder, ending what a previous run there left running.

    A non-empty folder without the sandbox marker is refused: it is not ours to empty."""
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise SandboxError(f"{root} is not empty and is not a sandbox folder; choose "
                               "another --dir")
        stop_recorded(root)
        remove_folder(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("koji-containerbuild sandbox folder (make demo-clean removes "
                               "it)\n")


def remove_folder(root: Path) -> None:
    """Remove a sandbox folder (its buildah storage included); refuses any other folder."""
    if not root.exists():
        return
    if any(root.iterdir()) and not (root / MARKER).exists():
        raise SandboxError(f"{root} is not a sandbox folder; not removing it")
    storage = root / "engine"
    if (storage / "storage").exists():
        with contextlib.suppress(BuildahError, OSError, subprocess.SubprocessError):
            Buildah(storage).run("rm", "--all", timeout=60)
    shutil.rmtree(root)


def wait_ready(what: str, ready: Callable[[], bool], service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        service.check_alive()
        if time.monotonic() > deadline:
            raise SandboxError(f"{what} not ready after {timeout:g}s; see {service.log}")
        time.sleep(0.05)  # startup only


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False
