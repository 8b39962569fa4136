"""Golden tests: the Build/BuildConfig JSON we POST, pinned byte for byte (USER_PARAMS included).

Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff like code.
"""

import copy
import json
import os
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from koji_containerbuild.config import OsbsInstance
from koji_containerbuild.openshift.request import (
    BuildParams,
    BuildRequestError,
    SourceBuildParams,
    build_config_labels_for_lookup,
    is_direct_build,
    isolated_running_selector,
    render_build,
    render_build_config,
    render_source_build,
)
from tests.fixtures import OPENSHIFT_FIXTURES

GOLDEN = Path(__file__).parent / "golden"
FIXTURES = OPENSHIFT_FIXTURES
NOW = datetime(2021, 6, 9, 10, 10, 10, tzinfo=timezone.utc)
RAND = 78723
BUILDROOT = "registry.example.com/rh-osbs/buildroot@sha256:" + "1" * 64

INSTANCE = OsbsInstance(
    conf_file="/etc/osbs.conf", section="default", build_json_dir="/usr/share/osbs/",
    openshift_url="https://osbs.example.com:8443/", namespace="osbs",
    build_from="imagestream:buildroot:latest", reactor_config_map="reactor-config-map",
    can_orchestrate=True)
SCRATCH_INSTANCE = replace(INSTANCE, section="scratch",
                           reactor_config_map="reactor-config-map-scratch")
REACTOR = {
    "version": 1,
    "koji": {"hub_url": "https://koji.example.com/kojihub"},
    "source_registry": {"url": "https://registry.example.com/v2", "insecure": False},
    "registries_organization": "rh-osbs",
    "required_secrets": ["v2-registry-dockercfg", "kojisecret"],
    "worker_token_secrets": ["x86-64-orchestrator", "ppc64le-orchestrator", "kojisecret"],
    "build_env_vars": [{"name": "HTTP_PROXY", "value": "http://proxy.example.com:3128"}],
    "flatpak": {"base_image": "registry.example.com/rh-osbs/flatpak-build-base:f34"},
    "source_container": {"cpu_request": "500m", "memory_request": "1Gi"},
}
PARAMS = BuildParams(
    user="jdoe", component="foo-container",
    git_uri="https://src.example.com/containers/foo.git", git_ref="c0ffee" + "0" * 34,
    git_branch="rhel-8.4.0", koji_target="rhel-8.4.0-containers-candidate",
    koji_task_id=123456, name_label="rhel8/foo", base_image="ubi8:8.4")


def check_golden(name: str, rendered: dict) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(rendered, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert json.loads(path.read_text()) == rendered, f"{path} differs; see the module docstring"


def user_params(build: dict) -> dict:
    env = {item["name"]: item for item in build["spec"]["strategy"]["customStrategy"]["env"]}
    return json.loads(env["USER_PARAMS"]["value"])


# --------------------------------------------------------------------------- golden files


def test_golden_scratch_two_platforms():
    params = replace(PARAMS, scratch=True, platforms=["x86_64", "ppc64le"])
    build = render_build(SCRATCH_INSTANCE, REACTOR, params, BUILDROOT, rand=RAND, now=NOW)
    check_golden("scratch_two_platforms", build)
    assert build["metadata"]["name"] == "scratch-78723-20210609101010"
    assert build["metadata"]["annotations"]["from"] == \
        '{"kind": "ImageStreamTag", "name": "buildroot:latest"}'
    assert build["spec"]["strategy"]["customStrategy"]["from"] == \
        {"kind": "DockerImage", "name": BUILDROOT}
    assert "triggers" not in build["spec"]


def test_golden_isolated_with_release_and_limits():
    instance = replace(INSTANCE, build_from="image:registry.example.com/buildroot:1.0",
                       cpu_limit="2", memory_limit="4Gi", storage_limit="20Gi")
    params = replace(PARAMS, isolated=True, release="2.1", platforms=["x86_64"],
                     operator_csv_modifications_url="https://example.com/csv.json")
    build = render_build(instance, REACTOR, params, rand=RAND, now=NOW)
    check_golden("isolated_release", build)
    assert build["metadata"]["name"] == "isolated-78723-20210609101010"
    assert build["metadata"]["labels"]["isolated-release"] == "2.1"
    assert build["spec"]["resources"] == {
        "limits": {"cpu": "2", "memory": "4Gi", "storage": "20Gi"}}


def test_golden_build_config_without_trigger():
    build_config = render_build_config(INSTANCE, REACTOR, PARAMS, rand=RAND, now=NOW)
    check_golden("build_config", build_config)
    assert build_config["kind"] == "BuildConfig"
    assert build_config["metadata"]["name"] == "foo-rhel-840-75fff"
    assert build_config["spec"]["strategy"]["customStrategy"]["from"] == \
        {"kind": "ImageStreamTag", "name": "buildroot:latest"}
    assert "triggers" not in build_config["spec"]
    assert "annotations" not in build_config["metadata"]
    assert "serviceAccount" not in build_config["spec"]


def test_golden_build_config_with_autorebuild_trigger():
    params = replace(PARAMS, autorebuild_enabled=True)
    build_config = render_build_config(INSTANCE, REACTOR, params, rand=RAND, now=NOW)
    check_golden("build_config_autorebuild", build_config)
    assert build_config["spec"]["triggers"] == [{"type": "ImageChange", "imageChange": {
        "from": {"kind": "ImageStreamTag", "name": "registry.example.com-rh-osbs-ubi8:8.4"}}}]


def test_golden_flatpak_takes_base_image_from_reactor_config():
    params = replace(PARAMS, flatpak=True, base_image=None, name_label="foo-flatpak")
    build_config = render_build_config(INSTANCE, REACTOR, params, rand=RAND, now=NOW)
    check_golden("flatpak", build_config)
    values = user_params(build_config)
    assert values["flatpak"] is True
    assert values["base_image"] == "registry.example.com/rh-osbs/flatpak-build-base:f34"
    assert values["trigger_imagestreamtag"] == "registry.example.com-rh-osbs-flatpak-build-base:f34"


def test_flatpak_without_base_image_tells_the_packager_what_to_set():
    """Issue 15 #2: said to a packager, so no builder-side paths (osbs.conf's included)."""
    params = replace(PARAMS, flatpak=True, base_image=None, name_label="foo-flatpak")
    reactor = {key: value for key, value in REACTOR.items() if key != "flatpak"}
    with pytest.raises(BuildRequestError) as info:
        render_build_config(INSTANCE, reactor, params, rand=RAND, now=NOW)
    assert str(info.value) == (
        "Flatpak base_image must be set in the repository's container.yaml (flatpak: "
        "base_image: <pull spec>) or, by the Koji admins, in the reactor ConfigMap "
        "'reactor-config-map' (flatpak.base_image)")


def test_golden_source_container():
    params = SourceBuildParams(user="jdoe", component="foo-source",
                               koji_target="rhel-8.4.0-containers-candidate",
                               koji_task_id=654321, sources_for_koji_build_nvr="foo-1.0-1",
                               sources_for_koji_build_id=42)
    instance = replace(INSTANCE, cpu_limit="1", memory_limit="2Gi")
    build = render_source_build(instance, REACTOR, params, BUILDROOT, rand=RAND, now=NOW)
    check_golden("source_container", build)
    spec = build["spec"]
    assert build["metadata"]["name"] == "sources-78723-20210609101010"
    assert "source" not in spec and "triggers" not in spec
    assert spec["completionDeadlineSeconds"] == 3 * 3600          # worker_max_run_hours
    assert spec["resources"] == {"limits": {"cpu": "1", "memory": "2Gi"},
                                 "requests": {"cpu": "500m", "memory": "1Gi"}}
    secrets = [s["secretSource"]["name"] for s in spec["strategy"]["customStrategy"]["secrets"]]
    assert secrets == ["kojisecret", "v2-registry-dockercfg"]   # no worker tokens
    assert user_params(build)["kind"] == "source_containers_user_params"


# --------------------------------------------------------------------------- behaviour


def test_scratch_source_build_name_and_label():
    params = SourceBuildParams(user="jdoe", component="foo-source", koji_target=None,
                               koji_task_id=7, sources_for_koji_build_id=42, scratch=True)
    build = render_source_build(SCRATCH_INSTANCE, REACTOR, params, BUILDROOT, rand=RAND, now=NOW)
    assert build["metadata"]["name"] == "scratch-sources-78723-20210609101010"
    assert build["metadata"]["labels"] == {"is_autorebuild": "false", "koji-task-id": "7",
                                           "scratch": "true"}
    assert build["spec"]["output"]["to"]["name"] == "jdoe/foo-source:none-78723-20210609101010"


def test_secrets_are_required_plus_worker_tokens_sorted_and_unique():
    build = render_build(SCRATCH_INSTANCE, REACTOR, replace(PARAMS, scratch=True), BUILDROOT,
                         rand=RAND, now=NOW)
    secrets = build["spec"]["strategy"]["customStrategy"]["secrets"]
    assert [s["secretSource"]["name"] for s in secrets] == [
        "kojisecret", "ppc64le-orchestrator", "v2-registry-dockercfg", "x86-64-orchestrator"]
    assert secrets[0]["mountPath"] == "/var/run/secrets/atomic-reactor/kojisecret"


def test_env_order_reactor_config_user_params_then_build_env_vars():
    build = render_build_config(INSTANCE, REACTOR, PARAMS, rand=RAND, now=NOW)
    env = build["spec"]["strategy"]["customStrategy"]["env"]
    assert [item["name"] for item in env] == ["REACTOR_CONFIG", "USER_PARAMS", "HTTP_PROXY"]
    assert env[0] == {"name": "REACTOR_CONFIG", "valueFrom": {
        "configMapKeyRef": {"name": "reactor-config-map", "key": "config.yaml"}}}


@pytest.mark.parametrize("clash", ["USER_PARAMS", "REACTOR_CONFIG", "HTTP_PROXY"])
def test_build_env_var_name_clash_is_a_clear_error(clash):
    reactor = copy.deepcopy(REACTOR)
    reactor["build_env_vars"].append({"name": clash, "value": "x"})
    with pytest.raises(BuildRequestError, match=f"already exists\\): {clash}; fix build_env_vars"
                       ".*reactor-config-map"):
        render_build_config(INSTANCE, reactor, PARAMS, rand=RAND, now=NOW)


def test_missing_source_registry_names_the_configmap_key():
    reactor = {key: value for key, value in REACTOR.items() if key != "source_registry"}
    with pytest.raises(BuildRequestError) as info:
        render_build_config(INSTANCE, reactor, PARAMS, rand=RAND, now=NOW)
    message = str(info.value)
    assert 'mandatory "source_registry" is not defined in reactor_config' in message
    assert "reactor ConfigMap 'reactor-config-map' (key config.yaml" in message
    assert "/etc/osbs.conf [default] reactor_config_map" in message


@pytest.mark.parametrize("reactor", [None, {}, {"source_registry": {}}])
def test_empty_reactor_config_is_refused_for_image_builds(reactor):
    with pytest.raises(BuildRequestError, match="source_registry"):
        render_build_config(INSTANCE, reactor, PARAMS, rand=RAND, now=NOW)


def test_reactor_config_that_is_not_a_mapping_is_refused():
    with pytest.raises(BuildRequestError, match="not a YAML mapping"):
        render_build_config(INSTANCE, ["a list"], PARAMS, rand=RAND, now=NOW)


def test_unset_reactor_config_map_names_the_osbs_conf_key():
    with pytest.raises(BuildRequestError, match=r"\[default\] reactor_config_map is not set"):
        render_build_config(replace(INSTANCE, reactor_config_map=None), REACTOR, PARAMS)


@pytest.mark.parametrize("build_from", [None, "", "buildroot:latest", "docker:buildroot",
                                        "image:"])
def test_bad_build_from_names_the_osbs_conf_key(build_from):
    with pytest.raises(BuildRequestError,
                       match=r"/etc/osbs.conf \[default\] build_from.*'image:<pullspec>'"):
        render_build_config(replace(INSTANCE, build_from=build_from), REACTOR, PARAMS)


def test_orchestration_disabled_or_old_arrangement_is_refused():
    with pytest.raises(BuildRequestError, match=r"\[default\] can_orchestrate is not true"):
        render_build_config(replace(INSTANCE, can_orchestrate=False), REACTOR, PARAMS)
    with pytest.raises(BuildRequestError, match=r"arrangement_version = 5: only 6"):
        render_build_config(replace(INSTANCE, arrangement_version=5), REACTOR, PARAMS)


def test_builder_may_pass_none_for_empty_lists():
    params = replace(PARAMS, platforms=None, yum_repourls=None, compose_ids=None,
                     dependency_replacements=None, additional_tags=None)
    assert "platforms" not in user_params(render_build_config(INSTANCE, REACTOR, params))


def test_direct_build_from_imagestream_needs_the_resolved_image():
    with pytest.raises(BuildRequestError, match="image.dockerImageReference"):
        render_build(SCRATCH_INSTANCE, REACTOR, replace(PARAMS, scratch=True))


def test_image_build_from_keeps_docker_image_in_annotation():
    instance = replace(SCRATCH_INSTANCE, build_from="image:quay.io/osbs/buildroot:2")
    build = render_build(instance, REACTOR, replace(PARAMS, scratch=True), rand=RAND, now=NOW)
    assert build["spec"]["strategy"]["customStrategy"]["from"] == {
        "kind": "DockerImage", "name": "quay.io/osbs/buildroot:2"}
    assert json.loads(build["metadata"]["annotations"]["from"]) == {
        "kind": "DockerImage", "name": "quay.io/osbs/buildroot:2"}


def test_osbs_conf_scratch_overrides_the_callers_flag():
    instance = replace(INSTANCE, scratch=True)
    assert is_direct_build(instance, PARAMS)
    build = render_build(instance, REACTOR, PARAMS, BUILDROOT, rand=RAND, now=NOW)
    assert build["metadata"]["name"].startswith("scratch-")
    assert user_params(build)["scratch"] is True
    with pytest.raises(BuildRequestError, match="use render_build"):
        render_build_config(instance, REACTOR, PARAMS)
    with pytest.raises(BuildRequestError, match="use render_build_config"):
        render_build(INSTANCE, REACTOR, PARAMS, BUILDROOT)


@pytest.mark.parametrize(("changes", "message"), [
    ({"scratch": True, "isolated": True, "release": "1.0"}, "mutually exclusive"),
    ({"isolated": True}, "release parameter is required"),
    ({"isolated": True, "release": "1"}, "must be in the format"),
    ({"flatpak": True, "isolated": True, "release": "1.0"}, "Flatpak builds cannot be isolated"),
    ({"scratch": True, "signing_intent": "release", "compose_ids": [1]}, "-OR- compose_ids"),
    ({"scratch": True, "operator_csv_modifications_url": "https://x/y"}, "only allowed for isol"),
    ({"scratch": True, "base_image": None}, "base_image must be provided"),
    ({"scratch": True, "name_label": ""}, "name_label must be provided"),
    ({"scratch": True, "autorebuild_enabled": True, "dockerfile_has_release_label": True},
     '"release" label must not be set'),
])
def test_invalid_combinations_are_refused(changes, message):
    with pytest.raises(BuildRequestError, match=message):
        render_build(SCRATCH_INSTANCE, REACTOR, replace(PARAMS, **changes), BUILDROOT)


def test_release_label_is_fine_with_add_timestamp_to_release():
    params = replace(PARAMS, autorebuild_enabled=True, dockerfile_has_release_label=True,
                     autorebuild_add_timestamp_to_release=True)
    assert render_build_config(INSTANCE, REACTOR, params, rand=RAND, now=NOW)["spec"]["triggers"]


@pytest.mark.parametrize("base_image", ["scratch", "koji/image-build", "koji/image-build:x.conf"])
def test_no_trigger_for_from_scratch_and_custom_base_images(base_image):
    params = replace(PARAMS, autorebuild_enabled=True, base_image=base_image)
    assert "triggers" not in render_build_config(INSTANCE, REACTOR, params)["spec"]


def test_flatpak_without_any_base_image_says_where_to_set_it():
    reactor = {key: value for key, value in REACTOR.items() if key != "flatpak"}
    params = replace(PARAMS, flatpak=True, base_image=None)
    with pytest.raises(BuildRequestError, match="container.yaml .*flatpak.base_image"):
        render_build_config(INSTANCE, reactor, params)


def test_base_image_from_unlisted_registry_is_refused_listed_one_is_used():
    params = replace(PARAMS, base_image="quay.io/fedora/fedora:34", autorebuild_enabled=True)
    with pytest.raises(BuildRequestError, match="names registry 'quay.io'.*pull_registries"):
        render_build_config(INSTANCE, REACTOR, params)
    reactor = dict(REACTOR, pull_registries=[{"url": "https://quay.io"}])
    build_config = render_build_config(INSTANCE, reactor, params)
    # osbs-client adds registries_organization on the source registry only
    assert build_config["spec"]["triggers"][0]["imageChange"]["from"]["name"] == \
        "quay.io-fedora-fedora:34"


def test_deadline_of_zero_or_less_means_none():
    build = render_build_config(replace(INSTANCE, orchestrator_max_run_hours=0), REACTOR, PARAMS)
    assert "completionDeadlineSeconds" not in build["spec"]
    assert "resources" not in build["spec"]


def test_random_part_and_time_default_to_fresh_values():
    build = render_build(SCRATCH_INSTANCE, REACTOR, replace(PARAMS, scratch=True), BUILDROOT)
    prefix, rand, stamp = build["metadata"]["name"].split("-")
    assert prefix == "scratch" and len(rand) == 5 and len(stamp) == 14
    assert build["spec"]["output"]["to"]["name"].endswith(f"-{rand}-{stamp}")


def test_labels_of_a_regular_build():
    labels = render_build_config(INSTANCE, REACTOR, PARAMS)["metadata"]["labels"]
    assert labels == {"is_autorebuild": "false", "git-repo-name": "foo",
                      "git-branch": "rhel-8.4.0",
                      "git-full-repo": "httpssrc.example.comcontainersfoo.git",
                      "koji-task-id": "123456", "original-koji-task-id": "123456"}


@pytest.mark.parametrize("triggered_after", [0, 99])
def test_autorebuild_delegation_drops_the_original_task_label(triggered_after):
    # osbs-client tests `is None`, so even 0 (which USER_PARAMS omits as falsy) drops the label.
    params = replace(PARAMS, triggered_after_koji_task=triggered_after)
    labels = render_build_config(INSTANCE, REACTOR, params)["metadata"]["labels"]
    assert labels["koji-task-id"] == "123456"
    assert "original-koji-task-id" not in labels


def test_no_task_id_no_task_labels():
    labels = render_build_config(INSTANCE, REACTOR, replace(PARAMS, koji_task_id=None))[
        "metadata"]["labels"]
    assert "koji-task-id" not in labels and "original-koji-task-id" not in labels


def test_build_config_lookups():
    lookup = build_config_labels_for_lookup(PARAMS)
    assert lookup.with_full_repo == {"git-repo-name": "foo", "git-branch": "rhel-8.4.0",
                                     "git-full-repo": "httpssrc.example.comcontainersfoo.git"}
    assert lookup.repo_and_branch == {"git-repo-name": "foo", "git-branch": "rhel-8.4.0"}
    assert lookup.name == "foo-rhel-840-75fff"
    assert lookup.git_uri == PARAMS.git_uri
    rendered = render_build_config(INSTANCE, REACTOR, PARAMS)["metadata"]
    assert lookup.with_full_repo.items() <= rendered["labels"].items()
    assert lookup.name == rendered["name"]


def test_isolated_running_selector():
    query = isolated_running_selector(replace(PARAMS, isolated=True, release="2.1"))
    assert query.label_selector == \
        "git-repo-name=foo,git-branch=rhel-8.4.0,isolated=true,isolated-release=2.1"
    assert query.field_selector == \
        "status!=Failed,status!=Complete,status!=Error,status!=Cancelled"


def test_source_build_needs_a_koji_build():
    params = SourceBuildParams(user="jdoe", component="foo-source", koji_target=None,
                               koji_task_id=1)
    with pytest.raises(BuildRequestError, match="sources_for_koji_build_id"):
        render_source_build(INSTANCE, REACTOR, params, BUILDROOT)
    with pytest.raises(BuildRequestError, match="component"):
        render_source_build(INSTANCE, REACTOR, replace(params, component="",
                                                       sources_for_koji_build_id=1), BUILDROOT)


def test_source_build_does_not_need_source_registry():
    params = SourceBuildParams(user="jdoe", component="foo-source", koji_target=None,
                               koji_task_id=1, sources_for_koji_build_id=5)
    build = render_source_build(INSTANCE, {"version": 1}, params, BUILDROOT)
    assert build["spec"]["strategy"]["customStrategy"]["secrets"] == []
    assert "resources" not in build["spec"]


def test_rendered_direct_build_has_the_shape_of_a_captured_orchestrator_build():
    """Same structure as what osbs-client POSTed on a real cluster (minus server-added keys)."""
    captured = json.loads((FIXTURES / "build_test-orchestrator-build-123.json").read_text())
    build = render_build(SCRATCH_INSTANCE, REACTOR, replace(PARAMS, scratch=True), BUILDROOT)
    server_added = {"nodeSelector", "postCommit", "resources", "triggeredBy"}
    assert set(build["spec"]) == set(captured["spec"]) - server_added
    ours, theirs = (b["spec"]["strategy"]["customStrategy"] for b in (build, captured))
    assert set(ours) == set(theirs)
    assert ours["env"][0]["valueFrom"].keys() == theirs["env"][0]["valueFrom"].keys()
    assert [e["name"] for e in ours["env"][:2]] == [e["name"] for e in theirs["env"]]
    assert set(ours["secrets"][0]) == set(theirs["secrets"][0])
    assert set(json.loads(build["metadata"]["annotations"]["from"])) == \
        set(json.loads(captured["metadata"]["annotations"]["from"]))
    for label in ("git-branch", "git-full-repo", "git-repo-name", "is_autorebuild", "scratch"):
        assert label in build["metadata"]["labels"]
