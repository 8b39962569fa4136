"""The sandbox hub speaks Koji's wire protocol: the real ClientSession and koji CLI work with it."""

from __future__ import annotations

import io
import optparse
import os
import signal
import subprocess
import sys
import threading
import time
import xmlrpc.client
from contextlib import redirect_stdout

import koji
import koji.daemon
import koji.tasks
import koji.xmlrpcplus
import pytest
from koji_cli.lib import watch_tasks

from koji_containerbuild.sandbox.koji.hub import SandboxHub, seed_demo

KOJI = os.path.join(os.path.dirname(sys.executable), "koji")
SRC = "git+https://src.example.com/container/hello.git#0123456789abcdef0123456789abcdef01234567"
TARGET = "f39-container-candidate"
OPTS = {"git_branch": "f39", "scratch": True}
HOST = "sandbox-builder"


@pytest.fixture
def hub(tmp_path):
    with SandboxHub(str(tmp_path / "hub")) as running:
        seed_demo(running)
        yield running


def client(hub, user="user", **opts):
    session = koji.ClientSession(hub.url, dict({"user": user, "password": "pw",
                                                "max_retries": 0, "anon_retry": False}, **opts))
    session.login()
    return session


def task_process_session(hub, **opts):
    """What kojid gives a task process: a subsession of the host's exclusive session."""
    main = client(hub, HOST, **opts)
    main.exclusiveSession()
    return main, main.subsession()


def submit(session, **kw):
    return session.buildContainer(SRC, TARGET, dict(OPTS), **kw)


def open_on_host(hub, task_id):
    main, task = task_process_session(hub, use_fast_upload=True)
    assert task.host.openTask(task_id)["id"] == task_id
    return main, task


# -- sessions and calls ---------------------------------------------------------------------
def test_login_identity_and_masked_password(hub):
    session = client(hub)
    me = session.getLoggedInUser()
    assert (me["name"], me["authtype"]) == ("user", koji.AUTHTYPES["NORMAL"])
    with pytest.raises(koji.AuthError, match="invalid username or password"):
        client(hub, password="wrong")
    login = [c for c in hub.calls if c["method"] == "login"][0]
    assert login["args"] == ["user", "********"] and "pw" not in repr(hub.calls)
    session.logout()
    assert session.getLoggedInUser() is None  # anonymous again, reads still allowed


def test_stale_session_key_is_refused(hub):
    session = client(hub)
    session.sinfo = dict(session.sinfo, **{"session-key": "forged"})
    with pytest.raises(koji.AuthError, match="Invalid session"):
        session.getLoggedInUser()


def test_query_arg_sessions_check_callnum(hub):
    """Pre-1.30 clients send the session in the query string; the hub checks callnum there."""
    import requests

    session = client(hub)  # keep it: a ClientSession logs out when collected
    sinfo = session.sinfo
    body = koji.xmlrpcplus.dumps((), methodname="getLoggedInUser").encode()

    def call(callnum):
        query = f"session-id={sinfo['session-id']}&session-key={sinfo['session-key']}" \
                f"&callnum={callnum}"
        reply = requests.post(f"{hub.url}?{query}", data=body, timeout=5,
                              headers={"Content-Type": "text/xml"})
        try:
            return koji.xmlrpcplus.loads(reply.content)[0][0]
        except koji.xmlrpcplus.Fault as fault:
            raise koji.convertFault(fault) from None

    assert call(5)["name"] == "user"
    with pytest.raises(koji.SequenceError):
        call(3)
    with pytest.raises(koji.RetryError):
        call(5)


def test_multicall_new_legacy_and_system_forms(hub):
    session = client(hub)
    with session.multicall() as m:
        target = m.getBuildTarget(TARGET)
        missing = m.getTag("no-such-tag", strict=True)
    assert target.result["dest_tag_name"] == "f39-container"
    with pytest.raises(koji.GenericError, match="No such tagInfo"):
        _ = missing.result
    session.multicall = True
    session.getTag("f39-container")
    session.getUser("user")
    tag, user = session.multiCall(strict=True)
    assert (tag[0]["name"], user[0]["name"]) == ("f39-container", "user")
    multi = xmlrpc.client.MultiCall(xmlrpc.client.ServerProxy(hub.url, allow_none=True))
    multi.getAPIVersion()
    multi.getBuild("nope-1-1")
    assert list(multi()) == [koji.API_VERSION, None]
    members = [c["method"] for c in hub.calls if c["multicall"]]
    assert members == ["getBuildTarget", "getTag", "getTag", "getUser", "getAPIVersion",
                       "getBuild"]


def test_faults_keep_their_class(hub):
    session = client(hub)
    with pytest.raises(koji.ParameterError, match="Git branch"):
        session.buildContainer(SRC, TARGET, {"scratch": True})
    with pytest.raises(koji.GenericError, match="Invalid method: noSuchCall"):
        session.noSuchCall()
    with pytest.raises(koji.ParameterError, match="unexpected keyword argument 'bogus'"):
        session.getTaskInfo(1, bogus=True)
    with pytest.raises(koji.GenericError, match="No such build"):
        session.getBuild("missing-1-1", strict=True)


def test_version_and_method_list(hub):
    session = koji.ClientSession(hub.url)
    # the installed koji's version; koji >= 1.35's CLI compares it (session.hub_version),
    # e.g. in `koji cancel`, so it must parse as numbers
    assert session.getKojiVersion() == koji.__version__
    assert tuple(int(part) for part in koji.__version__.split(".")[:2]) >= (1, 34)
    methods = session.system.listMethods()
    assert {"buildContainer", "buildSourceContainer", "host.openTask", "rawUpload"} <= set(methods)


# -- the real hub plugin ----------------------------------------------------------------------
def test_build_container_runs_the_real_plugin(hub):
    created = []
    hub.on_task_created = created.append
    session = client(hub)
    task_id = submit(session, priority=5, channel="container")
    info = session.getTaskInfo(task_id, request=True)
    container = session.getChannel("container")
    assert (info["method"], info["state"], info["arch"]) == (
        "buildContainer", koji.TASK_STATES["FREE"], "noarch")
    assert (info["priority"], info["channel_id"]) == (koji.PRIO_DEFAULT + 5, container["id"])
    assert info["owner"] == session.getLoggedInUser()["id"]
    assert info["request"][:2] == [SRC, TARGET] and info["request"][2]["git_branch"] == "f39"
    assert [t["id"] for t in created] == [task_id]
    call = [c for c in hub.calls if c["method"] == "buildContainer"][0]
    assert call["kwargs"] == {"priority": 5, "channel": "container"} and call["user"] == "user"


def test_source_container_default_channel_from_plugin_conf(tmp_path):
    conf = tmp_path / "hub_containerbuild.conf"
    conf.write_text("[tasks]\nsource_channel = sources\n")
    with SandboxHub(str(tmp_path / "hub"), hub_plugin_conf=str(conf)) as hub:
        seed_demo(hub)
        hub.add_channel("sources")
        session = client(hub)
        task_id = session.buildSourceContainer(TARGET, {"koji_build_nvr": "hello-1-1"})
        info = session.getTaskInfo(task_id)
        assert info["channel_id"] == session.getChannel("sources")["id"]


@pytest.mark.parametrize("kwargs, error", [
    ({"target": "no-such-target"}, koji.GenericError),
    ({"priority": -1}, koji.ActionNotAllowed),
    ({"channel": "no-such-channel"}, koji.GenericError),
    ({"opts": {"git_branch": "f39", "no_such_option": 1}}, koji.ParameterError),
])
def test_refusals_create_nothing(hub, kwargs, error):
    session = client(hub)
    args = {"src": SRC, "target": TARGET, "opts": dict(OPTS)}
    args.update(kwargs)
    extra = {k: v for k, v in args.items() if k in ("priority", "channel")}
    with pytest.raises(error):
        session.buildContainer(args["src"], args["target"], args["opts"], **extra)
    assert hub.tasks() == []


def test_anonymous_cannot_build(hub):
    session = koji.ClientSession(hub.url, {"max_retries": 0})
    assert session.getBuildTarget(TARGET)["name"] == TARGET  # reads are anonymous
    with pytest.raises(koji.ActionNotAllowed, match="logged in"):
        submit(session)
    assert hub.tasks() == []


# -- a task process: host calls, uploads, results ---------------------------------------------
def test_host_calls_need_an_exclusive_host_session(hub):
    task_id = submit(client(hub))
    plain = client(hub, HOST)
    with pytest.raises(koji.AuthError, match="exclusive session"):
        plain.host.openTask(task_id)
    main, _task_session = task_process_session(hub)
    with pytest.raises(koji.AuthLockError, match="locked by another session"):
        plain.getLoggedInUser()  # kojid's lock: other logins of the host user are shut out
    with pytest.raises(koji.AuthError, match="is not a host"):
        client(hub).host.getID()
    assert main.host.getID() == main.getHost(HOST)["id"]


def test_a_session_finalised_while_the_store_is_held_is_not_hung(hub):
    """koji's ClientSession.__del__ logs out; run by the garbage collector inside a hub thread
    that holds the store, it must not hang the in-process hub (seen on Python 3.9)."""
    session = client(hub)
    finalised = threading.Event()
    with hub.store.lock:  # as the collecting hub thread holds it
        worker = threading.Thread(target=lambda: (session.__del__(), finalised.set()),
                                  daemon=True)
        worker.start()
        assert finalised.wait(30), "the finaliser waited for the store"
    assert client(hub).getLoggedInUser()["name"] == "user"  # the hub still serves


def test_a_session_finalised_while_the_hub_cannot_answer_does_not_wait_for_it(hub, monkeypatch):
    """koji's ClientSession.__del__ logs out over HTTP. The GC may run it in the hub's own
    accept loop, or in a handler thread that loop waits on to start (a CI hang): there the
    in-process hub cannot answer, so the finaliser must not wait for it."""
    session = client(hub)
    hub._server.shutdown()              # nobody accepts; the listening socket stays open
    session.rsession.close()            # and no kept-alive connection to a handler is left
    finalised = threading.Event()
    threading.Thread(target=lambda: (session.__del__(), finalised.set()), daemon=True).start()
    assert finalised.wait(10), "the finaliser waited for an answer the hub could not give"
    logged_out = []       # sessions of any other hub still log out when finalised, as koji does
    monkeypatch.setattr(koji.ClientSession, "logout", lambda self: logged_out.append(self.baseurl))
    other = koji.ClientSession("http://127.0.0.1:9/kojihub")
    other.__del__()
    session.__del__()
    assert logged_out == ["http://127.0.0.1:9/kojihub"]


def test_task_outputs_are_byte_identical_and_resumable(hub, tmp_path):
    task_id = submit(client(hub))
    _main, task = open_on_host(hub, task_id)
    payload = bytes(range(256)) * 41 + b"\xff\xfe not utf-8 \x80"
    local = tmp_path / "image.tar"
    local.write_bytes(payload)
    task.uploadWrapper(str(local), koji.pathinfo.taskrelpath(task_id), blocksize=1000)
    log = tmp_path / "x86_64.log"
    with open(log, "wb") as out, open(log, "rb") as fd:
        for piece in (b"line one \xe9\n", b"line two\n"):  # resumes at fd.tell() each time
            out.write(piece)
            out.flush()
            koji.daemon.incremental_upload(task, log.name, fd, koji.pathinfo.taskrelpath(task_id))
    reader = client(hub)
    assert sorted(reader.listTaskOutput(task_id)) == ["image.tar", "x86_64.log"]
    assert reader.listTaskOutput(task_id, all_volumes=True)["x86_64.log"] == ["DEFAULT"]
    assert reader.downloadTaskOutput(task_id, "image.tar") == payload
    assert reader.downloadTaskOutput(task_id, "x86_64.log") == b"line one \xe9\nline two\n"
    assert reader.downloadTaskOutput(task_id, "x86_64.log", offset=10, size=4) == b"\nlin"
    with open(hub.task_output_path(task_id, "image.tar"), "rb") as f:
        assert f.read() == payload


def test_reupload_from_zero_replaces_and_plain_offset_zero_refuses(hub, tmp_path):
    """A re-run task uploads its logs again from offset 0 with overwrite (§2.7)."""
    task_id = submit(client(hub))
    _main, task = open_on_host(hub, task_id)
    relpath = koji.pathinfo.taskrelpath(task_id)
    log = tmp_path / "x86_64.log"
    log.write_bytes(b"first run, a long line\n")
    with open(log, "rb") as fd:
        koji.daemon.incremental_upload(task, log.name, fd, relpath)
    log.write_bytes(b"second\n")
    with open(log, "rb") as fd:
        koji.daemon.incremental_upload(task, log.name, fd, relpath)
    assert client(hub).downloadTaskOutput(task_id, log.name) == b"second\n"
    with pytest.raises(koji.GenericError, match="upload path exists"):
        task.rawUpload(b"again", 0, relpath, log.name)  # overwrite not asked
    appended = task.rawUpload(b"+tail", -1, relpath, log.name, overwrite=True)
    assert (appended["offset"], appended["size"]) == (7, 5)
    assert client(hub).downloadTaskOutput(task_id, log.name) == b"second\n+tail"


def test_legacy_upload_file_path(hub, tmp_path):
    task_id = submit(client(hub))
    _main, task = open_on_host(hub, task_id)
    task.opts["use_fast_upload"] = False
    log = tmp_path / "orchestrator.log"
    log.write_bytes(b"\x00\x01 legacy \xfe\n")
    with open(log, "rb") as fd:
        koji.daemon.incremental_upload(task, log.name, fd, koji.pathinfo.taskrelpath(task_id))
    assert client(hub).downloadTaskOutput(task_id, log.name) == b"\x00\x01 legacy \xfe\n"


def test_only_the_host_running_the_task_may_upload(hub, tmp_path):
    owner = client(hub)
    task_id = submit(owner)
    local = tmp_path / "x.log"
    local.write_bytes(b"x")
    owner.opts["use_fast_upload"] = True
    with pytest.raises(koji.AuthError, match="not a host"):
        owner.uploadWrapper(str(local), koji.pathinfo.taskrelpath(task_id))
    _main, task = task_process_session(hub, use_fast_upload=True)
    with pytest.raises(koji.ActionNotAllowed, match="does not own task"):
        task.uploadWrapper(str(local), koji.pathinfo.taskrelpath(task_id))  # still FREE
    assert owner.listTaskOutput(task_id) == []


def test_close_and_fail_as_kojid_reports_them(hub):
    owner = client(hub)
    good, bad = submit(owner), submit(owner)
    _main, task = open_on_host(hub, good)
    assert task.host.openTask(bad)["id"] == bad
    task.host.setTaskWeight(good, 0.2)
    result = {"repositories": ["registry/hello:1"], "koji_builds": ["7"], "none": None}
    task.host.closeTask(good, koji.xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1))
    fault = koji.xmlrpcplus.Fault(koji.BuildError.faultCode, "OpenShift build failed")
    task.host.failTask(bad, koji.xmlrpcplus.dumps(fault))
    assert owner.getTaskResult(good) == result
    assert owner.getTaskInfo(good)["weight"] == 0.2
    with pytest.raises(koji.BuildError, match="OpenShift build failed"):
        owner.getTaskResult(bad)
    with pytest.raises(koji.ActionNotAllowed):  # no longer open on this host
        task.host.closeTask(good, koji.xmlrpcplus.dumps((None,), methodresponse=1))


class EchoTask(koji.tasks.BaseTaskHandler):
    Methods = ["buildContainer"]
    _taskWeight = 0.2
    Foreground = True  # in-process on koji 1.34/1.35 too ("single" is honoured from 1.36)

    def handler(self, src, target, opts=None):
        log = os.path.join(self.workdir, "orchestrator.log")
        with open(log, "wb") as f:
            f.write(b"built \xe2\x9c\x93\n")
        self.uploadFile(log)
        return {"repositories": [f"registry/{target}:1"], "owner": self.taskinfo["owner"]}


def test_kojid_task_manager_takes_and_runs_a_task(hub, tmp_path):
    """koji.daemon.TaskManager (foreground mode) finds, opens, weighs, runs and closes it."""
    owner = client(hub)
    task_id = submit(owner)
    session = client(hub, HOST, use_fast_upload=True)
    session.exclusiveSession(force=True)
    options = optparse.Values({
        "workdir": str(tmp_path), "mockdir": str(tmp_path), "maxjobs": 5, "minspace": 0,
        "single": True, "sleeptime": 1, "topdir": str(tmp_path), "topurl": hub.topurl})
    manager = koji.daemon.TaskManager(options, session)
    manager.registerHandler(EchoTask)
    manager.readyForTask = lambda: True  # skip the load-average and disk-space gates
    assert manager.getNextTask()
    info = owner.getTaskInfo(task_id)
    assert (info["state"], info["weight"]) == (koji.TASK_STATES["CLOSED"], 0.2)
    assert owner.getTaskResult(task_id) == {"repositories": [f"registry/{TARGET}:1"],
                                            "owner": info["owner"]}
    assert owner.downloadTaskOutput(task_id, "orchestrator.log") == b"built \xe2\x9c\x93\n"


def test_subtasks_are_idempotent_by_label_and_awaitable(hub):
    owner = client(hub)
    parent = submit(owner)
    _main, task = open_on_host(hub, parent)
    child = task.host.subtask("createContainer", ["x86_64"], parent, label="x86_64",
                              arch="x86_64")
    assert task.host.subtask("createContainer", ["x86_64"], parent, label="x86_64") == child
    task.host.taskSetWait(parent, [child])
    assert task.host.taskWait(parent) == [[], [child]]
    hub.set_task_state(child, "CLOSED", result={"arch": "x86_64"})
    assert task.host.taskWait(parent) == [[child], []]
    assert task.host.taskWaitResults(parent, [child]) == [[child, {"arch": "x86_64"}]]
    assert [c["id"] for c in owner.getTaskChildren(parent)] == [child]
    other = task.host.subtask("createContainer", ["aarch64"], parent, label="aarch64")
    cancelled = []
    hub.on_cancel = cancelled.append
    owner.cancelTask(parent)
    assert cancelled == [parent, other]  # the CLOSED child stays closed
    assert owner.getTaskInfo(other)["state"] == koji.TASK_STATES["CANCELED"]


# -- watching and cancelling ------------------------------------------------------------------
def seen(hub, task_id):
    return sum(1 for c in hub.calls if c["method"] == "getTaskInfo" and c["args"][:1] == [task_id])


def play(hub, task_id, steps):
    """Change the task's state each time the watcher has looked at the previous one."""
    def run():
        for state, kw in steps:
            before = seen(hub, task_id)
            deadline = time.monotonic() + 10
            while seen(hub, task_id) == before and time.monotonic() < deadline:
                time.sleep(0.002)
            hub.set_task_state(task_id, state, **kw)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_watch_tasks_follows_played_states(hub):
    session = client(hub)
    good, bad = submit(session), submit(session)
    host_id = session.getHost(HOST)["id"]
    threads = [play(hub, good, [("OPEN", {"host_id": host_id}),
                                ("CLOSED", {"result": {"koji_builds": []}})]),
               play(hub, bad, [("FAILED", {"fault": (koji.BuildError.faultCode,
                                                     "image build failed")})])]
    out = io.StringIO()
    with redirect_stdout(out):
        rv = watch_tasks(session, [good, bad], poll_interval=0.01, topurl=hub.topurl)
    for thread in threads:
        thread.join()
    text = out.getvalue()
    assert rv == 1
    assert f"{good} buildContainer (noarch): free -> open ({HOST})" in text
    assert f"{good} buildContainer (noarch): open ({HOST}) -> closed" in text
    assert f"{good} buildContainer (noarch) completed successfully" in text
    assert f"{bad} buildContainer (noarch): free -> FAILED: BuildError: image build failed" \
        in text
    assert f"{bad} buildContainer (noarch) failed" in text


def cli(hub, tmp_path, *args, user="user"):
    conf = tmp_path / "koji.conf"
    conf.write_text(f"[sandbox]\nserver = {hub.url}\nweburl = {hub.weburl}\n"
                    f"topurl = {hub.topurl}\nauthtype = password\n"
                    "max_retries = 0\nanon_retry = false\npoll_interval = 1\n")
    env = dict(os.environ, HOME=str(tmp_path))
    # koji 1.36 reads user/password from the command line only, not from the profile
    return subprocess.run([KOJI, "-c", str(conf), "-p", "sandbox", "--user", user,
                           "--password", "pw", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_koji_cancel_cancels_and_calls_the_hook(hub, tmp_path):
    cancelled = []
    hub.on_cancel = cancelled.append
    owner = client(hub)
    task_id = submit(owner)
    refused = cli(hub, tmp_path, "cancel", str(task_id), user=seed_demo(hub)["host"])
    assert refused.returncode == 1 and "not owner" in refused.stderr
    done = cli(hub, tmp_path, "cancel", str(task_id))
    assert done.returncode == 0, done.stderr
    assert owner.getTaskInfo(task_id)["state"] == koji.TASK_STATES["CANCELED"]
    assert cancelled == [task_id]
    with pytest.raises(koji.GenericError, match="is canceled"):
        owner.getTaskResult(task_id)


def test_koji_taskinfo_and_watch_logs(hub, tmp_path):
    task_id = submit(client(hub))
    _main, task = open_on_host(hub, task_id)
    log = tmp_path / "x86_64.log"
    log.write_bytes(b"Step 1/3 : FROM base\n")
    task.uploadWrapper(str(log), koji.pathinfo.taskrelpath(task_id))
    hub.set_task_state(task_id, "CLOSED", result={"koji_builds": []})
    info = cli(hub, tmp_path, "taskinfo", "-v", str(task_id))
    assert info.returncode == 0, info.stderr
    for line in ("Type: buildContainer", "Owner: user", "State: closed", f"Host: {HOST}",
                 f"tasks/{task_id % 10000}/{task_id}/x86_64.log"):
        assert line in info.stdout
    logs = cli(hub, tmp_path, "watch-logs", str(task_id))
    assert logs.returncode == 0, logs.stderr
    assert f"==> {task_id}:DEFAULT:x86_64.log: <==\nStep 1/3 : FROM base\n" in logs.stdout


# -- state on disk ------------------------------------------------------------------------------
def test_state_survives_a_restart(tmp_path):
    state = str(tmp_path / "hub")
    with SandboxHub(state) as hub:
        seed_demo(hub)
        session = client(hub)
        task_id = submit(session)
        _main, task = open_on_host(hub, task_id)
        (tmp_path / "a.log").write_bytes(b"kept\xff")
        task.uploadWrapper(str(tmp_path / "a.log"), koji.pathinfo.taskrelpath(task_id))
        build_id = hub.add_build("hello-1.0-1", task_id=task_id, extra={"image": {}})
        port = int(hub.url.split(":")[2].split("/")[0])
    with SandboxHub(state, listen=("127.0.0.1", port)) as hub:
        again = session  # same port, same session, same keep-alive connection pool
        assert again.getLoggedInUser()["name"] == "user"  # the session survived too
        assert [c["method"] for c in hub.calls] == ["getLoggedInUser"]  # served by the new hub
        assert again.getTaskInfo(task_id)["state"] == koji.TASK_STATES["OPEN"]
        assert again.downloadTaskOutput(task_id, "a.log") == b"kept\xff"
        build = again.getBuild("hello-1.0-1")
        assert (build["id"], build["build_id"], build["task_id"]) == (build_id, build_id, task_id)
        assert (build["state"], build["nvr"], build["package_name"], build["extra"]) == (
            koji.BUILD_STATES["COMPLETE"], "hello-1.0-1", "hello", {"image": {}})
        assert submit(again) == task_id + 1


def test_catalogue_shapes(hub):
    session = koji.ClientSession(hub.url, {"max_retries": 0})
    hub.add_package("f39-container", "blocked-one", blocked=True)
    entry = session.getPackageConfig("f39-container", "hello-container")
    assert (entry["package_name"], entry["tag_name"], entry["owner_name"], entry["blocked"]) == (
        "hello-container", "f39-container", "user", False)
    assert session.getPackageConfig("f39-container", "blocked-one")["blocked"] is True
    assert session.getPackageConfig("f39-container", "unknown") is None
    tag = session.getTag(session.getBuildTarget(TARGET)["dest_tag"])
    assert (tag["name"], tag["locked"], tag["arches"]) == ("f39-container", False,
                                                           "x86_64 aarch64")
    assert session.getBuildConfig("f39-container-build")["config_inheritance"]["arches"] is None
    assert session.getBuild(12345) is None


def test_standalone_server_serves_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "koji_containerbuild.sandbox.koji.hub",
                             "--state-dir", str(tmp_path / "hub"), "--listen", "127.0.0.1:0",
                             "--seed-demo"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = line.split()[4]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/kojihub")
        target = koji.ClientSession(url, {"max_retries": 0}).getBuildTarget(TARGET)
        assert target["dest_tag_name"] == "f39-container"
        files = koji.ClientSession(url).system.listMethods()
        assert "buildContainer" in files
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_task_outputs_are_served_under_topurl(hub, tmp_path):
    import requests

    task_id = submit(client(hub))
    _main, task = open_on_host(hub, task_id)
    (tmp_path / "b.log").write_bytes(b"served")
    task.uploadWrapper(str(tmp_path / "b.log"), koji.pathinfo.taskrelpath(task_id))
    url = f"{hub.topurl}/work/{koji.pathinfo.taskrelpath(task_id)}/b.log"
    assert requests.get(url, timeout=5).content == b"served"
    assert requests.get(f"{hub.topurl}/hub.json", timeout=5).status_code == 404
    page = requests.get(f"{hub.weburl}/taskinfo?taskID={task_id}", timeout=5)
    assert "method: 'buildContainer'" in page.text
