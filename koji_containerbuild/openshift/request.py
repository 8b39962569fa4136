"""Render the Build and BuildConfig JSON exactly as osbs-client 1.10 does (pure functions).

Inputs are already fetched: the osbs.conf instance, the parsed reactor ConfigMap
(`config.yaml`) and, for direct Builds from an `imagestream:` buildroot, the resolved image.
Rules and their sources: reference/osbs1-contract.md §2.3, §3.4, §4.1-4.4 and §6.

Scratch and isolated image builds and all source builds are POSTed as Builds; regular image
builds go through a BuildConfig (atomic-reactor's check_and_set_rebuild needs one).
"""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from koji_containerbuild.config import OsbsInstance
from koji_containerbuild.openshift import names
from koji_containerbuild.openshift.reactor_config import ReactorConfig
from koji_containerbuild.openshift.templates import (
    ORCHESTRATOR,
    ORCHESTRATOR_SOURCES,
    fill_outer,
    load_template,
)
from koji_containerbuild.openshift.user_params import (
    KIND_IMAGE_BUILD,
    KIND_SOURCE_BUILD,
    BuildFrom,
    BuildParams,
    BuildRequestError,
    SourceBuildParams,
    image_user_params,
    parse_build_from,
    source_user_params,
    user_params_json,
)

__all__ = [
    "BuildConfigLookup", "BuildParams", "BuildRequestError", "LabelQuery", "SourceBuildParams",
    "build_config_labels_for_lookup", "effective_scratch", "first_ist_trigger", "is_direct_build",
    "isolated_running_selector", "render_build", "render_build_config", "render_source_build",
    "user_params_json",
]

API_VERSION = "build.openshift.io/v1"
SERVICE_ACCOUNT = "builder"
ISOLATED_RELEASE_FORMAT = r"^\d+\.\d+(\..+)?$"
FINISHED_PHASES = ("Failed", "Complete", "Error", "Cancelled")
_RAND_LOW, _RAND_HIGH = 10_000, 100_000     # five random digits
_random = random.SystemRandom()


# --------------------------------------------------------------------------- small helpers


def effective_scratch(instance: OsbsInstance, scratch: bool) -> bool:
    """osbs.conf `scratch`, when set, overrides the caller's flag (osbs-client get_scratch)."""
    return bool(instance.scratch) if instance.scratch is not None else bool(scratch)


def is_direct_build(instance: OsbsInstance, params: BuildParams) -> bool:
    """True for builds POSTed directly (scratch, isolated); False for the BuildConfig flow."""
    return effective_scratch(instance, params.scratch) or bool(params.isolated)


def _utc(now: Optional[datetime]) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is not None:
        return now.astimezone(timezone.utc)
    return now


def _rand(rand: Optional[int]) -> int:
    if rand is None:
        return _random.randrange(_RAND_LOW, _RAND_HIGH)
    if not _RAND_LOW <= rand < _RAND_HIGH:
        raise ValueError(f"rand must have five digits, got {rand}")
    return rand


def first_ist_trigger(build: dict) -> Optional[dict]:
    """The ImageChange trigger on an ImageStreamTag, if the (rendered) object has one."""
    for trigger in (build.get("spec") or {}).get("triggers") or []:
        change = trigger.get("imageChange") if isinstance(trigger, dict) else None
        if (trigger.get("type") == "ImageChange" and isinstance(change, dict)
                and (change.get("from") or {}).get("kind") == "ImageStreamTag"):
            return trigger
    return None


def _make_direct(build: dict, build_from: BuildFrom, buildroot_image: Optional[str]) -> dict:
    """Turn a rendered object into a POSTable Build (osbs-client _create_build_directly).

    Only BuildConfigs may name an ImageStreamTag as builder image, so it is replaced by the
    resolved image; the original stays in the `from` annotation atomic-reactor needs when
    worker platforms differ from the orchestrator's.
    """
    custom = build["spec"]["strategy"]["customStrategy"]
    original = dict(custom["from"])
    if build_from.is_imagestream:
        if not buildroot_image:
            raise BuildRequestError(
                f"build_from {build_from.raw!r} is an ImageStreamTag: resolve it to its "
                "image.dockerImageReference before rendering a direct Build")
        custom["from"] = {"kind": "DockerImage", "name": buildroot_image}
    build["kind"] = "Build"
    build["spec"]["serviceAccount"] = SERVICE_ACCOUNT
    build["metadata"].setdefault("annotations", {})["from"] = json.dumps(
        {"kind": original["kind"], "name": original["name"]})
    return build


# --------------------------------------------------------------------------- image builds


def _check_instance(instance: OsbsInstance, orchestrator: bool) -> None:
    """osbs-client 1.10 refuses these before rendering (contract §2.3 step 1)."""
    where = f"{instance.conf_file} [{instance.section}]"
    if orchestrator and not instance.can_orchestrate:
        raise BuildRequestError(
            f"{where} can_orchestrate is not true; image builds are orchestrator builds, "
            "set can_orchestrate = true")
    if instance.arrangement_version < 6:
        raise BuildRequestError(
            f"{where} arrangement_version = {instance.arrangement_version}: only 6 is "
            "supported (osbs-client 1.10 rejects 5 and lower)")


def _validate_image_params(params: BuildParams, scratch: bool) -> None:
    if not params.git_uri or not params.git_branch:
        raise BuildRequestError("git_uri and git_branch are required for image builds")
    if scratch and params.isolated:
        raise BuildRequestError(
            "Build variations are mutually exclusive: a build is scratch, isolated, or neither")
    if params.flatpak and params.isolated:
        raise BuildRequestError("Flatpak builds cannot be isolated")
    if params.signing_intent and params.compose_ids:
        raise BuildRequestError("Please only define signing_intent -OR- compose_ids, not both")
    if params.operator_csv_modifications_url and not params.isolated:
        raise BuildRequestError(
            "operator_csv_modifications_url is only allowed for isolated builds")
    if params.isolated:
        if not params.release:
            raise BuildRequestError("The release parameter is required for isolated builds.")
        if not re.match(ISOLATED_RELEASE_FORMAT, params.release):
            raise BuildRequestError(
                "For isolated builds, the release value must be in the format: "
                f"{ISOLATED_RELEASE_FORMAT}")
    if not params.base_image and not params.flatpak:
        raise BuildRequestError("base_image must be provided (the Dockerfile's last FROM)")
    if not params.name_label:
        raise BuildRequestError("name_label must be provided (the Dockerfile 'name' label)")
    if (params.autorebuild_enabled and params.dockerfile_has_release_label
            and not params.autorebuild_add_timestamp_to_release):
        raise BuildRequestError('when autorebuild is enabled in repo configuration, '
                                '"release" label must not be set in Dockerfile')


def _image_labels(params: BuildParams, scratch: bool) -> dict[str, str]:
    labels = {"is_autorebuild": "false"}
    labels.update(_git_labels(params))
    if params.koji_task_id is not None:
        labels["koji-task-id"] = str(params.koji_task_id)
        # Manual builds also keep the original task, which survives autorebuild delegation.
        if params.triggered_after_koji_task is None:
            labels["original-koji-task-id"] = str(params.koji_task_id)
    if scratch:
        labels["scratch"] = "true"
    if params.isolated:
        labels["isolated"] = "true"
        labels["isolated-release"] = names.sanitize_label_value(params.release)
    return labels


def _git_labels(params: BuildParams) -> dict[str, str]:
    return {
        "git-repo-name": names.sanitize_label_value(names.git_repo_humanish_part(params.git_uri)),
        "git-branch": names.sanitize_label_value(params.git_branch),
        "git-full-repo": names.sanitize_label_value(params.git_uri),
    }


def _is_custom_base_image(base_image: Optional[str]) -> bool:
    return bool(re.match(r"^koji/image-build(:.*)?$", base_image or ""))


def _render_image(instance: OsbsInstance, reactor_config: Any, params: BuildParams, *,
                  direct: bool, rand: Optional[int], now: Optional[datetime],
                  template: Optional[dict]) -> dict:
    scratch = effective_scratch(instance, params.scratch)
    _check_instance(instance, orchestrator=True)
    _validate_image_params(params, scratch)
    build_from = parse_build_from(instance)
    config = ReactorConfig(instance, reactor_config)
    registry = config.source_registry()
    organization = config.organization()
    base_image = params.base_image
    if params.flatpak and not base_image:
        base_image = config.flatpak_base_image()
    parent_registry = config.base_image_registry(base_image, registry)
    # osbs-client encloses the parent in the organization only on the source registry.
    trigger = names.trigger_imagestreamtag(
        base_image, parent_registry, organization if parent_registry == registry else None)

    random_part, stamp = _rand(rand), _utc(now)
    tag = names.image_tag(params.user, params.component, params.koji_target, random_part, stamp)
    bc_name = names.make_name_from_git(params.git_uri, params.git_branch)
    values = image_user_params(
        instance, build_from, params, scratch=scratch, image_tag=tag, build_config_name=bc_name,
        base_image=base_image, trigger_imagestreamtag=trigger,
        imagestream_name=names.imagestream_name(params.name_label, registry, organization))
    if direct:
        prefix = "scratch" if scratch else "isolated"
        name = names.direct_build_name(prefix, random_part, stamp)
    else:
        name = bc_name
    build = fill_outer(
        copy.deepcopy(template) if template is not None else load_template(None, ORCHESTRATOR),
        instance, config, name=name, labels=_image_labels(params, scratch), image_tag=tag,
        build_from=build_from, user_params=user_params_json(values, KIND_IMAGE_BUILD),
        orchestrator=True, deadline_hours=instance.orchestrator_max_run_hours)
    spec = build["spec"]
    source = spec.get("source") if isinstance(spec.get("source"), dict) else {"type": "Git"}
    source["git"] = {**(source.get("git") or {}), "uri": params.git_uri,
                     "ref": values["git_ref"]}
    spec["source"] = source
    ist_trigger = first_ist_trigger(build)
    if ist_trigger is not None:
        ist_trigger["imageChange"]["from"]["name"] = trigger
    # Triggers stay only where autorebuilds make sense (§4.3): osbs-client drops them for
    # scratch, isolated, FROM scratch, koji/image-build bases and autorebuild-disabled repos.
    if (direct or not params.autorebuild_enabled or base_image == "scratch"
            or _is_custom_base_image(base_image)):
        spec.pop("triggers", None)
    return build


def render_build(instance: OsbsInstance, reactor_config: Any, params: BuildParams,
                 buildroot_image: Optional[str] = None, *, rand: Optional[int] = None,
                 now: Optional[datetime] = None, template: Optional[dict] = None) -> dict:
    """The Build to POST for a scratch or isolated image build.

    `buildroot_image` is the ImageStreamTag's image.dockerImageReference when osbs.conf
    build_from is 'imagestream:...' (ignored for 'image:...'); `rand` (five digits) and `now`
    (UTC) default to fresh values; `template` is the site's orchestrator.json (templates.py),
    the built-in default when None.
    """
    if not is_direct_build(instance, params):
        raise BuildRequestError("regular builds go through a BuildConfig: use render_build_config")
    build = _render_image(instance, reactor_config, params, direct=True, rand=rand, now=now,
                          template=template)
    return _make_direct(build, parse_build_from(instance), buildroot_image)


def render_build_config(instance: OsbsInstance, reactor_config: Any, params: BuildParams, *,
                        rand: Optional[int] = None, now: Optional[datetime] = None,
                        template: Optional[dict] = None) -> dict:
    """The BuildConfig for a regular (not scratch, not isolated) image build.

    The ImageChange trigger is present only when .osbs-repo-config enables autorebuild; the
    caller pops it before create/update and re-adds it once the ImageStreamTag exists (§4.3).
    """
    if is_direct_build(instance, params):
        raise BuildRequestError("scratch and isolated builds are direct Builds: use render_build")
    return _render_image(instance, reactor_config, params, direct=False, rand=rand, now=now,
                         template=template)


# --------------------------------------------------------------------------- source builds


def render_source_build(instance: OsbsInstance, reactor_config: Any, params: SourceBuildParams,
                        buildroot_image: Optional[str] = None, *, rand: Optional[int] = None,
                        now: Optional[datetime] = None, template: Optional[dict] = None) -> dict:
    """The Build to POST for a source-container build (always direct, no git source, §6);
    `template` is the site's orchestrator_sources.json, the built-in default when None."""
    if not params.component:
        raise BuildRequestError("component must be provided for source container builds")
    if params.sources_for_koji_build_id is None and not params.sources_for_koji_build_nvr:
        raise BuildRequestError("At least one param from 'sources_for_koji_build_id' or "
                                "'sources_for_koji_build_nvr' must be specified")
    scratch = effective_scratch(instance, params.scratch)
    _check_instance(instance, orchestrator=False)
    build_from = parse_build_from(instance)
    config = ReactorConfig(instance, reactor_config)
    random_part, stamp = _rand(rand), _utc(now)
    tag = names.image_tag(params.user, params.component, params.koji_target, random_part, stamp)
    values = source_user_params(instance, build_from, params, scratch=scratch, image_tag=tag)
    name = names.direct_build_name("sources", random_part, stamp)
    labels = {}
    if params.koji_task_id is not None:
        labels["koji-task-id"] = str(params.koji_task_id)
    if scratch:
        name = names.limit_build_name(f"scratch-{name}")
        labels["scratch"] = "true"
    # osbs-client's SourceBuildRequest keeps the worker deadline (§6).
    build = fill_outer(
        copy.deepcopy(template) if template is not None
        else load_template(None, ORCHESTRATOR_SOURCES),
        instance, config, name=name, labels=labels, image_tag=tag, build_from=build_from,
        user_params=user_params_json(values, KIND_SOURCE_BUILD), orchestrator=False,
        deadline_hours=instance.worker_max_run_hours,
        requests=config.source_container_requests())
    build["spec"].pop("triggers", None)
    return _make_direct(build, build_from, buildroot_image)


# --------------------------------------------------------------------------- lookups


@dataclass(frozen=True)
class BuildConfigLookup:
    """The three ways osbs-client finds an existing BuildConfig, tried in this order (§4.3).

    1. list by `with_full_repo` labels, exactly one match;
    2. list by `repo_and_branch` labels, keep those whose spec.source.git.uri == git_uri;
    3. GET buildconfigs/`name`.
    """

    with_full_repo: dict[str, str]
    repo_and_branch: dict[str, str]
    git_uri: str
    name: str


def build_config_labels_for_lookup(params: BuildParams) -> BuildConfigLookup:
    """Label selectors and name for finding the BuildConfig a regular build reuses."""
    labels = _git_labels(params)
    repo_and_branch = {key: labels[key] for key in ("git-repo-name", "git-branch")}
    return BuildConfigLookup(with_full_repo=labels, repo_and_branch=repo_and_branch,
                             git_uri=params.git_uri,
                             name=names.make_name_from_git(params.git_uri, params.git_branch))


@dataclass(frozen=True)
class LabelQuery:
    """A builds list query: label equalities plus an optional field selector."""

    labels: dict[str, str]
    field_selector: Optional[str] = None

    @property
    def label_selector(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.labels.items())


def isolated_running_selector(params: BuildParams) -> LabelQuery:
    """Unfinished isolated builds of the same repo, branch and release (§9 row 4)."""
    git = _git_labels(params)
    labels = {
        "git-repo-name": git["git-repo-name"],
        "git-branch": git["git-branch"],
        "isolated": "true",
        "isolated-release": names.sanitize_label_value(params.release),
    }
    return LabelQuery(labels=labels,
                      field_selector=",".join(f"status!={phase}" for phase in FINISHED_PHASES))
