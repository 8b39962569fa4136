"""USER_PARAMS: truthy-only, sorted keys, `kind`; and no BuildParams option is silently dropped.

Upstream once lost operator_csv_modifications_url (kcb 0.11.1) and userdata (0.15) on the way
to the pod; the completeness test below fails if a new field is added without being forwarded.
"""

import dataclasses
import json
from dataclasses import replace

import pytest

from koji_containerbuild.config import OsbsInstance
from koji_containerbuild.openshift.request import (
    BuildParams,
    SourceBuildParams,
    render_build,
    render_build_config,
    render_source_build,
)
from koji_containerbuild.openshift.user_params import user_params_json

INSTANCE = OsbsInstance(conf_file="/etc/osbs.conf", section="default",
                        build_json_dir="/usr/share/osbs/", openshift_url="https://o.example.com/",
                        build_from="image:buildroot:1", reactor_config_map="reactor-config-map",
                        can_orchestrate=True)
REACTOR = {"source_registry": {"url": "registry.example.com"}}
BASE = BuildParams(user="jdoe", component="foo", git_uri="https://src.example.com/c/foo.git",
                   git_ref="abc", git_branch="main", koji_target="target", koji_task_id=11,
                   name_label="foo", base_image="fedora:34")

# Fields osbs-client uses itself instead of sending to the pod as a key of the same name.
NOT_FORWARDED_AS_IS = {
    "name_label",                 # becomes imagestream_name
    "autorebuild_enabled",        # keeps or drops spec.triggers
    "autorebuild_add_timestamp_to_release",
    "dockerfile_has_release_label",
}


def rendered_user_params(build: dict) -> tuple[str, dict]:
    env = {item["name"]: item for item in build["spec"]["strategy"]["customStrategy"]["env"]}
    text = env["USER_PARAMS"]["value"]
    return text, json.loads(text)


def test_user_params_json_is_truthy_only_sorted_with_kind():
    text = user_params_json({"b": 1, "a": "x", "none": None, "false": False, "empty_list": [],
                             "empty_dict": {}, "zero": 0, "empty": "", "tags": {"t2", "t1"},
                             "platforms": ("x86_64",)}, "build_user_params")
    assert text == ('{"a": "x", "b": 1, "kind": "build_user_params", "platforms": ["x86_64"], '
                    '"tags": ["t1", "t2"]}')


def test_every_build_param_reaches_user_params():
    """Set every field to a truthy value and find each one in the pod's USER_PARAMS."""
    params = replace(
        BASE, platforms=["x86_64", "s390x"], isolated=True, release="1.2",
        signing_intent="release", yum_repourls=["https://repo.example.com/x.repo"],
        dependency_replacements=["gomod:example.com/pkg:v2"], koji_parent_build="base-1-1",
        operator_csv_modifications_url="https://csv.example.com/mods.json",
        userdata={"owner": "team-a", "nested": {"z": 1, "a": 2}}, skip_build=True,
        triggered_after_koji_task=5, additional_tags=["latest-fix", "v1"], tags_from_yaml=True,
        git_commit_depth=3)
    build = render_build(INSTANCE, REACTOR, params)
    _, values = rendered_user_params(build)
    missing = []
    for item in dataclasses.fields(BuildParams):
        if item.name in NOT_FORWARDED_AS_IS or item.name in ("flatpak", "scratch", "compose_ids"):
            continue
        expected = getattr(params, item.name)
        expected = list(expected) if isinstance(expected, (list, tuple)) else expected
        if values.get(item.name) != expected:
            missing.append((item.name, values.get(item.name), expected))
    assert missing == []
    assert values["imagestream_name"] == "registry.example.com-foo"
    # The combinations excluded above (flatpak/isolated, scratch/isolated, compose_ids/intent):
    other = render_build_config(INSTANCE, REACTOR, replace(BASE, flatpak=True, compose_ids=[7, 8]))
    _, values = rendered_user_params(other)
    assert values["flatpak"] is True and values["compose_ids"] == [7, 8]
    scratch = render_build(INSTANCE, REACTOR, replace(BASE, scratch=True))
    assert rendered_user_params(scratch)[1]["scratch"] is True


def test_every_source_build_param_reaches_user_params():
    params = SourceBuildParams(user="jdoe", component="foo-source", koji_target="t",
                               koji_task_id=12, sources_for_koji_build_id=42,
                               sources_for_koji_build_nvr="foo-1-1", scratch=True,
                               signing_intent="beta", userdata={"k": "v"})
    _, values = rendered_user_params(render_source_build(INSTANCE, REACTOR, params))
    for item in dataclasses.fields(SourceBuildParams):
        assert values[item.name] == getattr(params, item.name), item.name


@pytest.mark.parametrize(("field_name", "empty"), [
    ("platforms", []), ("yum_repourls", []), ("compose_ids", []),
    ("dependency_replacements", []), ("userdata", {}), ("userdata", None),
    ("release", None), ("signing_intent", None), ("koji_parent_build", None),
    ("skip_build", False), ("tags_from_yaml", False), ("git_commit_depth", None),
])
def test_falsy_values_are_omitted(field_name, empty):
    build = render_build_config(INSTANCE, REACTOR, replace(BASE, **{field_name: empty}))
    _, values = rendered_user_params(build)
    assert field_name not in values


def test_triggered_after_koji_task_zero_is_omitted_like_osbs_client():
    # koji's autorebuild delegation can send 0; osbs-client's truthiness filter drops it.
    _, values = rendered_user_params(
        render_build_config(INSTANCE, REACTOR, replace(BASE, triggered_after_koji_task=0)))
    assert "triggered_after_koji_task" not in values
    _, values = rendered_user_params(
        render_build_config(INSTANCE, REACTOR, replace(BASE, triggered_after_koji_task=7)))
    assert values["triggered_after_koji_task"] == 7


def test_user_params_keys_are_sorted_and_use_default_separators():
    text, values = rendered_user_params(render_build_config(INSTANCE, REACTOR, BASE))
    assert text == json.dumps(values, sort_keys=True)
    assert list(values) == sorted(values)
    assert values["kind"] == "build_user_params"
    assert values["customize_conf"] == "worker_customize.json"
    assert values["build_type"] == "orchestrator"
    assert "buildroot_is_imagestream" not in values        # image: buildroot


def test_missing_git_ref_defaults_to_master():
    _, values = rendered_user_params(render_build_config(INSTANCE, REACTOR,
                                                         replace(BASE, git_ref="")))
    assert values["git_ref"] == "master"
