"""A stand-in for kojid: runs the sandbox hub's tasks with real builder plugin classes.

Kept from kojid (reference/koji-plugin-api.md §2.6-§2.8), by using ``koji.daemon.TaskManager``:

- plugins load with ``koji.plugin.PluginTracker(path=pluginpath.split(':'))`` and register
  through ``scanPlugin``, next to koji.tasks' own handlers; a plugin that fails to import stops
  kojid at startup;
- the loop: ``updateTasks``, ``getNextTask``, sleep ``sleeptime`` only when no task was taken;
- one forked process per task (``forkTask``): its own process group, a subsession of the host's
  exclusive session, SIGUSR2 a no-op, SIGTERM -> SystemExit, SIGINT -> KeyboardInterrupt;
- cancel and reassignment through ``cleanupTask``: SIGINT, pause, SIGTERM, SIGKILL, one pid at
  a time, deepest first; then the task's subsession is logged out;
- SIGTERM to kojid: ``shutdown()`` cleans up every task and FREES it (the hub re-runs it);
  SIGUSR1: graceful re-exec once idle; a new kojid frees its host's stale OPEN tasks.

Where the sandbox departs, and why:

- ``kill_pause`` scales kojid's kill timings (3 s after SIGINT, 1 s between SIGTERMs and
  SIGKILLs) so tests cancel in a fraction of a second; the default 3.0 is kojid's timing.
- ``readyForTask`` skips the load-average gate (4 x CPUs): shared 2-core CI machines reach it
  and the host would stop taking tasks at random. The disk gate stays, on ``workdir`` with
  256 MB (kojid.conf's sample value): there is no ``/var/lib/mock`` and no mock buildroot here.
- No buildroot maintenance (``updateBuildroots``): container tasks have no mock buildroots.
- ``sleeptime`` is ``poll_interval`` (kojid: 15 s); hub calls retry 20 times 0.5 s apart
  (kojid: 120 times, 60 s) so a restarted sandbox hub is found at once and a dead one soon.
- ``kill -QUIT`` makes the kojid process write its Python stacks into its log.

Process model: ``start()`` runs ``python -m koji_containerbuild.sandbox.koji.kojid`` as a process of
its own, as kojid is: single-threaded when it forks task processes, with real signal handlers,
so ``stop()`` is a real SIGTERM and ``crash()`` a real SIGKILL. Forking from a pytest process
instead would copy the test's threads' locks and its in-process servers' sockets into every task
process (and Python 3.12 warns about forking with threads). ``run_once()`` steps the same
TaskManager inside the calling process for unit tests; its task processes are forks of that
process (see ``run_once``).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any, Optional

from koji_containerbuild.sandbox.koji.kojid_process import (  # noqa: F401 - public API
    MODULE,
    PASSWORD_ENV,
    PLUGIN_DIR,
    SCALE_BASE,
    SandboxTaskManager,
    kojid_options,
    main,
    new_manager,
    option_text,
)
from koji_containerbuild.sandbox.procs import descendants

log = logging.getLogger("koji_containerbuild.sandbox.koji.kojid")


class SandboxKojid:
    """One build host's kojid; see the module docstring for the process model."""

    def __init__(self, hub_url: str, host: str = "builder1", password: str = "pw",  # noqa: S107
                 *, workdir: str, plugin_paths: Optional[list[str]] = None,
                 plugins: Optional[list[str]] = None, options: Optional[dict] = None,
                 poll_interval: float = 0.1, kill_pause: float = SCALE_BASE):
        self.hub_url, self.host, self._password = hub_url, host, password
        self.workdir = os.path.abspath(workdir)
        self.plugin_paths = list(plugin_paths or [PLUGIN_DIR])
        self.plugins = list(plugins if plugins is not None else ["builder_containerbuild"])
        self.extra_options = dict(options or {})
        self.poll_interval, self.kill_pause = poll_interval, kill_pause
        self.options = kojid_options(hub_url, self.workdir, plugin_paths=self.plugin_paths,
                                     plugins=self.plugins, options=self.extra_options,
                                     poll_interval=poll_interval)  # fails early on a bad key
        self.log_path = os.path.join(self.workdir, "kojid.log")
        self._proc: Optional[subprocess.Popen] = None
        self._manager: Optional[SandboxTaskManager] = None

    def __repr__(self) -> str:
        return f"SandboxKojid(host={self.host!r}, hub={self.hub_url!r}, pid={self.pid})"

    @property
    def pid(self) -> Optional[int]:
        """The kojid process (``start()``), or this process while ``run_once()`` steps."""
        if self._proc is not None:
            return self._proc.pid
        return os.getpid() if self._manager is not None else None

    # -- kojid as its own process --------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", MODULE, "--hub", self.hub_url, "--host", self.host,
               "--workdir", self.workdir, "--poll-interval", repr(self.poll_interval),
               "--kill-pause", repr(self.kill_pause)]
        for path in self.plugin_paths:
            cmd += ["--plugin-path", path]
        for name in self.plugins or [""]:  # "" keeps an empty list from meaning the default
            cmd += ["--plugin", name]
        for key, value in self.extra_options.items():
            cmd += ["--option", f"{key}={option_text(value)}"]
        return cmd

    def start(self, timeout: float = 30.0) -> SandboxKojid:
        """Start kojid as its own process; returns once it is logged in with plugins loaded."""
        if self._proc is not None or self._manager is not None:
            raise RuntimeError("this kojid is already running")
        os.makedirs(self.workdir, exist_ok=True)
        ready_r, ready_w = os.pipe()
        env = dict(os.environ, **{PASSWORD_ENV: self._password})  # not in argv: ps and logs
        cmd = self.command() + ["--ready-fd", str(ready_w), "--exit-with-parent",
                                str(os.getpid())]
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                          pass_fds=(ready_w,), stdin=subprocess.DEVNULL)
        os.close(ready_w)
        try:
            readable, _w, _x = select.select([ready_r], [], [], timeout)
            answer = os.read(ready_r, 64) if readable else b""
        finally:
            os.close(ready_r)
        if not answer.startswith(b"ready"):
            self._proc.kill()
            self._proc.wait()
            self._proc = None
            raise RuntimeError(f"sandbox kojid did not start; see {self.log_path}:\n"
                               + self._log_tail())
        return self

    def _log_tail(self, lines: int = 15) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self, timeout: float = 60.0) -> Optional[int]:
        """kojid's shutdown: every task process cleaned up (SIGINT, SIGTERM, SIGKILL), every
        task freed, the session logged out. Returns kojid's exit status (0: clean), if any."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGQUIT)  # its stacks into kojid.log, then systemd's
                time.sleep(0.5)                   # SIGKILL for everything in the cgroup
                for pid in descendants(proc.pid):
                    _sigkill(pid)
                proc.wait()
                raise RuntimeError(f"sandbox kojid ignored SIGTERM for {timeout} s; its stack "
                                   f"is in {self.log_path}") from None
        if self._manager is not None:
            manager, self._manager = self._manager, None
            manager.shutdown()
            manager.session.logout()
        return None

    def restart(self) -> SandboxKojid:
        """``systemctl restart kojid``: running tasks are freed, then re-run from scratch (by
        a kojid in its own process, whichever way this one ran)."""
        self.stop()
        return self.start()

    def crash(self) -> None:
        """kojid and its task processes die by SIGKILL, without cleanup or logout; the hub
        still lists the tasks OPEN on this host until the next kojid frees them as stale."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            # kojid first, so it cannot react; then what systemd kills in its cgroup
            for pid in descendants(proc.pid):
                _sigkill(pid)
            proc.wait()
        elif self._manager is not None:
            manager, self._manager = self._manager, None
            for task_pid in list(manager.pids.values()):
                for pid in descendants(task_pid):
                    _sigkill(pid)
                try:
                    os.waitpid(task_pid, 0)
                except ChildProcessError:  # already reaped
                    pass
            manager.session._forget()

    # -- kojid inside this process (unit tests) ------------------------------------------
    def run_once(self) -> bool:
        """One turn of kojid's loop in the calling thread; True when a task was taken.

        The task runs in a fork of this process, as forkTask does. Constraints: only the
        calling thread exists in the child, so a task must not need the caller's other threads
        or locks they held; the child inherits this process's open sockets (an in-process hub's
        included) until it exits; Python >= 3.12 warns when forking with threads. End with
        ``stop()`` or ``crash()``; do not mix with ``start()``."""
        if self._proc is not None:
            raise RuntimeError("this kojid runs as its own process; run_once() steps an "
                               "in-process one")
        if self._manager is None:
            os.makedirs(self.workdir, exist_ok=True)
            self._manager = new_manager(self.options, self.host, self._password,
                                        self.kill_pause)
        self._manager.updateTasks()
        return self._manager.getNextTask()

    def __enter__(self) -> SandboxKojid:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
