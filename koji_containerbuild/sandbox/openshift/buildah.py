"""The simulator's real build engine: with buildah and docker-registry on the machine, a Build
is built for real, as atomic-reactor would build it in its pod, and pushed to a registry on
loopback.

``BuildahEngine`` owns one folder: buildah's storage (``--root``/``--runroot``, vfs driver,
chroot isolation: no daemon, no runtime, nothing in the host's container storage), a
``LocalRegistry`` (config and data), a tiny base image made from the static busybox (so no
network is needed) and one folder per build. Attached to an ``OpenShiftSimulator`` it adds the
``real-image`` scenario and makes it the default; the reactor ConfigMap then names the loopback
registry as source registry and push target. What one build does is in ``buildah_run``.

Command line (``python -m koji_containerbuild.sandbox.openshift``): ``--engine buildah`` with
``--engine-dir``, ``--registry-port``, ``--koji-hub``/``--koji-user`` (password in
``$SANDBOX_KOJI_PASSWORD``: the content generator account that imports builds) and
``--koji-work-dir`` (where scratch builds leave metadata.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Protocol

from koji_containerbuild.sandbox.openshift.buildah_run import HOST_ARCH, SCENARIO, RealImage
from koji_containerbuild.sandbox.openshift.buildah_source import RealImageAndSource
from koji_containerbuild.sandbox.openshift.registry import BINARY as REGISTRY_BINARY
from koji_containerbuild.sandbox.openshift.registry import LocalRegistry
from koji_containerbuild.sandbox.openshift.scenarios import SCENARIOS

BUSYBOX = "/bin/busybox"
BASE_REPOSITORY = "sandbox/busybox"
BASE_APPLETS = ("sh", "cat", "echo", "ls", "sleep", "true", "false")
INSTALL_HINT = "apt-get install buildah docker-registry busybox-static"
PASSWORD_ENV = "SANDBOX_KOJI_PASSWORD"  # noqa: S105 - the variable's name, not a secret

__all__ = ["HOST_ARCH", "SCENARIO", "BuildahEngine", "BuildahError", "Buildah",
           "unavailable_reason", "base_image_for", "add_arguments", "configure"]


class Simulator(Protocol):
    """What the engine sets on the simulator it is attached to (``simulator.OpenShiftSimulator``,
    which imports this module: the engine names only this much of it)."""

    default_scenario: str
    koji_work_dir: Optional[str]

    def set_configmap(self, name: str, data: dict[str, str]) -> None: ...


class BuildahError(RuntimeError):
    """buildah is missing or a buildah command of the engine itself failed."""


def is_static_executable(path: str) -> bool:
    """True for an ELF executable without a program interpreter (statically linked)."""
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            if header[:4] != b"\x7fELF" or header[4] not in (1, 2):
                return False
            wide, order = header[4] == 2, "<" if header[5] == 1 else ">"
            phoff, entsize, count = (struct.unpack_from(order + "Q", header, 0x20)[0],
                                     *struct.unpack_from(order + "HH", header, 0x36)) if wide \
                else (struct.unpack_from(order + "I", header, 0x1C)[0],
                      *struct.unpack_from(order + "HH", header, 0x2A))
            for index in range(count):
                f.seek(phoff + index * entsize)
                if struct.unpack(order + "I", f.read(4))[0] == 3:  # PT_INTERP
                    return False
            return True
    except (OSError, struct.error):
        return False


def unavailable_reason() -> Optional[str]:
    """Why this machine cannot build real images, or None when it can."""
    missing = [name for name in ("buildah", REGISTRY_BINARY) if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed ({INSTALL_HINT})"
    if not is_static_executable(BUSYBOX):
        return f"{BUSYBOX} is missing or not statically linked ({INSTALL_HINT})"
    return None


def base_image_for(registry_address: str) -> str:
    """The pull spec of the engine's base image in the registry at ``registry_address``."""
    return f"{registry_address}/{BASE_REPOSITORY}:latest"


class Buildah:
    """buildah with its storage in ``folder`` (vfs driver, chroot isolation), never the host's."""

    def __init__(self, folder: os.PathLike):
        self.folder = Path(folder).resolve()
        self.root, self.runroot = self.folder / "storage", self.folder / "run"

    def argv(self, *args: str) -> list[str]:
        return ["buildah", "--root", str(self.root), "--runroot", str(self.runroot),
                "--storage-driver", "vfs", *args]

    @property
    def env(self) -> dict[str, str]:
        """Temporary files (layer blobs while pushing) stay in the folder too."""
        tmp = self.folder / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return dict(os.environ, BUILDAH_ISOLATION="chroot", TMPDIR=str(tmp))

    def run(self, *args: str, timeout: float = 300.0) -> str:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        if proc.returncode != 0:
            message = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])
            raise BuildahError(f"buildah {args[0]} failed: {message[-1]}")
        return proc.stdout.strip()


def build_base_image(buildah: Buildah, registry_address: str) -> str:
    """``FROM scratch`` + the static busybox and a few applet links, pushed to the registry."""
    rootfs = buildah.folder / "base-rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in BASE_APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    pullspec = base_image_for(registry_address)
    container = buildah.run("from", "--quiet", "scratch")
    try:
        buildah.run("copy", "--quiet", container, f"{rootfs}/", "/")
        buildah.run("config", "--cmd", '["/bin/sh"]', "--label", f"name={BASE_REPOSITORY}",
                    "--label", "version=latest", container)
        buildah.run("commit", "--quiet", "--format", "docker", container, pullspec)
    finally:
        buildah.run("rm", container)
    buildah.run("push", "--quiet", "--tls-verify=false", "--format", "v2s2", pullspec,
                f"docker://{pullspec}")
    return pullspec


class BuildahEngine:
    """Registry, storage and base image for real builds; see the module docstring."""

    def __init__(self, folder: os.PathLike, *, registry_port: int = 0,
                 koji_hub: Optional[str] = None, koji_user: Optional[str] = None,
                 koji_password: Optional[str] = None, organization: str = "sandbox"):
        self.folder = Path(folder).resolve()
        self.buildah = Buildah(self.folder)
        self.registry = LocalRegistry(self.folder / "registry", registry_port)
        self.koji_hub, self.koji_user = koji_hub, koji_user
        self._koji_password = koji_password
        self.organization = organization
        self.base_image: Optional[str] = None
        self.buildah_version = ""
        self._scenario: Optional[RealImage] = None

    def __repr__(self) -> str:  # never shows the password
        return f"BuildahEngine(folder={str(self.folder)!r}, registry={self.registry.address!r})"

    def koji_credentials(self) -> tuple[Optional[str], Optional[str]]:
        return self.koji_user, self._koji_password

    def start(self) -> BuildahEngine:
        reason = unavailable_reason()
        if reason:
            raise BuildahError(f"cannot build real images: {reason}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.buildah_version = self.buildah.run("--version").split()[2]
        self.registry.start()
        try:
            self.base_image = build_base_image(self.buildah, self.registry.address)
        except (BuildahError, OSError, subprocess.TimeoutExpired):
            self.registry.stop()
            raise
        return self

    def stop(self) -> None:
        if self._scenario is not None and SCENARIOS.get(SCENARIO) is self._scenario:
            del SCENARIOS[SCENARIO]
        self._scenario = None
        try:  # working containers of builds that were killed
            self.buildah.run("rm", "--all", timeout=60)
        except (BuildahError, OSError, subprocess.TimeoutExpired):
            pass
        self.registry.stop()

    def __enter__(self) -> BuildahEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reactor_config(self) -> str:
        """The reactor ConfigMap for real builds: the loopback registry pulls and pushes."""
        hub = self.koji_hub or "http://koji.sandbox.local/kojihub"
        root = hub[:-len("/kojihub")] + "/kojifiles" if hub.endswith("/kojihub") else hub
        address = self.registry.address
        return (f"version: 1\nkoji:\n  hub_url: {hub}\n  root_url: {root}\n  auth: {{}}\n"
                f"source_registry: {{url: '{address}', insecure: true}}\n"
                f"registries:\n- url: http://{address}/v2\n  insecure: true\n"
                f"registries_organization: {self.organization}\n"
                "required_secrets: []\nworker_token_secrets: []\nbuild_env_vars: []\n"
                f"clusters:\n  {HOST_ARCH}: [{{name: local-buildah, max_concurrent_builds: 4}}]\n")

    def attach(self, sim: Simulator) -> None:
        """Make ``real-image`` a scenario of ``sim`` (one engine per process) and its default."""
        self._scenario = RealImageAndSource(self)
        SCENARIOS[SCENARIO] = self._scenario
        sim.set_configmap("reactor-config-map", {"config.yaml": self.reactor_config()})
        sim.default_scenario = SCENARIO

    @staticmethod
    def terminate(proc: subprocess.Popen, grace: float = 5.0) -> None:
        """End a build's process group (buildah and what it started): TERM, then KILL."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        proc.wait()


# ---------------------------------------------------------------------------------------------
# Command line of the simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("real builds")
    group.add_argument("--engine", choices=("simulated", "buildah"), default="simulated",
                       help="buildah: build images for real (scenario real-image, the default)")
    group.add_argument("--engine-dir", help="buildah storage, registry and builds "
                                            "(default: STATE_DIR/engine)")
    group.add_argument("--registry-port", type=int, default=0,
                       help="port of the loopback registry (default: any free port)")
    group.add_argument("--koji-hub", help="Koji hub URL real builds are imported into")
    group.add_argument("--koji-user", help=f"content generator user for CGImport (password in "
                                           f"${PASSWORD_ENV})")
    group.add_argument("--koji-work-dir", help="Koji's work dir, where scratch builds leave "
                                               "koji-upload/.../metadata.json")


def configure(sim: Simulator, args: argparse.Namespace) -> Optional[BuildahEngine]:
    """Apply the options above; start and attach the engine for ``--engine buildah``."""
    if args.koji_work_dir:
        sim.koji_work_dir = os.path.abspath(args.koji_work_dir)
    if args.engine != "buildah":
        return None
    folder = args.engine_dir or (os.path.join(args.state_dir, "engine") if args.state_dir
                                 else None)
    if not folder:
        raise ValueError("--engine buildah needs --engine-dir or --state-dir")
    engine = BuildahEngine(folder, registry_port=args.registry_port, koji_hub=args.koji_hub,
                           koji_user=args.koji_user, koji_password=os.environ.get(PASSWORD_ENV))
    engine.start()
    engine.attach(sim)
    if args.state_dir:  # before the simulator's url file: whoever waits on that may read it
        state = Path(args.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        (state / "engine.json").write_text(json.dumps(describe(engine), indent=1) + "\n")
    print(f"real-image engine: buildah {engine.buildah_version}, registry "
          f"{engine.registry.url}, base image {engine.base_image}", file=sys.stderr, flush=True)
    return engine


def describe(engine: Optional[BuildahEngine]) -> dict[str, Any]:
    """What a caller in another process may want to know (written to the state dir)."""
    if engine is None:
        return {"engine": "simulated"}
    return {"engine": "buildah", "registry": engine.registry.address,
            "base_image": engine.base_image, "buildah": engine.buildah_version,
            "storage": str(engine.buildah.root), "runroot": str(engine.buildah.runroot)}
