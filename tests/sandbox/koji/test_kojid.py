"""The sandbox kojid runs hub tasks the way kojid does: a process per task with the task's own
session, weight from ``_taskWeight``, results and faults reported, cancel as SIGINT then
SIGTERM, tasks freed and re-run after a restart or a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import koji
import pytest

from koji_containerbuild.sandbox.koji.hub import SandboxHub
from koji_containerbuild.sandbox.koji.kojid import SandboxKojid, kojid_options

PLUGINS = str(Path(__file__).parent / "kojid_plugins")
HOST = "builder1"
SRC = "git+https://src.example.com/container/hello.git#0123456789abcdef0123456789abcdef01234567"
TARGET = "f39-container-candidate"
KILL_PAUSE = 0.5


@pytest.fixture
def hub(tmp_path):
    with SandboxHub(str(tmp_path / "hub")) as running:
        running.add_user("user")
        running.add_host(HOST)
        yield running


@pytest.fixture
def records(tmp_path, monkeypatch):
    folder = tmp_path / "records"
    folder.mkdir()
    monkeypatch.setenv("KOJID_FIXTURE_DIR", str(folder))  # the kojid process inherits it
    return folder


def new_kojid(hub, tmp_path, **kw):
    kw.setdefault("kill_pause", KILL_PAUSE)
    return SandboxKojid(hub.url, HOST, "pw", workdir=str(tmp_path / "kojid"),
                        plugin_paths=[PLUGINS], plugins=["kojid_fixture"], **kw)


@pytest.fixture
def kojid(hub, tmp_path, records):
    running = new_kojid(hub, tmp_path)
    yield running
    running.stop()


def submit(hub, mode):
    with hub.store.write():
        owner = hub.store.find("user", "user")["id"]
        task_id = hub.store.make_task("buildContainer", [SRC, TARGET, {"fixture": mode}], owner,
                                      channel="container")
    return task_id


def owner_session(hub):
    session = koji.ClientSession(hub.url, {"user": "user", "password": "pw", "max_retries": 0})
    session.login()
    return session


def wait_for(what, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def state(hub, task_id):
    return koji.TASK_STATES[hub.tasks(task_id)["state"]]


def wait_state(hub, task_id, name, timeout=10.0):
    wait_for(f"task {task_id} {name}", lambda: state(hub, task_id) == name, timeout)
    return hub.tasks(task_id)


def events(records, task_id):
    path = records / f"task-{task_id}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def started(records, task_id, run=1):
    return wait_for(f"run {run} of task {task_id}", lambda: next(
        (e for e in events(records, task_id) if e["event"] == "start" and e["run"] == run), None))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def session_row(hub, session_id):
    with hub.store.read():
        return dict(hub.store.row("session", session_id))


def freed(hub, task_id):
    return [c for c in hub.calls if c["method"] == "host.freeTasks" and task_id in c["args"][0]]


# -- running tasks --------------------------------------------------------------------------
def test_task_runs_in_its_own_process_with_its_own_session(hub, tmp_path, records):
    kojid = new_kojid(hub, tmp_path, options={"allowed_scms": "127.0.0.1:/* src.example.com:/*",
                                              "allowed_scms_use_policy": True})
    kojid.start()
    try:
        task_id = submit(hub, "ok")
        info = wait_state(hub, task_id, "CLOSED")
        run = started(records, task_id)
        assert info["weight"] == 0.3  # _taskWeight, reported right after open
        assert info["result"] == {"repositories": [f"registry.example.com/{TARGET}:1"],
                                  "run": 1, "pid": run["pid"]}
        assert run["ppid"] == kojid.pid and run["pid"] not in (kojid.pid, os.getpid())
        assert run["pgid"] == run["pid"]  # setpgrp: its own process group
        assert run["options"] == {"allowed_scms": "127.0.0.1:/* src.example.com:/*",
                                  "allowed_scms_use_policy": True,
                                  "topurl": hub.topurl, "workdir": str(tmp_path / "kojid")}
        with open(hub.task_output_path(task_id, "orchestrator.log"), "rb") as f:
            assert f.read() == f"run 1 of {SRC}\n".encode()  # uploaded by the task's session
        task_session = session_row(hub, run["session"])
        master = session_row(hub, task_session["master"])
        assert master["exclusive"] and not master["closed"]  # a subsession of kojid's session
        wait_for("task session logged out", lambda: session_row(hub, run["session"])["closed"])
        wait_for("task process reaped", lambda: not alive(run["pid"]))
    finally:
        assert kojid.stop() == 0  # SIGTERM: a clean shutdown
    assert session_row(hub, task_session["master"])["closed"]  # kojid logged out on stop


def test_failing_handler_fails_the_task_with_its_message(hub, kojid):
    kojid.start()
    task_id = submit(hub, "fail")
    wait_state(hub, task_id, "FAILED")
    with pytest.raises(koji.BuildError) as failure:
        owner_session(hub).getTaskResult(task_id)
    assert str(failure.value) == f"fixture failure for {TARGET}"  # the message, no traceback


@pytest.mark.parametrize(("mode", "signals"), [("block", ["SIGINT"]),
                                               ("ignore-int", ["SIGINT", "SIGTERM"])])
def test_cancel_sends_sigint_then_sigterm_after_the_pause(hub, kojid, records, mode, signals):
    kojid.start()
    task_id = submit(hub, mode)
    pid = started(records, task_id)["pid"]
    os.kill(pid, signal.SIGUSR2)  # kojid wakes waiting tasks with it: a no-op, not a kill
    cancelled_at = time.time()
    owner_session(hub).cancelTask(task_id)
    wait_for("task process gone", lambda: not alive(pid))
    seen = {e["event"]: e["t"] for e in events(records, task_id)}
    assert [e["event"] for e in events(records, task_id)] == ["start", *signals]
    assert seen["SIGINT"] - cancelled_at < 1.0  # the next poll of kojid's loop
    if "SIGTERM" in seen:
        assert KILL_PAUSE * 0.8 <= seen["SIGTERM"] - seen["SIGINT"] <= KILL_PAUSE + 1.0
    assert state(hub, task_id) == "CANCELED"


# -- restart and crash ----------------------------------------------------------------------
def test_restart_frees_the_running_task_and_runs_it_again(hub, kojid, records):
    kojid.start()
    task_id = submit(hub, "block-once")
    first = started(records, task_id)
    first_pid = kojid.pid
    kojid.restart()
    assert kojid.pid != first_pid
    info = wait_state(hub, task_id, "CLOSED")
    second = started(records, task_id, run=2)
    assert [e["event"] for e in events(records, task_id)] == ["start", "SIGINT", "start"]
    assert not alive(first["pid"]) and second["pid"] != first["pid"]
    assert info["result"]["run"] == 2
    assert freed(hub, task_id)  # freed by the stopping kojid, not failed


def test_crash_leaves_the_task_open_until_a_new_kojid_frees_it(hub, kojid, records):
    kojid.start()
    task_id = submit(hub, "block-once")
    first = started(records, task_id)
    kojid.crash()
    wait_for("task process killed", lambda: not alive(first["pid"]))
    info = hub.tasks(task_id)
    assert (koji.TASK_STATES[info["state"]], info["host_id"]) == ("OPEN", 1)  # stale
    assert [e["event"] for e in events(records, task_id)] == ["start"]  # no cleanup signals
    assert not freed(hub, task_id)
    kojid.start()
    info = wait_state(hub, task_id, "CLOSED")
    assert info["result"]["run"] == 2 and freed(hub, task_id)


def test_sigusr1_restarts_gracefully_and_keeps_working(hub, kojid, records):
    kojid.start()
    logins = lambda: sum(c["method"] == "login" and c["args"][0] == HOST  # noqa: E731
                         for c in hub.calls)
    assert logins() == 1
    os.kill(kojid.pid, signal.SIGUSR1)  # systemctl reload kojid: re-exec once idle
    wait_for("kojid re-exec and login", lambda: logins() == 2)
    task_id = submit(hub, "ok")
    assert wait_state(hub, task_id, "CLOSED")["result"]["run"] == 1


# -- stepping in this process ---------------------------------------------------------------
def test_run_once_forks_tasks_from_a_thread_with_kojids_signals(hub, tmp_path, records):
    kojid = new_kojid(hub, tmp_path)
    try:
        assert kojid.run_once() is False  # nothing to do
        ok_id, blocking_id = submit(hub, "ok"), submit(hub, "ignore-int")
        taken = []
        for _ in range(2):  # fork from a thread that is not the main thread, as a runner might
            stepper = threading.Thread(target=lambda: taken.append(kojid.run_once()))
            stepper.start()
            stepper.join()
        assert taken == [True, True]
        assert wait_state(hub, ok_id, "CLOSED")["result"]["run"] == 1
        run = started(records, blocking_id)
        assert run["ppid"] == os.getpid() and run["pgid"] == run["pid"]
        owner_session(hub).cancelTask(blocking_id)
        assert kojid.run_once() is False  # updateTasks: cleanupTask of the cancelled task
        assert [e["event"] for e in events(records, blocking_id)] == [
            "start", "SIGINT", "SIGTERM"]
        assert not alive(run["pid"])
    finally:
        kojid.stop()


def test_in_process_crash_then_run_once_frees_the_stale_task(hub, tmp_path, records):
    kojid = new_kojid(hub, tmp_path)
    task_id = submit(hub, "block-once")
    try:
        assert kojid.run_once() is True
        first = started(records, task_id)
        kojid.crash()
        assert not alive(first["pid"]) and state(hub, task_id) == "OPEN"
        assert kojid.run_once() is True  # a new kojid: frees the stale task, takes it again
        assert wait_state(hub, task_id, "CLOSED")["result"]["run"] == 2
        assert [e["event"] for e in events(records, task_id)] == ["start", "start"]
    finally:
        kojid.stop()


# -- options and start-up -------------------------------------------------------------------
def test_options_are_kojids_with_sandbox_departures(tmp_path):
    options = kojid_options("http://127.0.0.1:5/kojihub", str(tmp_path), options={
        "allowed_scms_use_config": "no", "maxjobs": "3", "timeout": "20", "topurl": ""})
    assert (options.allowed_scms_use_config, options.maxjobs, options.timeout) == (False, 3, 20)
    assert options.topurl is None and options.allowed_scms_use_policy is False
    assert (options.minspace, options.mockdir, options.sleeptime) == (256, str(tmp_path), 0.1)
    assert options.plugin == ["builder_containerbuild"] and options.use_fast_upload is True
    assert kojid_options("http://127.0.0.1:5/kojihub", "/w").topurl == \
        "http://127.0.0.1:5/kojifiles"
    with pytest.raises(ValueError, match="unknown kojid option: fixture_dir"):
        kojid_options("http://h/kojihub", "/w", options={"fixture_dir": "/x"})
    with pytest.raises(ValueError, match="own arguments"):
        kojid_options("http://h/kojihub", "/w", options={"workdir": "/elsewhere"})
    with pytest.raises(ValueError, match="wants a boolean"):
        kojid_options("http://h/kojihub", "/w", options={"allowed_scms_use_policy": "maybe"})


def test_cli_refuses_unknown_options(tmp_path):
    done = subprocess.run([sys.executable, "-m", "koji_containerbuild.sandbox.koji.kojid", "--hub",
                           "http://127.0.0.1:9/kojihub", "--host", HOST, "--password", "pw",
                           "--workdir", str(tmp_path), "--option", "bogus=1"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "unknown kojid option: bogus" in done.stderr


def test_a_plugin_that_fails_to_import_stops_kojid_at_startup(hub, tmp_path):
    kojid = SandboxKojid(hub.url, HOST, "pw", workdir=str(tmp_path / "kojid"),
                         plugin_paths=[PLUGINS], plugins=["no_such_plugin"])
    with pytest.raises(RuntimeError, match="did not start") as failure:
        kojid.start()
    assert "no_such_plugin" in str(failure.value) and kojid.pid is None
