"""Autorebuilds against the OpenShift simulator: the parent's ImageStream and scheduled
ImageStreamTag, a missing parent refused, BuildConfig label collisions refused, autorebuild
builds never taken for the task's own, and a changed parent image starting a rebuild."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from koji_containerbuild.config import OsbsInstance
from koji_containerbuild.openshift.client import OpenShiftClient
from koji_containerbuild.openshift.request import BuildParams
from koji_containerbuild.openshift.submit import SubmitError, find_task_build, submit_image_build
from koji_containerbuild.sandbox.openshift.simulator import OpenShiftSimulator

TOKEN = "sim-secret-token"
PARENT = "registry.sandbox.local/sandbox/busybox:latest"     # after the organization is added
STREAM = "registry.sandbox.local-sandbox-busybox"
REACTOR = """\
version: 1
koji: {hub_url: http://koji.sandbox.local/kojihub, root_url: http://koji.sandbox.local/kojifiles,
       auth: {}}
source_registry: {url: registry.sandbox.local, insecure: %s}
pull_registries:
- {url: https://quay.sandbox.local, insecure: true}
registries_organization: sandbox
"""


@pytest.fixture
def sim():
    simulator = OpenShiftSimulator(token=TOKEN, time_scale=0.02)
    simulator.default_scenario = "silent"       # builds stay Running until cancelled
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def client(sim):
    with OpenShiftClient(sim.url, "default", token=TOKEN, backoff_factor=0.01) as the_client:
        the_client.sleep = lambda seconds: None    # the 6 x 1 s parent-tag lookups: no waiting
        yield the_client


@pytest.fixture
def instance(sim, tmp_path):
    return OsbsInstance(conf_file="/etc/osbs.conf", section="default",
                        build_json_dir=str(tmp_path / "osbs"), openshift_url=sim.url + "/",
                        namespace="default", build_from="imagestream:buildroot:latest",
                        reactor_config_map="reactor-config-map", can_orchestrate=True)


def params(task_id: int = 1, **changes) -> BuildParams:
    base = BuildParams(
        user="jdoe", component="hello-container",
        git_uri="git://distgit.sandbox.local/container/hello.git", git_ref="a" * 40,
        git_branch="f39", koji_target="f39-container-candidate", koji_task_id=task_id,
        name_label="sandbox/hello", base_image="busybox:latest", platforms=("x86_64",),
        autorebuild_enabled=True)
    return replace(base, **changes)


def reactor(sim, insecure: bool = False) -> None:
    sim.set_configmap("reactor-config-map", {"config.yaml": REACTOR % str(insecure).lower()})


def running(sim) -> list[str]:
    return [b["metadata"]["name"] for b in sim.list_builds()
            if b["status"]["phase"] in ("New", "Pending", "Running")]


# --------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("insecure", [False, True])
def test_parent_image_stream_and_scheduled_tag_are_created(sim, client, instance, insecure):
    reactor(sim, insecure)
    submission = submit_image_build(client, instance, params())
    stream = sim.get_object("imagestreams", STREAM)
    assert stream["kind"] == "ImageStream"
    spec_tag = next(t for t in stream["spec"]["tags"] if t["name"] == "latest")
    assert spec_tag["from"] == {"kind": "DockerImage", "name": PARENT}
    assert spec_tag["importPolicy"]["scheduled"] is True
    assert spec_tag["importPolicy"].get("insecure", False) is insecure    # unset means False
    status_tag = next(t for t in stream["status"]["tags"] if t["tag"] == "latest")
    assert status_tag["items"][0]["dockerImageReference"].startswith(
        "registry.sandbox.local/sandbox/busybox@sha256:")
    config = sim.get_object("buildconfigs", submission.build_config)
    trigger = config["spec"]["triggers"][0]["imageChange"]
    assert trigger["from"] == {"kind": "ImageStreamTag", "name": f"{STREAM}:latest"}
    assert trigger["lastTriggeredImageID"] == status_tag["items"][0]["dockerImageReference"]
    # exactly one build: ours, not a second one from the trigger
    assert [b["metadata"]["name"] for b in sim.list_builds()] == [submission.name]


def test_parent_from_a_pull_registry_takes_its_insecure_setting(sim, client, instance):
    reactor(sim, insecure=False)
    submit_image_build(client, instance, params(base_image="quay.sandbox.local/fedora:39"))
    stream = sim.get_object("imagestreams", "quay.sandbox.local-fedora")   # no organization
    tag = stream["spec"]["tags"][0]
    assert tag["from"]["name"] == "quay.sandbox.local/fedora:39"
    assert tag["importPolicy"] == {"scheduled": True, "insecure": True}


def test_an_existing_tag_only_gets_its_import_policy_fixed(sim, client, instance):
    reactor(sim)
    sim.push_image(PARENT)
    stream_tag = {"metadata": {"name": f"{STREAM}:latest"}, "tag": {
        "name": "latest", "from": {"kind": "DockerImage", "name": PARENT}, "importPolicy": {}}}
    client.put_image_stream_tag(f"{STREAM}:latest", stream_tag)
    submit_image_build(client, instance, params())
    tag = sim.get_object("imagestreams", STREAM)["spec"]["tags"][0]
    assert tag["importPolicy"]["scheduled"] is True


def test_no_image_stream_without_autorebuild(sim, client, instance):
    reactor(sim)
    submit_image_build(client, instance, params(autorebuild_enabled=False))
    with pytest.raises(KeyError):
        sim.get_object("imagestreams", STREAM)


# --------------------------------------------------------------------------- item 2


def test_absent_parent_is_refused_and_its_first_import_starts_the_build(sim, client, instance):
    reactor(sim)
    sim.remove_image(PARENT)
    with pytest.raises(SubmitError, match=f"^Provided base image does not exist: {PARENT}$"):
        submit_image_build(client, instance, params())
    assert sim.list_builds() == []
    # As in osbs-client the trigger stays, so the parent's first push starts a build.
    sim.push_image(PARENT)
    builds = sim.list_builds()
    assert len(builds) == 1
    assert builds[0]["spec"]["triggeredBy"] == [{"message": "Image change"}]


def test_skip_build_with_an_absent_parent_just_sets_the_trigger(sim, client, instance):
    reactor(sim)
    sim.remove_image(PARENT)
    submission = submit_image_build(client, instance, params(skip_build=True))
    assert submission.build is None and sim.list_builds() == []
    config = sim.get_object("buildconfigs", submission.build_config)
    assert config["metadata"]["labels"]["is_autorebuild"] == "true"
    assert "lastTriggeredImageID" not in config["spec"]["triggers"][0]["imageChange"]


# --------------------------------------------------------------------------- item 3


def test_build_config_of_another_repository_is_refused(sim, client, instance):
    reactor(sim)
    first = submit_image_build(client, instance, params())
    sim.cancel_build(first.name)
    other = {"metadata": {"labels": {"git-full-repo": "httpsother.example.comhello.git"}}}
    current = client.get_build_config(first.build_config)
    current["metadata"]["labels"].update(other["metadata"]["labels"])
    current["spec"]["source"]["git"]["uri"] = "https://other.example.com/hello.git"
    client._call("PUT", client.build_path("buildconfigs", first.build_config), body=current)
    with pytest.raises(SubmitError, match='^Git labels collide with existing build config '
                       f'"{first.build_config}". Existing labels: .*httpsother'):
        submit_image_build(client, instance, params(task_id=2))
    assert running(sim) == []


# --------------------------------------------------------------------------- item 4 and e2e


def test_a_changed_parent_rebuilds_and_is_never_taken_for_the_task(sim, client, instance):
    reactor(sim)
    sim.default_scenario = "success"
    first = submit_image_build(client, instance, params(task_id=7))
    done = sim.wait_for_phase(first.name, {"Complete"}, 20)
    assert done["metadata"]["labels"]["is_autorebuild"] == "false"
    # atomic-reactor's check_and_set_rebuild marked the BuildConfig during that build
    config = sim.get_object("buildconfigs", first.build_config)
    assert config["metadata"]["labels"]["is_autorebuild"] == "true"

    sim.push_image(PARENT)        # a new parent image; the scheduled import sees it
    names = sorted(b["metadata"]["name"] for b in sim.list_builds())
    assert names == [first.name, f"{first.build_config}-2"]
    rebuild = sim.wait_for_phase(f"{first.build_config}-2", {"Complete"}, 20)
    assert rebuild["metadata"]["labels"]["is_autorebuild"] == "true"
    assert rebuild["spec"]["triggeredBy"] == [{"message": "Image change"}]
    assert rebuild["metadata"]["labels"]["koji-task-id"] == "7"   # the BC's label, inherited

    # A re-run of task 7 must not take the autorebuild for its own build...
    assert find_task_build(client, 7)["metadata"]["name"] == first.name
    client._call("DELETE", client.build_path("builds", first.name))   # ...even once pruned
    assert find_task_build(client, 7) is None


# --------------------------------------------------------------------------- site templates


def test_submit_uses_the_sites_templates_from_build_json_dir(sim, client, instance):
    reactor(sim)
    site = instance.build_json_dir
    os.makedirs(site)
    with open(os.path.join(site, "image_stream.json"), "w") as handle:
        json.dump({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                   "metadata": {"name": "{{NAME}}", "labels": {"site": "parent"}},
                   "spec": {"lookupPolicy": {"local": True}}}, handle)
    with open(os.path.join(site, "image_stream_tag.json"), "w") as handle:
        json.dump({"kind": "ImageStreamTag", "apiVersion": "image.openshift.io/v1",
                   "metadata": {"name": "x"}, "tag": {
                       "name": "x", "from": {"kind": "DockerImage", "name": "x"},
                       "importPolicy": {}, "referencePolicy": {"type": "Local"}}}, handle)
    with open(os.path.join(site, "orchestrator.json"), "w") as handle:
        json.dump({"apiVersion": "build.openshift.io/v1", "kind": "BuildConfig",
                   "metadata": {"name": "n", "labels": {"is_autorebuild": "false",
                                                        "site": "builds"}},
                   "spec": {"triggers": [{"type": "ImageChange", "imageChange": {
                       "from": {"kind": "ImageStreamTag", "name": "x"}}}],
                            "output": {"to": {"kind": "DockerImage", "name": "x"}},
                            "strategy": {"type": "Custom", "customStrategy": {
                                "from": {"kind": "DockerImage", "name": "x"},
                                "exposeDockerSocket": True}}}}, handle)
    submission = submit_image_build(client, instance, params())
    stream = sim.get_object("imagestreams", STREAM)
    assert stream["metadata"]["labels"] == {"site": "parent"}
    assert stream["spec"]["lookupPolicy"] == {"local": True}
    assert stream["spec"]["tags"][0]["referencePolicy"] == {"type": "Local"}
    assert stream["spec"]["tags"][0]["from"]["name"] == PARENT
    assert sim.get_build(submission.name)["metadata"]["labels"]["site"] == "builds"
