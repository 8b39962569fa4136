"""Site build templates: the JSON files osbs-client 1.10 read from ``[general] build_json_dir``,
and filling an outer one in as its ``render()`` did.

On the Koji builder osbs-client loaded the *outer* object from ``orchestrator.json`` (image
builds) or ``orchestrator_sources.json`` (source builds), and created the parent image's
ImageStream and ImageStreamTag from ``image_stream.json`` and ``image_stream_tag.json``. It
then overwrote the fields it owns (name, output, builder image, git source, labels it sets,
env it adds) and kept everything else a site put there: extra labels, annotations, env
variables, secrets, a node selector, or no ``triggers`` at all (no autorebuilds).

The *inner* plugin template (``orchestrator_inner:6.json``) and the customize file are not
read here: atomic-reactor reads them inside the build pod from the ``build_json_dir`` and
``customize_conf`` named in USER_PARAMS, as it did under osbs-client.

A file absent from the directory means the built-in default below, which has the shape
osbs-client 1.10 shipped; a file that is there but broken is a configuration error naming it.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from typing import Any, Optional

from koji_containerbuild.config import OsbsInstance
from koji_containerbuild.openshift.reactor_config import ReactorConfig
from koji_containerbuild.openshift.user_params import BuildFrom, BuildRequestError

log = logging.getLogger("koji.plugin.containerbuild")

ORCHESTRATOR = "orchestrator.json"
ORCHESTRATOR_SOURCES = "orchestrator_sources.json"
IMAGE_STREAM = "image_stream.json"
IMAGE_STREAM_TAG = "image_stream_tag.json"
MAX_TEMPLATE_BYTES = 1 << 20


def _custom_strategy() -> dict[str, Any]:
    return {"type": "Custom", "customStrategy": {
        "from": {"kind": "DockerImage", "name": "{{BUILD_IMAGE}}"},
        "exposeDockerSocket": True, "env": [], "secrets": []}}


def _output() -> dict[str, Any]:
    return {"to": {"kind": "DockerImage", "name": "{{REGISTRY_URI}}/{{OUTPUT_IMAGE_TAG}}"}}


BUILT_IN: dict[str, dict[str, Any]] = {
    ORCHESTRATOR: {
        "apiVersion": "build.openshift.io/v1",
        "kind": "BuildConfig",
        "metadata": {"name": "{{NAME}}", "labels": {"is_autorebuild": "false"}},
        "spec": {
            "triggers": [{"type": "ImageChange", "imageChange": {
                "from": {"kind": "ImageStreamTag", "name": "{{BASE_IMAGE_STREAM}}"}}}],
            "source": {"type": "Git", "git": {"uri": "{{GIT_URI}}", "ref": "{{GIT_REF}}"}},
            "output": _output(),
            "strategy": _custom_strategy(),
        },
    },
    ORCHESTRATOR_SOURCES: {
        "apiVersion": "build.openshift.io/v1",
        "kind": "BuildConfig",
        "metadata": {"name": "{{NAME}}", "labels": {"is_autorebuild": "false"}},
        "spec": {"output": _output(), "strategy": _custom_strategy()},
    },
    IMAGE_STREAM: {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": "{{NAME}}"},
        "spec": {},
    },
    IMAGE_STREAM_TAG: {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStreamTag",
        "metadata": {"name": "{{IMAGE_STREAM_ID}}:{{TAG_ID}}"},
        "tag": {"name": "{{TAG_ID}}",
                "from": {"kind": "DockerImage", "name": "{{REPOSITORY}}:{{TAG_ID}}"},
                "importPolicy": {}},
    },
}

# The objects each template must have (osbs-client fails with a KeyError without them).
_REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    ORCHESTRATOR: (("metadata",), ("spec",), ("spec", "output", "to"),
                   ("spec", "strategy", "customStrategy", "from")),
    ORCHESTRATOR_SOURCES: (("metadata",), ("spec",), ("spec", "output", "to"),
                           ("spec", "strategy", "customStrategy", "from")),
    IMAGE_STREAM: (("metadata",),),
    IMAGE_STREAM_TAG: (("metadata",), ("tag",), ("tag", "from")),
}
_LISTS = (("spec", "strategy", "customStrategy", "env"),
          ("spec", "strategy", "customStrategy", "secrets"), ("spec", "triggers"))


class TemplateError(BuildRequestError):
    """A site template exists but cannot be used; the message names the file and the key."""


def load_template(build_json_dir: Optional[str], name: str) -> dict[str, Any]:
    """The template ``name`` from ``build_json_dir``, or the built-in default if it is absent
    (or no directory is given).

    Always a fresh copy: callers fill it in place.
    """
    if name not in BUILT_IN:
        raise ValueError(f"unknown template {name!r}")
    path = os.path.join(build_json_dir, name) if build_json_dir else ""
    if not path or not os.path.isfile(path):
        return copy.deepcopy(BUILT_IN[name])
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise TemplateError(f"build template {path}: cannot read it: {exc.strerror}") from None
    if len(raw) > MAX_TEMPLATE_BYTES:
        raise TemplateError(f"build template {path}: larger than {MAX_TEMPLATE_BYTES} bytes")
    try:
        template = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TemplateError(f"build template {path}: not valid JSON: {exc}") from None
    _check_shape(path, name, template)
    log.debug("using site build template %s", path)
    return template


def _check_shape(path: str, name: str, template: Any) -> None:
    if not isinstance(template, dict):
        raise TemplateError(f"build template {path}: must be a JSON object")
    for keys in _REQUIRED[name]:
        node: Any = template
        for depth, key in enumerate(keys):
            node = node.get(key) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                where = ".".join(keys[:depth + 1])
                raise TemplateError(f"build template {path}: {where} must be a JSON object")
    for keys in _LISTS:
        node = template
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and keys[-1] in node and not isinstance(node[keys[-1]], list):
            raise TemplateError(f"build template {path}: {'.'.join(keys)} must be a JSON list")


# --------------------------------------------------------------------------- filling in


def _resources(instance: OsbsInstance, spec: dict,
               requests: Optional[dict[str, str]] = None) -> None:
    """Merge osbs.conf limits (and source builds' requests) into the template's resources."""
    limits = {key: value for key, value in (("cpu", instance.cpu_limit),
                                            ("memory", instance.memory_limit),
                                            ("storage", instance.storage_limit))
              if value is not None}
    resources = spec.get("resources") if isinstance(spec.get("resources"), dict) else {}
    if limits:
        resources["limits"] = {**(resources.get("limits") or {}), **limits}
    if requests:
        resources["requests"] = {**(resources.get("requests") or {}), **requests}
    if resources:
        spec["resources"] = resources


def fill_outer(template: dict, instance: OsbsInstance, config: ReactorConfig, *, name: str,
                labels: dict[str, str], image_tag: str, build_from: BuildFrom, user_params: str,
                orchestrator: bool, deadline_hours: int,
                requests: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """Overwrite the fields osbs-client owns in an outer template; keep what the site added.

    Labels are added to the template's, env and secrets appended to the template's (a secret
    already mounted is not mounted twice), limits merged, the deadline set when positive.
    """
    build = template
    meta = build["metadata"]
    meta["name"] = name
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    spec = build["spec"]
    spec["output"]["to"]["name"] = image_tag
    custom = spec["strategy"]["customStrategy"]
    custom["from"]["name"] = build_from.name
    if build_from.is_imagestream:
        custom["from"]["kind"] = "ImageStreamTag"
    else:
        custom["from"].setdefault("kind", "DockerImage")
    custom["env"] = config.strategy_env(user_params, custom.get("env") or [])
    secrets = list(custom.get("secrets") or [])
    mounted = {(s.get("secretSource") or {}).get("name") for s in secrets if isinstance(s, dict)}
    secrets += [s for s in config.secret_mounts(orchestrator=orchestrator)
                if s["secretSource"]["name"] not in mounted]
    custom["secrets"] = secrets
    _resources(instance, spec, requests)
    if deadline_hours > 0:
        spec["completionDeadlineSeconds"] = deadline_hours * 3600
    return build
