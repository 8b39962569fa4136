"""What a real build reports: the Koji content generator metadata and import (atomic-reactor's
``koji_import``) and the annotations and labels ``store_metadata_in_osv3`` writes (contract
§5.1), naming only what the build really pushed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

from koji_containerbuild.sandbox.openshift.buildah_types import BuildRecord
from koji_containerbuild.sandbox.openshift.reactor import (
    git_source,
    scratch_metadata_path,
    whitelist,
    worker_build_name,
)

V2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


class StepFailed(Exception):
    """A step failed; ``plugin`` is the atomic-reactor plugin key the error is recorded under."""

    def __init__(self, plugin: str, message: str):
        super().__init__(message)
        self.plugin, self.message = plugin, message


def cg_metadata(build: BuildRecord) -> dict[str, Any]:
    """Content generator metadata, the part of atomic-reactor's koji_import a hub reads."""
    labels = build.labels
    assert labels is not None
    arch = build.platforms[0] if build.platforms else ""
    pulls = [build.pullspec(t) for t in build.tags["primary"] or build.tags["unique"]]
    if build.digests:
        pulls.insert(0, f"{build.engine.registry.address}/{build.repository}@"
                        f"{build.digests[0]['digest']}")
    all_tags = build.tags["primary"] + build.tags["floating"] + build.tags["unique"]
    task_id = build.params.get("koji_task_id")
    return {
        "metadata_version": 0,
        "build": {
            "name": labels.component or build.params.get("component"),
            "version": labels.version, "release": labels.release,
            "source": f"{git_source(build.ctx.build).get('uri')}#{build.commit}",
            "start_time": int(build.started), "end_time": int(time.time()),
            "owner": build.params.get("user"),
            "extra": {"image": {"index": {"pull": pulls, "tags": all_tags},
                                "parent_build_id": None},
                      "container_koji_task_id": task_id, "submitter": build.params.get("user"),
                      "osbs_build": {"kind": "container_build", "subtypes": []}},
        },
        "buildroots": [{"id": 1, "host": {"os": "sandbox", "arch": arch},
                        "content_generator": {"name": "atomic-reactor",
                                              "version": "sandbox-buildah"},
                        "container": {"type": "none", "arch": arch},
                        "tools": [{"name": "buildah", "version": build.engine.buildah_version}],
                        "components": [], "extra": {"osbs": {"build_id": build.ctx.name}}}],
        "output": [{"buildroot_id": 1, "type": "docker-image", "arch": platform,
                    "extra": {"docker": {"id": build.image_id,
                                         "repositories": [build.pullspec(t) for t in all_tags],
                                         "tags": all_tags,
                                         "digests": {V2_MANIFEST: build.digests[0]["digest"]}
                                         if build.digests else {}}}}
                   for platform in build.platforms],
    }

def write_scratch_metadata(build: BuildRecord, metadata: Optional[dict] = None) -> str:
    """A scratch build is not imported: its metadata goes to Koji's work dir. Returns the path
    relative to it, which atomic-reactor logs on the ``_metadata_`` platform tag (§5.3)."""
    path = scratch_metadata_path(build.ctx)
    work = build.ctx.settings.koji_work_dir
    if work:
        target = Path(work) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(metadata or cg_metadata(build), indent=2, sort_keys=True))
    return path

def koji_import(build: BuildRecord) -> int:
    """``CGImport`` of an image build; the new build's id."""
    return import_metadata(build, cg_metadata(build))


def import_metadata(build: BuildRecord, metadata: dict) -> int:
    """``CGImport`` into the hub of the reactor config, while the Koji task is still open, as
    atomic-reactor's koji_import does; the new build's id."""
    import koji  # the simulator imports Koji only when a real build is imported

    logger = "atomic_reactor.plugins.exit_koji_import"
    hub_url = (build.ctx.reactor_config.get("koji") or {}).get("hub_url")
    user, password = build.engine.koji_credentials()
    if not hub_url or not user:
        raise StepFailed("koji_import", "no Koji hub to import into: start the simulator "
                         "with --koji-hub and --koji-user")
    task_id = int(build.params.get("koji_task_id") or 0)
    session = koji.ClientSession(hub_url, {"user": user, "password": password,
                                           "max_retries": 3, "retry_interval": 0.5})
    try:
        session.login()
        task = session.getTaskInfo(task_id) if task_id else None
        if not task or task["state"] != koji.TASK_STATES["OPEN"]:
            raise StepFailed("koji_import", f"Koji task {task_id} is not open; the build "
                             "is not imported")
        directory = scratch_metadata_path(build.ctx).rsplit("/", 1)[0]
        imported = session.CGImport(metadata, directory)
        session.logout()
    except (koji.GenericError, OSError) as exc:
        raise StepFailed("koji_import", f"Koji import failed: {exc}") from None
    build.orch(logger, "INFO", f"imported into Koji as build {imported['id']} "
                               f"({imported['nvr']})")
    return int(imported["id"])


def store_metadata(build: BuildRecord, errors: dict[str, str]
                   ) -> tuple[dict[str, str], dict[str, str]]:
    """(annotations, labels) for a finished build; ``errors`` empty when it succeeded."""
    failed = bool(errors)
    base = build.base_name
    resolved = (f"{base.rsplit(':', 1)[0]}@{build.base_digest}" if build.base_digest
                else base)
    annotations = {
        "repositories": json.dumps({k: [] for k in build.tags} if failed else
                                   {k: [build.pullspec(t) for t in v]
                                    for k, v in build.tags.items()}),
        "digests": json.dumps([] if failed else build.digests),
        "plugins-metadata": json.dumps({"timestamps": build.timestamps,
                                        "durations": build.durations, "errors": errors}),
        "filesystem": json.dumps({}),
        "image-id": "" if failed else build.image_id,
        "dockerfile": build.dockerfile,
        "commit_id": build.commit,
        "base-image-id": build.base_id,
        "base-image-name": "" if base in ("", "scratch") else base,
        "parent_images": json.dumps({base: resolved} if base else {}),
        "worker-builds": json.dumps(worker_builds(build)),
    }
    if not failed:
        annotations["media-types"] = json.dumps([V2_MANIFEST])
    keys = whitelist(build.ctx)
    if keys:
        annotations["koji_task_annotations_whitelist"] = json.dumps(keys)
    labels = {"koji-build-id": str(build.build_id)} if build.build_id and not failed else {}
    return annotations, labels

def worker_builds(build: BuildRecord) -> dict[str, Any]:
    workers = {}
    for platform in build.platforms:
        errors = build.worker_errors.get(platform, {})
        workers[platform] = {
            "build": {"cluster-url": "local:buildah", "namespace": "sandbox",
                      "build-name": worker_build_name(build.ctx, platform)},
            "digests": [] if errors or not build.image_id else build.digests,
            "plugins-metadata": {"timestamps": {}, "durations": {}, "errors": errors}}
    return workers
