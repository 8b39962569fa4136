"""Submit an image or source build to OpenShift, or re-attach to the one a task already made.

kojid re-runs a task from scratch after a restart (reference/koji-plugin-api.md §2.7), so the
first question is always "does a live build labelled with this koji-task-id exist?". Only then
is a new build rendered, from the site's templates (templates.py): a direct Build for scratch,
isolated and source builds, the BuildConfig + instantiate flow for regular builds
(reference/osbs1-contract.md §4.3), with the parent image's ImageStreamTag set up first when
the repository enables autorebuilds (imagestreams.py). A ``BuildGuard`` (orphans.py) is told
about every build before it is POSTed, so a failure from then on cancels it. Koji-free.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

from ..config import OsbsInstance
from . import imagestreams, request
from .client import OpenShiftClient, phase_of
from .orphans import BuildGuard
from .reactor_config import ReactorConfig
from .request import BuildParams, SourceBuildParams
from .templates import ORCHESTRATOR, ORCHESTRATOR_SOURCES, load_template

log = logging.getLogger("koji.plugin.containerbuild")

GIT_LABEL_KEYS = ("git-repo-name", "git-branch", "git-full-repo")


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
    """The newest build of this Koji task that was not cancelled, if any.

    Builds labelled ``is_autorebuild=true`` are not this task's: an ImageChange trigger made
    them from a BuildConfig that still carries the task's label (osbs-client
    ``_get_not_cancelled_builds_for_koji_task``).
    """
    builds = client.list_builds(labels={"koji-task-id": str(task_id)})
    live = [
        b for b in builds
        if phase_of(b) != "Cancelled" and not (b.get("status") or {}).get("cancelled")
        and ((b.get("metadata") or {}).get("labels") or {}).get("is_autorebuild") != "true"
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
    guard: Optional[BuildGuard] = None,
    **render: Any,
) -> Submission:
    """Re-attach to this task's build or create one; ``render`` passes rand/now to rendering.

    ``guard`` (orphans.py) learns the build's name before it is POSTed, so a failure from
    then on cancels it.
    """
    earlier = _reattach(client, params.koji_task_id)
    if earlier is not None:
        _tell(guard, earlier.build)
        return earlier
    reactor = _reactor_config(client, instance)
    template = load_template(instance.build_json_dir, ORCHESTRATOR)
    if request.is_direct_build(instance, params):
        if params.isolated:
            _check_no_running_isolated(client, params)
        build_json = request.render_build(
            instance, reactor, params, _buildroot_image(client, instance), template=template,
            **render)
        _tell(guard, build_json)
        return Submission(client.create_build(build_json))
    return _submit_through_build_config(client, instance, reactor, params, template, guard,
                                        render)


def _tell(guard: Optional[BuildGuard], build: Optional[dict]) -> None:
    if guard is not None:
        guard.created(build)


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
    template: dict,
    guard: Optional[BuildGuard],
    render: dict,
) -> Submission:
    """osbs-client's BuildConfig flow (contract §4.3), with one difference: we instantiate
    the build ourselves after putting the trigger back already marked as fired for the
    current parent image, instead of letting the trigger start it and watching for it."""
    config = request.render_build_config(instance, reactor, params, template=template, **render)
    # Creating or updating a BuildConfig that has an ImageChange trigger can start a build by
    # itself; the triggers go back on once the parent's ImageStreamTag is set up (step 4).
    triggers = config["spec"].pop("triggers", None)
    lookup = request.build_config_labels_for_lookup(params)
    existing = client.find_build_config(
        lookup.with_full_repo["git-repo-name"],
        lookup.with_full_repo["git-branch"],
        lookup.with_full_repo["git-full-repo"],
        lookup.git_uri,
        lookup.name,
    )
    if existing is not None:
        _check_git_labels(config, existing)
    parent = None
    ist_trigger = request.first_ist_trigger({"spec": {"triggers": triggers or []}})
    if ist_trigger is not None:
        config_data = ReactorConfig(instance, reactor)
        parent = imagestreams.parent_stream(
            ist_trigger["imageChange"]["from"]["name"],
            params.base_image or config_data.flatpak_base_image(), config_data)
        imagestreams.ensure_image_stream(client, parent, instance.build_json_dir)
    if existing is None:
        saved = client.create_build_config(config)
    else:
        saved = client.update_build_config(existing, config)
    name = saved["metadata"]["name"]
    parent_tag = None
    if parent is not None:
        imagestreams.ensure_image_stream_tag(client, parent, instance.build_json_dir)
        parent_tag = imagestreams.wait_for_image(client, parent)
    if triggers:
        autorebuild = params.skip_build or params.triggered_after_koji_task is not None
        _set_triggers(client, name, triggers, parent_tag, autorebuild)
    if params.skip_build:
        return Submission(None, build_config=name)
    if parent is not None and parent_tag is None:
        # The trigger stays: once the image exists, its first import starts a build.
        raise SubmitError(f"Provided base image does not exist: {parent.repository}")
    # A lost answer still made a build: the guard finds it by its koji-task-id label.
    if guard is not None:
        guard.creating()
    build = client.instantiate_build_config(name)
    _tell(guard, build)
    return Submission(build, build_config=name)


def _check_git_labels(new: dict, existing: dict) -> None:
    """A BuildConfig found by name or labels must belong to the same repository and branch."""
    new_labels = (new.get("metadata") or {}).get("labels") or {}
    old_labels = (existing.get("metadata") or {}).get("labels") or {}
    for key in GIT_LABEL_KEYS:
        if old_labels.get(key) and old_labels.get(key) != new_labels.get(key):
            raise SubmitError(
                f'Git labels collide with existing build config "{existing["metadata"]["name"]}". '
                f"Existing labels: {_git_only(old_labels)}, New labels: {_git_only(new_labels)}")


def _git_only(labels: dict) -> dict:
    return {key: labels[key] for key in GIT_LABEL_KEYS if key in labels}


def _set_triggers(client: OpenShiftClient, name: str, triggers: list,
                  parent_tag: Optional[dict], autorebuild: bool) -> None:
    """Put the triggers back and label the config ``is_autorebuild`` (true for skip_build and
    autorebuild tasks), with the ImageChange trigger marked as fired for the current parent
    image so that it starts a build only when the parent really changes."""
    reference = ((parent_tag or {}).get("image") or {}).get("dockerImageReference")
    for trigger in triggers:
        change = trigger.get("imageChange")
        if trigger.get("type") == "ImageChange" and isinstance(change, dict):
            change.pop("lastTriggeredImageID", None)
            if reference:
                change["lastTriggeredImageID"] = reference
    client.set_build_config_triggers(
        name, triggers, {"is_autorebuild": "true" if autorebuild else "false"})


def submit_source_build(
    client: OpenShiftClient,
    instance: OsbsInstance,
    params: SourceBuildParams,
    guard: Optional[BuildGuard] = None,
    **render: Any,
) -> Submission:
    """Re-attach to this task's source build or create it (always a direct Build, §6)."""
    earlier = _reattach(client, params.koji_task_id)
    if earlier is not None:
        _tell(guard, earlier.build)
        return earlier
    reactor = _reactor_config(client, instance)
    build_json = request.render_source_build(
        instance, reactor, params, _buildroot_image(client, instance),
        template=load_template(instance.build_json_dir, ORCHESTRATOR_SOURCES), **render)
    _tell(guard, build_json)
    return Submission(client.create_build(build_json))
