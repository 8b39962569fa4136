"""Submit an image or source build to OpenShift, or re-attach to the one a task already made.

kojid re-runs a task from scratch after a restart (reference/koji-plugin-api.md §2.7), so the
first question is always "does a live build labelled with this koji-task-id exist?". Only then
is a new build rendered: a direct Build for scratch, isolated and source builds, the BuildConfig
+ instantiate flow for regular builds (reference/osbs1-contract.md §4.3). Koji-free.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

from ..config import OsbsInstance
from . import request
from .client import OpenShiftClient, phase_of
from .errors import NotFound, OpenShiftError
from .request import BuildParams, SourceBuildParams

log = logging.getLogger("koji.plugin.containerbuild")


class SubmitError(Exception):
    """The build cannot be submitted as asked; the message says why in one line."""


@dataclass(frozen=True)
class Submission:
    """What the submit step produced: the build (None when skip_build) and how."""

    build: Optional[dict]
    reattached: bool = False
    build_config: Optional[str] = None

    @property
    def name(self) -> Optional[str]:
        return self.build["metadata"]["name"] if self.build else None


def find_task_build(client: OpenShiftClient, task_id: int) -> Optional[dict]:
    """The newest build of this Koji task that was not cancelled, if any."""
    builds = client.list_builds(labels={"koji-task-id": str(task_id)})
    live = [
        b for b in builds
        if phase_of(b) != "Cancelled" and not (b.get("status") or {}).get("cancelled")
    ]
    live.sort(key=lambda b: (b.get("metadata") or {}).get("creationTimestamp") or "")
    return live[-1] if live else None


def _reattach(client: OpenShiftClient, task_id: Optional[int]) -> Optional[Submission]:
    existing = find_task_build(client, task_id) if task_id is not None else None
    return Submission(existing, reattached=True) if existing is not None else None


def _buildroot_image(client: OpenShiftClient, instance: OsbsInstance) -> Optional[str]:
    """Direct builds cannot name an ImageStreamTag as builder image: resolve it (§2.3)."""
    build_from = instance.build_from or ""
    if build_from.startswith("imagestream:"):
        return client.resolve_image_stream_tag(build_from.split(":", 1)[1])
    return None


def _reactor_config(client: OpenShiftClient, instance: OsbsInstance) -> dict:
    if not instance.reactor_config_map:
        raise SubmitError(
            f"{instance.conf_file} [{instance.section}] reactor_config_map is not set"
        )
    return client.get_config_map(instance.reactor_config_map)


def submit_image_build(
    client: OpenShiftClient,
    instance: OsbsInstance,
    params: BuildParams,
    **render: Any,
) -> Submission:
    """Re-attach to this task's build or create one; ``render`` passes rand/now to rendering."""
    earlier = _reattach(client, params.koji_task_id)
    if earlier is not None:
        return earlier
    reactor = _reactor_config(client, instance)
    if request.is_direct_build(instance, params):
        if params.isolated:
            _check_no_running_isolated(client, params)
        build_json = request.render_build(
            instance, reactor, params, _buildroot_image(client, instance), **render
        )
        return Submission(client.create_build(build_json))
    return _submit_through_build_config(client, instance, reactor, params, render)


def _check_no_running_isolated(client: OpenShiftClient, params: BuildParams) -> None:
    query = request.isolated_running_selector(params)
    running = client.list_builds(labels=query.labels, field_selector=query.field_selector)
    if running:
        names = ", ".join(b["metadata"]["name"] for b in running)
        raise SubmitError(
            f"An isolated build of {params.component} branch {params.git_branch} release "
            f"{params.release} is already running: {names}; wait for it or cancel it"
        )


def _submit_through_build_config(
    client: OpenShiftClient,
    instance: OsbsInstance,
    reactor: dict,
    params: BuildParams,
    render: dict,
) -> Submission:
    config = request.render_build_config(instance, reactor, params, **render)
    # Creating or updating a BuildConfig that has an ImageChange trigger can start a build by
    # itself; the triggers go back on only after our own instantiate (osbs-client §4.3 step 4).
    triggers = config["spec"].pop("triggers", None)
    lookup = request.build_config_labels_for_lookup(params)
    existing = client.find_build_config(
        lookup.with_full_repo["git-repo-name"],
        lookup.with_full_repo["git-branch"],
        lookup.with_full_repo["git-full-repo"],
        lookup.git_uri,
        lookup.name,
    )
    if existing is None:
        saved = client.create_build_config(config)
    else:
        saved = client.update_build_config(existing, config)
    name = saved["metadata"]["name"]
    build = None if params.skip_build else client.instantiate_build_config(name)
    if triggers:
        _set_triggers(client, name, triggers, autorebuild=bool(
            params.skip_build or params.triggered_after_koji_task is not None))
    return Submission(build, build_config=name)


def _set_triggers(client: OpenShiftClient, name: str, triggers: list, autorebuild: bool) -> None:
    """Put the ImageChange trigger back, marked as already fired for the current base image,
    so OpenShift rebuilds only when the parent image really changes."""
    for trigger in triggers:
        change = trigger.get("imageChange") or {}
        source = (change.get("from") or {}).get("name")
        if not source:
            continue
        try:
            image = client.get_image_stream_tag(source)
        except NotFound:
            continue
        reference = (image.get("image") or {}).get("dockerImageReference")
        if reference:
            change["lastTriggeredImageID"] = reference
    current = client.get_build_config(name)
    current.setdefault("spec", {})["triggers"] = triggers
    labels = current.setdefault("metadata", {}).setdefault("labels", {})
    labels["is_autorebuild"] = "true" if autorebuild else "false"
    try:
        client.update_build_config(current, current)
    except OpenShiftError as exc:
        # The build itself is fine; autorebuilds of this repo are what is lost.
        log.warning("could not set the autorebuild trigger on buildconfig %s: %s", name, exc)


def submit_source_build(
    client: OpenShiftClient,
    instance: OsbsInstance,
    params: SourceBuildParams,
    **render: Any,
) -> Submission:
    """Re-attach to this task's source build or create it (always a direct Build, §6)."""
    earlier = _reattach(client, params.koji_task_id)
    if earlier is not None:
        return earlier
    reactor = _reactor_config(client, instance)
    build_json = request.render_source_build(
        instance, reactor, params, _buildroot_image(client, instance), **render
    )
    return Submission(client.create_build(build_json))
