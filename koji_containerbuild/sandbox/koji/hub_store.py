"""Persistent state of the sandbox Koji hub: users, hosts, channels, tags, targets, builds, tasks.

Everything lives in one JSON file (``<state_dir>/hub.json``, replaced atomically on every change)
plus task outputs under ``<state_dir>/work/tasks/<id % 10000>/<id>/`` like Koji's ``work`` dir, so
a hub started again on the same folder sees the same world. Task requests and results are kept
as XML-RPC documents, exactly as kojihub stores them, so any marshallable value survives.

The task rules mirror kojihub's ``make_task`` and ``Task`` (reference/koji-plugin-api.md §1.4):
owner required, channel must exist and be enabled, default channel policy
(``has req_channel :: req`` / ``is_child_task :: parent`` / ``all :: use default``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Optional

import koji
import koji.xmlrpcplus

ST = koji.TASK_STATES
FINISHED = (ST["CLOSED"], ST["CANCELED"], ST["FAILED"])
KINDS = ("user", "host", "channel", "tag", "package", "target", "build", "task", "session")


def iso(ts: Optional[float]) -> Optional[str]:
    """A timestamp the way the hub marshals a DB datetime (``isoformat(' ')``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(" ")


class HubStore:
    """Thread-safe, file-backed hub state; ``write()`` rolls back on error like a hub request."""

    def __init__(self, state_dir: str, *, clock: Any = time.time):
        self.state_dir = os.path.abspath(state_dir)
        self.path = os.path.join(self.state_dir, "hub.json")
        self.work_dir = os.path.join(self.state_dir, "work")
        self.clock = clock
        self.lock = threading.RLock()
        os.makedirs(self.work_dir, exist_ok=True)
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                self.data = json.load(f)
        else:
            self.data = {"next_id": {k: 1 for k in KINDS}, "event": {"id": 1, "ts": clock()}}
            self.data.update({k + "s": {} for k in KINDS})
            self.data["tag_packages"] = {}
            for name in ("default", "container"):
                self.new("channel", {"name": name, "description": None, "enabled": True,
                                     "comment": None})
            self._save()

    # -- transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def read(self) -> Iterator[dict]:
        with self.lock:
            yield self.data

    @contextlib.contextmanager
    def write(self) -> Iterator[dict]:
        """Apply a change atomically: all of it reaches the disk, or none of it stays."""
        with self.lock:
            snapshot = copy.deepcopy(self.data)
            try:
                yield self.data
                self.data["event"] = {"id": self.data["event"]["id"] + 1, "ts": self.clock()}
                self._save()
            except BaseException:
                self.data = snapshot
                raise

    def _save(self) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".hub.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def new(self, kind: str, record: dict) -> int:
        """Insert a record of ``kind`` with the next id (call inside ``write()``)."""
        ident = self.data["next_id"][kind]
        self.data["next_id"][kind] = ident + 1
        record["id"] = ident
        self.data[kind + "s"][str(ident)] = record
        return ident

    def rows(self, kind: str) -> list[dict]:
        return list(self.data[kind + "s"].values())

    def row(self, kind: str, ident: Any) -> Optional[dict]:
        return self.data[kind + "s"].get(str(ident)) if isinstance(ident, int) else None

    def find(self, kind: str, info: Any, field: str = "name") -> Optional[dict]:
        """Look a record up by id, name (or ``field``), or a dict holding either, as koji does."""
        if isinstance(info, dict):
            info = info.get("id", info.get(field))
        if isinstance(info, bool):
            return None
        if isinstance(info, int):
            return self.row(kind, info)
        if isinstance(info, str):
            return next((r for r in self.rows(kind) if r.get(field) == info), None)
        return None

    # -- info shapes (what the real hub returns) ------------------------------------------
    def user_info(self, user: dict) -> dict:
        return {k: copy.deepcopy(user[k])
                for k in ("id", "name", "status", "usertype", "krb_principals")}

    def host_info(self, host: dict) -> dict:
        keys = ("id", "user_id", "name", "update_ts", "ready", "task_load", "arches", "capacity",
                "description", "comment", "enabled")
        return {k: host[k] for k in keys}

    def tag_info(self, tag: dict) -> dict:
        return copy.deepcopy(tag)

    def target_info(self, target: dict) -> dict:
        return {"id": target["id"], "name": target["name"],
                "build_tag": target["build_tag"],
                "build_tag_name": self.row("tag", target["build_tag"])["name"],
                "dest_tag": target["dest_tag"],
                "dest_tag_name": self.row("tag", target["dest_tag"])["name"]}

    def package_entry(self, entry: dict) -> dict:
        tag, pkg = self.row("tag", entry["tag_id"]), self.row("package", entry["package_id"])
        owner = self.row("user", entry["owner_id"])
        return {"package_id": pkg["id"], "package_name": pkg["name"], "tag_id": tag["id"],
                "tag_name": tag["name"], "owner_id": owner["id"], "owner_name": owner["name"],
                "extra_arches": entry.get("extra_arches"), "blocked": entry["blocked"]}

    def build_info(self, build: dict) -> dict:
        """getBuild's 1.36 shape (reference/koji-plugin-api.md §3.5)."""
        owner = self.row("user", build["owner_id"]) or {"id": None, "name": None}
        info = {k: copy.deepcopy(build[k]) for k in (
            "id", "package_id", "version", "release", "epoch", "state", "task_id", "source",
            "extra", "draft", "creation_ts", "start_ts", "completion_ts")}
        info.update({
            "build_id": build["id"], "name": build["name"], "package_name": build["name"],
            "nvr": f"{build['name']}-{build['version']}-{build['release']}",
            "owner_id": owner["id"], "owner_name": owner["name"],
            "volume_id": 0, "volume_name": "DEFAULT", "creation_event_id": build["event_id"],
            "creation_time": iso(build["creation_ts"]), "start_time": iso(build["start_ts"]),
            "completion_time": iso(build["completion_ts"]), "promotion_time": None,
            "promotion_ts": None, "promoter_id": None, "promoter_name": None,
            "cg_id": None, "cg_name": None})
        return info

    def task_info(self, task: dict, request: bool = False) -> dict:
        """getTaskInfo's shape: kojihub ``Task.fields`` (+ the decoded request)."""
        info = {k: task[k] for k in (
            "id", "state", "create_ts", "start_ts", "completion_ts", "channel_id", "host_id",
            "parent", "label", "waiting", "awaited", "owner", "method", "arch", "priority",
            "weight")}
        for name in ("create", "start", "completion"):
            info[name + "_time"] = iso(task[name + "_ts"])
        if request:
            info["request"] = self.task_request(task)
        return info

    @staticmethod
    def task_request(task: dict) -> list:
        params, _method = koji.xmlrpcplus.loads(task["request"])
        return list(params)

    # -- lookups with koji's strict errors --------------------------------------------------
    def get(self, kind: str, info: Any, strict: bool = False, label: str = "") -> Optional[dict]:
        record = self.find(kind, info)
        if record is None and strict:
            raise koji.GenericError(f"No such {label or kind}: {info}")
        return record

    def get_build(self, info: Any, strict: bool = False) -> Optional[dict]:
        build = None
        if isinstance(info, int) and not isinstance(info, bool):
            build = self.row("build", info)
        elif isinstance(info, (str, dict)):
            try:
                nvr = koji.parse_NVR(info) if isinstance(info, str) else info
                build = next((b for b in self.rows("build") if all(
                    str(b[k]) == str(nvr[k]) for k in ("name", "version", "release"))), None)
            except (koji.GenericError, KeyError):
                build = None
            if build is None and isinstance(info, dict) and "id" in info:
                build = self.row("build", info["id"])
        if build is None and strict:
            raise koji.GenericError(f"No such build: {info!r}")
        return build

    def task(self, task_id: Any, strict: bool = True) -> Optional[dict]:
        task = self.row("task", task_id) if isinstance(task_id, int) else None
        if task is None and strict:
            raise koji.GenericError(f"No such task: {task_id}")
        return task

    def children(self, task_id: int) -> list[dict]:
        return sorted((t for t in self.rows("task") if t["parent"] == task_id),
                      key=lambda t: t["id"])

    def task_dir(self, task_id: int) -> str:
        return os.path.join(self.work_dir, koji.pathinfo.taskrelpath(task_id))

    # -- task life cycle (call inside write()) -----------------------------------------------
    def make_task(self, method: str, arglist: list, owner: Optional[int], **opts: Any) -> int:
        """kojihub.make_task with the hub's default channel and priority policies."""
        if not isinstance(method, str):
            raise koji.ParameterError(f"Invalid type for value '{method}': {type(method)}")
        parent = None
        if opts.get("parent") is not None:
            parent = self.task(int(opts["parent"]), strict=False)
            if parent is None:
                raise koji.GenericError(f"Invalid parent task: {opts['parent']}")
            if parent["state"] != ST["OPEN"]:
                raise koji.GenericError(f"Parent task (id {parent['id']}) is not open")
            owner = parent["owner"]
        elif opts.get("owner") is not None:
            owner = self.get("user", opts["owner"], strict=True, label="user")["id"]
        elif owner is None:
            raise koji.GenericError("task must have an owner")
        label = opts.get("label")
        if label is not None and not isinstance(label, str):
            raise koji.ParameterError(f"Invalid type for value '{label}': {type(label)}")
        arch = opts.get("arch") or (parent["arch"] if parent else "noarch")
        arch = koji.parse_arches(arch, strict=True, allow_none=True)
        priority = opts.get("priority")
        if priority is None:
            priority = parent["priority"] - 1 if parent else koji.PRIO_DEFAULT
        try:
            priority = int(priority)
        except (TypeError, ValueError):
            raise koji.ParameterError(f"Invalid type for value '{priority}'") from None
        if opts.get("channel") is not None:
            channel = self.find("channel", opts["channel"])
            if channel is None:
                raise koji.GenericError(f"No such channel: {opts['channel']}")
            if not channel["enabled"]:
                raise koji.GenericError(f"Channel {opts['channel']} is disabled.")
            channel_id = channel["id"]
        elif parent is not None:
            channel_id = parent["channel_id"]
        else:
            channel_id = self.find("channel", "default")["id"]
        host_id, state = None, ST["FREE"]
        if opts.get("assign") is not None:
            host_id = self.get("host", opts["assign"], strict=True, label="host")["id"]
            state = ST["ASSIGNED"]
        request = koji.xmlrpcplus.dumps(tuple(arglist), methodname=method)
        now = self.clock()
        return self.new("task", {
            "state": state, "create_ts": now, "start_ts": None, "completion_ts": None,
            "channel_id": channel_id, "host_id": host_id,
            "parent": parent["id"] if parent else None,
            "label": label if parent else None, "waiting": None, "awaited": None,
            "owner": owner, "method": method, "arch": arch, "priority": priority,
            "weight": 1.0, "request": request, "result": None})

    def open_task(self, task_id: int, host_id: int) -> bool:
        """kojihub Task.lock(host, 'OPEN'): a FREE task, or one ASSIGNED to this host."""
        task = self.task(task_id)
        free_ok = task["state"] == ST["FREE"] and task["host_id"] is None
        assigned_ok = task["state"] == ST["ASSIGNED"] and task["host_id"] == host_id
        if not (free_ok or assigned_ok):
            return False
        task.update(state=ST["OPEN"], host_id=host_id, start_ts=self.clock())
        return True

    def finish_task(self, task_id: int, state: int, response: str) -> None:
        """Close or fail a task; ``response`` is the XML-RPC document kojid sends."""
        self.task(task_id).update(state=state, result=response, completion_ts=self.clock())

    def free_task(self, task_id: int) -> None:
        task = self.task(task_id)
        if task["state"] in FINISHED:
            raise koji.GenericError(
                f"Cannot free task {task_id}, state is {ST[task['state']]}")
        task.update(state=ST["FREE"], host_id=None)

    def cancel_task(self, task_id: int, recurse: bool = True) -> list[int]:
        """Cancel a task (and its children); returns the ids that changed to CANCELED."""
        task = self.task(task_id)
        if task["state"] in FINISHED:
            return []
        task.update(state=ST["CANCELED"], completion_ts=self.clock())
        for build in self.rows("build"):
            if build["task_id"] == task_id and build["state"] == koji.BUILD_STATES["BUILDING"]:
                build.update(state=koji.BUILD_STATES["CANCELED"], completion_ts=self.clock())
        changed = [task_id]
        if recurse:
            for child in self.children(task_id):
                changed += self.cancel_task(child["id"], recurse=True)
        return changed

    def task_result(self, task: dict, raise_fault: bool = True) -> Any:
        """kojihub Task.getResult: the result, or the stored fault raised (or as a dict)."""
        if task["state"] == ST["CANCELED"]:
            raise koji.GenericError(f"Task {task['id']} is canceled")
        if task["state"] not in (ST["CLOSED"], ST["FAILED"]):
            raise koji.GenericError(f"Task {task['id']} is not finished")
        try:
            result, _method = koji.xmlrpcplus.loads(task["result"])
        except koji.xmlrpcplus.Fault as fault:
            if raise_fault:
                raise
            return {"faultCode": fault.faultCode, "faultString": fault.faultString}
        return result[0]
