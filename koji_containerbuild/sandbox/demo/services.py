"""The whole sandbox as processes on 127.0.0.1, for the demo and the end-to-end tests.

One folder holds everything (layout below); ``Sandbox.start()`` writes the configuration and
starts, each as a process of its own in its own session (so a Ctrl-C reaches only the demo,
which then stops them in order): the OpenShift simulator (with the real-image engine and its
registry when buildah can be used), the sandbox Koji hub (``demo.hub``), ``git daemon`` serving
the DistGit stand-in, and the sandbox kojid with our builder plugin. Their pids are recorded in
``services.json`` (``processes``), so ``demo --stop`` ends the services of a ``--keep`` run
from another process, and a new run first ends whatever an interrupted one left behind.

Layout: ``koji.conf`` (profile ``sandbox``), ``etc/`` (osbs.conf, builder plugin conf, the
simulator's token), ``logs/`` (one log per service), ``hub/`` (hub state, task outputs under
``hub/work``), ``openshift/`` (finished builds as JSON), ``engine/`` (buildah storage, registry
data, per-build clones), ``distgit/`` (bare repositories), ``kojid/`` (task work dirs),
``checkout/`` (a packager's clones).
"""

from __future__ import annotations

import json
import os
import secrets
import select
import socket
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import koji

from koji_containerbuild.builder import task_support
from koji_containerbuild.sandbox.demo.processes import (
    STOP_ORDER,
    Layout,
    SandboxError,
    Service,
    port_open,
    prepare_folder,
    stop_recorded,
    wait_ready,
)
from koji_containerbuild.sandbox.distgit import (
    GitDaemon,
    create_container_repo,
    daemon_argv,
    git,
)
from koji_containerbuild.sandbox.koji import kojid as sandbox_kojid
from koji_containerbuild.sandbox.koji.hub import DEMO
from koji_containerbuild.sandbox.openshift import buildah as sim_buildah

REPO_ROOT = Path(__file__).resolve().parents[3]
PROFILE = "sandbox"
USER, PASSWORD = DEMO["user"], DEMO["password"]
SIMULATED_BASE = "registry.sandbox.local/sandbox/busybox:latest"


def url_in(path: Path) -> str:
    """The URL a service wrote into ``path``; "" until it is there whole (the file exists
    before its line is written, so existing is not enough)."""
    try:
        text = path.read_text()
    except OSError:
        return ""
    return text.strip() if text.endswith("\n") else ""


class Sandbox:
    """The services of one sandbox folder; ``engine`` is auto, buildah or simulated.

    The hub, the simulator and the registry pick their own free port and tell it through
    their state folders, so no port can be taken between choosing and binding; git daemon
    cannot, so it gets another port when the chosen one was taken meanwhile."""

    def __init__(self, root: os.PathLike, *, engine: str = "auto", time_scale: float = 1.0,
                 kill_pause: float = sandbox_kojid.SCALE_BASE, python: str = sys.executable,
                 poll_interval: int = 1):
        if engine not in ("auto", "buildah", "simulated"):
            raise ValueError(f"engine must be auto, buildah or simulated, not {engine!r}")
        self.layout = Layout(Path(root))
        self.engine_choice, self.time_scale, self.kill_pause = engine, time_scale, kill_pause
        self.python, self.poll_interval = python, poll_interval
        self.real = False
        self.reason: Optional[str] = None  # why builds are simulated
        self.hub_url = self.sim_url = ""
        self.registry: Optional[str] = None  # 127.0.0.1:PORT of the registry (real builds)
        self.git_port = 0
        self.services: dict[str, Service] = {}
        self._token = secrets.token_hex(16)

    def __repr__(self) -> str:
        return f"Sandbox({str(self.layout.root)!r}, real={self.real})"

    # -- addresses ----------------------------------------------------------------------------
    @property
    def weburl(self) -> str:
        return self.hub_url.rsplit("/", 1)[0] + "/koji"

    @property
    def topurl(self) -> str:
        return self.hub_url.rsplit("/", 1)[0] + "/kojifiles"

    @property
    def base_image(self) -> str:
        return sim_buildah.base_image_for(self.registry) if self.registry else SIMULATED_BASE

    @property
    def token_file(self) -> Path:
        return self.layout.etc / "openshift.token"

    @property
    def koji(self) -> str:
        """The koji CLI of this Python environment (our CLI plugin via the profile)."""
        return str(Path(self.python).parent / "koji")

    def koji_argv(self, *args: str, login: bool = True) -> list[str]:
        auth = ["--user", USER, "--password", PASSWORD] if login else []
        return [self.koji, "-c", str(self.layout.koji_conf), "-p", PROFILE, *auth, *args]

    def buildah_argv(self, *args: str) -> list[str]:
        return sim_buildah.Buildah(self.layout.engine).argv(*args)

    def session(self, user: Optional[str] = USER) -> koji.ClientSession:
        """A hub session, logged in as ``user`` (anonymous for None)."""
        session = koji.ClientSession(self.hub_url, {"max_retries": 0})
        if user:
            session.opts.update(user=user, password=PASSWORD)
            session.login()
        return session

    # -- life cycle -------------------------------------------------------------------------
    def start(self, report: Callable[[str], None] = lambda line: None) -> Sandbox:
        """Start everything; on any failure stop what was started and raise SandboxError."""
        self._choose_engine()
        prepare_folder(self.layout.root)
        for folder in ("etc", "logs", "hub", "openshift", "distgit", "kojid", "checkout"):
            getattr(self.layout, folder).mkdir(parents=True, exist_ok=True)
        self.token_file.write_text(self._token + "\n")
        self.token_file.chmod(0o600)
        try:
            self._start_services(report)
        except BaseException:
            self.stop()
            raise
        return self

    def _choose_engine(self) -> None:
        if self.engine_choice == "simulated":
            self.reason = "--engine simulated was asked for"
            return
        self.reason = sim_buildah.unavailable_reason()
        if self.reason and self.engine_choice == "buildah":
            raise SandboxError(f"--engine buildah: {self.reason}")
        self.real = self.reason is None

    def _start_services(self, report: Callable[[str], None]) -> None:
        layout = self.layout
        hub = self._spawn(Service("hub", [
            self.python, "-m", "koji_containerbuild.sandbox.demo.hub",
            "--state-dir", str(layout.hub), "--listen", "127.0.0.1:0"], layout.logs / "hub.log"))
        self._start_git_daemon()
        wait_ready("the Koji hub", lambda: url_in(layout.hub / "url"), hub, 60)
        self.hub_url = hub.url = url_in(layout.hub / "url")
        self._write_koji_conf()
        report(f"Koji hub (sandbox)      {self.hub_url}")
        report(f"DistGit (git daemon)    git://127.0.0.1:{self.git_port}/container/")

        sim_argv = [self.python, "-m", "koji_containerbuild.sandbox.openshift",
                    "--listen", "127.0.0.1:0", "--token-file", str(self.token_file),
                    "--state-dir", str(layout.openshift), "--time-scale", repr(self.time_scale),
                    "--koji-work-dir", str(layout.hub / "work")]
        if self.real:
            sim_argv += ["--engine", "buildah", "--engine-dir", str(layout.engine),
                         "--koji-hub", self.hub_url, "--koji-user", DEMO["admin"]]
        simulator = self._spawn(Service("openshift", sim_argv, layout.logs / "openshift.log",
                                        {sim_buildah.PASSWORD_ENV: PASSWORD}, stop_timeout=20.0))
        self._start_kojid()  # while the simulator starts: it needs the hub only
        wait_ready("the OpenShift simulator", lambda: url_in(layout.openshift / "url"),
                   simulator, 180 if self.real else 60)
        self.sim_url = simulator.url = url_in(layout.openshift / "url")
        if self.real:
            engine = json.loads((layout.openshift / "engine.json").read_text())
            self.registry = engine["registry"]
        self._write_osbs_conf()  # before any task: the builder reads it per task
        self._record()
        report(f"OpenShift (simulator)   {self.sim_url}" + (
            f"  real builds: buildah, registry {self.registry}" if self.real else
            "  simulated builds"))
        report(f"kojid (sandbox)         host {DEMO['host']}, channel container, "
               f"log {layout.logs / 'kojid.log'}")

    def _start_git_daemon(self, attempts: int = 3) -> None:
        """git daemon on a free port; another one if that port was taken in the meantime."""
        for attempt in range(attempts):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.git_port = probe.getsockname()[1]
            service = self._spawn(Service(
                "git-daemon", daemon_argv(self.layout.distgit, self.git_port),
                self.layout.logs / "git-daemon.log", url=f"git://127.0.0.1:{self.git_port}/"))
            try:
                wait_ready("git daemon", lambda: port_open(self.git_port), service, 30)
                return
            except SandboxError:
                service.stop()
                if attempt == attempts - 1:
                    raise

    def _start_kojid(self) -> None:
        layout = self.layout
        (layout.etc / "builder.conf").write_text(
            f"[osbs]\nosbs_conf = {layout.etc / 'osbs.conf'}\n\n[tasks]\npending_timeout = 300\n")
        argv = [self.python, "-m", sandbox_kojid.MODULE, "--hub", self.hub_url,
                "--host", DEMO["host"], "--workdir", str(layout.kojid),
                "--log-file", str(layout.logs / "kojid.log"),
                "--plugin-path", str(REPO_ROOT / "builder_plugin"),
                "--plugin", "builder_containerbuild", "--kill-pause", repr(self.kill_pause),
                "--option", f"allowed_scms={GitDaemon(layout.distgit).allowed_scms}",
                "--option", f"topdir={layout.hub}"]
        ready_r, ready_w = os.pipe()
        service = Service("kojid", argv + ["--ready-fd", str(ready_w)], layout.logs / "kojid.log",
                          {sandbox_kojid.PASSWORD_ENV: PASSWORD,
                           task_support.SETTINGS_ENV: str(layout.etc / "builder.conf")},
                          stop_timeout=30.0)
        try:
            self._spawn(service, pass_fds=(ready_w,))
        finally:
            os.close(ready_w)
        try:
            readable, _, _ = select.select([ready_r], [], [], 60)
            answer = os.read(ready_r, 64) if readable else b""
        finally:
            os.close(ready_r)
        if not answer.startswith(b"ready"):
            service.check_alive()
            raise SandboxError(f"kojid did not start; see {service.log}")

    def _spawn(self, service: Service, pass_fds: tuple[int, ...] = ()) -> Service:
        service.spawn(self.layout.root, pass_fds)
        self.services[service.name] = service
        self._record()
        return service

    def _record(self) -> None:
        self.layout.services.write_text(json.dumps(
            {name: s.record() for name, s in self.services.items()}, indent=1))

    def stop(self) -> None:
        """Stop every service (kojid first, so it frees its tasks while the hub still runs)."""
        for name in STOP_ORDER:
            service = self.services.pop(name, None)
            if service is not None:
                service.stop()
        stop_recorded(self.layout.root)  # whatever an earlier failure could not stop

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration --------------------------------------------------------------------
    def _write_koji_conf(self) -> None:
        self.layout.koji_conf.write_text(
            f"[{PROFILE}]\nserver = {self.hub_url}\nweburl = {self.weburl}\n"
            f"topurl = {self.topurl}\nauthtype = password\n"
            f"plugin_paths = {REPO_ROOT / 'cli_plugin'}\npoll_interval = {self.poll_interval}\n")

    def _write_osbs_conf(self) -> None:
        instance = (f"openshift_url = {self.sim_url}/\ntoken_file = {self.token_file}\n"
                    "build_from = imagestream:buildroot:latest\n"
                    "reactor_config_map = reactor-config-map\ncan_orchestrate = true\n")
        (self.layout.etc / "osbs.conf").write_text(
            f"[general]\nbuild_json_dir = /usr/share/osbs/\n\n[default]\n{instance}\n"
            f"[scratch]\n{instance}")

    # -- DistGit -----------------------------------------------------------------------------
    def add_repo(self, name: str, **kwargs: Any) -> str:
        """A ``container/<name>`` repository FROM this sandbox's base image; its commit."""
        kwargs.setdefault("base_image", self.base_image)
        return create_container_repo(self.layout.distgit, name, **kwargs)

    def git_url(self, name: str, ref: str) -> str:
        """The Koji SCM URL of ``container/<name>`` at ``ref``."""
        return f"git://127.0.0.1:{self.git_port}/container/{name}.git#{ref}"

    def clone(self, name: str, branch: str = "f39") -> Path:
        """A packager's clone of ``container/<name>`` on ``branch`` (tracking it)."""
        target = self.layout.checkout / name
        git("clone", "-q", "-b", branch, f"git://127.0.0.1:{self.git_port}/container/{name}.git",
            str(target))
        return target
