"""One sandbox (services as processes on loopback) shared by the end-to-end tests, and the
real ``koji`` CLI with our plugin run against it as a packager would run it."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

import pytest
import requests

from koji_containerbuild.sandbox.demo.services import Sandbox
from koji_containerbuild.sandbox.openshift.buildah import unavailable_reason

REAL_REASON = unavailable_reason()  # None: buildah, docker-registry and busybox-static are here
BUILDS = "/apis/build.openshift.io/v1/namespaces/default/builds"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: end-to-end through the sandbox processes (koji CLI, hub, kojid, "
                   "OpenShift simulator, buildah when installed); deselect with -m 'not e2e'")


@dataclass
class Run:
    rc: int
    out: str

    def __str__(self) -> str:
        return f"exit status {self.rc}:\n{self.out}"


def own_processes(root) -> list[str]:
    """Command lines of live processes that belong to the sandbox in ``root``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                zombie = f.read().rpartition(")")[2].split()[0] == "Z"
        except OSError:
            continue
        if str(root) in cmdline and not zombie:
            found.append(cmdline)
    return found


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "sandbox"
    running = Sandbox(root, kill_pause=1.0).start()
    yield running
    running.stop()
    deadline = time.monotonic() + 5
    while own_processes(running.layout.root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert own_processes(running.layout.root) == [], "the sandbox left processes behind"


@pytest.fixture(scope="session")
def koji_cli(sandbox, tmp_path_factory):
    """``koji(*args, cwd=...)``: the koji console script, logged in as the packager."""
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KOJI", "GIT_"))}
    env.update(HOME=str(home), LC_ALL="C.UTF-8", PYTHONUNBUFFERED="1")

    def run(*args: str, cwd=None, login: bool = True, timeout: float = 180) -> Run:
        proc = subprocess.run(sandbox.koji_argv(*args, login=login), cwd=str(cwd or home),
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        return Run(proc.returncode, proc.stdout)

    return run


@pytest.fixture(scope="session")
def openshift(sandbox):
    """GET on the simulator's OpenShift API with the sandbox's token."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {sandbox.token_file.read_text().strip()}"

    def get(path: str, **params) -> dict:
        answer = http.get(sandbox.sim_url + path, params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()

    return get


def wait_for(what: str, probe, timeout: float):
    """``probe()``'s first truthy value, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
