"""The simulator answers in the shapes of real OpenShift 3.9.41 (fixtures/openshift-3.9.41).

Key sets are compared recursively; keys of data maps (labels, annotations, ConfigMap data,
nodeSelector) are values, not shape. Every allowed difference is listed with its reason.
"""

from __future__ import annotations

import copy
import json

import pytest

from tests.sandbox.openshift.test_simulator_helpers import (
    BUILDS,
    CONFIGS,
    NS,
    PODS,
    TERMINAL,
    fixture,
    running_sim,
    session,
)


@pytest.fixture
def sim():
    yield from running_sim()


DATA_MAPS = {"labels", "annotations", "data", "nodeSelector"}
# build_test-build-123 et al. are edited osbs-client test data: a direct (scratch) build that
# still carries ``status.config`` and a Complete build with ``status.reason``.
EDITED_STATUS = {"status.reason", "status.config", "status.config.kind", "status.config.name",
                 "status.config.namespace"}


def paths(obj, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(obj, dict):
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else key
            found.add(path)
            if key not in DATA_MAPS:
                found |= paths(value, path)
    elif isinstance(obj, list):
        for item in obj:
            found |= paths(item, prefix + "[]")
    return found


def section(obj: dict, name: str) -> set[str]:
    return {p for p in paths(obj) if p == name or p.startswith(name + ".")}


def post_like(sim, fixture_build: dict, name: str, scenario: str) -> None:
    """POST a build with the fixture's own labels and spec, playing ``scenario``."""
    body = copy.deepcopy(fixture_build)
    body["metadata"] = {"name": name, "labels": body["metadata"]["labels"],
                        "annotations": {"from": body["metadata"]["annotations"]["from"]}}
    body["spec"]["source"]["git"]["ref"] = f"scenario-{scenario}"
    body.pop("status")
    assert session().post(sim.url + BUILDS, json=body).status_code == 201


def test_builds_have_the_fixture_shape(sim):
    for name in ("build_test-build-123.json", "build_test-orchestrator-build-123.json"):
        expected = fixture(name)
        post_like(sim, expected, name.split(".")[0].replace("_", "-"), "success")
        got = sim.wait_for_phase(name.split(".")[0].replace("_", "-"), TERMINAL, 10)
        got = session().get(f"{sim.url}{BUILDS}/{got['metadata']['name']}").json()
        assert set(got) == set(expected)
        assert section(got, "metadata") == section(expected, "metadata")
        assert section(got, "spec") == section(expected, "spec")
        assert section(got, "status") == section(expected, "status") - EDITED_STATUS


def test_watch_event_has_the_fixture_shape(sim):
    expected = fixture("watch_build_test-build-123.json")
    post_like(sim, expected["object"], "watched", "success")
    sim.wait_for_phase("watched", TERMINAL, 10)
    reply = session().get(f"{sim.url}{BUILDS}?watch=1&fieldSelector=metadata.name%3Dwatched"
                          "&timeoutSeconds=0.1", stream=True)
    event = json.loads(next(reply.iter_lines()))
    reply.close()
    assert set(event) == set(expected) == {"type", "object"}
    got, want = event["object"], expected["object"]
    assert section(got, "metadata") == section(want, "metadata")
    assert section(got, "spec") == section(want, "spec")
    assert section(got, "status") == section(want, "status") - EDITED_STATUS


def test_cancel_get_and_put_have_the_fixture_shape(sim):
    running, cancelled = (fixture("build_test-build-cancel-123_get.json"),
                          fixture("build_test-build-cancel-123_put.json"))
    post_like(sim, running, "tocancel", "silent")
    sim.wait_for_phase("tocancel", {"Running"}, 5)
    http = session()
    got = http.get(f"{sim.url}{BUILDS}/tocancel/").json()
    assert section(got, "metadata") == section(running, "metadata")
    assert section(got, "status") == section(running, "status") - EDITED_STATUS
    got["status"]["cancelled"] = True
    put = http.put(f"{sim.url}{BUILDS}/tocancel/", json=got).json()
    assert section(put, "metadata") == section(cancelled, "metadata")
    assert section(put, "spec") == section(cancelled, "spec")
    # the fixture's PUT answer is the edited test data (no startTimestamp); a real cancel keeps
    # startTimestamp and adds what the build controller writes on cancel
    extra = section(put, "status") - (section(cancelled, "status") - EDITED_STATUS)
    assert extra == {"status.cancelled", "status.reason", "status.message",
                     "status.startTimestamp", "status.completionTimestamp", "status.duration"}
    assert put["status"]["phase"] == "Cancelled"


def _config_from(spec: dict, name: str, labels: dict) -> dict:
    return {"kind": "BuildConfig", "apiVersion": "build.openshift.io/v1",
            "metadata": {"name": name, "labels": labels}, "spec": copy.deepcopy(spec)}


def test_build_list_of_a_failed_config_build_has_the_fixture_shape(sim):
    expected = fixture("builds_list.json")
    real = expected["items"][1]             # a Failed orchestrator build made from a config
    spec = copy.deepcopy(real["spec"])
    spec["source"]["git"]["ref"] = "scenario-plugin-failure"
    spec.pop("triggeredBy")
    http = session()
    labels = {k: v for k, v in real["metadata"]["labels"].items()
              if not k.startswith(("openshift.io/", "buildconfig"))}
    assert http.post(sim.url + CONFIGS, json=_config_from(spec, "e2e", labels)).status_code == 201
    assert http.post(f"{sim.url}{CONFIGS}/e2e/instantiate", json={}).status_code == 201
    sim.wait_for_phase("e2e-1", TERMINAL, 10)
    listing = http.get(f"{sim.url}{BUILDS}/?labelSelector=buildconfig%3De2e").json()
    assert set(listing) == set(expected) and set(listing["metadata"]) == set(expected["metadata"])
    [item] = listing["items"]
    assert set(item) == set(real) == {"metadata", "spec", "status"}
    assert section(item, "metadata") == section(real, "metadata")
    assert section(item, "spec") == section(real, "spec")
    assert section(item, "status") == section(real, "status")
    assert set(real["metadata"]["labels"]) <= set(item["metadata"]["labels"])
    assert set(real["metadata"]["annotations"]) <= set(item["metadata"]["annotations"])


def test_created_and_instantiated_config_have_the_fixture_shape(sim):
    created_fixture = fixture("created_build_config_test-build-config-123.json")
    body = _config_from(created_fixture["spec"], "bc123", created_fixture["metadata"]["labels"])
    body["metadata"]["annotations"] = {"note": "x"}
    http = session()
    created = http.post(sim.url + CONFIGS, json=body).json()
    assert section(created, "metadata") == section(created_fixture, "metadata")
    # OpenShift defaults runPolicy and triggers; the fixture's status is a Build's (edited data)
    assert section(created, "spec") - section(created_fixture, "spec") == \
        {"spec.runPolicy", "spec.triggers"}
    assert created["status"] == {"lastVersion": 0}

    instantiated_fixture = fixture("instantiated_test-build-config-123.json")
    body = _config_from(instantiated_fixture["spec"], "inst", {"git-repo-name": "x"})
    assert http.post(sim.url + CONFIGS, json=body).status_code == 201
    build = http.post(f"{sim.url}{CONFIGS}/inst/instantiate",
                      json={"kind": "BuildRequest", "apiVersion": "build.openshift.io/v1",
                            "metadata": {"name": "inst"}}).json()
    # real instantiated builds carry ownerReferences and triggeredBy (see builds_list.json)
    assert section(build, "metadata") - section(instantiated_fixture, "metadata") == {
        "metadata.ownerReferences", "metadata.ownerReferences[].apiVersion",
        "metadata.ownerReferences[].kind", "metadata.ownerReferences[].name",
        "metadata.ownerReferences[].uid", "metadata.ownerReferences[].controller"}
    assert section(build, "spec") - section(instantiated_fixture, "spec") == \
        {"spec.triggeredBy[].message"}
    assert section(build, "status") == section(instantiated_fixture, "status")


def test_configmap_and_user_have_the_fixture_shape(sim):
    expected = fixture("create_config_map.json")
    sim.set_configmap("special-config", expected["data"])
    got = session().get(f"{sim.url}/api/v1/namespaces/{NS}/configmaps/special-config").json()
    assert paths(got) == paths(expected)
    user = session().get(sim.url + "/apis/user.openshift.io/v1/users/~").json()
    assert paths(user) == paths(fixture("get_user.json"))


def test_pod_of_a_cancelled_build_has_the_fixture_shape(sim):
    expected = fixture("pods.json")
    pod_fixture = expected["items"][0]      # a running build pod being deleted by a cancel
    post_like(sim, fixture("build_test-build-cancel-123_get.json"), "podshape", "silent")
    sim.wait_for_phase("podshape", {"Running"}, 5)
    sim.cancel_build("podshape")
    listing = session().get(f"{sim.url}{PODS}?labelSelector=openshift.io/build.name=podshape")
    pods = listing.json()
    assert set(pods) == set(expected) and set(pods["metadata"]) == set(expected["metadata"])
    [pod] = pods["items"]
    assert set(pod) == set(pod_fixture)
    assert section(pod, "metadata") == section(pod_fixture, "metadata")
    assert set(pod["spec"]) == set(pod_fixture["spec"])
    assert set(pod["spec"]["containers"][0]) == set(pod_fixture["spec"]["containers"][0])
    assert section(pod, "status") == section(pod_fixture, "status")


IMAGES = f"/apis/image.openshift.io/v1/namespaces/{NS}"
# osbs-client 1.10 creates streams without spec.dockerImageRepository (the fixture's stream had
# one); its tags ask for scheduled imports, the fixture's did not.
STREAM_EXTRA = {"spec.tags[].importPolicy.scheduled"}
STREAM_MISSING = {"spec.dockerImageRepository"}


def test_image_stream_and_its_import_have_the_fixture_shape(sim):
    http = session()
    expected = fixture("imagestream.json")
    assert http.post(f"{sim.url}{IMAGES}/imagestreams", json={
        "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": "test_imagestream", "annotations": {}}, "spec": {}}).status_code == 201
    tag = {"kind": "ImageStreamTag", "apiVersion": "image.openshift.io/v1",
           "metadata": {"name": "test_imagestream:7.2"},
           "tag": {"name": "7.2", "from": {"kind": "DockerImage",
                                          "name": "example.com:8888/username/rhel7:7.2"},
                   "importPolicy": {"scheduled": True}}}
    assert http.put(f"{sim.url}{IMAGES}/imagestreamtags/test_imagestream:7.2",
                    json=tag).status_code == 201
    got = http.get(f"{sim.url}{IMAGES}/imagestreams/test_imagestream").json()
    assert set(got) == set(expected)
    assert section(got, "metadata") == section(expected, "metadata")
    assert section(got, "spec") == section(expected, "spec") - STREAM_MISSING | STREAM_EXTRA
    assert section(got, "status") == section(expected, "status")
    ist = http.get(f"{sim.url}{IMAGES}/imagestreamtags/test_imagestream:7.2").json()
    assert ist["image"]["dockerImageReference"] == \
        got["status"]["tags"][0]["items"][0]["dockerImageReference"]

    expected = fixture("imagestreamimport.json")
    body = {"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamImport",
            "metadata": {"name": "test_imagestream"},
            "spec": {"import": True, "images": [
                {"from": {"kind": "DockerImage", "name": f"example.com/prometheus/prom:{t}"},
                 "to": {"name": t}, "importPolicy": {}, "referencePolicy": {"type": "Source"}}
                for t in ("v2.13.0", "latest")]}}
    answer = http.post(f"{sim.url}{IMAGES}/imagestreamimports", json=body)
    assert answer.status_code == 201
    got = answer.json()
    assert set(got) == set(expected)
    assert section(got, "metadata") == section(expected, "metadata")
    assert section(got, "spec") == section(expected, "spec")
    assert [i["status"]["status"] for i in got["status"]["images"]] == ["Success", "Success"]
    assert set(got["status"]["images"][0]) == set(expected["status"]["images"][0])
    assert set(got["status"]["images"][0]["image"]["metadata"]) == \
        set(expected["status"]["images"][0]["image"]["metadata"])
    assert {t["tag"] for t in got["status"]["import"]["status"]["tags"]} == \
        {"7.2", "v2.13.0", "latest"}


def test_a_missing_image_fails_its_import_and_its_tag_is_not_found(sim):
    http = session()
    sim.remove_image("example.com/gone:1")
    tag = {"metadata": {"name": "gone:1"},
           "tag": {"name": "1", "from": {"kind": "DockerImage", "name": "example.com/gone:1"}}}
    assert http.put(f"{sim.url}{IMAGES}/imagestreamtags/gone:1", json=tag).status_code == 201
    assert http.get(f"{sim.url}{IMAGES}/imagestreamtags/gone:1").status_code == 404
    stream = http.get(f"{sim.url}{IMAGES}/imagestreams/gone").json()
    [status] = stream["status"]["tags"]
    assert status["conditions"][0]["type"] == "ImportSuccess"
    assert status["conditions"][0]["status"] == "False"
    reply = http.post(f"{sim.url}{IMAGES}/imagestreamimports", json={
        "metadata": {"name": "gone"}, "spec": {"import": True, "images": [
            {"from": {"kind": "DockerImage", "name": "example.com/gone:1"}, "to": {"name": "1"}}]}})
    assert reply.json()["status"]["images"][0]["status"]["status"] == "Failure"
