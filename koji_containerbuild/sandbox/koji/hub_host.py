"""``session.host.*`` of the sandbox hub: what a kojid task process calls on its own session
(reference/koji-plugin-api.md §2.3, §2.6): open/close/fail/free tasks, weight, subtasks and
waiting, policies. Every call needs a host's exclusive session (or a subsession of it), and
task changes need the task OPEN on the calling host, as kojihub's ``Host().verify()`` and
``Task.assertHost()`` require.
"""

from __future__ import annotations

import koji
import koji.xmlrpcplus

from .hub_api import Exports, RootExports
from .hub_store import FINISHED, ST


class HostExports(Exports):
    """``session.host.*``: what a kojid task process calls (reference/koji-plugin-api.md §2.3)."""

    def getID(self):
        return self._host_id()

    def getHost(self):
        host_id = self._host_id()
        with self._store.read():
            return self._store.host_info(self._store.row("host", host_id))

    def isEnabled(self):
        host_id = self._host_id()
        with self._store.read():
            return self._store.row("host", host_id)["enabled"]

    def updateHost(self, task_load, ready, data=None):
        host_id = self._host_id()
        with self._store.write():
            self._store.row("host", host_id).update(
                task_load=float(task_load), ready=bool(ready), update_ts=self._store.clock())

    def getLoadData(self):
        self._host_id()
        return [[], []]

    def getTasks(self):
        """Tasks assigned to this host; FREE tasks it can take are assigned first (a trivial
        stand-in for the 1.34+ scheduler: channel and arch must match)."""
        host_id = self._host_id()
        with self._store.write():
            host = self._store.row("host", host_id)
            arches = host["arches"].split() + ["noarch"]
            for task in sorted(self._store.rows("task"), key=lambda t: (t["priority"], t["id"])):
                if (task["state"] == ST["FREE"] and task["channel_id"] in host["channels"]
                        and task["arch"] in arches and host["enabled"]):
                    task.update(state=ST["ASSIGNED"], host_id=host_id)
            return [self._store.task_info(t) for t in self._store.rows("task")
                    if t["state"] == ST["ASSIGNED"] and t["host_id"] == host_id]

    def getHostTasks(self):
        host_id = self._host_id()
        with self._store.read():
            return [{"id": t["id"], "waiting": t["waiting"], "weight": t["weight"]}
                    for t in self._store.rows("task")
                    if t["state"] == ST["OPEN"] and t["host_id"] == host_id]

    def openTask(self, task_id):
        host_id = self._host_id()
        with self._store.write():
            if not self._store.open_task(task_id, host_id):
                return None
            task = self._store.task(task_id)
            info = self._store.task_info(task)
            info["request"] = task["request"]
            return info

    def _finish(self, task_id: int, state: int, response: str) -> None:
        host_id = self._host_id()
        with self._store.write():
            self._assert_host_owns(self._store.task(task_id), host_id)
            # the response must be an XML-RPC document, as kojid's dumps() makes it
            koji.xmlrpcplus.loads(response) if state == ST["CLOSED"] else None
            self._store.finish_task(task_id, state, response)

    def closeTask(self, task_id, response):
        self._finish(task_id, ST["CLOSED"], response)

    def failTask(self, task_id, response):
        self._finish(task_id, ST["FAILED"], response)

    def freeTasks(self, tasks):
        host_id = self._host_id()
        with self._store.write():
            for task_id in tasks:
                task = self._store.task(task_id)
                if task["host_id"] == host_id and task["state"] in (ST["OPEN"], ST["ASSIGNED"]):
                    self._store.free_task(task_id)

    def refuseTask(self, task_id, soft=True, msg=""):
        host_id = self._host_id()
        with self._store.write():
            task = self._store.task(task_id)
            if task["host_id"] != host_id or task["state"] not in (ST["OPEN"], ST["ASSIGNED"]):
                raise koji.GenericError(f"Task {task_id} is not assigned to host {host_id}")
            self._store.free_task(task_id)

    def setTaskWeight(self, task_id, weight):
        host_id = self._host_id()
        with self._store.write():
            task = self._store.task(task_id)
            self._assert_host_owns(task, host_id)
            task["weight"] = float(weight)

    def subtask(self, method, arglist, parent, **opts):
        host_id = self._host_id()
        with self._store.write():
            self._assert_host_owns(self._store.task(parent), host_id)
            if "owner" in opts:
                raise koji.ActionNotAllowed("owner option is not allowed for subtasks")
            if opts.get("label") is not None:
                for child in self._store.children(parent):
                    if child["label"] == opts["label"]:
                        return child["id"]
            if "kwargs" in opts:
                arglist = koji.encode_args(*arglist, **opts.pop("kwargs"))
            task_id = self._store.make_task(method, arglist, None, parent=parent, **opts)
        self._hub.notify_created(task_id)
        return task_id

    def subtask2(self, __parent, __taskopts, __method, *args, **opts):
        return self.subtask(__method, koji.encode_args(*args, **opts), __parent, **__taskopts)

    def taskSetWait(self, parent, tasks):
        self._host_id()
        with self._store.write():
            self._store.task(parent)["waiting"] = True
            for child in self._store.children(parent):
                if tasks is None or child["id"] in tasks:
                    child["awaited"] = True
                elif child["awaited"]:
                    child["awaited"] = False

    def taskWait(self, parent):
        self._host_id()
        with self._store.write():
            awaited = [c for c in self._store.children(parent) if c["awaited"]]
            finished = [c["id"] for c in awaited if c["state"] in FINISHED]
            for child in awaited:
                if child["state"] in FINISHED:
                    child["awaited"] = False
            return [finished, [c["id"] for c in awaited if c["state"] not in FINISHED]]

    def taskWaitResults(self, parent, tasks, canfail=None):
        self._host_id()
        canfail = canfail or []
        with self._store.write():
            self._store.task(parent)["waiting"] = False
            for child in self._store.children(parent):
                child["awaited"] = False
            if tasks is None:
                tasks = [c["id"] for c in self._store.children(parent) if c["state"] in FINISHED]
            results = []
            for task_id in tasks:
                task = self._store.task(task_id)
                try:
                    results.append([task_id, self._store.task_result(task, task_id not in canfail)])
                except koji.GenericError as exc:
                    if task_id in canfail and task["state"] == ST["CANCELED"]:
                        results.append([task_id, {"faultCode": exc.faultCode,
                                                  "faultString": str(exc)}])
                        continue
                    raise
            return results

    def evalPolicy(self, name, data):
        self._host_id()
        return RootExports.evalPolicy(self, name, data)  # type: ignore[arg-type]

    def checkPolicy(self, name, data, default="deny", strict=False):
        self._host_id()
        ruleset = self._hub.policy(name)
        result, reason = ("allow", "missing policy") if ruleset is None else (None, "")
        if ruleset is not None:
            parts = (ruleset.apply(data) or default).split(None, 1) + ["", ""]
            result, reason = parts[0], parts[1].lower()
        if result == "allow":
            return True, reason
        if strict:
            raise koji.ActionNotAllowed(f"policy violation ({name})" + (f": {reason}" if reason
                                                                         else ""))
        return False, reason

    def assertPolicy(self, name, data, default="deny"):
        self.checkPolicy(name, data, default=default, strict=True)
