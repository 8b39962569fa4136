"""A world for builder tests: sandbox hub + OpenShift simulator + DistGit on loopback, and the
real builder plugin file run by koji's own TaskManager (the code kojid uses), in-process."""

from __future__ import annotations

import optparse
import sys
from pathlib import Path

import koji
import koji.daemon
import pytest
from koji.plugin import PluginTracker

from koji_containerbuild.builder import task_support
from koji_containerbuild.sandbox.distgit import GitDaemon, create_container_repo
from koji_containerbuild.sandbox.koji.hub import DEMO, SandboxHub, seed_demo
from koji_containerbuild.sandbox.openshift.simulator import OpenShiftSimulator

REPO = Path(__file__).resolve().parents[2]
TOKEN = "sim-secret-token"


class World:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.sim = OpenShiftSimulator(token=TOKEN, time_scale=0.02).start()
        self.hub = SandboxHub(str(tmp / "hub")).start()
        self.sim.koji_work_dir = str(tmp / "hub" / "work")  # atomic-reactor's Koji uploads
        self.names = seed_demo(self.hub)
        self.hub.add_tag(DEMO["build_tag"], arches="x86_64 aarch64")
        self.git = GitDaemon(tmp / "distgit").start()
        self.sha = create_container_repo(self.git.base, "hello")
        self.osbs_conf = tmp / "osbs.conf"
        self.osbs_conf.write_text(self.osbs_conf_text())
        self.builder_conf = tmp / "builder_containerbuild.conf"
        self.builder_conf.write_text(f"[osbs]\nosbs_conf = {self.osbs_conf}\n"
                                     "[tasks]\npending_timeout = 30\n")
        self.user = self.session(DEMO["user"])
        self._host_session = None
        self._manager = None
        self._retired: list = []

    def osbs_conf_text(self) -> str:
        instance = (f"openshift_url = {self.sim.url}/\ntoken = {TOKEN}\n"
                    "build_from = imagestream:buildroot:latest\n"
                    "reactor_config_map = reactor-config-map\ncan_orchestrate = true\n")
        return (f"[general]\nbuild_json_dir = /usr/share/osbs/\n\n[default]\n{instance}\n"
                f"[scratch]\n{instance}")

    def session(self, user: str) -> koji.ClientSession:
        session = koji.ClientSession(self.hub.url, {"user": user, "password": DEMO["password"],
                                                    "max_retries": 0, "anon_retry": False})
        session.login()
        return session

    def src(self, ref: str = None, repo: str = "hello") -> str:
        return self.git.url(f"container/{repo}.git", ref or self.sha)

    def submit(self, opts: dict = None, src: str = None, target: str = None) -> int:
        opts = {"git_branch": "f39", **(opts or {})}
        return self.user.buildContainer(src or self.src(), target or DEMO["target"], opts)

    def manager(self) -> koji.daemon.TaskManager:
        """koji's TaskManager as kojid sets it up, in foreground mode, with our plugin."""
        if self._manager is None:
            session = koji.ClientSession(self.hub.url, {
                "user": DEMO["host"], "password": DEMO["password"], "use_fast_upload": True,
                "max_retries": 0, "anon_retry": False})
            session.login()
            session.exclusiveSession(force=True)
            self._host_session = session
            options = optparse.Values({
                "workdir": str(self.tmp / "kojid"), "mockdir": str(self.tmp / "kojid"),
                "topdir": str(self.tmp / "hub"), "topurl": self.hub.topurl, "maxjobs": 5,
                "minspace": 0, "single": True, "sleeptime": 1,
                "allowed_scms": self.git.allowed_scms, "allowed_scms_use_config": True,
                "allowed_scms_use_policy": False, "allow_password_in_scm_url": False})
            manager = koji.daemon.TaskManager(options, session)
            plugin = PluginTracker(path=[str(REPO / "builder_plugin")]).load(
                "builder_containerbuild", reload=True)
            manager.scanPlugin(plugin)
            manager.readyForTask = lambda: True  # no load-average or disk gates in tests
            self._manager = manager
        return self._manager

    def restart_kojid(self) -> None:
        """A new kojid process: a new exclusive session and TaskManager."""
        # Keep the old session referenced: koji's ClientSession logs out in __del__, and a
        # garbage collection inside the in-process hub's locked store would deadlock it.
        self._retired.append(self._host_session)
        self._manager = None

    def run_next_task(self) -> None:
        try:
            assert self.manager().getNextTask(), "kojid found no task to take"
        except koji.ActionNotAllowed as exc:
            # A task that cancelled itself (its build was cancelled on the cluster) cannot be
            # failed afterwards; kojid's task child logs this and exits, as here.
            assert "does not own task" in str(exc), exc

    def run(self, task_id: int) -> dict:
        """Run the task through kojid's TaskManager; return its final info."""
        self.run_next_task()
        return self.user.getTaskInfo(task_id)

    def result(self, task_id: int):
        return self.user.getTaskResult(task_id)

    def output(self, task_id: int, name: str) -> bytes:
        return self.user.downloadTaskOutput(task_id, name)

    def outputs(self, task_id: int) -> list[str]:
        return sorted(self.user.listTaskOutput(task_id))

    def builds(self) -> list[dict]:
        return self.sim.list_builds()

    def close(self) -> None:
        self.git.stop()
        self.hub.stop()
        self.sim.stop()


@pytest.fixture
def world(tmp_path, monkeypatch):
    w = World(tmp_path)
    monkeypatch.setattr(task_support, "settings_path", str(w.builder_conf))
    yield w
    w.close()
    sys.modules.pop("_koji_plugin__builder_containerbuild", None)
