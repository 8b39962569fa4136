"""The top-level XML-RPC methods of the sandbox hub: the part of kojihub's RootExports that the
koji CLI, rpkg and our plugins call (session, users, hosts, channels, targets, tags, packages,
builds, tasks, policies). Task output files are in ``hub_files``, ``host.*`` in ``hub_host``.

Names, parameters, return shapes and faults follow kojihub 1.36; the caller's session is
``koji.context.context.session`` as in the real hub.
"""

from __future__ import annotations

import threading
from typing import Any, Optional, Protocol

import koji
from koji.context import context

from .hub_store import FINISHED, ST, HubStore

PERMISSIONS = ("admin", "appliance", "build", "dist-repo", "host", "image", "image-import",
               "livecd", "maven-import", "repo", "sign", "tag", "target", "win-admin",
               "win-import", "vm")


class HubServices(Protocol):
    """What the exports use of the hub that serves them (``hub.SandboxHub``, which imports
    this module: the exports name only this much of it)."""

    store: HubStore
    strict_host_sessions: bool
    upload_lock: threading.Lock

    def notify_created(self, task_id: int) -> None: ...
    def notify_cancelled(self, task_ids: list) -> None: ...
    def policy(self, name: str) -> Optional[koji.policy.SimpleRuleSet]: ...


class Exports:
    """Shared helpers: the store, the caller's session, host checks."""

    def __init__(self, hub: HubServices):
        self._hub = hub
        self._store: HubStore = hub.store

    @staticmethod
    def _session() -> Any:
        return context.session

    def _host_id(self) -> int:
        """kojihub ``Host().verify()``: a host's session, exclusive (or a subsession of one)."""
        session = self._session()
        if session.host_id is None:
            if session.logged_in:
                raise koji.AuthError(f"User {session.user_id} is not a host")
            raise koji.AuthError("Not logged-in")
        if self._hub.strict_host_sessions and not session.exclusive:
            raise koji.AuthError("This method requires an exclusive session")
        return session.host_id

    def _assert_host_owns(self, task: dict, host_id: int) -> None:
        if not (task["state"] == ST["OPEN"] and task["host_id"] == host_id):
            raise koji.ActionNotAllowed(f"host {host_id} does not own task {task['id']}")


class RootExports(Exports):
    """Top-level calls (``session.getTaskInfo(...)`` etc.)."""

    # -- hub and session ---------------------------------------------------------------------
    def getAPIVersion(self):
        return koji.API_VERSION

    def getKojiVersion(self):
        return koji.__version__

    def hello(self, *args):
        return "Hello World"

    def echo(self, *args):
        return list(args)

    def showSession(self):
        return str(self._session())

    def getSessionInfo(self, details=False, user_id=None):
        return self._session().session_info(details)

    def getLastEvent(self, before=None):
        with self._store.read() as data:
            return dict(data["event"])

    def getPerms(self):
        return self._session().getPerms()

    def hasPerm(self, perm, strict=False):
        if strict and perm not in PERMISSIONS:
            raise koji.GenericError(f"No such permission {perm} defined")
        return self._session().hasPerm(perm)

    def getAllPerms(self):
        return [{"id": i, "name": p, "description": None} for i, p in enumerate(PERMISSIONS, 1)]

    def getUserPerms(self, userID=None):
        with self._store.read():
            return list(self._user(userID, strict=True)["perms"])

    def _user(self, info: Any, strict: bool = False) -> Optional[dict]:
        if info is None:
            info = self._session().user_id
            if info is None:
                if strict:
                    raise koji.GenericError("No user provided")
                return None
        return self._store.get("user", info, strict=strict, label="user")

    def getUser(self, userInfo=None, strict=False, krb_princs=True, groups=False):
        with self._store.read():
            user = self._user(userInfo, strict)
            return self._store.user_info(user) if user else None

    def getLoggedInUser(self):
        session = self._session()
        if not session.logged_in:
            return None
        me = self.getUser(session.user_id)
        me.update(authtype=session.authtype, krb_principal=None)
        return me

    # -- hosts and channels -------------------------------------------------------------------
    def getHost(self, hostInfo, strict=False, event=None):
        with self._store.read():
            host = self._store.get("host", hostInfo, strict, "host")
            return self._store.host_info(host) if host else None

    def listHosts(self, arches=None, channelID=None, ready=None, enabled=None, userID=None,
                  queryOpts=None):
        with self._store.read():
            chan = self._store.get("channel", channelID, True) if channelID is not None else None
            return [self._store.host_info(h) for h in self._store.rows("host")
                    if (chan is None or chan["id"] in h["channels"])
                    and (ready is None or h["ready"] == bool(ready))
                    and (enabled is None or h["enabled"] == bool(enabled))
                    and (not arches or set(arches) & set(h["arches"].split()))]

    def getChannel(self, channelInfo, strict=False):
        with self._store.read():
            channel = self._store.get("channel", channelInfo, strict, "channel")
            return dict(channel) if channel else None

    def listChannels(self, hostID=None, event=None, enabled=None):
        with self._store.read():
            host = self._store.get("host", hostID, True) if hostID is not None else None
            return [dict(c) for c in self._store.rows("channel")
                    if (host is None or c["id"] in host["channels"])
                    and (enabled is None or c["enabled"] == bool(enabled))]

    # -- targets, tags, packages, builds --------------------------------------------------------
    def getBuildTarget(self, info, event=None, strict=False):
        with self._store.read():
            target = self._store.get("target", info, strict, "build target")
            return self._store.target_info(target) if target else None

    def getBuildTargets(self, info=None, event=None, buildTagID=None, destTagID=None,
                        queryOpts=None):
        with self._store.read():
            build_tag = self._store.find("tag", buildTagID) if buildTagID is not None else None
            dest_tag = self._store.find("tag", destTagID) if destTagID is not None else None
            return [self._store.target_info(t) for t in self._store.rows("target")
                    if (info is None or self._store.find("target", info) is t)
                    and (buildTagID is None or (build_tag and t["build_tag"] == build_tag["id"]))
                    and (destTagID is None or (dest_tag and t["dest_tag"] == dest_tag["id"]))]

    def getTag(self, tagInfo, strict=False, event=None, blocked=False):
        with self._store.read():
            tag = self._store.find("tag", tagInfo)
            if tag is None and strict:
                raise koji.GenericError(f"No such tagInfo: {tagInfo!r}")
            return self._store.tag_info(tag) if tag else None

    def getBuildConfig(self, tag, event=None):
        info = self.getTag(tag, strict=True)
        info["config_inheritance"] = {"extra": {}, "arches": None}
        return info

    def _package_entries(self, tag: Any = None, pkg: Any = None) -> list[dict]:
        tag_row = self._store.get("tag", tag, True, "tag") if tag is not None else None
        pkg_row = self._store.get("package", pkg, True, "package") if pkg is not None else None
        with self._store.read() as data:
            return [self._store.package_entry(e) for e in data["tag_packages"].values()
                    if (tag_row is None or e["tag_id"] == tag_row["id"])
                    and (pkg_row is None or e["package_id"] == pkg_row["id"])]

    def getPackageConfig(self, tag, pkg, event=None):
        with self._store.read():
            if self._store.find("tag", tag) is None or self._store.find("package", pkg) is None:
                return None
            entries = self._package_entries(tag, pkg)
            return entries[0] if entries else None

    def checkTagPackage(self, tag, pkg):
        entry = self.getPackageConfig(tag, pkg)
        return bool(entry) and not entry["blocked"]

    def listPackages(self, tagID=None, userID=None, pkgID=None, prefix=None, inherited=False,
                     with_dups=False, event=None, queryOpts=None, with_owners=True,
                     with_blocked=True):
        with self._store.read():
            if tagID is None and pkgID is None and userID is None:
                result = [{"package_id": p["id"], "package_name": p["name"]}
                          for p in self._store.rows("package")]
            else:
                owner = self._user(userID, True) if userID is not None else None
                result = [e for e in self._package_entries(tagID, pkgID)
                          if (owner is None or e["owner_id"] == owner["id"])
                          and (with_blocked or not e["blocked"])]
        if prefix:
            result = [p for p in result if p["package_name"].lower().startswith(prefix.lower())]
        return result

    def getBuild(self, buildInfo, strict=False):
        with self._store.read():
            build = self._store.get_build(buildInfo, strict)
            return self._store.build_info(build) if build else None

    def listBuilds(self, packageID=None, userID=None, taskID=None, prefix=None, state=None,
                   volumeID=None, source=None, createdBefore=None, createdAfter=None,
                   completeBefore=None, completeAfter=None, type=None, typeInfo=None,
                   queryOpts=None, pattern=None, cgID=None, draft=None):
        with self._store.read():
            builds = [self._store.build_info(b) for b in self._store.rows("build")
                      if (taskID is None or b["task_id"] == taskID)
                      and (state is None or b["state"] == state)
                      and (type is None or type in b["btypes"])]
            if packageID is not None:
                pkg = self._store.find("package", packageID)
                builds = [b for b in builds if pkg and b["package_id"] == pkg["id"]]
            if userID is not None:
                user = self._user(userID)
                builds = [b for b in builds if user and b["owner_id"] == user["id"]]
        if prefix:
            builds = [b for b in builds if b["name"].lower().startswith(prefix.lower())]
        return builds

    def listBuildroots(self, hostID=None, tagID=None, state=None, rpmID=None, archiveID=None,
                       taskID=None, buildrootID=None, repoID=None, queryOpts=None):
        return []

    # -- tasks -------------------------------------------------------------------------------
    def getTaskInfo(self, task_id, request=False, strict=False):
        ids = task_id if isinstance(task_id, (list, tuple)) else [task_id]
        with self._store.read():
            result = []
            for ident in ids:
                task = self._store.task(ident, strict=strict)
                result.append(self._store.task_info(task, request) if task else None)
        return result if isinstance(task_id, (list, tuple)) else result[0]

    def getTaskRequest(self, taskId):
        with self._store.read():
            return self._store.task_request(self._store.task(taskId))

    def getTaskResult(self, taskId, raise_fault=True):
        with self._store.read():
            return self._store.task_result(self._store.task(taskId), raise_fault)

    def taskFinished(self, taskId):
        with self._store.read():
            return self._store.task(taskId)["state"] in FINISHED

    def getTaskChildren(self, task_id, request=False, strict=False):
        with self._store.read():
            if strict:
                self._store.task(task_id)
            return [self._store.task_info(t, request) for t in self._store.children(task_id)]

    def getTaskDescendents(self, task_id, request=False):
        result, todo = {}, [task_id]
        while todo:
            parent = todo.pop()
            result[str(parent)] = self.getTaskChildren(parent, request)
            todo += [child["id"] for child in result[str(parent)]]
        return result

    def listTasks(self, opts=None, queryOpts=None):
        opts = opts or {}

        def wanted(task: dict) -> bool:
            for key in ("arch", "state"):
                if key in opts and task[key] not in opts[key]:
                    return False
                if "not_" + key in opts and task[key] in opts["not_" + key]:
                    return False
            for key in ("owner", "host_id", "channel_id", "parent"):
                want = opts.get(key, task[key])
                if task[key] not in (want if isinstance(want, list) else [want]):
                    return False
            return "method" not in opts or task["method"] == opts["method"]

        out = []
        with self._store.read():
            for task in self._store.rows("task"):
                if not wanted(task):
                    continue
                info = self._store.task_info(task)
                owner = self._store.row("user", task["owner"])
                info.update(owner_name=owner["name"], owner_type=owner["usertype"],
                            request=task["request"], result=task["result"])
                if opts.get("decode"):
                    info["request"] = self._store.task_request(task)
                    if task["result"]:
                        info["result"] = self._store.task_result(task, raise_fault=False)
                out.append(info)
        return out

    def _cancel(self, task_id: int, recurse: bool = True, children_only: bool = False) -> None:
        """Owner, the host running the task, or an admin may cancel (kojihub cancelTask)."""
        session = self._session()
        with self._store.write():
            task = self._store.task(task_id)
            is_owner = session.user_id is not None and task["owner"] == session.user_id
            is_host = task["state"] == ST["OPEN"] and task["host_id"] == session.host_id
            if not (is_owner or is_host or session.hasPerm("admin")):
                raise koji.ActionNotAllowed("Cannot cancel task, not owner")
            if children_only:
                cancelled = []
                for child in self._store.children(task_id):
                    cancelled += self._store.cancel_task(child["id"], recurse=True)
            else:
                cancelled = self._store.cancel_task(task_id, recurse)
        self._hub.notify_cancelled(cancelled)

    def cancelTask(self, task_id, recurse=True):
        self._cancel(task_id, recurse)

    def cancelTaskChildren(self, task_id):
        self._cancel(task_id, children_only=True)

    def cancelTaskFull(self, task_id, strict=True):
        self._session().assertPerm("admin")
        with self._store.read():
            task = self._store.task(task_id)
            if task["parent"] is not None and strict:
                raise koji.GenericError(
                    f"Task {task_id} is not top-level (parent={task['parent']})")
            while task["parent"] is not None:
                task = self._store.task(task["parent"])
        self._cancel(task["id"], recurse=True)

    # -- policies ----------------------------------------------------------------------------
    def evalPolicy(self, name, data):
        ruleset = self._hub.policy(name)
        if ruleset is None:
            raise koji.GenericError(f"no such policy: {name}")
        return ruleset.apply(data)
