"""What the builder asks for (BuildParams) and the USER_PARAMS JSON atomic-reactor reads.

USER_PARAMS is the whole interface between the Koji side and the build pod: atomic-reactor
renders its plugin list from it (reference/osbs1-contract.md §4.4). osbs-client 1.10 writes
only truthy values, sorted keys, plus a `kind`; we do the same so a pod cannot tell the
difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from koji_containerbuild.config import OsbsInstance

KIND_IMAGE_BUILD = "build_user_params"
KIND_SOURCE_BUILD = "source_containers_user_params"
BUILD_TYPE_ORCHESTRATOR = "orchestrator"
# osbs-client 1.10 keeps the worker file name even for orchestrator builds (its tests expect it).
DEFAULT_CUSTOMIZE_CONF = "worker_customize.json"
DEFAULT_GIT_REF = "master"


class BuildRequestError(ValueError):
    """The build cannot be rendered; the message says which input or setting to change."""


@dataclass(frozen=True)
class BuildParams:
    """Everything the builder knows about one image build (orchestrator) request.

    Field names follow osbs-client's `create_orchestrator_build` arguments; the builder fills
    the Dockerfile/repository fields from its checkout (osbs-client cloned the repo itself).
    """

    user: str                                   # Koji task owner
    component: str                              # SCM repository basename (KCB)
    git_uri: str
    git_ref: str                                # commit the SCM URL resolved to
    git_branch: str
    koji_target: Optional[str]                  # target *name*
    koji_task_id: Optional[int]
    name_label: str                             # Dockerfile `name` label
    base_image: Optional[str] = None            # last FROM; may be None only for flatpaks
    platforms: Sequence[str] = ()
    scratch: bool = False
    isolated: bool = False
    release: Optional[str] = None
    flatpak: bool = False
    signing_intent: Optional[str] = None
    compose_ids: Sequence[int] = ()
    yum_repourls: Sequence[str] = ()
    dependency_replacements: Sequence[str] = ()
    koji_parent_build: Optional[str] = None
    operator_csv_modifications_url: Optional[str] = None
    userdata: Optional[Mapping[str, Any]] = None
    skip_build: bool = False
    triggered_after_koji_task: Optional[int] = None
    additional_tags: Sequence[str] = ()         # additional-tags file / container.yaml tags
    tags_from_yaml: bool = False                # the tags came from container.yaml
    git_commit_depth: Optional[int] = None
    # .osbs-repo-config [autorebuild]
    autorebuild_enabled: bool = False
    autorebuild_add_timestamp_to_release: bool = False
    dockerfile_has_release_label: bool = False


@dataclass(frozen=True)
class SourceBuildParams:
    """One source-container build request (osbs-client `create_source_container_build`)."""

    user: str
    component: str                              # '<name>-source' in KCB
    koji_target: Optional[str]
    koji_task_id: Optional[int]
    sources_for_koji_build_id: Optional[int] = None
    sources_for_koji_build_nvr: Optional[str] = None
    scratch: bool = False
    signing_intent: Optional[str] = None
    userdata: Optional[Mapping[str, Any]] = field(default=None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def user_params_json(values: Mapping[str, Any], kind: str) -> str:
    """USER_PARAMS as osbs-client writes it: truthy values only, `kind` added, keys sorted.

    False, None, 0, '' and empty containers are left out, so e.g. triggered_after_koji_task=0
    never reaches the pod.
    """
    kept = {key: _jsonable(value) for key, value in values.items() if value}
    kept["kind"] = kind
    return json.dumps(kept, sort_keys=True)


@dataclass(frozen=True)
class BuildFrom:
    """osbs.conf `build_from`, split: is it an ImageStreamTag, and the image or tag name."""

    is_imagestream: bool
    name: str
    raw: str


def parse_build_from(instance: OsbsInstance) -> BuildFrom:
    """Check `build_from` is 'image:<pullspec>' or 'imagestream:<name:tag>'."""
    raw = instance.build_from
    where = f"{instance.conf_file} [{instance.section}] build_from"
    if not raw:
        raise BuildRequestError(
            f"{where} is not set; it must be 'image:<pullspec>' or 'imagestream:<name:tag>'")
    source_type, _, value = raw.partition(":")
    if source_type not in ("image", "imagestream") or not value:
        raise BuildRequestError(
            f"{where} = {raw!r}: it must be 'image:<pullspec>' or 'imagestream:<name:tag>'")
    return BuildFrom(is_imagestream=source_type == "imagestream", name=value, raw=raw)


def common_user_params(instance: OsbsInstance, build_from: BuildFrom, *, user: str,
                       component: str, koji_target: Optional[str],
                       koji_task_id: Optional[int], scratch: bool,
                       signing_intent: Optional[str], image_tag: str,
                       userdata: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """The USER_PARAMS fields image and source builds share (osbs-client BuildCommon)."""
    return {
        "arrangement_version": instance.arrangement_version,
        "build_from": build_from.raw,
        "build_image": build_from.name,
        "buildroot_is_imagestream": build_from.is_imagestream,
        "build_json_dir": instance.build_json_dir,
        "component": component,
        "image_tag": image_tag,
        "koji_target": koji_target,
        "koji_task_id": koji_task_id,
        "orchestrator_deadline": instance.orchestrator_max_run_hours,
        "worker_deadline": instance.worker_max_run_hours,
        "reactor_config_map": instance.reactor_config_map,
        "scratch": scratch,
        "signing_intent": signing_intent,
        "user": user,
        # Not in osbs-client 1.10; forwarded since koji-containerbuild 0.15 (osbs_ocp3).
        "userdata": dict(userdata) if userdata else None,
    }


def image_user_params(instance: OsbsInstance, build_from: BuildFrom, params: BuildParams, *,
                      scratch: bool, image_tag: str, build_config_name: str,
                      base_image: Optional[str], trigger_imagestreamtag: Optional[str],
                      imagestream_name: str) -> dict[str, Any]:
    """All USER_PARAMS fields of an orchestrator image build (osbs-client BuildUserParams)."""
    values = common_user_params(
        instance, build_from, user=params.user, component=params.component,
        koji_target=params.koji_target, koji_task_id=params.koji_task_id, scratch=scratch,
        signing_intent=params.signing_intent, image_tag=image_tag, userdata=params.userdata)
    values.update({
        "additional_tags": sorted(set(params.additional_tags or ())),
        "base_image": base_image,
        "build_type": BUILD_TYPE_ORCHESTRATOR,
        "compose_ids": list(params.compose_ids or ()),
        "customize_conf": DEFAULT_CUSTOMIZE_CONF,
        "dependency_replacements": list(params.dependency_replacements or ()),
        "flatpak": params.flatpak,
        "git_branch": params.git_branch,
        "git_commit_depth": params.git_commit_depth,
        "git_ref": params.git_ref or DEFAULT_GIT_REF,
        "git_uri": params.git_uri,
        "imagestream_name": imagestream_name,
        "isolated": params.isolated,
        "koji_parent_build": params.koji_parent_build,
        "name": build_config_name,
        "operator_csv_modifications_url": params.operator_csv_modifications_url,
        "platforms": list(params.platforms or ()),
        "release": params.release,
        "skip_build": params.skip_build,
        "tags_from_yaml": params.tags_from_yaml,
        "trigger_imagestreamtag": trigger_imagestreamtag,
        "triggered_after_koji_task": params.triggered_after_koji_task,
        "yum_repourls": list(params.yum_repourls or ()),
    })
    return values


def source_user_params(instance: OsbsInstance, build_from: BuildFrom, params: SourceBuildParams,
                       *, scratch: bool, image_tag: str) -> dict[str, Any]:
    """All USER_PARAMS fields of a source-container build (SourceContainerUserParams)."""
    values = common_user_params(
        instance, build_from, user=params.user, component=params.component,
        koji_target=params.koji_target, koji_task_id=params.koji_task_id, scratch=scratch,
        signing_intent=params.signing_intent, image_tag=image_tag, userdata=params.userdata)
    values.update({
        "sources_for_koji_build_id": params.sources_for_koji_build_id,
        "sources_for_koji_build_nvr": params.sources_for_koji_build_nvr,
    })
    return values
