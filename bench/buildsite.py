"""A build site on loopback for the benchmarks and the chaos suite: OpenShift simulator, sandbox
hub, DistGit and a sandbox kojid that forks one task process per task, as kojid does.

The kojid runs as its own process (``SandboxKojid.start()``), so every figure taken here goes
through the real builder plugin in real task processes: crash, restart and cancel are real
signals. The hub can be stopped and started again on the same port and state directory to
play a hub outage.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import koji

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from koji_containerbuild.builder import task_support  # noqa: E402
from koji_containerbuild.sandbox.distgit import GitDaemon, create_container_repo  # noqa: E402
from koji_containerbuild.sandbox.koji.hub import DEMO, SandboxHub, seed_demo  # noqa: E402
from koji_containerbuild.sandbox.koji.kojid import SandboxKojid  # noqa: E402
from koji_containerbuild.sandbox.openshift.faults import Faults  # noqa: E402
from koji_containerbuild.sandbox.openshift.simulator import OpenShiftSimulator  # noqa: E402

TOKEN = "bench-site-token"  # noqa: S105 - the simulator's loopback token
STATES = koji.TASK_STATES
FINISHED_STATES = {STATES[s] for s in ("CLOSED", "FAILED", "CANCELED")}
TERMINAL_PHASES = {"Complete", "Failed", "Error", "Cancelled"}


class Site:
    """Simulator + hub + DistGit + kojid under ``root``; ``close()`` stops everything."""

    def __init__(self, root: os.PathLike, *, time_scale: float = 1.0,
                 faults: Optional[Faults] = None, maxjobs: int = 20,
                 kojid_options: Optional[dict] = None, arches: str = "x86_64",
                 pending_timeout: float = 120.0, kill_pause: float = 1.0):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.sim = OpenShiftSimulator(token=TOKEN, time_scale=time_scale, faults=faults).start()
        self.hub_dir = str(self.root / "hub")
        self.hub = SandboxHub(self.hub_dir).start()
        self.hub_port = self.hub._server.server_address[1]
        self.sim.koji_work_dir = str(self.root / "hub" / "work")
        seed_demo(self.hub)
        self.hub.add_tag(DEMO["build_tag"], arches=arches)
        with self.hub.store.write() as data:  # room for many light tasks on one host
            for host in data["hosts"].values():
                host["capacity"] = 1000.0
        self.git = GitDaemon(self.root / "distgit").start()
        self._repos: dict[str, str] = {}
        osbs_conf = self.root / "osbs.conf"
        instance = (f"openshift_url = {self.sim.url}/\ntoken = {TOKEN}\n"
                    "build_from = imagestream:buildroot:latest\n"
                    "reactor_config_map = reactor-config-map\ncan_orchestrate = true\n")
        osbs_conf.write_text(f"[general]\nbuild_json_dir = /usr/share/osbs/\n\n"
                             f"[default]\n{instance}\n[scratch]\n{instance}")
        self.builder_conf = self.root / "builder_containerbuild.conf"
        self.builder_conf.write_text(f"[osbs]\nosbs_conf = {osbs_conf}\n"
                                     f"[tasks]\npending_timeout = {pending_timeout}\n")
        os.environ[task_support.SETTINGS_ENV] = str(self.builder_conf)  # for kojid's children
        options = {"allowed_scms": self.git.allowed_scms, "maxjobs": maxjobs,
                   # a hub outage of tens of seconds: kojid's default is 120 x 60 s
                   "max_retries": 240, "retry_interval": 0.5, **(kojid_options or {})}
        self.kojid = SandboxKojid(self.hub.url, DEMO["host"], DEMO["password"],
                                  workdir=str(self.root / "kojid"), options=options,
                                  poll_interval=0.1, kill_pause=kill_pause)
        self.kojid.start()
        self.user = self.session(DEMO["user"])

    # -- hub -------------------------------------------------------------------------------
    def session(self, user: str) -> koji.ClientSession:
        session = koji.ClientSession(self.hub.url, {
            "user": user, "password": DEMO["password"], "max_retries": 240,
            "retry_interval": 0.25, "anon_retry": True})
        session.login()
        return session

    def hub_outage(self, seconds: float) -> None:
        """Stop the hub, wait, and start a new one on the same port and state directory."""
        self.hub.stop()
        time.sleep(seconds)
        self.hub = SandboxHub(self.hub_dir, listen=("127.0.0.1", self.hub_port)).start()

    # -- builds ----------------------------------------------------------------------------
    def source(self, scenario: str) -> str:
        repo = f"scenario-{scenario}"
        if repo not in self._repos:
            self._repos[repo] = create_container_repo(self.git.base, repo)
        return self.git.url(f"container/{repo}.git", self._repos[repo])

    def submit(self, scenario: str, **opts: Any) -> int:
        return self.user.buildContainer(self.source(scenario), DEMO["target"],
                                        {"git_branch": "f39", "scratch": True, **opts})

    def task_state(self, task_id: int) -> int:
        return self.user.getTaskInfo(task_id)["state"]

    def wait_tasks(self, task_ids: list[int], timeout: float) -> dict[int, int]:
        """Final states of the tasks, polled (the benchmark's own loop, not the plugin's)."""
        deadline = time.monotonic() + timeout
        states: dict[int, int] = {}
        while True:
            pending = [t for t in task_ids if t not in states]
            if not pending:
                return states
            infos = self.user.getTaskInfo(pending)
            for task_id, info in zip(pending, infos):
                if info["state"] in FINISHED_STATES:
                    states[task_id] = info["state"]
            if time.monotonic() > deadline:
                return states
            time.sleep(0.2)

    def builds_of(self, task_id: int) -> list[dict]:
        return [b for b in self.sim.list_builds()
                if b["metadata"].get("labels", {}).get("koji-task-id") == str(task_id)]

    def wait_build(self, task_id: int, phases: set[str], timeout: float) -> dict:
        return wait_for(f"a build of task {task_id} in {sorted(phases)}",
                        lambda: next((b for b in self.builds_of(task_id)
                                      if b["status"]["phase"] in phases), None), timeout)

    def task_file(self, task_id: int, name: str) -> Path:
        return Path(self.hub.store.task_dir(task_id)) / name

    def task_files(self, task_id: int) -> dict[str, bytes]:
        folder = Path(self.hub.store.task_dir(task_id))
        if not folder.is_dir():
            return {}
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

    def close(self) -> None:
        for stop in (self.kojid.stop, self.git.stop, self.hub.stop, self.sim.stop):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - stop the rest anyway
                print(f"site: stopping failed: {exc}", file=sys.stderr)
        os.environ.pop(task_support.SETTINGS_ENV, None)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, pause: float = 0.02) -> Any:
    """``probe()``'s first truthy value, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(pause)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
