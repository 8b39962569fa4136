"""What the real-harness benches (``harness_log.py``, ``harness_rotation.py``) share: where
the harness keeps its state, logins, and the Koji objects and DistGit commit a task needs.

Koji and the standard library only: these run on the harness's Python.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional

import koji

STATE = Path(os.environ.get("HARNESS_STATE", "/var/lib/koji-harness"))
TOPDIR = Path("/mnt/koji")
HUB = "https://127.0.0.1:8443/kojihub"
FINISHED = {koji.TASK_STATES[s] for s in ("CLOSED", "CANCELED", "FAILED")}
BUILDS = "/apis/build.openshift.io/v1/namespaces/default/builds"
TARGET, BUILD_TAG, PACKAGE, BRANCH = "kcb-candidate", "kcb-build", "hello-container", "f39"


def session(who: str, hub: str = HUB, opts: Optional[dict] = None) -> koji.ClientSession:
    """A session logged in with the harness's client certificate of ``who``."""
    pki = STATE / "pki"
    s = koji.ClientSession(hub, opts)
    s.ssl_login(str(pki / f"{who}.pem"), None, str(pki / "ca.crt"))
    return s


def ensure_target(admin: koji.ClientSession) -> None:
    """Build tag (the simulator's arch), target and package, created when missing."""
    for name, arches in ((BUILD_TAG, "x86_64"), (TARGET, None)):
        if not admin.getTag(name):
            admin.createTag(name, arches=arches)
    if not admin.getBuildTarget(TARGET):
        admin.createBuildTarget(TARGET, BUILD_TAG, TARGET)
    if not admin.checkTagPackage(TARGET, PACKAGE):
        admin.packageListAdd(TARGET, PACKAGE, owner="packager")


def branch_sha(gitroot: str) -> str:
    """The commit of ``container/hello.git``'s branch in the harness git daemon."""
    return subprocess.run(["git", "--git-dir", f"{gitroot}/container/hello.git",
                           "rev-parse", BRANCH], capture_output=True, text=True,
                          check=True).stdout.strip()


def submit_scratch(packager: koji.ClientSession, git: str, sha: str) -> int:
    """A scratch buildContainer task of the hello repo at ``sha``."""
    return packager.buildContainer(f"{git}#{sha}", TARGET, {"git_branch": BRANCH, "scratch": True})
