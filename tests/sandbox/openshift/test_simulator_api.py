"""The simulator's REST surface: auth, errors as Status objects, selectors, BuildConfigs."""

from __future__ import annotations

import copy

import pytest
import requests

from tests.sandbox.openshift.test_simulator_helpers import (
    BUILDS,
    CONFIGS,
    NS,
    PODS,
    TERMINAL,
    build_body,
    config_body,
    create_build,
    instantiate,
    running_sim,
    session,
)


@pytest.fixture
def sim():
    yield from running_sim()


def test_bearer_token_is_required_when_set(sim):
    url = sim.url + BUILDS
    missing = requests.get(url)
    wrong = session("nope").get(url)
    right = session().get(url)
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": "Unauthorized",
                              "reason": "Unauthorized", "code": 401}
    assert right.status_code == 200 and right.json()["kind"] == "BuildList"
    assert "s3cret" not in repr(sim)


def test_no_token_configured_means_open_api():
    from tests.sandbox.openshift.test_simulator_helpers import start_sim
    open_sim = start_sim(token=None)
    try:
        assert requests.get(open_sim.url + BUILDS).status_code == 200
    finally:
        open_sim.stop()


def test_missing_build_is_a_not_found_status(sim):
    reply = session().get(f"{sim.url}{BUILDS}/nope/")
    assert reply.status_code == 404
    body = reply.json()
    assert body["reason"] == "NotFound" and body["code"] == 404
    assert body["message"] == 'builds.build.openshift.io "nope" not found'
    assert body["details"] == {"name": "nope", "group": "build.openshift.io", "kind": "builds"}
    assert session().get(sim.url + "/apis/nothing/v1/here").status_code == 404


def test_posting_an_existing_build_name_is_already_exists(sim):
    create_build(sim, "dup", "silent")
    again = session().post(sim.url + BUILDS + "/", json=build_body("dup", "silent"))
    assert again.status_code == 409
    assert again.json()["reason"] == "AlreadyExists"


def test_stale_resource_version_put_is_a_conflict(sim):
    http = session()
    create_build(sim, "rv", "silent")
    sim.wait_for_phase("rv", {"Running"}, 5)             # silent: no change after this
    old = http.get(f"{sim.url}{BUILDS}/rv").json()
    fresh = copy.deepcopy(old)
    fresh["metadata"]["labels"]["extra"] = "yes"
    updated = http.put(f"{sim.url}{BUILDS}/rv/", json=fresh)
    assert updated.status_code == 200
    assert updated.json()["metadata"]["labels"]["extra"] == "yes"
    assert int(updated.json()["metadata"]["resourceVersion"]) > int(old["metadata"]
                                                                    ["resourceVersion"])
    stale = http.put(f"{sim.url}{BUILDS}/rv", json=old)
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    assert "extra" in sim.get_build("rv")["metadata"]["labels"]


def test_build_spec_cannot_change_on_put(sim):
    http = session()
    create_build(sim, "immutable", "silent")
    sim.wait_for_phase("immutable", {"Running"}, 5)       # silent: no change after this
    build = http.get(f"{sim.url}{BUILDS}/immutable").json()
    build["spec"]["serviceAccount"] = "someone-else"
    reply = http.put(f"{sim.url}{BUILDS}/immutable", json=build)
    assert reply.status_code == 422 and reply.json()["reason"] == "Invalid"


def test_other_namespaces_and_denied_verbs_are_forbidden(sim):
    http = session()
    other = http.get(sim.url + "/apis/build.openshift.io/v1/namespaces/other/builds")
    assert other.status_code == 403 and other.json()["reason"] == "Forbidden"
    sim.forbidden.add(("create", "builds"))
    denied = http.post(sim.url + BUILDS, json=build_body("x"))
    assert denied.status_code == 403
    assert "cannot create builds.build.openshift.io" in denied.json()["message"]
    assert sim.list_builds() == []


def test_label_and_field_selectors_in_plain_or_encoded_queries(sim):
    create_build(sim, "done", labels={"koji-task-id": "7", "scratch": "true"})
    create_build(sim, "busy", "silent", labels={"koji-task-id": "7", "isolated": "true"})
    create_build(sim, "other", "silent", labels={"koji-task-id": "8"})
    sim.wait_for_phase("done", {"Complete"}, 10)
    http = session()

    def names(query: str) -> list[str]:
        reply = http.get(f"{sim.url}{BUILDS}/?{query}")
        assert reply.status_code == 200, reply.text
        return sorted(item["metadata"]["name"] for item in reply.json()["items"])

    assert names("labelSelector=koji-task-id%3D7") == ["busy", "done"]
    assert names("labelSelector=koji-task-id=7") == ["busy", "done"]
    assert names("labelSelector=koji-task-id%3D7%2Cisolated%3Dtrue") == ["busy"]
    assert names("labelSelector=koji-task-id!=7") == ["other"]
    assert names("labelSelector=isolated") == ["busy"]
    assert names("fieldSelector=metadata.name%3Dother") == ["other"]
    running_only = ("labelSelector=koji-task-id%3D7&fieldSelector=status%21%3DFailed%2C"
                    "status%21%3DComplete%2Cstatus%21%3DError%2Cstatus%21%3DCancelled")
    assert names(running_only) == ["busy"]
    bad = http.get(f"{sim.url}{BUILDS}?fieldSelector=spec.nope%3D1")
    assert bad.status_code == 400 and bad.json()["reason"] == "BadRequest"


def test_list_items_have_no_kind_and_list_has_metadata(sim):
    create_build(sim, "one")
    listing = session().get(sim.url + BUILDS).json()
    assert listing["kind"] == "BuildList" and listing["apiVersion"] == "build.openshift.io/v1"
    assert set(listing["metadata"]) == {"selfLink", "resourceVersion"}
    assert "kind" not in listing["items"][0]


def test_configmaps_imagestreamtags_and_user(sim):
    http = session()
    seeded = http.get(f"{sim.url}/api/v1/namespaces/{NS}/configmaps/reactor-config-map")
    assert seeded.status_code == 200
    assert "task_annotations_whitelist" in seeded.json()["data"]["config.yaml"]
    sim.set_configmap("mine", {"config.yaml": "version: 1\n"})
    mine = http.get(f"{sim.url}/api/v1/namespaces/{NS}/configmaps/mine").json()
    assert mine["data"] == {"config.yaml": "version: 1\n"} and mine["kind"] == "ConfigMap"
    ist_url = f"{sim.url}/apis/image.openshift.io/v1/namespaces/{NS}/imagestreamtags"
    assert http.get(f"{ist_url}/nothing:here").status_code == 404
    sim.set_imagestreamtag("base:1", "registry.example.com/base@sha256:" + "a" * 64)
    for name in ("base:1", "base%3A1"):
        tag = http.get(f"{ist_url}/{name}")
        assert tag.status_code == 200
        assert tag.json()["image"]["dockerImageReference"].endswith("a" * 64)
    user = http.get(sim.url + "/apis/user.openshift.io/v1/users/~/").json()
    assert user["kind"] == "User" and user["metadata"]["name"] == sim._api.user


def test_buildconfig_create_get_list_update_and_conflict(sim):
    http = session()
    created = http.post(sim.url + CONFIGS + "/", json=config_body("bc", "silent"))
    assert created.status_code == 201
    config = created.json()
    assert config["spec"]["runPolicy"] == "Serial" and config["status"] == {"lastVersion": 0}
    assert http.post(sim.url + CONFIGS, json=config_body("bc")).status_code == 409
    found = http.get(f"{sim.url}{CONFIGS}/?labelSelector=git-repo-name%3Dfoo%2Cgit-branch%3Df33")
    assert [c["metadata"]["name"] for c in found.json()["items"]] == ["bc"]
    config["metadata"]["labels"]["is_autorebuild"] = "false"
    config["spec"]["completionDeadlineSeconds"] = 7200
    updated = http.put(f"{sim.url}{CONFIGS}/bc", json=config)
    assert updated.status_code == 200
    assert updated.json()["spec"]["completionDeadlineSeconds"] == 7200
    stale = http.put(f"{sim.url}{CONFIGS}/bc", json=config)       # old resourceVersion
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"


def test_instantiate_makes_numbered_builds_with_config_labels(sim):
    first = instantiate(sim, "bc", "success")
    assert first["kind"] == "Build" and first["metadata"]["name"] == "bc-1"
    labels, annotations = first["metadata"]["labels"], first["metadata"]["annotations"]
    assert labels["koji-task-id"] == "123" and labels["buildconfig"] == "bc"
    assert labels["openshift.io/build-config.name"] == "bc"
    assert labels["openshift.io/build.start-policy"] == "Serial"
    assert annotations["openshift.io/build.number"] == "1"
    assert first["status"]["config"]["name"] == "bc"
    assert first["spec"]["triggeredBy"] == [{"message": "Manually triggered"}]
    second = instantiate(sim, "bc")
    assert second["metadata"]["name"] == "bc-2"
    config = session().get(f"{sim.url}{CONFIGS}/bc").json()
    assert config["status"]["lastVersion"] == 2
    assert session().post(f"{sim.url}{CONFIGS}/nope/instantiate", json={}).status_code == 404


def test_serial_policy_keeps_the_second_build_new_until_the_first_ends(sim):
    instantiate(sim, "serial", "silent")
    sim.wait_for_phase("serial-1", {"Running"}, 5)
    instantiate(sim, "serial")
    with pytest.raises(TimeoutError):      # ~30 engine steps at time_scale 0.01
        sim.wait_for_phase("serial-2", {"Pending", "Running"}, 0.3)
    assert sim.get_build("serial-2")["status"]["phase"] == "New"
    assert sim.get_pod("serial-2") is None
    sim.cancel_build("serial-1")
    assert sim.wait_for_phase("serial-2", {"Running"}, 5)["status"]["phase"] == "Running"


def test_image_change_trigger_instantiates_unless_already_seen(sim):
    http = session()
    body = config_body("auto", "success")
    body["spec"]["triggers"] = [{"type": "ImageChange", "imageChange": {
        "from": {"kind": "ImageStreamTag", "name": "buildroot:latest"}}}]
    assert http.post(sim.url + CONFIGS, json=body).status_code == 201
    assert sim.wait_for_phase("auto-1", TERMINAL, 10)["spec"]["triggeredBy"] == \
        [{"message": "Image change"}]
    image = http.get(f"{sim.url}/apis/image.openshift.io/v1/namespaces/{NS}/imagestreamtags/"
                     "buildroot:latest").json()["image"]["dockerImageReference"]
    quiet = config_body("quiet")
    quiet["spec"]["triggers"] = [{"type": "ImageChange", "imageChange": {
        "from": {"kind": "ImageStreamTag", "name": "buildroot:latest"},
        "lastTriggeredImageID": image}}]
    assert http.post(sim.url + CONFIGS, json=quiet).status_code == 201
    assert [b["metadata"]["name"] for b in sim.list_builds()] == ["auto-1"]


def test_pods_of_a_build_by_label(sim):
    create_build(sim, "podded")
    sim.wait_for_phase("podded", {"Complete"}, 10)
    reply = session().get(f"{sim.url}{PODS}/?labelSelector=openshift.io%2Fbuild.name%3Dpodded")
    pods = reply.json()
    assert pods["kind"] == "PodList" and len(pods["items"]) == 1
    pod = pods["items"][0]
    assert pod["metadata"]["name"] == "podded-build"
    assert pod["spec"]["nodeName"] and pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert session().post(sim.url + PODS, json={}).status_code == 405


def test_delete_build_stops_it_and_removes_its_pod(sim):
    create_build(sim, "gone", "silent")
    sim.wait_for_phase("gone", {"Running"}, 5)
    reply = session().delete(f"{sim.url}{BUILDS}/gone")
    assert reply.status_code == 200 and reply.json()["status"] == "Success"
    assert session().get(f"{sim.url}{BUILDS}/gone").status_code == 404
    assert sim.get_pod("gone") is None


def test_requests_are_recorded_as_sent(sim):
    sim.clear_requests()
    session().get(sim.url + BUILDS + "?labelSelector=a%3Db")
    assert sim.requests == [("GET", BUILDS + "?labelSelector=a%3Db")]
