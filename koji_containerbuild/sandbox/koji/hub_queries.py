"""The read-only calls a packager's everyday koji commands make, for the sandbox hub.

``koji buildinfo``, ``list-tagged``, ``latest-build``, ``taginfo``, ``list-builds --package``,
``list-api`` and ``resubmit`` work against the sandbox as against a hub: the answers have
kojihub 1.36's shapes (``readTaggedBuilds``, ``list_tags``, ``readInheritanceData``, ...), and
what the sandbox does not have (RPMs, archives, repos, inheritance, maven) is an empty answer,
as on a hub without them. Tagging is ``tag_build`` (the demo hub calls it on ``CGImport``, as
atomic-reactor's ``koji_tag_build`` tags an imported build into the target's destination tag).
"""

from __future__ import annotations

from typing import Any, Optional

import koji

from .hub_api import Exports
from .hub_store import ST, HubStore


def tag_build(store: HubStore, tag: Any, build: Any) -> None:
    """List ``build`` in ``tag`` (kojihub ``_tag_build`` without the policy and the task)."""
    with store.write() as data:
        tag_row = store.get("tag", tag, strict=True, label="tag")
        build_row = store.get_build(build, strict=True)
        listing = data.setdefault("tag_listing", [])
        if any(e["tag_id"] == tag_row["id"] and e["build_id"] == build_row["id"]
               for e in listing):
            raise koji.TagError(f"build {_nvr(build_row)} already tagged ({tag_row['name']})")
        listing.append({"tag_id": tag_row["id"], "build_id": build_row["id"],
                        "create_event": data["event"]["id"]})


def _nvr(build: dict) -> str:
    return f"{build['name']}-{build['version']}-{build['release']}"


class BrowseExports(Exports):
    """Top-level read-only calls beyond what the plugins need (``hub_api``)."""

    # -- tags and tagged builds ---------------------------------------------------------------
    def _tag_id(self, tag: Any) -> int:
        """kojihub ``get_tag_id(tag, strict=True)``."""
        row = self._store.find("tag", tag)
        if row is None:
            raise koji.GenericError(f"No such tag: {tag}")
        return row["id"]

    def _tagged(self, tag_id: int, package: Optional[str] = None, owner: Optional[str] = None,
                type: Optional[str] = None, latest: Any = False) -> list[dict]:
        """kojihub ``readTaggedBuilds``: COMPLETE builds, most recently tagged first."""
        listing = sorted((e for e in self._store.data.get("tag_listing", [])
                          if e["tag_id"] == tag_id),
                         key=lambda e: (e["create_event"], e["build_id"]), reverse=True)
        tag_name = self._store.row("tag", tag_id)["name"]
        result, per_package = [], {}
        for entry in listing:
            build = self._store.row("build", entry["build_id"])
            info = self._store.build_info(build)
            if build["state"] != koji.BUILD_STATES["COMPLETE"] or \
                    (package and info["name"] != package) or \
                    (owner and info["owner_name"] != owner) or \
                    (type and type not in build["btypes"]):
                continue
            seen = per_package.get(info["name"], 0)
            limit = 1 if latest is True else int(latest or 0)
            if limit and seen >= limit:
                continue
            per_package[info["name"]] = seen + 1
            info.pop("extra", None)  # only with extra=True
            info.update(tag_id=tag_id, tag_name=tag_name, create_event=entry["create_event"])
            result.append(info)
        return result

    def listTagged(self, tag, event=None, inherit=False, prefix=None, latest=False,
                   package=None, owner=None, type=None, strict=True, extra=False, draft=None):
        with self._store.read():
            row = self._store.find("tag", tag)
            if row is None:
                if strict:
                    raise koji.GenericError(f"No such tagInfo: {tag!r}")
                return []
            builds = self._tagged(row["id"], package, owner, type, latest)
            if extra:
                for info in builds:
                    info["extra"] = self._store.build_info(self._store.row("build",
                                                                           info["id"]))["extra"]
        if draft is not None:
            builds = [b for b in builds if bool(b["draft"]) == bool(draft)]
        if prefix:
            builds = [b for b in builds if b["package_name"].lower().startswith(prefix.lower())]
        return builds

    def getLatestBuilds(self, tag, event=None, package=None, type=None, draft=None):
        with self._store.read():
            return self._tagged(self._tag_id(tag), package, None, type, latest=True)

    def listTags(self, build=None, package=None, perms=True, queryOpts=None, pattern=None):
        if build is not None and package is not None:
            raise koji.GenericError("only one of build and package may be specified")
        with self._store.read() as data:
            tags = self._store.rows("tag")
            extra: dict[int, dict] = {}
            if build is not None:
                row = self._store.get_build(build)
                if row is None:
                    raise koji.GenericError(f"No such build: {build}")
                ids = {e["tag_id"] for e in data.get("tag_listing", [])
                       if e["build_id"] == row["id"]}
                tags = [t for t in tags if t["id"] in ids]
            elif package is not None:
                pkg = self._store.find("package", package)
                if pkg is None:
                    raise koji.GenericError(f"No such package: {package}")
                for entry in data["tag_packages"].values():
                    if entry["package_id"] == pkg["id"]:
                        owner = self._store.row("user", entry["owner_id"])
                        extra[entry["tag_id"]] = {
                            "owner_id": owner["id"], "owner_name": owner["name"],
                            "blocked": entry["blocked"], "extra_arches": entry.get("extra_arches")}
                tags = [t for t in tags if t["id"] in extra]
            keys = ["id", "name", "arches", "locked", "maven_support", "maven_include_all"]
            keys += ["perm_id", "perm"] if perms else []
            result = [dict({k: t.get(k) for k in keys}, **extra.get(t["id"], {})) for t in tags]
        if pattern:
            import fnmatch

            result = [t for t in result if fnmatch.fnmatch(t["name"].lower(), pattern.lower())]
        return result

    def getInheritanceData(self, tag, event=None):
        with self._store.read():
            self._tag_id(tag)
        return []  # the sandbox's tags have no parents

    def getFullInheritance(self, tag, event=None, reverse=False):
        return self.getInheritanceData(tag, event)

    def getTagGroups(self, tag, event=None, inherit=True, incl_pkgs=True, incl_reqs=True,
                     incl_blocked=False):
        with self._store.read():
            self._tag_id(tag)
        return []

    def getTagExternalRepos(self, tag_info=None, repo_info=None, event=None):
        return []

    def getRepo(self, tag, state=None, event=None, dist=False, min_event=None):
        return None  # no repos: kojid's newRepo is not part of the sandbox

    def mavenEnabled(self):
        return False

    def winEnabled(self):
        return False

    # -- builds ---------------------------------------------------------------------------------
    def getPackageID(self, name, strict=False):
        with self._store.read():
            pkg = self._store.find("package", name) if isinstance(name, str) else None
        if pkg is None:
            if strict:
                raise koji.GenericError(f"No such package name: {name}")
            return None
        return pkg["id"]

    def getPackage(self, info, strict=False, create=False):
        with self._store.read():
            pkg = self._store.find("package", info)
        if pkg is None:
            if strict:
                raise koji.GenericError(f"No such package: {info}")
            return None
        return {"id": pkg["id"], "name": pkg["name"]}

    def getMavenBuild(self, buildInfo, strict=False):
        return self._typed_build(buildInfo, strict, "maven")

    def getWinBuild(self, buildInfo, strict=False):
        return self._typed_build(buildInfo, strict, "win")

    def getImageBuild(self, buildInfo, strict=False):
        """kojihub's is for image-factory builds (table image_builds), not container images."""
        return self._typed_build(buildInfo, strict, "image-factory")

    def _typed_build(self, info: Any, strict: bool, kind: str) -> None:
        """No build here is of ``kind``: None, or kojihub's error when strict."""
        with self._store.read():
            build = self._store.get_build(info, strict=strict)
        if strict:
            raise koji.GenericError(f"no such {kind} build: {_nvr(build)}")
        return None

    def getBuildType(self, buildInfo, strict=False):
        with self._store.read():
            build = self._store.get_build(buildInfo, strict=strict)
            if build is None:
                return None
            return {btype: {} for btype in build["btypes"]}

    def listArchives(self, buildID=None, buildrootID=None, componentBuildrootID=None,
                     hostID=None, type=None, filename=None, size=None, checksum=None,
                     checksum_type=None, typeInfo=None, queryOpts=None, imageID=None,
                     archiveID=None, strict=False):
        return []  # CGImport here records the build, not its files (the registry has them)

    def listRPMs(self, buildID=None, buildrootID=None, imageID=None, componentBuildrootID=None,
                 hostID=None, arches=None, queryOpts=None, draft=None):
        return []

    def queryRPMSigs(self, rpm_id=None, sigkey=None, queryOpts=None):
        return []

    def getChangelogEntries(self, buildID=None, taskID=None, filepath=None, author=None,
                            before=None, after=None, queryOpts=None, strict=False):
        return []

    def listVolumes(self):
        return [{"id": 0, "name": "DEFAULT"}]

    # -- tasks ----------------------------------------------------------------------------------
    def resubmitTask(self, taskID):
        """kojihub ``resubmitTask``: a canceled or failed top-level task, same request."""
        session = self._session()
        session.assertLogin()
        with self._store.write():
            task = self._store.task(taskID)
            if task["state"] not in (ST["CANCELED"], ST["FAILED"]):
                raise koji.GenericError("only canceled or failed tasks may be resubmitted")
            if task["parent"] is not None:
                raise koji.GenericError("only top-level tasks may be resubmitted")
            if not (session.user_id == task["owner"] or session.hasPerm("admin")):
                raise koji.GenericError("only the task owner or an admin may resubmit a task")
            channel = self._store.get("channel", task["channel_id"], True, "channel")
            new_id = self._store.make_task(  # owned by the caller, as kojihub's make_task
                task["method"], self._store.task_request(task), session.user_id,
                arch=task["arch"], channel=channel["name"], priority=task["priority"])
        self._hub.notify_created(new_id)
        return new_id
