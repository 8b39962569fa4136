"""What atomic-reactor 3.6 produces, imitated for the simulator's scenarios: orchestrator log
lines (contract §5.3) and the annotations/labels ``store_metadata_in_osv3`` writes (§5.1)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Optional

from koji_containerbuild.sandbox.openshift.plugins import plugin_configuration, plugin_names

if TYPE_CHECKING:
    from koji_containerbuild.sandbox.openshift.scenario_api import BuildContext

ORCHESTRATE = "atomic_reactor.plugins.orchestrate_build"
METADATA_TAG = "_metadata_"


# ---------------------------------------------------------------------------------------------
# Log line format (OC ATOMIC_REACTOR_LOGGING_FMT, AR ArchFormatter)

def asctime(ts: float) -> str:
    """The stdlib logging default ``YYYY-MM-DD HH:MM:SS,mmm`` (the pod runs in UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f",{int(ts * 1000) % 1000:03d}"


def reactor_line(ts: float, platform: str, logger: str, level: str, message: str) -> str:
    return f"{asctime(ts)} platform:{platform} - {logger} - {level} - {message}"


def relayed_line(ts: float, platform: str, logger: str, level: str, message: str) -> str:
    """A worker's line as the orchestrator re-logs it with ``arch=<platform>``."""
    worker = reactor_line(ts, "-", logger, level, message)
    return reactor_line(ts, platform, ORCHESTRATE, "INFO", worker)


def user_warning_message(message: str) -> str:
    return json.dumps({"message": message})


# ---------------------------------------------------------------------------------------------
# Script: emitting lines the way an orchestrator build does


class Script:
    """Emits a build's log lines and remembers the tail (for termination messages)."""

    PREBUILD = ["reactor_config", "check_and_set_rebuild", "check_and_set_platforms",
                "inject_parent_image", "pull_base_image", "koji_parent", "resolve_composes",
                "add_filesystem", "bump_release", "add_labels_in_dockerfile"]
    EXIT = ["verify_media", "koji_import", "koji_tag_build", "store_metadata_in_osv3",
            "remove_worker_metadata"]

    def __init__(self, ctx: BuildContext):
        self.ctx = ctx
        self.tail: deque[str] = deque(maxlen=10)
        self.timestamps: dict[str, str] = {}
        self.durations: dict[str, float] = {}
        # A site's inner template and customize file in build_json_dir decide what runs.
        self.plugins = plugin_configuration(ctx.user_params)
        self.prebuild_names = plugin_names(self.plugins, "prebuild_plugins", self.PREBUILD)
        self.exit_names = plugin_names(self.plugins, "exit_plugins", self.EXIT)

    def line(self, text: str) -> None:
        self.ctx.emit(text)
        self.tail.append(text)

    def orch(self, logger: str, level: str, message: str) -> None:
        self.line(reactor_line(self.ctx.now(), "-", logger, level, message))

    def worker(self, platform: str, logger: str, level: str, message: str) -> None:
        self.line(relayed_line(self.ctx.now(), platform, logger, level, message))

    def plugin(self, key: str) -> None:
        self.timestamps[key] = datetime.now().isoformat()
        self.durations[key] = round(0.05 + (_digest_int(self.ctx.name, key) % 3000) / 1000, 6)
        self.orch("atomic_reactor.plugin", "INFO", f"running plugin '{key}'")
        for phase in (self.plugins or {}).values():
            args = next((p.get("args") for p in phase if p.get("name") == key), None)
            if args:
                self.orch("atomic_reactor.plugin", "DEBUG",
                          f"plugin '{key}' args: {json.dumps(args, sort_keys=True)}")
                break

    def prebuild(self) -> None:
        ctx = self.ctx
        self.orch("atomic_reactor.inner", "INFO", f"building image from '{_git_uri(ctx.build)}'")
        for key in self.prebuild_names:
            if ctx.scratch and key in ("check_and_set_rebuild", "bump_release"):
                continue
            self.plugin(key)
            if key == "check_and_set_rebuild" and not ctx.source_build:
                self.orch(f"atomic_reactor.plugins.{key}", "INFO",
                          f"This is a rebuild? {ctx.check_and_set_rebuild()}")
            if key == "check_and_set_platforms" and not ctx.source_build:
                self.orch(f"atomic_reactor.plugins.{key}", "INFO",
                          f"platforms in limits : {sorted(ctx.platforms)}")
        ctx.sleep(ctx.settings.step_seconds)

    def workers(self, steps: list[tuple[str, str, str]]) -> None:
        """Each step logs once per platform, interleaved as the orchestrator relays them."""
        ctx = self.ctx
        self.plugin("orchestrate_build")
        for platform in ctx.platforms:
            self.orch(ORCHESTRATE, "INFO",
                      f"worker build for {platform} created: {worker_build_name(ctx, platform)}")
        for logger, level, template in steps:
            for platform in ctx.platforms:
                self.worker(platform, logger, level, template.format(arch=platform, ctx=ctx))
            ctx.sleep(ctx.settings.step_seconds)

    def exit_plugins(self, failed: bool) -> None:
        ctx = self.ctx
        for key in self.exit_names:
            self.plugin(key)
            if key == "koji_import" and ctx.scratch and not failed:
                # contract §5.3: the scratch metadata path rides on the _metadata_ platform tag
                path = scratch_metadata_path(ctx)
                write_scratch_metadata(ctx, path)
                self.line(reactor_line(ctx.now(), METADATA_TAG, "atomic_reactor.plugins."
                                       "exit_koji_import", "INFO", path))


WORKER_STEPS = [
    ("atomic_reactor.plugin", "INFO", "running plugin 'pull_base_image'"),
    ("atomic_reactor.plugins.pull_base_image", "INFO", "pulling image 'fedora:latest' for {arch}"),
    ("atomic_reactor.plugins.imagebuilder", "INFO", "STEP 1: FROM fedora:latest"),
    ("atomic_reactor.plugins.imagebuilder", "INFO",
     "STEP 2: RUN dnf -y install httpd && dnf clean all"),
    ("atomic_reactor.plugins.imagebuilder", "INFO",
     "Installed: httpd-2.4.46-1.fc33.{arch} ✓ (líne ok)"),
    ("atomic_reactor.plugins.imagebuilder", "INFO", "STEP 3: COMMIT"),
    ("atomic_reactor.plugins.tag_and_push", "INFO", "pushing image {ctx.name}-{arch}"),
]


def _digest_int(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def _sha(*parts: object) -> str:
    return "sha256:" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def git_source(build: dict) -> dict:
    return (((build.get("spec") or {}).get("source") or {}).get("git")) or {}


def _git_uri(build: dict) -> str:
    return str(git_source(build).get("uri") or "")


def worker_build_name(ctx: BuildContext, platform: str) -> str:
    return f"{ctx.name}-{platform.replace('_', '-')}"[:63]


def scratch_metadata_path(ctx: BuildContext) -> str:
    letters = "".join(chr(97 + _digest_int(ctx.name, i) % 26) for i in range(8))
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(ctx.now()))
    return f"koji-upload/{stamp}.{letters}/metadata.json"


def write_scratch_metadata(ctx: BuildContext, path: str) -> None:
    """What atomic-reactor's koji_import uploads for a scratch build: Koji CG metadata."""
    work = ctx.settings.koji_work_dir
    if not work:
        return
    target = os.path.join(work, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    metadata = {
        "metadata_version": 0,
        "build": {"name": ctx.user_params.get("component", ctx.name), "source":
                  _git_uri(ctx.build), "extra": {"image": {"platforms": ctx.platforms}}},
        "output": [{"type": "docker-image", "arch": p, "filename": f"docker-image-{p}.tar.gz"}
                   for p in ctx.platforms],
    }
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(metadata, handle, indent=2, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# What store_metadata_in_osv3 writes (contract §5.1)


def _image(ctx: BuildContext) -> tuple[str, str, str, str, str]:
    """(registry, repository, version, release, unique tag) for this build's image."""
    registries = ctx.reactor_config.get("registries") or [{}]
    url = str(registries[0].get("url") or ctx.settings.registry)
    registry = re.sub(r"^https?://", "", url).split("/v2")[0].rstrip("/")
    component = ctx.user_params.get("component") or \
        _git_uri(ctx.build).rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or ctx.name
    org = ctx.reactor_config.get("registries_organization") or "sandbox"
    suffix = "-source" if ctx.source_build and not component.endswith("-source") else ""
    image_tag = str(ctx.user_params.get("image_tag") or f"x:{ctx.name}")
    release = str(ctx.user_params.get("release") or ctx.seq)
    return registry, f"{org}/{component}{suffix}", "1.0", release, image_tag.rsplit(":", 1)[-1]


def repositories(ctx: BuildContext) -> dict[str, list[str]]:
    registry, repo, version, release, unique = _image(ctx)
    base = f"{registry}/{repo}"
    primary = [] if ctx.scratch else [f"{base}:{version}-{release}"]
    floating = [] if ctx.scratch or ctx.isolated else [f"{base}:latest", f"{base}:{version}"]
    return {"primary": primary, "unique": [f"{base}:{unique}"], "floating": floating}


def digests(ctx: BuildContext) -> list[dict[str, str]]:
    registry, repo = _image(ctx)[:2]
    version = "v2" if ctx.source_build else "v2_list"
    repos = repositories(ctx)
    tags = [pullspec.rsplit(":", 1)[1] for key in ("primary", "unique", "floating")
            for pullspec in repos[key]]
    return [{"registry": registry, "repository": repo, "tag": tag,
             "digest": _sha(ctx.name, "manifest"), "version": version} for tag in tags]


def plugins_metadata(script: Script, errors: dict[str, str]) -> str:
    return json.dumps({"timestamps": script.timestamps, "durations": script.durations,
                       "errors": errors})


def worker_builds(ctx: BuildContext, failures: Optional[dict[str, str]] = None) -> str:
    registry, repo, _, _, unique = _image(ctx)
    workers = {}
    for platform in ctx.platforms:
        name = worker_build_name(ctx, platform)
        errors = dict(failures or {})
        info = {"build": {"cluster-url": f"https://worker-{platform}.sandbox.local/",
                          "namespace": "worker", "build-name": name},
                "digests": [] if errors else [
                    {"registry": registry, "repository": repo, "tag": f"{unique}-{platform}",
                     "digest": _sha(ctx.name, platform), "version": "v2"}],
                "plugins-metadata": {"timestamps": {}, "durations": {}, "errors": errors}}
        if not errors:
            info.update({"metadata_fragment": f"configmap/{name}-md",
                         "metadata_fragment_key": "metadata.json"})
        workers[platform] = info
    return json.dumps(workers)


def whitelist(ctx: BuildContext) -> list[str]:
    return list(((ctx.reactor_config.get("koji") or {}).get("task_annotations_whitelist")) or [])


def build_metadata(ctx: BuildContext, script: Script, errors: dict[str, str],
                   worker_failures: Optional[dict[str, str]] = None) -> tuple[dict, dict]:
    """Annotations and labels as store_metadata_in_osv3 writes them, for success or failure."""
    registry, repo, version, release, _ = _image(ctx)
    failed = bool(errors)
    ann = {
        "repositories": json.dumps(
            {"primary": [], "unique": [], "floating": []} if failed else repositories(ctx)),
        "digests": json.dumps([] if failed else digests(ctx)),
        "plugins-metadata": plugins_metadata(script, errors),
        "filesystem": json.dumps({"mb_free": 135511, "mb_total": 160978, "mb_used": 25466,
                                  "inodes_free": 78134662, "inodes_total": 78641152,
                                  "inodes_used": 506490}),
        "image-id": "" if failed else _sha(ctx.name, "image"),
    }
    if not ctx.source_build:
        ref = str(git_source(ctx.build).get("ref") or "")
        ann.update({
            "dockerfile": (f'FROM fedora:latest\nLABEL name="{repo}" version="{version}" '
                           f'release="{release}"\nRUN dnf -y install httpd && dnf clean all\n'),
            "commit_id": ref if re.fullmatch(r"[0-9a-f]{40}", ref) else
            hashlib.sha1(f"{_git_uri(ctx.build)}|{ref}".encode()).hexdigest(),  # noqa: S324
            "base-image-id": _sha("fedora:latest"),
            "base-image-name": "fedora:latest",
            "parent_images": json.dumps({"fedora:latest": f"{registry}/fedora@{_sha('fedora')}"}),
            "worker-builds": worker_builds(ctx, worker_failures),
        })
    if not failed:
        types = ["application/vnd.docker.distribution.manifest.v2+json"]
        if not ctx.source_build:
            types.append("application/vnd.docker.distribution.manifest.list.v2+json")
        ann["media-types"] = json.dumps(sorted(types))
    keys = whitelist(ctx)
    if keys:
        ann["koji_task_annotations_whitelist"] = json.dumps(keys)
        if "remote_source_url" in keys and not failed:
            ann["remote_source_url"] = f"https://cachito.sandbox.local/api/v1/requests/{ctx.seq}/download"
    labels = {}
    if not failed and not ctx.scratch:
        labels["koji-build-id"] = str(100000 + ctx.seq)
        if ctx.source_build and ctx.user_params.get("sources_for_koji_build_id"):
            labels["sources_for_koji_build_id"] = str(ctx.user_params["sources_for_koji_build_id"])
    return ann, labels


