"""A local stand-in of a Koji hub speaking Koji's XML-RPC wire protocol on 127.0.0.1.

The real ``koji`` CLI, ``koji.ClientSession`` and kojid-style task processes talk to it as to a
hub: POST ``/kojihub`` with XML-RPC bodies (``__starstar`` kwargs, ``i8``, nil), faults with
koji's codes, ``multiCall``/``system.multicall``, password sessions in headers or query args,
``rawUpload`` octet-stream chunks. ``buildContainer``/``buildSourceContainer`` are the real hub
plugin file ``hub_plugin/hub_containerbuild.py``, loaded with ``koji.plugin.PluginTracker``
against a ``kojihub`` shim backed by this hub's store. State is kept under ``state_dir`` so a
restarted hub sees the same tasks, outputs and builds.

Also serves ``GET /kojifiles/work/...`` (task outputs, the ``topurl``) and a plain-text
``/koji/taskinfo?taskID=N`` / ``/koji/buildinfo?buildID=N`` (the ``weburl`` links).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import signal
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any, Callable, Optional

import koji
import koji.plugin
import koji.policy
import koji.xmlrpcplus
from koji.context import context

from . import finalizers
from .hub_api import RootExports
from .hub_files import FileExports
from .hub_host import HostExports
from .hub_queries import BrowseExports
from .hub_session import SessionManager
from .hub_store import FINISHED, ST, HubStore
from .hub_wire import Dispatcher, HubServer

log = logging.getLogger("koji_containerbuild.sandbox.koji.hub")

PLUGIN_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "hub_plugin")
PLUGIN_NAME = "hub_containerbuild"
_plugin_lock = threading.Lock()  # koji_containerbuild.hub.settings_path is process-wide


class SandboxHub:
    """A Koji hub on 127.0.0.1 with a JSON store, for tests and the demo."""

    def __init__(self, state_dir: str, *, hub_plugin_conf: Optional[str] = None,
                 listen: tuple[str, int] = ("127.0.0.1", 0), plugin_dir: Optional[str] = None,
                 strict_host_sessions: bool = True):
        self.store = HubStore(state_dir)
        self.state_dir = self.store.state_dir
        self.settings_path = hub_plugin_conf or os.path.join(self.state_dir,
                                                             "hub_containerbuild.conf")
        self.strict_host_sessions = strict_host_sessions
        self.on_task_created: Optional[Callable[[dict], Any]] = None
        self.on_cancel: Optional[Callable[[int], Any]] = None
        self.upload_lock = threading.Lock()
        # A slow or busy hub (chaos suite, benchmarks): seconds added to every call, and
        # upload bodies (rawUpload, uploadFile) served at most at this many bytes/s in all.
        self.call_delay = 0.0
        self.upload_rate: Optional[float] = None
        self._rate_lock = threading.Lock()
        self._rate_free_at = 0.0
        self.policies: dict[str, koji.policy.SimpleRuleSet] = {}
        self.plugin_error: Optional[str] = None
        self._listen = listen
        self._server: Optional[HubServer] = None
        self._thread: Optional[threading.Thread] = None
        self.sessions = SessionManager(self.store)
        self.files = FileExports(self)
        self.dispatcher = Dispatcher(self)
        self.dispatcher.register(RootExports(self))
        self.dispatcher.register(BrowseExports(self))
        self.dispatcher.register(self.files)
        self.dispatcher.register(HostExports(self), prefix="host.")
        self.dispatcher.register(self.sessions, names=(
            "login", "sslLogin", "logout", "subsession", "logoutChild", "exclusiveSession",
            "sharedSession"))
        self._load_plugin(plugin_dir or PLUGIN_DIR)

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> SandboxHub:
        self._server = HubServer(self._listen, self.dispatcher)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={
            "poll_interval": 0.05}, name="sandbox-hub", daemon=True)
        self._thread.start()
        finalizers.serve(self._address())
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._thread.join()
            finalizers.unserve(self._address())
            self._server = self._thread = None

    def _address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> SandboxHub:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base(self) -> str:
        return f"http://{self._address()}"

    @property
    def url(self) -> str:
        return self.base + "/kojihub"

    @property
    def weburl(self) -> str:
        return self.base + "/koji"

    @property
    def topurl(self) -> str:
        return self.base + "/kojifiles"

    def throttle(self, upload_bytes: int) -> None:
        """Hold a call as a slow hub would: ``call_delay``, then the upload link's share."""
        delay = self.call_delay
        rate = self.upload_rate
        if rate and upload_bytes:
            with self._rate_lock:
                now = time.monotonic()
                self._rate_free_at = max(now, self._rate_free_at) + upload_bytes / rate
                delay += self._rate_free_at - now
        if delay > 0:
            time.sleep(delay)

    # -- seeding (idempotent by name, so a restarted hub can be seeded again) -------------------
    def _upsert(self, kind: str, name: str, fields: dict) -> int:
        with self.store.write():
            record = self.store.find(kind, name)
            if record is None:
                return self.store.new(kind, dict(fields, name=name))
            record.update(fields)
            return record["id"]

    def add_user(self, name: str, password: str = "pw", perms: Any = (),  # noqa: S107 - sandbox
                 usertype: int = koji.USERTYPES["NORMAL"]) -> int:
        return self._upsert("user", name, {
            "password": password, "perms": sorted(set(perms)), "status": 0,
            "usertype": usertype, "krb_principals": []})

    def add_channel(self, name: str) -> int:
        with self.store.read():
            existing = self.store.find("channel", name)
        if existing:
            return existing["id"]
        return self._upsert("channel", name, {"description": None, "enabled": True,
                                              "comment": None})

    def add_host(self, name: str, arches: str = "x86_64", channels: Any = ("container",),
                 password: str = "pw") -> int:  # noqa: S107 - sandbox login
        """A build host and its user (usertype HOST) that logs in with ``password``."""
        user_id = self.add_user(name, password, usertype=koji.USERTYPES["HOST"])
        channel_ids = [self.add_channel(c) for c in channels]
        return self._upsert("host", name, {
            "user_id": user_id, "arches": arches, "channels": channel_ids, "capacity": 2.0,
            "description": None, "comment": None, "enabled": True, "ready": False,
            "task_load": 0.0, "update_ts": None})

    def add_tag(self, name: str, arches: Optional[str] = "x86_64 aarch64", locked: bool = False,
                extra: Optional[dict] = None) -> int:
        return self._upsert("tag", name, {
            "arches": arches, "locked": bool(locked), "perm_id": None, "perm": None,
            "maven_support": False, "maven_include_all": False, "extra": dict(extra or {})})

    def add_package(self, tag: Any, pkg: str, owner: str = "user", blocked: bool = False) -> None:
        """List ``pkg`` in ``tag``; the owner user is created (password 'pw') if missing."""
        with self.store.read():
            have_owner = self.store.find("user", owner) is not None
        if not have_owner:
            self.add_user(owner)
        with self.store.write() as data:
            tag_row = self.store.get("tag", tag, strict=True, label="tag")
            pkg_row = self.store.find("package", pkg)
            pkg_id = pkg_row["id"] if pkg_row else self.store.new("package", {"name": pkg})
            data["tag_packages"][f"{tag_row['id']}:{pkg_id}"] = {
                "tag_id": tag_row["id"], "package_id": pkg_id, "blocked": bool(blocked),
                "owner_id": self.store.find("user", owner)["id"], "extra_arches": None}

    def add_target(self, name: str, build_tag: Any, dest_tag: Any) -> int:
        with self.store.read():
            build = self.store.get("tag", build_tag, strict=True, label="tag")["id"]
            dest = self.store.get("tag", dest_tag, strict=True, label="tag")["id"]
        return self._upsert("target", name, {"build_tag": build, "dest_tag": dest})

    def add_build(self, nvr_or_dict: Any, state: Any = "COMPLETE", task_id: Optional[int] = None,
                  extra: Optional[dict] = None, btype: str = "image",
                  owner: Optional[str] = None) -> int:
        info = koji.parse_NVR(nvr_or_dict) if isinstance(nvr_or_dict, str) else dict(nvr_or_dict)
        state = koji.BUILD_STATES[state] if isinstance(state, str) else int(state)
        with self.store.write() as data:
            if self.store.get_build({k: info[k] for k in ("name", "version", "release")}):
                raise koji.GenericError("Build already exists: {name}-{version}-{release}"
                                        .format(**info))
            pkg = self.store.find("package", info["name"])
            pkg_id = pkg["id"] if pkg else self.store.new("package", {"name": info["name"]})
            owner_row = self.store.find("user", owner) if owner else None
            now = self.store.clock()
            return self.store.new("build", {
                "package_id": pkg_id, "name": info["name"], "version": info["version"],
                "release": info["release"], "epoch": info.get("epoch"), "state": state,
                "task_id": task_id, "owner_id": owner_row["id"] if owner_row else None,
                "extra": dict(extra or {}), "btypes": [btype], "source": info.get("source"),
                "draft": False, "creation_ts": now, "start_ts": now, "event_id":
                data["event"]["id"], "completion_ts": None if state == 0 else now})

    def set_policy(self, name: str, rules: str) -> None:
        """Install a hub policy (koji.policy syntax, generic tests only) for evalPolicy."""
        tests = koji.policy.findSimpleTests(vars(koji.policy))
        self.policies[name] = koji.policy.SimpleRuleSet(rules.splitlines(), tests)

    def policy(self, name: str) -> Optional[koji.policy.SimpleRuleSet]:
        return self.policies.get(name)

    # -- inspection and playing task states ----------------------------------------------------
    @property
    def calls(self) -> list[dict]:
        with self.dispatcher.calls_lock:
            return [dict(c) for c in self.dispatcher.calls]

    def tasks(self, task_id: Optional[int] = None) -> Any:
        """One task (getTaskInfo shape with ``request`` and the decoded ``result``), or all."""
        with self.store.read():
            if task_id is None:
                return [self._task_view(t) for t in self.store.rows("task")]
            task = self.store.task(task_id, strict=False)
            return self._task_view(task) if task else None

    def _task_view(self, task: dict) -> dict:
        info = self.store.task_info(task, request=True)
        info["result"] = (self.store.task_result(task, raise_fault=False)
                          if task["state"] in (ST["CLOSED"], ST["FAILED"]) else None)
        return info

    def set_task_state(self, task_id: int, state: str, result: Any = None,
                       fault: Optional[tuple] = None, host_id: Optional[int] = None) -> None:
        """Play a state change as a builder would report it (no hooks are called)."""
        code = ST[state]
        with self.store.write():
            task = self.store.task(task_id)
            now = self.store.clock()
            if code == ST["FREE"]:
                task.update(host_id=None, result=None, completion_ts=None)
            if host_id is not None:
                task["host_id"] = host_id
            if code == ST["OPEN"] and task["start_ts"] is None:
                task["start_ts"] = now
            if code == ST["CLOSED"]:
                task["result"] = koji.xmlrpcplus.dumps((result,), methodresponse=1)
            elif code == ST["FAILED"]:
                fault_code, text = fault or (koji.GenericError.faultCode, "task failed")
                task["result"] = koji.xmlrpcplus.dumps(koji.xmlrpcplus.Fault(fault_code, text))
            if code in FINISHED:
                task["completion_ts"] = now
            task["state"] = code

    def task_output_path(self, task_id: int, filename: str) -> str:
        return os.path.join(self.store.task_dir(task_id), filename)

    def notify_created(self, task_id: int) -> None:
        """Call ``on_task_created`` once the current request has finished (or now, outside
        one), so a runner started by the hook never races the plugin call that made the task."""
        pending = getattr(context, "created_tasks", None)
        if pending is not None:
            pending.append(task_id)
        elif self.on_task_created is not None:
            with self.store.read():
                info = self.store.task_info(self.store.task(task_id), request=True)
            self._run_hook(self.on_task_created, info)

    def notify_cancelled(self, task_ids: list) -> None:
        for task_id in task_ids:
            if self.on_cancel is not None:
                self._run_hook(self.on_cancel, task_id)

    @staticmethod
    def _run_hook(hook: Callable, arg: Any) -> None:
        try:
            hook(arg)
        except Exception:  # a hook bug must not turn into the caller's fault
            log.exception("sandbox hub hook %r failed", hook)

    # -- the hub plugin ---------------------------------------------------------------------------
    def _kojihub_shim(self) -> types.ModuleType:
        """What the plugin imports as ``kojihub`` (reference/koji-plugin-api.md §1.4, §1.5)."""
        shim = types.ModuleType("kojihub")
        root = RootExports(self)

        def make_task(method: str, arglist: list, **opts: Any) -> int:
            session = context.session
            with self.store.write():
                task_id = self.store.make_task(method, arglist, session.user_id, **opts)
            self.notify_created(task_id)
            return task_id

        shim.make_task = make_task
        shim.get_build_target = lambda info, event=None, strict=False: root.getBuildTarget(
            info, event, strict)
        shim.get_tag = lambda info, strict=False, event=None, blocked=False: root.getTag(
            info, strict, event, blocked)
        shim.get_build = lambda info, strict=False: root.getBuild(info, strict)
        shim.get_user = lambda info=None, strict=False, krb_princs=True, groups=False: \
            root.getUser(info, strict)
        shim.get_channel = lambda info, strict=False: root.getChannel(info, strict)
        return shim

    def _load_plugin(self, plugin_dir: str) -> None:
        """Load the real plugin file; on failure answer every call ServerOffline like a hub."""
        saved = sys.modules.get("kojihub")
        sys.modules["kojihub"] = self._kojihub_shim()
        try:
            module = koji.plugin.PluginTracker(path=[plugin_dir]).load(PLUGIN_NAME, reload=True)
        except Exception as exc:
            log.exception("sandbox hub: cannot load %s from %s", PLUGIN_NAME, plugin_dir)
            self.plugin_error = f"{type(exc).__name__}: {exc}"
            return
        finally:
            if saved is None:
                sys.modules.pop("kojihub", None)
            else:
                sys.modules["kojihub"] = saved
        for value in vars(module).values():
            if callable(value) and not isinstance(value, type) and getattr(value, "exported",
                                                                           False):
                name = getattr(value, "export_alias", value.__name__)
                self.dispatcher.registry[name] = self._with_settings(value)

    def _with_settings(self, func: Callable) -> Callable:
        from koji_containerbuild import hub as hub_logic

        def call(*args: Any, **kwargs: Any) -> Any:
            with _plugin_lock:
                saved, hub_logic.settings_path = hub_logic.settings_path, self.settings_path
                try:
                    return func(*args, **kwargs)
                finally:
                    hub_logic.settings_path = saved

        call.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
        call.__doc__ = func.__doc__
        return call


DEMO = {"admin": "kojiadmin", "user": "user", "password": "pw", "host": "sandbox-builder",
        "build_tag": "f39-container-build", "dest_tag": "f39-container",
        "target": "f39-container-candidate", "package": "hello-container",
        "source_package": "hello-container-source"}


def seed_demo(hub: SandboxHub) -> dict:
    """The demo's world: an admin, a packager, a container builder host, tags, a target and
    the sample package (and its -source package) listed in the destination tag. Idempotent;
    returns the names."""
    hub.add_user(DEMO["admin"], DEMO["password"], perms=("admin",))
    hub.add_user(DEMO["user"], DEMO["password"])
    hub.add_host(DEMO["host"], arches="x86_64", channels=("default", "container"),
                 password=DEMO["password"])
    hub.add_tag(DEMO["build_tag"])
    hub.add_tag(DEMO["dest_tag"])
    hub.add_target(DEMO["target"], DEMO["build_tag"], DEMO["dest_tag"])
    hub.add_package(DEMO["dest_tag"], DEMO["package"], owner=DEMO["user"])
    hub.add_package(DEMO["dest_tag"], DEMO["source_package"], owner=DEMO["user"])
    return dict(DEMO)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Run the sandbox Koji hub on loopback.")
    parser.add_argument("--state-dir", required=True, help="folder holding the hub's state")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default: any port)")
    parser.add_argument("--seed-demo", action="store_true",
                        help="create the demo users, host, tags, target and package")
    parser.add_argument("--hub-plugin-conf", help="hub_containerbuild.conf to use")
    opts = parser.parse_args(argv)
    host, _, port = opts.listen.rpartition(":")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    hub = SandboxHub(opts.state_dir, hub_plugin_conf=opts.hub_plugin_conf,
                     listen=(host or "127.0.0.1", int(port)))
    if opts.seed_demo:
        seed_demo(hub)
    return serve(hub)


def serve(hub: SandboxHub, url_file: Optional[Path] = None) -> int:
    """Start the hub and run it until SIGTERM/SIGINT, saying where it listens (also into
    ``url_file``, for a parent that asked for port 0)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    hub.start()
    if url_file is not None:
        url_file.write_text(hub.url + "\n")
    print(f"Sandbox Koji hub at {hub.url} (web {hub.weburl}, files {hub.topurl}); "
          f"state in {hub.state_dir}", flush=True)
    if hub.plugin_error:
        print(f"WARNING: hub plugin not loaded, hub answers ServerOffline: {hub.plugin_error}",
              file=sys.stderr, flush=True)
    stop.wait()
    if url_file is not None:
        url_file.unlink(missing_ok=True)
    hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
