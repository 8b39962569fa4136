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
        pasted = paste_hints(run.stdout, tmp_path)
        assert pasted.returncode == 0, pasted.stdout + pasted.stderr
        assert "State: closed" in pasted.stdout  # koji taskinfo 1
        assert "Tag: f39-container-build" in pasted.stdout  # koji taginfo
        assert "2 buildContainer (noarch) completed successfully" in pasted.stdout  # the scratch
        assert '"kind": "BuildList"' in pasted.stdout  # curl
        again = demo("--keep", "--engine", "simulated", "--dir", str(root))
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.splitlines()[1].startswith(
            f"A sandbox an earlier --keep run left in {root}/ is still running (")
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


def paste_hints(output: str, tmp_path) -> subprocess.CompletedProcess:
    """Issue 15 #11: the lines the demo says to paste, pasted into a shell elsewhere."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("The services keep"))
    end = next(i for i, line in enumerate(lines) if line.startswith("Logs: "))
    script = "set -e\n" + "\n".join(line[2:] for line in lines[start + 1:end]) + "\n"
    assert script.count("koji ") >= 5 and "sandbox-run" not in script
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOJI")}
    return subprocess.run(["bash", "-c", script], cwd=elsewhere, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300, env=env)


def test_a_folder_that_is_not_a_sandbox_is_left_alone(tmp_path):
    keep = tmp_path / "precious.txt"
    keep.write_text("mine")
    run = demo("--dir", str(tmp_path), timeout=60)
    assert run.returncode == 1
    assert "is not empty and is not a sandbox folder; choose another --dir" in run.stderr
    clean = demo("--clean", "--dir", str(tmp_path), timeout=60)
    assert clean.returncode == 1 and "not a sandbox folder" in clean.stderr
    assert keep.read_text() == "mine" and own_processes(tmp_path) == []
