"""``--watch-logs`` through the real ``koji`` script and the sandbox hub: the build log shows up
in the terminal while the task runs, the exit status is the task's, and Ctrl-C stops the
watching, never the build."""

from __future__ import annotations

import io
import os
import queue
import signal
import subprocess
import threading

import pytest

from koji_containerbuild.cli.watch import LogWatch

from .conftest import KOJI, PROFILE, TARGET, USER

SHA = "0123456789abcdef0123456789abcdef01234567"
URL = f"git+https://src.example.org/container/foo.git#{SHA}"
RESULT = {"repositories": ["registry.example.org/foo:1.0-1"], "koji_builds": ["5"]}


class LiveKoji:
    """The koji script run in the background, its stdout read line by line as it comes."""

    def __init__(self, tmp_path, koji_conf, *args: str):
        home = tmp_path / "home-live"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KOJI", "GIT_"))}
        env.update(HOME=str(home), LC_ALL="C.UTF-8", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [KOJI, "-p", PROFILE, "-c", str(koji_conf), "--user", USER, "--password", "pw",
             *args], env=env, cwd=str(home), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        while True:
            line = self.lines.get(timeout=timeout)
            assert line is not None, f"koji ended before printing {text!r}: {self.seen}"
            self.seen.append(line)
            if text in line:
                return

    def finish(self, timeout: float = 30) -> tuple[int, list[str], str]:
        rc = self.proc.wait(timeout)
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.seen.append(line)
        return rc, self.seen, self.proc.stderr.read()


def _write_log(hub, task_id: int, text: str) -> None:
    path = hub.task_output_path(task_id, "orchestrator.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


@pytest.fixture
def created(hub):
    """The id of the next task the hub creates, as soon as it exists."""
    ids: queue.Queue = queue.Queue()
    hub.on_task_created = lambda task: ids.put(task["id"])
    return ids


@pytest.mark.parametrize("command", [
    ["container-build", TARGET, URL, "--git-branch", "f39"],
    ["flatpak-build", TARGET, URL, "--git-branch", "f39"],
    ["source-container-build", TARGET, "--koji-build-id", "3"],
])
def test_the_log_is_printed_while_the_build_runs(hub, tmp_path, koji_conf, created, command):
    koji = LiveKoji(tmp_path, koji_conf, *command, "--watch-logs")
    task_id = created.get(timeout=30)
    hub.set_task_state(task_id, "OPEN", host_id=hub.host_id)
    _write_log(hub, task_id, "2026-12-02 07:00:01,000 - atomic_reactor - INFO - pulling base\n")
    # printed while the task is still open: the watcher saw it live
    koji.wait_for("pulling base")
    assert hub.tasks(task_id)["state"] == 1
    _write_log(hub, task_id, "2026-12-02 07:00:09,000 - atomic_reactor - INFO - pushed")
    hub.set_task_state(task_id, "CLOSED", result=RESULT)
    rc, lines, err = koji.finish()
    assert (rc, err) == (0, "")
    log_lines = [line for line in lines if "atomic_reactor" in line]
    assert [line.rsplit(" - ", 1)[1] for line in log_lines] == ["pulling base", "pushed"]
    assert lines.index(log_lines[-1]) < lines.index(f"Task Result ({task_id}):")


def test_a_failed_build_shows_its_log_and_exits_1(hub, koji, play):
    play({"state": "OPEN", "host_id": hub.host_id, "files": {"orchestrator.log": "step 1\n"}},
         {"state": "FAILED", "fault": (1000, "Image build failed. OSBS build id: foo-1"),
          "files": {"orchestrator.log": "step 1\nplugin failed: boom\n"}})
    run = koji("container-build", TARGET, URL, "--git-branch", "f39", "--watch-logs")
    assert run.rc == 1
    lines = run.out.splitlines()
    assert lines.count("step 1") == 1 and lines.count("plugin failed: boom") == 1
    assert lines[-1] == "1 buildContainer (noarch) failed"


def test_ctrl_c_stops_watching_not_the_build(hub, tmp_path, koji_conf, created):
    koji = LiveKoji(tmp_path, koji_conf, "container-build", TARGET, URL, "--git-branch", "f39",
                    "--watch-logs")
    task_id = created.get(timeout=30)
    hub.set_task_state(task_id, "OPEN", host_id=hub.host_id)
    _write_log(hub, task_id, "building layer 3 of 7\n")
    koji.wait_for("building layer 3 of 7")
    koji.proc.send_signal(signal.SIGINT)
    rc, lines, err = koji.finish()
    assert rc == 1
    assert "Traceback" not in err
    text = "\n".join(lines)
    assert f"Task {task_id} and its build are still running (Ctrl-C does not cancel them)" in text
    assert f"koji watch-logs --log orchestrator.log {task_id}" in text
    assert f"koji watch-task {task_id}" in text
    assert hub.tasks(task_id)["state"] == 1   # still OPEN
    assert not [c for c in hub.calls if c["method"] == "cancelTask"]


def test_watch_logs_with_nowait_is_refused_before_submitting(hub, koji):
    run = koji("container-build", TARGET, URL, "--git-branch", "f39", "--watch-logs",
               "--nowait")
    assert run.rc == 2
    assert run.err.splitlines()[-1] == ("koji: error: --watch-logs waits for the build: it "
                                        "cannot be used with --nowait")
    assert not [c for c in hub.calls if c["method"] == "buildContainer"]


class _Hub:
    """Just the three calls the watcher makes, over a file that is rewritten mid-watch."""

    def __init__(self, states, contents):
        self.states, self.contents = list(states), list(contents)
        self.content = b""

    def getTaskInfo(self, task_id):  # noqa: N802 - koji's API names
        self.content = self.contents.pop(0)
        return {"state": self.states.pop(0)}

    def listTaskOutput(self, task_id, stat=False):  # noqa: N802
        return {"orchestrator.log": {"st_size": str(len(self.content))}}

    def downloadTaskOutput(self, task_id, name, offset, size):  # noqa: N802
        return self.content[offset:offset + size]


def test_a_log_uploaded_again_from_its_start_is_shown_again_not_cut():
    hub = _Hub([1, 1, 2], [b"one\ntwo\n", b"one\n", b"one\ntwo\nthree\n"])
    out, notes = io.BytesIO(), io.StringIO()
    state = LogWatch(hub, 7, out=out, notes=notes, sleep=lambda s: None).follow(0)
    assert state == "CLOSED"
    assert out.getvalue() == b"one\ntwo\n" + b"one\n" + b"two\nthree\n"
    assert "uploaded again from its start" in notes.getvalue()
