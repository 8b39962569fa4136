"""Run the real ``koji`` console script with our CLI plugin against the sandbox hub."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

import pytest

from koji_containerbuild.sandbox.koji.hub import SandboxHub

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KOJI = os.path.join(os.path.dirname(sys.executable), "koji")
PROFILE = "cbtest"
USER = "packager"
TARGET = "f39-container-candidate"


@dataclass
class Run:
    rc: int
    out: str
    err: str


@pytest.fixture
def hub(tmp_path):
    """A hub with a packager, a build host, f39/rawhide container targets and a locked one."""
    sandbox = SandboxHub(str(tmp_path / "hub"))
    sandbox.add_user(USER, "pw")
    sandbox.host_id = sandbox.add_host("builder-1", channels=("container", "container-beta"))
    for tag in ("f39-container-build", "f39-container", "rawhide-container", "frozen"):
        sandbox.add_tag(tag, locked=tag == "frozen")
    sandbox.add_tag("f39-container-build", arches="x86_64 aarch64 ppc64le")
    sandbox.add_target(TARGET, "f39-container-build", "f39-container")
    sandbox.add_target("rawhide-container-candidate", "f39-container-build", "rawhide-container")
    sandbox.add_target("frozen-candidate", "f39-container-build", "frozen")
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def koji_conf(tmp_path, hub):
    """A koji profile for the hub: our plugin by plugin_paths, fast polling.

    koji.conf has no user/password keys; the password login is on the command line.
    """
    path = tmp_path / "koji.conf"
    path.write_text(
        f"[{PROFILE}]\nserver = {hub.url}\nweburl = {hub.weburl}\ntopurl = {hub.topurl}\n"
        "authtype = password\n"
        f"plugin_paths = {os.path.join(REPO, 'cli_plugin')}\npoll_interval = 0\n"
        "max_retries = 0\n"
    )
    return path


@pytest.fixture
def koji(tmp_path, koji_conf):
    """``koji(*args, cwd=...)``: the koji script as a packager runs it, stdin not a terminal."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KOJI", "GIT_"))}
    env.update(HOME=str(home), LC_ALL="C.UTF-8")

    def run(*args: str, cwd: str | os.PathLike | None = None, conf=koji_conf) -> Run:
        proc = subprocess.run(
            [KOJI, "-p", PROFILE, "-c", str(conf), "--user", USER, "--password", "pw", *args],
            cwd=str(cwd or home), env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


class TaskPlayer:
    """Plays a builder's state changes on each new task, one step per watcher look.

    A step is ``set_task_state`` keywords, plus ``files`` (task output name -> text) written
    first. A step is applied only after the watcher has fetched the task (``getTaskInfo``) since the
    previous step, so the koji CLI sees, and prints, every state: the output is deterministic
    whatever the timing.
    """

    def __init__(self, hub: SandboxHub, steps: list[dict]):
        self.hub = hub
        self.steps = steps
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        hub.on_task_created = self._start

    def _start(self, task: dict) -> None:
        thread = threading.Thread(target=self._play, args=(task["id"],), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _looks(self, task_id: int) -> int:
        return sum(1 for c in self.hub.calls
                   if c["method"] == "getTaskInfo" and c["args"][:1] == [task_id])

    def _play(self, task_id: int) -> None:
        for step in self.steps:
            seen = self._looks(task_id)
            while self._looks(task_id) == seen:
                if self.stop.wait(0.005):
                    return
            step = dict(step)
            for name, text in step.pop("files", {}).items():  # task outputs, e.g. logs
                path = self.hub.task_output_path(task_id, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                # replaced whole, never seen truncated: a watcher reading between a
                # truncate and the write took the file for a restarted upload (a flake);
                # written beside the task's directory, not in it, where listTaskOutput
                # would list a file that is gone when it stats it (another flake)
                beside = os.path.dirname(self.hub.store.task_dir(task_id))
                fd, temp = tempfile.mkstemp(dir=beside)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(temp, path)
            self.hub.set_task_state(task_id, **step)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(5)


@pytest.fixture
def play(hub):
    """``play(step, ...)``: script the states of the next task(s) the hub creates."""
    players: list[TaskPlayer] = []

    def start(*steps: dict) -> TaskPlayer:
        player = TaskPlayer(hub, list(steps))
        players.append(player)
        return player

    yield start
    for player in players:
        player.close()
