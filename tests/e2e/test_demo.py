"""``make demo``'s command line: --keep leaves working services, --stop ends them from another
process, --clean removes the folder, and a folder that is not a sandbox is never emptied."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from .conftest import own_processes

pytestmark = pytest.mark.e2e
DEMO = [sys.executable, "-m", "koji_containerbuild.sandbox.demo"]
KOJI = os.path.join(os.path.dirname(sys.executable), "koji")


def demo(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*DEMO, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def test_kept_sandbox_answers_the_printed_commands_until_stopped(tmp_path):
    root = tmp_path / "run"
    run = demo("--keep", "--engine", "simulated", "--dir", str(root))
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "Builds are SIMULATED" in run.stdout
        assert "1 buildContainer (noarch) completed successfully" in run.stdout
        assert "The services keep running (--keep)" in run.stdout
        assert len(own_processes(root)) >= 4  # hub, simulator, git daemon, kojid
        taskinfo = subprocess.run([KOJI, "-c", str(root / "koji.conf"), "-p", "sandbox",
                                   "taskinfo", "1"], capture_output=True, text=True, timeout=60)
        assert "State: closed" in taskinfo.stdout, taskinfo.stdout + taskinfo.stderr
    finally:
        stop = demo("--stop", "--dir", str(root))
    assert stop.returncode == 0
    assert stop.stdout.startswith("Stopped: kojid, openshift, hub, git-daemon"), stop.stdout
    deadline = time.monotonic() + 5
    while own_processes(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert own_processes(root) == []
    clean = demo("--clean", "--dir", str(root))
    assert clean.returncode == 0 and not root.exists(), clean.stdout + clean.stderr


def test_a_folder_that_is_not_a_sandbox_is_left_alone(tmp_path):
    keep = tmp_path / "precious.txt"
    keep.write_text("mine")
    run = demo("--dir", str(tmp_path), timeout=60)
    assert run.returncode == 1
    assert "is not empty and is not a sandbox folder; choose another --dir" in run.stderr
    clean = demo("--clean", "--dir", str(tmp_path), timeout=60)
    assert clean.returncode == 1 and "not a sandbox folder" in clean.stderr
    assert keep.read_text() == "mine" and own_processes(tmp_path) == []
